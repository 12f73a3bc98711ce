"""The dashboard's rollups (``chatkit_app/rollups.py``, PostgreSQL): after a
mix of writes through every path (services, the ORM's bulk and queryset
writes, cascades of deleting a conversation or a user, feedback changed,
stopped replies), the dashboard read from the rollups shows what the rows
themselves add up to; a rebuild gives the same rollups as the triggers
kept; a changed ``TIME_ZONE`` is noticed, and ``chatkit_rollup --rebuild``
brings the rollups back for it."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection

from chatkit_app import services
from chatkit_app.admin.dashboard import selectors
from chatkit_app.admin.dashboard.periods import day_start
from chatkit_app.models import Conversation, Feedback, Message, ModelUsage
from chatkit_app.rollups import (
    PRECISION,
    ActiveUserDay,
    LatencyRollup,
    RollupDay,
    UsageRollup,
    bucket_value,
    install,
    latency_bucket,
    settle,
)

from .seed_conversations import items_conversation

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="rollups are kept on PostgreSQL only"
    ),
]

PRICES = {"gpt-a": [2.0, 8.0], "gpt-b": [1.0, 4.0]}
FIRST, LAST = date(2026, 11, 1), date(2026, 11, 4)


def at(day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def boards(first: date = FIRST, last: date = LAST) -> tuple[selectors.Dashboard, ...]:
    """The period's dashboard from the rollups and from the rows."""
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    start, end = day_start(first), day_start(last + timedelta(days=1))
    assert selectors.uses_rollups(start, end, days)
    from_rollups = selectors.dashboard(start=start, end=end, days=days, prices=PRICES)
    raw = selectors.Dashboard(
        start=start,
        end=end,
        total=selectors.Figures(),
        days={day: selectors.Figures() for day in days},
        by_model=selectors.defaultdict(selectors.Figures),
        by_assistant=selectors.defaultdict(selectors.Figures),
    )
    selectors._from_rows(raw, start, end, PRICES)
    return from_rollups, raw


def assert_same(from_rollups: selectors.Dashboard, raw: selectors.Dashboard) -> None:
    """Every figure equal; latency percentiles within the rollups' precision."""

    def split(figures: selectors.Figures) -> tuple[dict, dict]:
        counts = asdict(figures)
        latencies = {name: counts.pop(name) for name in ("latency", "first_token")}
        counts["cost"] = pytest.approx(counts["cost"])
        return counts, latencies

    groups = [
        ("total", {"": from_rollups.total}, {"": raw.total}),
        ("days", from_rollups.days, raw.days),
        ("by model", from_rollups.by_model, dict(raw.by_model)),
        ("by assistant", from_rollups.by_assistant, dict(raw.by_assistant)),
    ]
    for name, rolled, rows in groups:
        assert set(rolled) == set(rows), name
        for key in rows:
            counts, latencies = split(rolled[key])
            want_counts, want_latencies = split(rows[key])
            assert counts == want_counts, (name, key)
            for metric, values in want_latencies.items():
                for p, value in values.items():
                    got = latencies[metric][p]
                    if value is None:
                        assert got is None, (name, key, metric, p)
                    else:
                        assert got == pytest.approx(value, rel=PRECISION), (name, key, metric, p)


def rollup_rows() -> dict[str, set]:
    """The rollups' contents, zero rows left out (a count taken back to
    zero leaves its row), with the test transaction's writes counted (most
    triggers fire at the commit)."""
    settle()
    return {
        "days": set(RollupDay.objects.exclude(n=0).values_list("day", "kind", "n")),
        "usage": {
            row
            for row in UsageRollup.objects.values_list(
                "day",
                "model",
                "assistant",
                "calls",
                "errors",
                "input_tokens",
                "output_tokens",
                "positive",
                "negative",
            )
            if any(row[3:])
        },
        "latency": set(
            LatencyRollup.objects.exclude(n=0).values_list(
                "day", "model", "assistant", "metric", "bucket", "n"
            )
        ),
        "active": set(ActiveUserDay.objects.values_list("day", "user_id")),
    }


def thread(pk: str, owner, created_at: datetime, items: int) -> Conversation:
    return items_conversation(pk, owner, created_at, items, spacing=timedelta(minutes=1))


def answer(user, thread_id: str, n: int, model: str, latency: int, **extra) -> ModelUsage:
    """A usage row through the service, as the responder records it, then
    dated like the thread's item."""
    usage = services.usage_record(
        user=user,
        thread_id=thread_id,
        message_id=f"{thread_id}_{n}",
        provider="openai",
        model=model,
        purpose=extra.pop("purpose", "response"),
        input_tokens=extra.pop("input_tokens", 100 * n),
        output_tokens=extra.pop("output_tokens", 10 * n),
        latency_ms=latency,
        first_token_ms=extra.pop("first_token_ms", latency // 4),
        assistant=extra.pop("assistant", "assistant"),
        **extra,
    )
    when = Message.objects.filter(pk=f"{thread_id}_{n}").values_list("created_at", flat=True)
    ModelUsage.objects.filter(pk=usage.pk).update(created_at=when.first() or at(2))
    usage.refresh_from_db()
    return usage


@pytest.fixture
def writes(alice, bob, settings):
    """Four days of conversations, answers and feedback, then changes of
    every kind."""
    settings.CHATKIT_MODEL_PRICES = PRICES
    for day in (1, 2, 3):
        for who, hour in ((alice, 9), (bob, 23)):
            pk = f"thr_{who.username}_{day}"
            thread(pk, who, at(day, hour), items=6)
            for n, model in ((2, "gpt-a"), (4, "gpt-b"), (6, "gpt-a")):
                answer(who, pk, n, model, latency=150 * n * day + 7, assistant=f"a{n % 4}")
    # A title (no assistant), a failure, a stopped reply (a call, not a
    # failure, and no latency), a call of a model without a price.
    answer(alice, "thr_alice_1", 1, "gpt-mini", 50, purpose="title", assistant="")
    answer(bob, "thr_bob_2", 3, "gpt-b", 9000, error="rate_limit")
    answer(alice, "thr_alice_3", 5, "gpt-a", 800, error=ModelUsage.STOPPED, first_token_ms=None)
    answer(alice, "thr_alice_2", 6, "gpt-x", 2500)
    # Feedback through the service, then changed, then taken back by a
    # deletion; one thumb given on an answer whose usage row comes later.
    services.feedback_record(
        owner=alice, conversation_id="thr_alice_1", item_ids=["thr_alice_1_2"], kind="positive"
    )
    services.feedback_record(
        owner=alice,
        conversation_id="thr_alice_2",
        item_ids=["thr_alice_2_2", "thr_alice_2_4"],
        kind="negative",
    )
    services.feedback_record(
        owner=alice, conversation_id="thr_alice_2", item_ids=["thr_alice_2_4"], kind="positive"
    )
    services.feedback_record(
        owner=bob, conversation_id="thr_bob_3", item_ids=["thr_bob_3_6"], kind="negative"
    )
    thread("thr_late", bob, at(4, 2), items=2)
    services.feedback_record(
        owner=bob, conversation_id="thr_late", item_ids=["thr_late_2"], kind="positive"
    )
    answer(bob, "thr_late", 2, "gpt-b", 640)
    # Thumbs are given now: dated a minute after their answer instead
    # (one on the next day), as a row save.
    for given in Feedback.objects.select_related("message"):
        given.created_at = given.message.created_at + timedelta(minutes=1)
        if given.message_id == "thr_bob_3_6":
            given.created_at = at(4, 1)
        given.save(update_fields=["created_at"])
    return alice, bob


def test_the_rollups_show_what_the_rows_add_up_to_after_every_kind_of_write(writes):
    assert_same(*boards())
    _, bob = writes
    # A conversation deleted (its items and feedback go, its usage stays),
    # an item deleted, an answer's row changed, a thread moved to another day.
    services.conversations_delete(queryset=Conversation.objects.filter(pk="thr_alice_2"))
    services.message_delete(owner=bob, conversation_id="thr_bob_1", message_id="thr_bob_1_1")
    ModelUsage.objects.filter(message_id="thr_bob_1_4").update(latency_ms=4321, model="gpt-a")
    Conversation.objects.filter(pk="thr_bob_3").update(created_at=at(1, 3))
    Message.objects.filter(conversation_id="thr_bob_3").update(created_at=at(4, 5))
    assert_same(*boards())
    # A user deleted: their conversations, usage and feedback go, and with
    # them their days as an active user.
    bob.delete()
    from_rollups, raw = boards()
    assert_same(from_rollups, raw)
    assert from_rollups.total.active_users == 1


def test_the_rollups_the_triggers_keep_are_those_a_rebuild_makes(writes):
    services.conversations_delete(queryset=Conversation.objects.filter(pk="thr_bob_2"))
    Feedback.objects.filter(message_id="thr_alice_1_2").delete()
    kept = rollup_rows()
    assert kept["latency"]
    assert kept["active"]
    install()
    assert rollup_rows() == kept


def test_the_days_are_those_of_the_time_zone_the_rollups_were_built_for(writes, settings):
    # 23:00 UTC is the next day in Paris: a different split per day.
    settings.TIME_ZONE = "Europe/Paris"
    start, end = day_start(FIRST), day_start(LAST + timedelta(days=1))
    days = [FIRST + timedelta(days=n) for n in range(4)]
    assert not selectors.uses_rollups(start, end, days)
    out = StringIO()
    call_command("chatkit_rollup", stdout=out)
    assert "not TIME_ZONE=Europe/Paris" in out.getvalue()
    call_command("chatkit_rollup", "--rebuild", stdout=out)
    assert "Rebuilt the rollups for Europe/Paris" in out.getvalue()
    from_rollups, raw = boards()
    assert_same(from_rollups, raw)
    # Bob's conversation of 23:00 UTC on the 1st is on the 2nd in Paris.
    assert from_rollups.days[date(2026, 11, 1)].conversations == 1


def test_a_percentile_from_the_rollups_is_within_their_precision(alice):
    thread("thr_slow", alice, at(2), items=40)
    exact = []
    for n in range(2, 41, 2):
        latency = 997 * n + n * n
        exact.append(latency)
        answer(alice, "thr_slow", n, "gpt-a", latency)
    from_rollups, raw = boards()
    assert raw.total.latency["p95"] == selectors.percentile(exact, 0.95)
    for p in ("p50", "p95"):
        assert from_rollups.total.latency[p] == pytest.approx(raw.total.latency[p], rel=PRECISION)
    # Below 32 ms a latency is its own bucket; above, a bucket's middle is
    # within 1/32 of every latency in it.
    assert all(bucket_value(latency_bucket(ms)) == ms for ms in range(32))
    for ms in (32, 33, 100, 511, 512, 4095, 60_000, 2**31 - 1):
        assert bucket_value(latency_bucket(ms)) == pytest.approx(ms, rel=PRECISION)
    with connection.cursor() as cursor:
        values = [0, 31, 32, 47, 100, 1000, 4095, 60_000, 2**31 - 1]
        cursor.execute(
            "SELECT array_agg(chatkit_latency_bucket(v) ORDER BY v) FROM unnest(%s::int[]) v",
            [values],
        )
        assert cursor.fetchone()[0] == [latency_bucket(v) for v in values]


def test_a_rebuild_after_rows_written_without_the_triggers_counts_them(alice):
    thread("thr_quiet", alice, at(3), items=2)
    with connection.cursor() as cursor:
        # As a restore or a replica's writes: no trigger fires.
        cursor.execute("SET LOCAL session_replication_role = replica")
        try:
            thread("thr_unseen", alice, at(3), items=3)
        finally:
            cursor.execute("SET LOCAL session_replication_role = DEFAULT")
    assert boards()[0].total.messages == 2
    call_command("chatkit_rollup", "--rebuild", stdout=StringIO())
    from_rollups, raw = boards()
    assert from_rollups.total.messages == raw.total.messages == 5


def test_the_command_tells_whether_the_dashboard_reads_the_rollups(db):
    get_user_model().objects.create_user("someone")
    out = StringIO()
    call_command("chatkit_rollup", stdout=out)
    assert "The dashboard reads the rollups (days in UTC)." in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_a_write_leaves_the_days_counters_free_for_other_writers_until_its_commit(alice):
    """Every turn adds to the same rows (the day's messages and
    conversations, its model's calls): a transaction that locked them from
    its first write to its commit queued every concurrent turn behind it.
    Counted at the commit, they stay free meanwhile, and the count is right
    once it commits."""
    import psycopg
    from django.db import transaction

    thread("thr_first", alice, at(1), items=1)
    database = connection.settings_dict
    with psycopg.connect(
        dbname=database["NAME"],
        host=database["HOST"] or None,
        port=database["PORT"] or None,
        user=database["USER"] or None,
        password=database["PASSWORD"] or None,
        autocommit=True,
    ) as other:

        def counter_locked(kind: str) -> bool:
            try:
                with other.transaction():
                    other.execute(
                        "SELECT n FROM chatkit_rollup_day WHERE day = %s AND kind = %s "
                        "FOR UPDATE NOWAIT",
                        [date(2026, 11, 1), kind],
                    )
            except psycopg.errors.LockNotAvailable:
                return True
            return False

        with transaction.atomic():
            thread("thr_second", alice, at(1, 13), items=2)
            assert not counter_locked("conversations")
            assert not counter_locked("messages")
        counts = dict(
            other.execute(
                "SELECT kind, n FROM chatkit_rollup_day WHERE day = %s", [date(2026, 11, 1)]
            ).fetchall()
        )
    assert (counts["conversations"], counts["messages"]) == (2, 3)
