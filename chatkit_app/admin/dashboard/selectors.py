"""
The dashboard's figures for a period, per day and split by model and by
assistant, in a fixed number of aggregate queries whatever the period or the
size of the tables (``GROUP BY`` day, model, assistant; no row is loaded into
Python on PostgreSQL).

What each figure counts:

- conversations: started in the period (``Conversation.created_at``);
- messages: thread items of any type saved in the period;
- active users: users who asked a model something (a ``ModelUsage`` row:
  an answer, a title, a transcription); a person counts once per day and
  once for the whole period;
- model calls, provider errors (calls with an ``error``), tokens and cost
  (``CHATKIT_MODEL_PRICES``, per million tokens, as ``chatkit_stats``);
- latency: the 50th and 95th percentiles of successful answers
  (``purpose="response"``), to the end of the answer and to its first
  words (``first_token_ms``, recorded since migration 0003);
- feedback: thumbs up and down given in the period; by model and assistant,
  through the usage row of the answer it was given on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.db import connection, connections
from django.db.models import Aggregate, Count, DateField, FloatField, Q, QuerySet, Sum, Value
from django.db.models.functions import TruncDate
from django.utils import timezone

from ...models import Conversation, Feedback, Message, ModelUsage
from ...rollups import (
    ActiveUserDay,
    LatencyRollup,
    RollupDay,
    UsageRollup,
    bucket_value,
    rollup_time_zone,
    settle,
)
from .periods import day_start

PERCENTILES = {"p50": 0.5, "p95": 0.95}
ONE_DAY = timedelta(days=1)
LATENCIES = {"latency": "latency_ms", "first_token": "first_token_ms"}


@dataclass
class Figures:
    """One day's, one model's, one assistant's or the period's figures."""

    conversations: int = 0
    messages: int = 0
    active_users: int = 0
    calls: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    #: Models used without a price in CHATKIT_MODEL_PRICES (cost left out).
    unpriced: set[str] = field(default_factory=set)
    positive: int = 0
    negative: int = 0
    #: Milliseconds, e.g. ``latency["p95"]``, ``first_token["p50"]``; None
    #: without a successful answer to measure.
    latency: dict[str, float | None] = field(default_factory=lambda: dict.fromkeys(PERCENTILES))
    first_token: dict[str, float | None] = field(default_factory=lambda: dict.fromkeys(PERCENTILES))

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.calls if self.calls else None

    @property
    def feedback(self) -> int:
        return self.positive + self.negative

    @property
    def positive_ratio(self) -> float | None:
        """Thumbs up out of all thumbs given."""
        return self.positive / self.feedback if self.feedback else None


@dataclass
class Dashboard:
    start: datetime
    end: datetime
    total: Figures
    days: dict[date, Figures]
    by_model: dict[str, Figures]
    by_assistant: dict[str, Figures]


class Percentiles(Aggregate):
    """PostgreSQL's ``percentile_cont(ARRAY[…]) WITHIN GROUP (ORDER BY …)``:
    every fraction from one sort, interpolated between the two nearest
    values."""

    function = "PERCENTILE_CONT"
    name = "Percentiles"
    template = "%(function)s(ARRAY[%(fractions)s]) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression: Any, fractions: Iterable[float], **extra: Any) -> None:
        # Constants of ours, never user input: written into the SQL.
        written = ", ".join(f"{float(f)!r}::float8" for f in fractions)
        super().__init__(
            expression, fractions=written, output_field=ArrayField(FloatField()), **extra
        )


def percentile(values: list[float], fraction: float) -> float | None:
    """What ``percentile_cont`` returns, for databases without it."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def dashboard(
    *, start: datetime, end: datetime, days: Iterable[date], prices: Mapping[str, Any]
) -> Dashboard:
    """Every figure of the dashboard between ``start`` and ``end``, with a
    zero entry for each of ``days`` that had nothing."""
    board = Dashboard(
        start=start,
        end=end,
        total=Figures(),
        days={day: Figures() for day in days},
        by_model=defaultdict(Figures),
        by_assistant=defaultdict(Figures),
    )
    days = list(board.days)
    if days and uses_rollups(start, end, days):
        _from_rollups(board, days[0], days[-1], prices)
    else:
        _from_rows(board, start, end, prices)
    board.by_model = dict(sorted(board.by_model.items()))
    board.by_assistant = dict(sorted(board.by_assistant.items()))
    return board


def uses_rollups(start: datetime, end: datetime, days: list[date]) -> bool:
    """Whether the period can be read from the rollups: PostgreSQL with
    the triggers installed for the current time zone, and a period of
    whole, consecutive days."""
    return (
        len(days) == (days[-1] - days[0]).days + 1
        and start == day_start(days[0])
        and end == day_start(days[-1] + ONE_DAY)
        and rollup_time_zone() == timezone.get_current_timezone_name()
    )


def _from_rows(board: Dashboard, start: datetime, end: datetime, prices: Mapping[str, Any]) -> None:
    """The figures aggregated from the rows themselves."""
    within = Q(created_at__gte=start, created_at__lt=end)
    _count_per_day(board, Conversation.objects.filter(within), "conversations")
    _count_per_day_in_index(board, Message.objects.all(), "messages")
    usage = ModelUsage.objects.filter(within).order_by()
    _usage(board, usage, prices)
    _active_users(board, usage)
    answers = usage.filter(purpose="response", error="")
    _latencies(board, answers)
    _feedback(board, Feedback.objects.filter(within).order_by())


def _per_day(queryset: QuerySet) -> QuerySet:
    # TruncDate in the current time zone: the days the period is made of.
    return queryset.order_by().annotate(day=TruncDate("created_at"))


def _day(board: Dashboard, day: date | None) -> Figures:
    # Every row's day is one of the period's; a day outside it (none should
    # be) is counted in the totals only.
    return board.days.get(day) or Figures()


def _count_per_day(board: Dashboard, queryset: QuerySet, name: str) -> None:
    for row in _per_day(queryset).values("day").annotate(n=Count("pk")):
        setattr(_day(board, row["day"]), name, row["n"])
        setattr(board.total, name, getattr(board.total, name) + row["n"])


def _count_per_day_in_index(board: Dashboard, queryset: QuerySet, name: str) -> None:
    """As ``_count_per_day``, for a table with an index on ``created_at``:
    a ``COUNT(*)`` of each day's range of the index, one ``UNION ALL`` of
    them. Each part reads only index entries (an index-only scan), where
    grouping by the day would read every row of the period and convert its
    time to the time zone."""
    parts = [
        queryset.filter(created_at__gte=day_start(day), created_at__lt=day_start(day + ONE_DAY))
        .order_by()
        .annotate(day=Value(day, output_field=DateField()))
        .values("day")
        .annotate(n=Count("*"))
        for day in board.days
    ]
    if not parts:
        return
    for row in parts[0].union(*parts[1:], all=True):
        setattr(_day(board, row["day"]), name, row["n"])
        setattr(board.total, name, getattr(board.total, name) + row["n"])


def _usage(board: Dashboard, usage: QuerySet, prices: Mapping[str, Any]) -> None:
    rows = (
        _per_day(usage)
        .values("day", "model", "assistant")
        .annotate(
            calls=Count("pk"),
            errors=Count("pk", filter=ModelUsage.failed()),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
        )
    )
    for row in rows:
        _add_usage(board, row, prices)


def _add_usage(board: Dashboard, row: Mapping[str, Any], prices: Mapping[str, Any]) -> None:
    """Count one day's calls of one model and assistant."""
    price = prices.get(row["model"])
    cost = (
        (row["input_tokens"] * price[0] + row["output_tokens"] * price[1]) / 1e6
        if price is not None
        else 0.0
    )
    targets = (
        _day(board, row["day"]),
        board.total,
        board.by_model[row["model"]],
        board.by_assistant[row["assistant"]],
    )
    for figures in targets:
        figures.calls += row["calls"]
        figures.errors += row["errors"]
        figures.input_tokens += row["input_tokens"]
        figures.output_tokens += row["output_tokens"]
        figures.cost += cost
        if price is None:
            figures.unpriced.add(row["model"])


def _active_users(board: Dashboard, usage: QuerySet) -> None:
    for row in _per_day(usage).values("day").annotate(n=Count("user_id", distinct=True)):
        _day(board, row["day"]).active_users = row["n"]
    board.total.active_users = usage.aggregate(n=Count("user_id", distinct=True))["n"]


def _latencies(board: Dashboard, answers: QuerySet) -> None:
    """p50 and p95 per day, model, assistant and for the period: four
    grouped queries on PostgreSQL, one query of the values elsewhere."""
    groups: dict[str, Any] = {
        "day": lambda key: _day(board, key),
        "model": lambda key: board.by_model[key],
        "assistant": lambda key: board.by_assistant[key],
        "": lambda key: board.total,
    }
    if connections[answers.db].vendor == "postgresql":
        aggregates = {
            name: Percentiles(column, PERCENTILES.values()) for name, column in LATENCIES.items()
        }
        for group, figures_for in groups.items():
            queryset = _per_day(answers) if group == "day" else answers
            if group:
                rows = list(queryset.values(group).annotate(**aggregates))
            else:
                rows = [queryset.aggregate(**aggregates)]
            for row in rows:
                measured = {
                    f"{name}_{p}": value
                    for name in LATENCIES
                    for p, value in zip(PERCENTILES, row[name] or [None] * 2, strict=True)
                }
                _set_latencies(figures_for(row.get(group)), measured)
        return
    values: dict[tuple[str, Any], dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    rows = _per_day(answers).values_list("day", "model", "assistant", *LATENCIES.values())
    for day, model, assistant, *measured in rows:
        for group, key in (("day", day), ("model", model), ("assistant", assistant), ("", "")):
            for name, value in zip(LATENCIES, measured, strict=True):
                if value is not None:
                    values[group, key][name].append(value)
    for (group, key), measured in values.items():
        row = {
            f"{name}_{p}": percentile(measured.get(name, []), fraction)
            for name in LATENCIES
            for p, fraction in PERCENTILES.items()
        }
        _set_latencies(groups[group](key), row)


def _set_latencies(figures: Figures, row: Mapping[str, Any]) -> None:
    for name in LATENCIES:
        getattr(figures, name).update({p: row.get(f"{name}_{p}") for p in PERCENTILES})


def _feedback(board: Dashboard, feedback: QuerySet) -> None:
    for row in _per_day(feedback).values("day", "kind").annotate(n=Count("pk")):
        for figures in (_day(board, row["day"]), board.total):
            _add_feedback(figures, row["kind"], row["n"])
    # By model and assistant: the answers given each kind, through their
    # usage rows (``message_id``, indexed). Only the thread's owner gives
    # feedback, so an answer has one thumb at most.
    ids = {kind: feedback.filter(kind=kind).values("message_id") for kind in Feedback.Kind}
    rows = (
        ModelUsage.objects.filter(purpose="response", message_id__in=feedback.values("message_id"))
        .order_by()
        .values("model", "assistant")
        .annotate(
            **{kind: Count("pk", filter=Q(message_id__in=given)) for kind, given in ids.items()}
        )
    )
    for row in rows:
        for kind in Feedback.Kind:
            _add_feedback(board.by_model[row["model"]], kind, row[kind])
            _add_feedback(board.by_assistant[row["assistant"]], kind, row[kind])


def _add_feedback(figures: Figures, kind: str, n: int) -> None:
    if kind == Feedback.Kind.POSITIVE:
        figures.positive += n
    elif kind == Feedback.Kind.NEGATIVE:
        figures.negative += n


# --- from the rollups (PostgreSQL; see chatkit_app/rollups.py)


def _from_rollups(board: Dashboard, first: date, last: date, prices: Mapping[str, Any]) -> None:
    """The same figures from the per-day rollups: four queries over a few
    rows per day, whatever the number of messages. Equal to ``_from_rows``
    but for latency percentiles above ``EXACT_BELOW_MS``, which are within
    3.1 % (``rollups.latency_bucket``)."""
    # Inside a transaction that wrote (a test), count its writes first.
    settle()
    within = Q(day__gte=first, day__lte=last)
    for day, kind, n in RollupDay.objects.filter(within).values_list("day", "kind", "n"):
        for figures in (_day(board, day), board.total):
            if kind in ("conversations", "messages"):
                setattr(figures, kind, getattr(figures, kind) + n)
            else:
                _add_feedback(figures, kind, n)
    for row in UsageRollup.objects.filter(within).values():
        if row["calls"]:
            _add_usage(board, row, prices)
        for kind in Feedback.Kind:
            if row[kind]:
                _add_feedback(board.by_model[row["model"]], kind, row[kind])
                _add_feedback(board.by_assistant[row["assistant"]], kind, row[kind])
    _active_users_from_rollups(board, first, last)
    _latencies_from_rollups(board, first, last)


def _active_users_from_rollups(board: Dashboard, first: date, last: date) -> None:
    table = ActiveUserDay._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT day, COUNT(DISTINCT user_id) FROM {table} WHERE day BETWEEN %s AND %s "
            "GROUP BY GROUPING SETS ((day), ())",
            [first, last],
        )
        for day, n in cursor.fetchall():
            if day is None:
                board.total.active_users = n
            else:
                _day(board, day).active_users = n


#: The percentiles of a histogram, per group (``GROUPING SETS``): for each
#: fraction, the buckets holding the two values ``percentile_cont`` would
#: interpolate between (ranks ``floor`` and ``ceil`` of ``f × (n - 1)``).
_PERCENTILES_SQL = """
WITH h AS (
  SELECT GROUPING(day, model, assistant) AS grouping, day, model, assistant, metric, bucket,
         SUM(n) AS n
  FROM {table} WHERE day BETWEEN %s AND %s
  GROUP BY GROUPING SETS ((day, metric, bucket), (model, metric, bucket),
                          (assistant, metric, bucket), (metric, bucket))
  HAVING SUM(n) > 0
), c AS (
  SELECT grouping, day, model, assistant, metric, bucket,
         SUM(n) OVER (PARTITION BY grouping, day, model, assistant, metric ORDER BY bucket) AS upto,
         SUM(n) OVER (PARTITION BY grouping, day, model, assistant, metric) AS total
  FROM h
)
SELECT grouping, day, model, assistant, metric, {columns}
FROM c GROUP BY grouping, day, model, assistant, metric, total
"""


def _latencies_from_rollups(board: Dashboard, first: date, last: date) -> None:
    columns = ", ".join(
        f"MIN(bucket) FILTER (WHERE upto > FLOOR({f!r} * (total - 1))), "
        f"MIN(bucket) FILTER (WHERE upto > CEIL({f!r} * (total - 1))), "
        f"{f!r} * (total - 1) - FLOOR({f!r} * (total - 1))"
        for f in PERCENTILES.values()
    )
    sql = _PERCENTILES_SQL.format(table=LatencyRollup._meta.db_table, columns=columns)
    # GROUPING() of (day, model, assistant): a bit set for each column left out.
    groups = {
        0b011: lambda row: _day(board, row[1]),
        0b101: lambda row: board.by_model[row[2]],
        0b110: lambda row: board.by_assistant[row[3]],
        0b111: lambda row: board.total,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, [first, last])
        for row in cursor.fetchall():
            measured = row[5:]
            values = {}
            for n, p in enumerate(PERCENTILES):
                low, high, weight = measured[3 * n : 3 * n + 3]
                low, high = bucket_value(low), bucket_value(high)
                values[f"{row[4]}_{p}"] = low + (high - low) * float(weight)
            figures = groups[row[0]](row)
            getattr(figures, row[4]).update({p: values[f"{row[4]}_{p}"] for p in PERCENTILES})
