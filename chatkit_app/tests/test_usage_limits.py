"""Usage limits over HTTP with the fake model provider: each limit refuses
the turn past it with a message saying which limit and when it resets, the
refused turn stores nothing, the user is told once when they are near a
limit, and every limit starts again with its period (a controllable clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.core.checks import run_checks

from chatkit_app.models import (
    Conversation,
    GroupLimits,
    Message,
    ModelUsage,
    UsageCounter,
    UserLimits,
)

from .chatkit_client import ApiClient, add_message, create_thread, events_of
from .usage_limits import answered, refusal
from .usage_limits import answers as answers
from .usage_limits import clock as clock

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_alice(alice) -> ApiClient:
    return ApiClient(alice)


def test_a_user_past_the_daily_messages_is_told_when_the_limit_resets(
    answers, as_alice, settings, clock
):
    settings.CHATKIT_LIMIT_TURNS_PER_DAY = 2
    thread_id, first = as_alice.start("one")
    assert answered(first)
    assert answered(as_alice(add_message(thread_id, "two")).events())

    refused = as_alice(add_message(thread_id, "three")).events()
    assert refusal(refused) == ("You have used today's 2 messages; the limit resets at 00:00 UTC.")
    # Nothing of the refused turn is stored, and the model was not asked.
    assert list(Message.objects.filter(role="user").values_list("text", flat=True)) == [
        "one",
        "two",
    ]
    assert len(answers.answer_requests()) == 2

    # A new thread is a turn too: refused without creating the thread.
    assert "today's 2 messages" in refusal(as_alice(create_thread("four")).events())
    assert Conversation.objects.count() == 1


def test_a_retry_past_the_limit_keeps_the_answer_it_would_replace(
    answers, as_alice, settings, clock
):
    settings.CHATKIT_LIMIT_TURNS_PER_DAY = 1
    thread_id, _ = as_alice.start("one")
    question = Message.objects.get(role="user")
    retry = {
        "type": "threads.retry_after_item",
        "params": {"thread_id": thread_id, "item_id": question.pk},
    }
    assert "today's 1 messages" in refusal(as_alice(retry).events())
    assert list(Message.objects.order_by("sequence").values_list("role", "text")) == [
        ("user", "one"),
        ("assistant", "Echo: one"),
    ]
    # Reading is not a turn: the conversation still opens.
    listed = as_alice({"type": "items.list", "params": {"thread_id": thread_id}})
    assert listed.status_code == 200
    assert len(listed.json()["data"]) == 2


def test_the_daily_token_budget_counts_what_the_model_used(answers, as_alice, settings, clock):
    settings.CHATKIT_LIMIT_TOKENS_PER_DAY = 30
    thread_id, first = as_alice.start("one")
    assert answered(first)
    # 18 of 30 used: still under the budget, so the next turn runs (and overruns it).
    assert answered(as_alice(add_message(thread_id, "two")).events())
    assert UsageCounter.objects.get(kind="tokens").used == 36

    message = refusal(as_alice(add_message(thread_id, "three")).events())
    assert message == "You have used today's 30 tokens; the limit resets at 00:00 UTC."
    assert Message.objects.filter(role="user").count() == 2


def test_the_monthly_budget_is_priced_by_the_model_prices(answers, as_alice, settings, clock):
    # Per million tokens: a turn of 11 + 7 tokens costs 0.011 + 0.014.
    settings.CHATKIT_MODEL_PRICES = {"fake-model": [1000, 2000]}
    settings.CHATKIT_LIMIT_COST_PER_MONTH = 0.05
    thread_id, _ = as_alice.start("one")
    assert answered(as_alice(add_message(thread_id, "two")).events())

    message = refusal(as_alice(add_message(thread_id, "three")).events())
    assert message == (
        "You have used this month's budget of 0.05; the limit resets on 1 January at 00:00 UTC."
    )


def test_requests_past_the_rate_limit_get_429_with_retry_after(answers, as_alice, settings, clock):
    settings.CHATKIT_LIMIT_REQUESTS_PER_MINUTE = 3
    listing = {"type": "threads.list", "params": {"limit": 10}}
    for _ in range(3):
        assert as_alice(listing).status_code == 200

    refused = as_alice(listing)
    assert refused.status_code == 429
    seconds = int(refused["Retry-After"])
    assert 1 <= seconds <= 60
    assert refused.json() == {
        "error": {
            "code": "limit_reached",
            "message": f"You have sent 3 requests this minute; try again in {seconds} seconds.",
        }
    }
    # A message sent in the same minute is refused in the chat, stored nowhere.
    assert "3 requests this minute" in refusal(as_alice(create_thread("hi")).events())
    assert not Conversation.objects.exists()

    clock.shift(timedelta(seconds=seconds))
    assert as_alice(listing).status_code == 200


def test_the_daily_limit_starts_again_at_midnight_utc(answers, as_alice, settings):
    settings.CHATKIT_LIMIT_TURNS_PER_DAY = 1
    with time_machine.travel(datetime(2026, 12, 15, 23, 59, 50, tzinfo=UTC), tick=True) as clock:
        thread_id, first = as_alice.start("late")
        assert answered(first)
        assert refusal(as_alice(add_message(thread_id, "later")).events())

        clock.move_to(datetime(2026, 12, 16, 0, 0, 1, tzinfo=UTC))
        assert answered(as_alice(add_message(thread_id, "next day")).events())
        assert refusal(as_alice(add_message(thread_id, "again")).events())


def test_the_monthly_budget_starts_again_on_the_first(answers, as_alice, settings):
    settings.CHATKIT_MODEL_PRICES = {"fake-model": [1000, 2000]}
    settings.CHATKIT_LIMIT_COST_PER_MONTH = 0.02
    with time_machine.travel(datetime(2026, 12, 31, 23, 0, tzinfo=UTC), tick=True) as clock:
        thread_id, _ = as_alice.start("December")
        message = refusal(as_alice(add_message(thread_id, "still December")).events())
        assert "resets on 1 January" in message

        clock.move_to(datetime(2027, 1, 1, 0, 0, 1, tzinfo=UTC))
        assert answered(as_alice(add_message(thread_id, "January")).events())


def test_near_a_limit_the_user_is_told_once(answers, as_alice, settings, clock):
    settings.CHATKIT_LIMIT_TURNS_PER_DAY = 5
    thread_id, first = as_alice.start("1")
    notices = [events_of(first, "notice")]
    for n in range(2, 6):
        notices.append(events_of(as_alice(add_message(thread_id, str(n))).events(), "notice"))

    # At 80% (the fourth of five), once.
    assert [len(found) for found in notices] == [0, 0, 0, 1, 0]
    assert notices[3][0]["message"] == (
        "You have used 4 of today's 5 messages; the limit resets at 00:00 UTC."
    )


def test_near_a_token_or_cost_budget_the_user_is_told_once(answers, as_alice, settings, clock):
    settings.CHATKIT_LIMIT_TOKENS_PER_DAY = 40
    settings.CHATKIT_MODEL_PRICES = {"fake-model": [1000, 2000]}
    settings.CHATKIT_LIMIT_COST_PER_MONTH = 0.06
    thread_id, first = as_alice.start("1")
    assert not events_of(first, "notice")  # 18 of 40 tokens, 0.025 of 0.06

    second = events_of(as_alice(add_message(thread_id, "2")).events(), "notice")
    assert sorted(event["message"] for event in second) == [
        "You have used 0.05 of this month's budget of 0.06; "
        "the limit resets on 1 January at 00:00 UTC.",
        "You have used 36 of today's 40 tokens; the limit resets at 00:00 UTC.",
    ]


def test_a_refused_turn_counts_against_no_other_limit(answers, as_alice, settings, clock):
    settings.CHATKIT_LIMIT_TURNS_PER_DAY = 1
    settings.CHATKIT_LIMIT_TOKENS_PER_DAY = 1000
    thread_id, _ = as_alice.start("one")
    refusal(as_alice(add_message(thread_id, "two")).events())
    counters = dict(UsageCounter.objects.values_list("kind", "used"))
    assert counters == {"turns": 1, "tokens": 18}
    # The refused turn left no budget held.
    assert UsageCounter.objects.get(kind="tokens").busy_until is None


def test_staff_have_no_limits_unless_configured(answers, charlie, settings, clock):
    settings.CHATKIT_LIMIT_TURNS_PER_DAY = 1
    as_charlie = ApiClient(charlie)
    thread_id, _ = as_charlie.start("one")
    assert answered(as_charlie(add_message(thread_id, "two")).events())

    # Exempt turns were not counted: from now on, one a day.
    settings.CHATKIT_LIMITS_APPLY_TO_STAFF = True
    assert answered(as_charlie(add_message(thread_id, "three")).events())
    assert refusal(as_charlie(add_message(thread_id, "four")).events())


def test_without_limits_nothing_is_counted(answers, as_alice, clock):
    thread_id, _ = as_alice.start("one")
    assert answered(as_alice(add_message(thread_id, "two")).events())
    assert not UsageCounter.objects.exists()
    assert ModelUsage.objects.count() == 2


# --- overrides per user and group ------------------------------------------------


def turns_allowed(client: ApiClient, tries: int = 4) -> int:
    """How many of ``tries`` new threads are answered."""
    return sum(answered(client(create_thread(f"try {n}")).events()) for n in range(tries))


def test_a_users_own_limit_replaces_the_setting(answers, alice, bob, settings, clock):
    settings.CHATKIT_LIMIT_TURNS_PER_DAY = 1
    UserLimits.objects.create(user=alice, turns_per_day=3)
    assert turns_allowed(ApiClient(alice)) == 3
    assert turns_allowed(ApiClient(bob)) == 1


def test_a_groups_limit_applies_to_its_members_and_the_most_generous_wins(
    answers, alice, bob, settings, clock
):
    settings.CHATKIT_LIMIT_TURNS_PER_DAY = 1
    trial, paid = Group.objects.create(name="trial"), Group.objects.create(name="paid")
    GroupLimits.objects.create(group=trial, turns_per_day=2)
    GroupLimits.objects.create(group=paid, turns_per_day=3)
    alice.groups.add(trial, paid)
    bob.groups.add(trial)
    assert turns_allowed(ApiClient(alice)) == 3
    assert turns_allowed(ApiClient(bob)) == 2


def test_a_users_own_limit_wins_over_their_groups(answers, alice, settings, clock):
    group = Group.objects.create(name="paid")
    GroupLimits.objects.create(group=group, turns_per_day=3)
    alice.groups.add(group)
    UserLimits.objects.create(user=alice, turns_per_day=1)
    assert turns_allowed(ApiClient(alice)) == 1


def test_zero_or_exempt_lifts_a_limit(answers, alice, bob, settings, clock):
    settings.CHATKIT_LIMIT_TURNS_PER_DAY = 1
    UserLimits.objects.create(user=alice, turns_per_day=0)
    group = Group.objects.create(name="team")
    GroupLimits.objects.create(group=group, exempt=True)
    bob.groups.add(group)
    assert turns_allowed(ApiClient(alice)) == 4
    assert turns_allowed(ApiClient(bob)) == 4


def test_an_override_that_leaves_a_limit_empty_inherits_it(answers, alice, settings, clock):
    settings.CHATKIT_LIMIT_TURNS_PER_DAY = 2
    UserLimits.objects.create(user=alice, tokens_per_day=10_000)
    assert turns_allowed(ApiClient(alice)) == 2


# --- the settings' checks ---------------------------------------------------------


def check_ids() -> set[str]:
    return {message.id for message in run_checks()}


def test_a_negative_limit_or_notice_share_is_a_configuration_error(settings):
    settings.CHATKIT_LIMIT_TURNS_PER_DAY = -1
    settings.CHATKIT_LIMIT_NOTICE_AT = 1.5
    settings.CHATKIT_MODEL_PRICES = {"m": [1]}
    assert {"chatkit.E020", "chatkit.E021", "chatkit.E022"} <= check_ids()


def test_a_cost_limit_warns_of_models_without_a_price(answers, settings):
    settings.CHATKIT_LIMIT_COST_PER_MONTH = 10.0
    assert "chatkit.W020" in check_ids()
    settings.CHATKIT_MODEL_PRICES = {"fake-model": [0.4, 1.6]}
    assert "chatkit.W020" not in check_ids()


def test_a_stopped_replys_estimate_counts_the_text_sent_not_the_pictures():
    from chatkit_app.responders.agent import estimated_tokens

    picture = "data:image/png;base64," + "A" * 400_000
    model_input = [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "x" * 40},
                {"type": "input_image", "image_url": picture},
            ],
        },
        {"type": "function_call", "arguments": '{"q": "yy"}', "call_id": "c1"},
    ]
    assert estimated_tokens("i" * 8, model_input, []) == (15, 0)
