"""
The usage counters (``UsageCounter``): taking from a limit, holding and
releasing a budget, adding what a model call used, and reading what a user
has used.

Every write is one conditional ``UPDATE`` on the user's row for that kind,
so the check and the write are one step the database applies to the row one
at a time, across every server process (PostgreSQL locks the row and
re-reads the condition; SQLite writes one transaction at a time). A row
whose period has passed is started again by the same ``UPDATE``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from math import ceil

from django.db import transaction
from django.db.models import Case, F, Q, QuerySet, Value, When

from ..models import UsageCounter
from .policy import KINDS, Kind, format_amount

#: How long a turn holds a budget if its process dies before releasing it.
HOLD_SECONDS = 600


@dataclass(frozen=True)
class Refusal:
    """Why a request was refused: the limit, and when to try again."""

    kind: str
    limit: int
    retry_after: int
    message: str
    #: The budget is held by another reply, not used up.
    busy: bool = False


@dataclass(frozen=True)
class Hold:
    """Budgets a turn holds until it ends: ``{kind: busy_until}``."""

    user_id: int
    until: dict[str, datetime]


def _create_row(user_id: int, kind: str, now: datetime) -> None:
    """Create the user's row of this kind unless it exists (no error if a
    concurrent request creates it first)."""
    UsageCounter.objects.bulk_create(
        [UsageCounter(user_id=user_id, kind=kind, period_start=KINDS[kind].period.start(now))],
        ignore_conflicts=True,
    )


def _with_row(user_id: int, kind: str, now: datetime, update: Callable[[], int]) -> int:
    """Run a conditional ``update``; if it matched nothing, the row may not
    exist yet: create it and run the update again (so a refusal, or a user's
    first use, costs two more queries; an admitted request none)."""
    changed = update()
    if not changed:
        _create_row(user_id, kind, now)
        changed = update()
    return changed


def _counter(user_id: int, kind: str) -> QuerySet[UsageCounter]:
    return UsageCounter.objects.filter(user_id=user_id, kind=kind)


def _in_period(
    kind: str, now: datetime, used_if_current: object, used_if_new: int
) -> tuple[Q, dict[str, object]]:
    """The assignments of an ``UPDATE`` that also moves a row of a past
    period to the current one. SQL's SET reads the row as it was, so both
    branches see the old ``period_start``."""
    start = KINDS[kind].period.start(now)
    current = Q(period_start=start)
    return current, {
        "used": Case(When(current, then=used_if_current), default=Value(used_if_new)),
        "period_start": start,
        "notified": Case(When(current, then=F("notified")), default=Value(False)),
    }


def _take(user_id: int, kind: str, limit: int, amount: int, now: datetime) -> bool:
    """Add ``amount`` if the limit is not reached yet in this period."""
    current, assignments = _in_period(kind, now, F("used") + amount, amount)
    counter = _counter(user_id, kind).filter(~current | Q(used__lt=limit))
    return bool(_with_row(user_id, kind, now, lambda: counter.update(**assignments)))


def _hold(user_id: int, kind: str, limit: int, now: datetime) -> datetime | None:
    """Hold a budget for one turn if it is not used up and no other turn holds it."""
    current, assignments = _in_period(kind, now, F("used"), 0)
    until = now + timedelta(seconds=HOLD_SECONDS)
    free = Q(busy_until__isnull=True) | Q(busy_until__lte=now)
    counter = _counter(user_id, kind).filter(free).filter(~current | Q(used__lt=limit))
    taken = _with_row(user_id, kind, now, lambda: counter.update(busy_until=until, **assignments))
    return until if taken else None


def refusal(kind: str, limit: int, now: datetime, *, busy: bool = False) -> Refusal:
    spec = KINDS[kind]
    resets = spec.period.resets(now)
    amount = format_amount(kind, limit)
    if busy:
        message = "Your previous message is still being answered; send this one once it is done."
        return Refusal(kind, limit, 5, message, busy=True)
    messages = {
        Kind.REQUESTS: f"You have sent {amount} requests this minute; {resets}.",
        Kind.TURNS: f"You have used today's {amount} messages; {resets}.",
        Kind.TOKENS: f"You have used today's {amount} tokens; {resets}.",
        Kind.COST: f"You have used this month's budget of {amount}; {resets}.",
    }
    return Refusal(kind, limit, spec.period.seconds_left(now), messages[kind])


def admit_request(user_id: int, limits: dict[str, int], now: datetime) -> Refusal | None:
    """Count one request against the per-minute limit (a refused one is not counted)."""
    limit = limits.get(Kind.REQUESTS)
    if limit is None:
        return None
    if _take(user_id, Kind.REQUESTS, limit, 1, now):
        return None
    return refusal(Kind.REQUESTS, limit, now)


class _Refused(Exception):
    def __init__(self, refusal: Refusal):
        self.refusal = refusal


def admit_turn(user_id: int, limits: dict[str, int], now: datetime) -> Refusal | Hold:
    """Count one turn and hold the budgets it may spend, all or nothing."""
    kinds = [kind for kind in (Kind.TURNS, Kind.TOKENS, Kind.COST) if kind in limits]
    if not kinds:
        return Hold(user_id, {})
    until: dict[str, datetime] = {}
    try:
        # Always in this order, so two turns of one user never wait on
        # each other's rows the other way round.
        with transaction.atomic():
            for kind in kinds:
                if not KINDS[kind].budget:
                    if not _take(user_id, kind, limits[kind], 1, now):
                        raise _Refused(refusal(kind, limits[kind], now))
                    continue
                held = _hold(user_id, kind, limits[kind], now)
                if held is None:
                    raise _Refused(_why_not_held(user_id, kind, limits[kind], now))
                until[kind] = held
    except _Refused as refused:
        return refused.refusal
    return Hold(user_id, until)


def _why_not_held(user_id: int, kind: str, limit: int, now: datetime) -> Refusal:
    used = used_now(_counter(user_id, kind).first(), now)
    return refusal(kind, limit, now, busy=used < limit)


def release(hold: Hold) -> None:
    """End a turn's hold on its budgets (unless it expired and another took it)."""
    for kind, until in hold.until.items():
        _counter(hold.user_id, kind).filter(busy_until=until).update(busy_until=None)


def add(user_id: int, kind: str, amount: int, now: datetime) -> None:
    """Add what a model call used, whatever the limit (the turn was admitted)."""
    if amount <= 0:
        return
    _, assignments = _in_period(kind, now, F("used") + amount, amount)
    _with_row(user_id, kind, now, lambda: _counter(user_id, kind).update(**assignments))


def claim_notice(user_id: int, kind: str, limit: int, share: float, now: datetime) -> int | None:
    """What the user used of a limit, if it just reached ``share`` of it and
    they were not told in this period yet (then they are, from now on)."""
    start = KINDS[kind].period.start(now)
    claimed = (
        _counter(user_id, kind)
        .filter(period_start=start, notified=False, used__gte=ceil(limit * share))
        .update(notified=True)
    )
    if not claimed:
        return None
    return used_now(_counter(user_id, kind).first(), now)


def used_now(counter: UsageCounter | None, now: datetime) -> int:
    """A counter's use in the current period (a row of a past one is 0)."""
    if counter is None or counter.period_start != KINDS[counter.kind].period.start(now):
        return 0
    return counter.used
