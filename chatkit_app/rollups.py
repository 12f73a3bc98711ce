"""
Per-day rollups of the dashboard's figures, kept by PostgreSQL triggers.

The dashboard (``admin/dashboard/selectors.py``) reads a period's figures
from these small tables instead of aggregating a million rows: a few
hundred rows for 30 days whatever the traffic.

Why triggers rather than Python signals: every write path counts, and many
bypass ``services`` and Django's model signals: ``bulk_create``,
``QuerySet.update``/``delete``, the cascades of deleting a conversation or
a user, the archive import, a bulk seed in SQL. A row trigger sees them
all, inside the write's own transaction, so a rollup can never drift from
the rows it sums. Each write of a counted row costs one upsert per table
it feeds (a message: one; a model call: up to four, all keyed by primary
key), and an ``UPDATE`` that changes none of the counted columns (a reply
streamed into place, a conversation moved to ``SET NULL``) costs nothing.

The tables, all keyed by the day of ``created_at`` in ``TIME_ZONE``:

- ``RollupDay``: conversations and thread items created, thumbs up and
  down given (kind ``conversations``, ``messages``, ``positive``,
  ``negative``);
- ``UsageRollup``: per model and assistant, model calls, failed calls
  (``ModelUsage.failed``), tokens, and the thumbs given that day on answers
  of that model and assistant (through the answer's usage row);
- ``LatencyRollup``: a histogram of successful answers' latency and
  first-words time per model and assistant (see ``latency_bucket``);
- ``ActiveUserDay``: who made a model call that day, so that a period's
  active users are counted distinct, not summed.

The day is computed in the time zone the triggers were created with
(written into their SQL; ``rollup_time_zone`` reads it back). When
``TIME_ZONE`` changes, the dashboard falls back to the raw aggregates until
``manage.py chatkit_rollup --rebuild`` recreates the triggers and the rows.
SQLite gets the tables but no triggers: its dashboard aggregates the rows
themselves (a database that size needs nothing more).
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

# Migration 0005 installs the SQLite search index beside the rollups and
# imports both from here; migrations do not change, so the names stay.
from .search_index import install_search, uninstall_search  # noqa: F401

#: Latencies keep this many significant bits in their histogram: 16 buckets
#: per doubling, every latency below 32 ms its own bucket. A bucket's
#: midpoint is within 1/32 (3.1 %) of any latency in it, which bounds the
#: error of a percentile read from the histogram.
SIGNIFICANT_BITS = 5
EXACT_BELOW_MS = 1 << SIGNIFICANT_BITS
#: The relative error bound of a latency percentile read from the rollups.
PRECISION = 1 / EXACT_BELOW_MS
#: The ``RollupDay.kind`` of each count.
KINDS = ("conversations", "messages", "positive", "negative")


class RollupDay(models.Model):
    day = models.DateField()
    kind = models.CharField(max_length=16)
    n = models.BigIntegerField(default=0)

    class Meta:
        db_table = "chatkit_rollup_day"
        constraints = [
            models.UniqueConstraint(fields=["day", "kind"], name="chatkit_rollup_day_key")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.kind}: {self.n}"


class UsageRollup(models.Model):
    day = models.DateField()
    model = models.CharField(max_length=100)
    assistant = models.CharField(max_length=64)
    calls = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    positive = models.BigIntegerField(default=0)
    negative = models.BigIntegerField(default=0)

    class Meta:
        db_table = "chatkit_rollup_usage"
        constraints = [
            models.UniqueConstraint(
                fields=["day", "model", "assistant"], name="chatkit_rollup_usage_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.model} {self.assistant}: {self.calls} calls"


class LatencyRollup(models.Model):
    day = models.DateField()
    model = models.CharField(max_length=100)
    assistant = models.CharField(max_length=64)
    #: ``latency`` (``latency_ms``) or ``first_token`` (``first_token_ms``).
    metric = models.CharField(max_length=16)
    #: The lowest latency of the bucket, in milliseconds.
    bucket = models.IntegerField()
    n = models.IntegerField(default=0)

    class Meta:
        db_table = "chatkit_rollup_latency"
        constraints = [
            models.UniqueConstraint(
                fields=["day", "model", "assistant", "metric", "bucket"],
                name="chatkit_rollup_latency_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.model} {self.assistant} {self.metric} {self.bucket} ms: {self.n}"


class ActiveUserDay(models.Model):
    day = models.DateField()
    # No cascade of Django's and no constraint: deleting a user deletes
    # their usage rows, whose trigger deletes these.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )

    class Meta:
        db_table = "chatkit_rollup_active_user"
        constraints = [
            models.UniqueConstraint(fields=["day", "user"], name="chatkit_rollup_active_user_key")
        ]

    def __str__(self) -> str:
        return f"{self.day} user {self.user_id}"


def latency_bucket(ms: int) -> int:
    """The bucket of ``ms`` (its lowest value): ``ms`` with all but its
    ``SIGNIFICANT_BITS`` highest bits cleared. The SQL function
    ``chatkit_latency_bucket`` computes the same."""
    if ms < EXACT_BELOW_MS:
        return ms
    shift = ms.bit_length() - SIGNIFICANT_BITS
    return (ms >> shift) << shift


def bucket_value(bucket: int) -> float:
    """The latency a bucket stands for: its midpoint (itself when exact)."""
    if bucket < EXACT_BELOW_MS:
        return float(bucket)
    width = 1 << (bucket.bit_length() - SIGNIFICANT_BITS)
    return bucket + (width - 1) / 2


# --- PostgreSQL: the functions and triggers, the rebuild


def _functions(zone: str) -> str:
    literal = "'" + zone.replace("'", "''") + "'"
    return f"""
CREATE OR REPLACE FUNCTION chatkit_rollup_day(ts timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT (ts AT TIME ZONE {literal})::date $$;
COMMENT ON FUNCTION chatkit_rollup_day(timestamptz) IS {literal};

CREATE OR REPLACE FUNCTION chatkit_rollup_day_start(d date) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT d::timestamp AT TIME ZONE {literal} $$;

CREATE OR REPLACE FUNCTION chatkit_latency_bucket(ms integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN ms < {EXACT_BELOW_MS} THEN ms
         ELSE (ms >> ({32 - SIGNIFICANT_BITS + 1} - position('1' in ms::bit(32)::text)))
              << ({32 - SIGNIFICANT_BITS + 1} - position('1' in ms::bit(32)::text)) END $$;

CREATE OR REPLACE FUNCTION chatkit_rollup_count(d date, k text, delta bigint) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO chatkit_rollup_day AS t (day, kind, n) VALUES (d, k, delta)
  ON CONFLICT (day, kind) DO UPDATE SET n = t.n + EXCLUDED.n $$;

CREATE OR REPLACE FUNCTION chatkit_rollup_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    PERFORM chatkit_rollup_count(chatkit_rollup_day(OLD.created_at), TG_ARGV[0], -1);
  END IF;
  IF TG_OP <> 'DELETE' THEN
    PERFORM chatkit_rollup_count(chatkit_rollup_day(NEW.created_at), TG_ARGV[0], 1);
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION chatkit_rollup_feedback_apply(r chatkit_app_feedback, sign integer)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE d date := chatkit_rollup_day(r.created_at);
BEGIN
  PERFORM chatkit_rollup_count(d, r.kind, sign);
  -- By the answer's model and assistant, as many times as it has a usage
  -- row (the raw aggregate counts usage rows).
  INSERT INTO chatkit_rollup_usage AS t
    (day, model, assistant, calls, errors, input_tokens, output_tokens, positive, negative)
  SELECT d, u.model, u.assistant, 0, 0, 0, 0,
         CASE WHEN r.kind = 'positive' THEN sign * count(*) ELSE 0 END,
         CASE WHEN r.kind = 'negative' THEN sign * count(*) ELSE 0 END
  FROM chatkit_app_modelusage u
  WHERE u.message_id = r.message_id AND u.purpose = 'response'
  GROUP BY u.model, u.assistant
  ON CONFLICT (day, model, assistant) DO UPDATE
    SET positive = t.positive + EXCLUDED.positive, negative = t.negative + EXCLUDED.negative;
END $$;

CREATE OR REPLACE FUNCTION chatkit_rollup_feedback() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN PERFORM chatkit_rollup_feedback_apply(OLD, -1); END IF;
  IF TG_OP <> 'DELETE' THEN PERFORM chatkit_rollup_feedback_apply(NEW, 1); END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION chatkit_rollup_usage_apply(r chatkit_app_modelusage, sign integer)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE d date := chatkit_rollup_day(r.created_at);
BEGIN
  INSERT INTO chatkit_rollup_usage AS t
    (day, model, assistant, calls, errors, input_tokens, output_tokens, positive, negative)
  VALUES (d, r.model, r.assistant, sign,
          CASE WHEN r.error NOT IN ('', 'stopped') THEN sign ELSE 0 END,
          sign * r.input_tokens::bigint, sign * r.output_tokens::bigint, 0, 0)
  ON CONFLICT (day, model, assistant) DO UPDATE
    SET calls = t.calls + EXCLUDED.calls, errors = t.errors + EXCLUDED.errors,
        input_tokens = t.input_tokens + EXCLUDED.input_tokens,
        output_tokens = t.output_tokens + EXCLUDED.output_tokens;
  IF r.purpose = 'response' AND r.error = '' THEN
    INSERT INTO chatkit_rollup_latency AS t (day, model, assistant, metric, bucket, n)
    VALUES (d, r.model, r.assistant, 'latency', chatkit_latency_bucket(r.latency_ms), sign)
    ON CONFLICT (day, model, assistant, metric, bucket) DO UPDATE SET n = t.n + EXCLUDED.n;
    IF r.first_token_ms IS NOT NULL THEN
      INSERT INTO chatkit_rollup_latency AS t (day, model, assistant, metric, bucket, n)
      VALUES (d, r.model, r.assistant, 'first_token', chatkit_latency_bucket(r.first_token_ms),
              sign)
      ON CONFLICT (day, model, assistant, metric, bucket) DO UPDATE SET n = t.n + EXCLUDED.n;
    END IF;
  END IF;
  IF sign > 0 THEN
    INSERT INTO chatkit_rollup_active_user (day, user_id) VALUES (d, r.user_id)
    ON CONFLICT DO NOTHING;
  ELSIF NOT EXISTS (
    SELECT 1 FROM chatkit_app_modelusage u
    WHERE u.user_id = r.user_id AND u.created_at >= chatkit_rollup_day_start(d)
      AND u.created_at < chatkit_rollup_day_start(d + 1)
  ) THEN
    DELETE FROM chatkit_rollup_active_user WHERE day = d AND user_id = r.user_id;
  END IF;
END $$;

CREATE OR REPLACE FUNCTION chatkit_rollup_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN PERFORM chatkit_rollup_usage_apply(OLD, -1); END IF;
  IF TG_OP <> 'DELETE' THEN PERFORM chatkit_rollup_usage_apply(NEW, 1); END IF;
  RETURN NULL;
END $$;

-- Thumbs already given on an answer (rare: feedback follows the answer's
-- usage row), on the days they were given. Apart from the counts above,
-- and immediate like the feedback trigger: both read the other's table,
-- so each must see it as of its own write (deferred to the commit, a
-- usage row and its thumbs written in one transaction would count twice).
CREATE OR REPLACE FUNCTION chatkit_rollup_usage_thumbs_apply(r chatkit_app_modelusage,
                                                             sign integer)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF r.purpose = 'response' AND r.message_id <> '' THEN
    INSERT INTO chatkit_rollup_usage AS t
      (day, model, assistant, calls, errors, input_tokens, output_tokens, positive, negative)
    SELECT chatkit_rollup_day(f.created_at), r.model, r.assistant, 0, 0, 0, 0,
           sign * count(*) FILTER (WHERE f.kind = 'positive'),
           sign * count(*) FILTER (WHERE f.kind = 'negative')
    FROM chatkit_app_feedback f WHERE f.message_id = r.message_id
    GROUP BY 1
    ON CONFLICT (day, model, assistant) DO UPDATE
      SET positive = t.positive + EXCLUDED.positive, negative = t.negative + EXCLUDED.negative;
  END IF;
END $$;

CREATE OR REPLACE FUNCTION chatkit_rollup_usage_thumbs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN PERFORM chatkit_rollup_usage_thumbs_apply(OLD, -1); END IF;
  IF TG_OP <> 'DELETE' THEN PERFORM chatkit_rollup_usage_thumbs_apply(NEW, 1); END IF;
  RETURN NULL;
END $$;
"""


_USAGE_COLUMNS = [
    "created_at",
    "user_id",
    "message_id",
    "model",
    "assistant",
    "purpose",
    "input_tokens",
    "output_tokens",
    "latency_ms",
    "first_token_ms",
    "error",
]

#: Table, trigger name, function, the columns whose change matters, and
#: whether it runs at the commit. Every turn adds to the same few rows (the
#: day's messages and conversations, its model's calls and latency bucket),
#: and a row a trigger updated stays locked until the transaction ends:
#: fired at once, the lock was held while the server did its work between
#: the insert and the commit, and concurrent turns queued behind it (with
#: two workers, most of PostgreSQL's active time was spent waiting for that
#: lock: README, "Against the SDK's own server"). Deferred to the commit
#: (constraint triggers, ``INITIALLY DEFERRED``), the row is locked only
#: for the commit itself. The counts are the same: the rows are the
#: transaction's own, seen as they were written. Feedback stays immediate
#: (rare, and it reads the usage rows; see ``chatkit_rollup_usage_thumbs``).
_TRIGGERS = [
    (
        "chatkit_app_conversation",
        "conversation",
        "chatkit_rollup_rows('conversations')",
        ["created_at"],
        True,
    ),
    ("chatkit_app_message", "message", "chatkit_rollup_rows('messages')", ["created_at"], True),
    (
        "chatkit_app_feedback",
        "feedback",
        "chatkit_rollup_feedback()",
        ["kind", "created_at", "message_id"],
        False,
    ),
    ("chatkit_app_modelusage", "modelusage", "chatkit_rollup_usage()", _USAGE_COLUMNS, True),
    (
        "chatkit_app_modelusage",
        "modelusage_thumbs",
        "chatkit_rollup_usage_thumbs()",
        _USAGE_COLUMNS,
        False,
    ),
]

#: The deferred triggers (``settle`` fires what they have pending).
DEFERRED_TRIGGERS = [
    name
    for _, short, _, _, deferred in _TRIGGERS
    if deferred
    for name in (f"chatkit_rollup_{short}", f"chatkit_rollup_{short}_update")
]


def _triggers() -> str:
    statements = []
    for table, short, function, columns, deferred in _TRIGGERS:
        name = f"chatkit_rollup_{short}"
        listed = ", ".join(columns)
        old = ", ".join(f"OLD.{c}" for c in columns)
        new = ", ".join(f"NEW.{c}" for c in columns)
        kind = "CONSTRAINT TRIGGER" if deferred else "TRIGGER"
        timing = "DEFERRABLE INITIALLY DEFERRED " if deferred else ""
        statements.append(
            f"""
DROP TRIGGER IF EXISTS {name} ON {table};
CREATE {kind} {name} AFTER INSERT OR DELETE ON {table} {timing}
  FOR EACH ROW EXECUTE FUNCTION {function};
DROP TRIGGER IF EXISTS {name}_update ON {table};
CREATE {kind} {name}_update AFTER UPDATE OF {listed} ON {table} {timing}
  FOR EACH ROW WHEN ((({old}) IS DISTINCT FROM ({new})))
  EXECUTE FUNCTION {function};"""
        )
    return "\n".join(statements)


def _drop() -> str:
    statements = [
        f"DROP TRIGGER IF EXISTS chatkit_rollup_{short}{suffix} ON {table};"
        for table, short, _, _, _ in _TRIGGERS
        for suffix in ("", "_update")
    ]
    for function in (
        "chatkit_rollup_usage_thumbs()",
        "chatkit_rollup_usage_thumbs_apply(chatkit_app_modelusage, integer)",
        "chatkit_rollup_usage()",
        "chatkit_rollup_usage_apply(chatkit_app_modelusage, integer)",
        "chatkit_rollup_feedback()",
        "chatkit_rollup_feedback_apply(chatkit_app_feedback, integer)",
        "chatkit_rollup_rows()",
        "chatkit_rollup_count(date, text, bigint)",
        "chatkit_latency_bucket(integer)",
        "chatkit_rollup_day_start(date)",
        "chatkit_rollup_day(timestamptz)",
    ):
        statements.append(f"DROP FUNCTION IF EXISTS {function};")
    return "\n".join(statements)


def settle(using: str = "default") -> None:
    """Count now what the current transaction wrote (the deferred triggers
    fire at its commit): for a reader of the rollups inside the transaction
    that wrote, such as a test. Nothing to do outside a transaction."""
    from django.db import connections

    conn = connections[using]
    if conn.vendor != "postgresql" or not conn.in_atomic_block:
        return
    names = ", ".join(DEFERRED_TRIGGERS)
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgname = ANY(%s) AND tgdeferrable",
            [DEFERRED_TRIGGERS],
        )
        if cursor.fetchone()[0] != len(DEFERRED_TRIGGERS):
            return  # triggers of an older schema, or none: they fire at once
        cursor.execute(f"SET CONSTRAINTS {names} IMMEDIATE")
        cursor.execute(f"SET CONSTRAINTS {names} DEFERRED")


_REBUILD = """
INSERT INTO chatkit_rollup_day (day, kind, n)
  SELECT chatkit_rollup_day(created_at), 'conversations', count(*)
  FROM chatkit_app_conversation GROUP BY 1
  UNION ALL
  SELECT chatkit_rollup_day(created_at), 'messages', count(*) FROM chatkit_app_message GROUP BY 1
  UNION ALL
  SELECT chatkit_rollup_day(created_at), kind, count(*) FROM chatkit_app_feedback GROUP BY 1, 2;

INSERT INTO chatkit_rollup_usage
  (day, model, assistant, calls, errors, input_tokens, output_tokens, positive, negative)
SELECT day, model, assistant, sum(calls), sum(errors), sum(input_tokens), sum(output_tokens),
       sum(positive), sum(negative)
FROM (
  SELECT chatkit_rollup_day(created_at) AS day, model, assistant, count(*) AS calls,
         count(*) FILTER (WHERE error NOT IN ('', 'stopped')) AS errors,
         sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
         0 AS positive, 0 AS negative
  FROM chatkit_app_modelusage GROUP BY 1, 2, 3
  UNION ALL
  SELECT chatkit_rollup_day(f.created_at), u.model, u.assistant, 0, 0, 0, 0,
         count(*) FILTER (WHERE f.kind = 'positive'), count(*) FILTER (WHERE f.kind = 'negative')
  FROM chatkit_app_feedback f
  JOIN chatkit_app_modelusage u ON u.message_id = f.message_id AND u.purpose = 'response'
  GROUP BY 1, 2, 3
) parts
GROUP BY day, model, assistant;

INSERT INTO chatkit_rollup_latency (day, model, assistant, metric, bucket, n)
  SELECT chatkit_rollup_day(created_at), model, assistant, 'latency',
         chatkit_latency_bucket(latency_ms), count(*)
  FROM chatkit_app_modelusage WHERE purpose = 'response' AND error = ''
  GROUP BY 1, 2, 3, 5
  UNION ALL
  SELECT chatkit_rollup_day(created_at), model, assistant, 'first_token',
         chatkit_latency_bucket(first_token_ms), count(*)
  FROM chatkit_app_modelusage
  WHERE purpose = 'response' AND error = '' AND first_token_ms IS NOT NULL
  GROUP BY 1, 2, 3, 5;

INSERT INTO chatkit_rollup_active_user (day, user_id)
  SELECT DISTINCT chatkit_rollup_day(created_at), user_id FROM chatkit_app_modelusage;
"""

_TABLES = (
    "chatkit_rollup_day",
    "chatkit_rollup_usage",
    "chatkit_rollup_latency",
    "chatkit_rollup_active_user",
)
_SOURCES = (
    "chatkit_app_conversation",
    "chatkit_app_message",
    "chatkit_app_feedback",
    "chatkit_app_modelusage",
)


def install(schema_editor: BaseDatabaseSchemaEditor | None = None, zone: str | None = None) -> bool:
    """Create (or recreate, for ``zone``, by default ``TIME_ZONE``) the
    triggers and rebuild every rollup from the rows, in one transaction
    that holds writes to the counted tables meanwhile (nothing is counted
    twice or missed). PostgreSQL only: returns False elsewhere."""
    conn: BaseDatabaseWrapper = schema_editor.connection if schema_editor else connection
    if conn.vendor != "postgresql":
        return False
    zone = zone or settings.TIME_ZONE
    with transaction.atomic(using=conn.alias), conn.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {', '.join(_SOURCES)} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(_functions(zone))
        cursor.execute(_triggers())
        cursor.execute(f"TRUNCATE {', '.join(_TABLES)}")
        cursor.execute(_REBUILD)
    return True


def uninstall(schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_drop())


def rollup_time_zone(using: str = "default") -> str | None:
    """The time zone the rollups' days are in, or None without rollups
    (SQLite, or triggers dropped)."""
    from django.db import connections

    conn = connections[using]
    if conn.vendor != "postgresql":
        return None
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT d.description FROM pg_proc p JOIN pg_description d ON d.objoid = p.oid "
            "WHERE p.proname = 'chatkit_rollup_day'"
        )
        row = cursor.fetchone()
    return row[0] if row else None
