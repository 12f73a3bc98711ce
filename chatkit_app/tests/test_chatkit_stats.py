"""``manage.py chatkit_stats``: what the site holds and what the models cost."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from chatkit_app.models import Conversation, ModelUsage

from .seed_conversations import bulk_conversations

pytestmark = pytest.mark.django_db

DAY_ONE = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def stats(*args: str) -> str:
    out = StringIO()
    call_command("chatkit_stats", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def activity(alice, bob, charlie):
    bulk_conversations(alice, conversations=3, items_each=4, prefix="a")
    bulk_conversations(bob, conversations=1, items_each=2, prefix="b")
    Conversation.objects.filter(pk="thr_a00002").update(status="closed")
    # Old: outside a 30-day window.
    Conversation.objects.filter(pk="thr_b00000").update(
        updated_at=timezone.now() - timedelta(days=90)
    )

    def usage(user, model, at, tokens, error=""):
        ModelUsage.objects.create(
            user=user,
            provider="openai",
            model=model,
            input_tokens=tokens,
            output_tokens=tokens // 10,
            created_at=at,
            error=error,
        )

    usage(alice, "gpt-4.1-mini", DAY_ONE, 1000)
    usage(alice, "gpt-4.1-mini", DAY_ONE + timedelta(hours=1), 500)
    usage(bob, "gpt-4.1", DAY_ONE, 200, error="timeout")
    usage(alice, "gpt-4.1-mini", DAY_ONE + timedelta(days=1), 300)
    usage(alice, "gpt-4.1-mini", DAY_ONE - timedelta(days=200), 9999)


def test_it_prints_totals_and_tokens_by_model_and_day(activity, monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: DAY_ONE + timedelta(days=5))

    lines = stats().splitlines()

    assert lines[0] == (
        "Conversations: 4 (3 active, 0 locked, 1 closed); 3 active in the last 30 days"
    )
    assert lines[1] == "Thread items: 14; 14 in the last 30 days"
    assert lines[2] == "Users: 2 with conversations; 1 active in the last 30 days"
    assert lines[3] == "Tokens by model and day (in the last 30 days):"
    rows = [line.split() for line in lines[5:9]]
    assert rows == [
        ["2026-11-20", "openai", "gpt-4.1", "1", "1", "200", "20"],
        ["2026-11-20", "openai", "gpt-4.1-mini", "2", "0", "1500", "150"],
        ["2026-11-21", "openai", "gpt-4.1-mini", "1", "0", "300", "30"],
        ["total", "4", "1", "2000", "200"],
    ]


def test_the_window_is_adjustable_and_json_is_available(activity, monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: DAY_ONE + timedelta(days=5))

    data = json.loads(stats("--days", "365", "--json"))

    assert data["days"] == 365
    assert data["conversations"]["by_status"] == {"active": 3, "locked": 0, "closed": 1}
    assert data["users"]["active_since"] == 2
    assert sum(row["input_tokens"] for row in data["tokens_by_day"]) == 2000 + 9999


def test_an_empty_site_says_so(db):
    out = stats()
    assert out.startswith("Conversations: 0 (0 active, 0 locked, 0 closed)")
    assert "Tokens: no model calls in the last 30 days" in out


def test_a_bad_window_is_refused(db):
    with pytest.raises(CommandError, match="--days must be at least 1"):
        stats("--days", "0")


def test_it_reports_what_each_user_costs(activity, monkeypatch, settings):
    monkeypatch.setattr(timezone, "now", lambda: DAY_ONE + timedelta(days=5))
    # Per million tokens: input, output.
    settings.CHATKIT_MODEL_PRICES = {"gpt-4.1-mini": [0.4, 1.6]}

    lines = stats().splitlines()
    start = lines.index(
        "Cost by user (in the last 30 days; CHATKIT_MODEL_PRICES per million tokens):"
    )
    table = [line.split() for line in lines[start + 1 : start + 4]]
    assert table[0] == ["user", "calls", "input", "output", "cost"]
    # alice: 1800 input + 180 output tokens of gpt-4.1-mini.
    assert table[1] == ["alice", "3", "1800", "180", f"{(1800 * 0.4 + 180 * 1.6) / 1e6:.4f}"]
    # bob's model has no price: its cost is unknown, and says which model.
    assert table[2] == ["bob", "1", "200", "20", "0.0000", "+", "?", "(gpt-4.1)"]

    data = json.loads(stats("--json"))
    assert [u["user"] for u in data["users_by_cost"]] == ["alice", "bob"]
    assert data["users_by_cost"][1]["unpriced_models"] == ["gpt-4.1"]


def test_top_limits_the_users_listed(activity, monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: DAY_ONE + timedelta(days=5))
    output = stats("--top", "1")
    assert "… and 1 more users (--top to see more)" in output
