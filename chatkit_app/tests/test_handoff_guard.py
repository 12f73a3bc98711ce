"""While a person has taken a conversation over, the assistant does nothing
in it: the user's messages reach the person without using any of the
user's daily or monthly limits (no model call is made, so none is a turn),
staff replies are charged to nobody, and retries and widget actions are
refused with a notice saying who answers, storing and deleting nothing."""

from __future__ import annotations

import pytest

from chatkit_app.models import Message, ModelUsage, UsageCounter
from tasks.models import Task

from .chatkit_client import ApiClient, add_message, events_of, streamed_text
from .test_handoff import dana as dana
from .test_handoff import hand_back, reply, staff_client, take_over
from .test_tasks_assistant import action, widget_of
from .usage_limits import answered, refusal
from .usage_limits import answers as answers
from .usage_limits import clock as clock

pytestmark = pytest.mark.django_db


def used(user, kind: str) -> int:
    counter = UsageCounter.objects.filter(user=user, kind=kind).first()
    return counter.used if counter else 0


def person_notice(events: list[dict]) -> str:
    """The title of the notice that answered a stream instead of the
    assistant (which wrote nothing, and no error came)."""
    (notice,) = events_of(events, "notice")
    assert not events_of(events, "error"), events
    assert streamed_text(events) == ""
    return notice["title"]


def refused_with_notice(events: list[dict]) -> str:
    """A refused request's stream: one notice, nothing else."""
    assert [event["type"] for event in events] == ["notice"], events
    return events[0]["title"]


def stored(thread_id: str) -> list[tuple[str, str]]:
    return list(
        Message.objects.filter(conversation_id=thread_id)
        .order_by("sequence")
        .values_list("role", "text")
    )


def test_messages_to_a_person_use_none_of_the_users_daily_messages(
    answers, alice, dana, settings, clock
):
    settings.CHATKIT_LIMIT_TURNS_PER_DAY = 2
    settings.CHATKIT_LIMIT_TOKENS_PER_DAY = 1_000
    api = ApiClient(alice)
    thread_id, first = api.start("one")
    assert answered(first)
    staff = staff_client(dana)
    take_over(staff, thread_id)

    # More messages than the daily limit allows: each reaches the person.
    for text in ("two", "three", "four"):
        events = api(add_message(thread_id, text)).events()
        assert person_notice(events) == "Dana Scully is answering"
    assert reply(staff, thread_id, "Dana here, I read you.").status_code == 201

    assert len(answers.answer_requests()) == 1, "only the first message asked the model"
    assert used(alice, "turns") == 1
    assert used(alice, "tokens") == 18  # the one answer's 11 + 7
    assert ModelUsage.objects.count() == 1, "a staff reply is no model usage"
    assert not UsageCounter.objects.filter(user=dana).exists()

    # Handed back, the assistant answers one more message, then the limit holds.
    hand_back(staff, thread_id)
    assert answered(api(add_message(thread_id, "five")).events())
    assert "today's 2 messages" in refusal(api(add_message(thread_id, "six")).events())
    assert used(alice, "turns") == 2
    assert [text for role, text in stored(thread_id) if role == "user"] == [
        "one",
        "two",
        "three",
        "four",
        "five",
    ]


def test_a_user_past_the_daily_messages_can_still_write_to_the_person(
    answers, alice, dana, settings, clock
):
    settings.CHATKIT_LIMIT_TURNS_PER_DAY = 1
    api = ApiClient(alice)
    thread_id, _ = api.start("one")
    assert "today's 1 messages" in refusal(api(add_message(thread_id, "two")).events())
    take_over(staff_client(dana), thread_id)

    events = api(add_message(thread_id, "I need help, not the bot"))

    assert person_notice(events.events()) == "Dana Scully is answering"
    assert stored(thread_id)[-1] == ("user", "I need help, not the bot")
    assert used(alice, "turns") == 1


def test_a_message_to_a_person_still_counts_against_the_per_minute_limit(
    answers, alice, dana, settings, clock
):
    settings.CHATKIT_LIMIT_REQUESTS_PER_MINUTE = 3
    api = ApiClient(alice)
    thread_id, _ = api.start("one")
    take_over(staff_client(dana), thread_id)
    assert person_notice(api(add_message(thread_id, "two")).events())
    assert person_notice(api(add_message(thread_id, "three")).events())

    assert "requests this minute" in refusal(api(add_message(thread_id, "four")).events())


def test_a_retry_while_a_person_answers_keeps_their_replies_and_asks_no_model(answers, alice, dana):
    api = ApiClient(alice)
    thread_id, _ = api.start("My parcel is lost")
    staff = staff_client(dana)
    take_over(staff, thread_id)
    reply(staff, thread_id, "I found it.")
    before = stored(thread_id)
    question = Message.objects.get(conversation_id=thread_id, role="user")
    answers.reset()

    events = api(
        {
            "type": "threads.retry_after_item",
            "params": {"thread_id": thread_id, "item_id": question.pk},
        }
    ).events()

    assert refused_with_notice(events) == "Dana Scully is answering"
    assert answers.answer_requests() == []
    assert (
        stored(thread_id)
        == before
        == [
            ("user", "My parcel is lost"),
            ("assistant", "Echo: My parcel is lost"),
            ("person", "**Dana Scully** · a person from the team\n\n\nI found it."),
        ]
    )

    # Handed back, the same retry asks the model again.
    hand_back(staff, thread_id)
    events = api(
        {
            "type": "threads.retry_after_item",
            "params": {"thread_id": thread_id, "item_id": question.pk},
        }
    ).events()
    assert streamed_text(events) == "Echo: My parcel is lost"
    assert len(answers.answer_requests()) == 1


@pytest.fixture
def task_widget(provider, settings, alice):
    """Alice's thread with the tasks assistant's list widget of one task."""
    settings.CHATKIT_DEFAULT_ASSISTANT = "tasks"
    task = Task.objects.create(owner=alice, title="Call mum")
    provider.call_tools(("list_tasks", {}))
    api = ApiClient(alice)
    thread_id, events = api.start("tasks?")
    return api, thread_id, widget_of(events), task


def test_a_widget_action_while_a_person_answers_is_refused_with_a_notice(
    provider, task_widget, dana
):
    api, thread_id, widget, task = task_widget
    staff = staff_client(dana)
    take_over(staff, thread_id)
    before = list(Message.objects.filter(conversation_id=thread_id).values_list("id", "data"))
    provider.reset()
    tick = action(thread_id, widget["id"], "tasks.set_done", {"task_id": task.pk, "done": True})

    events = api(tick).events()

    assert refused_with_notice(events) == "Dana Scully is answering"
    assert provider.answer_requests() == []
    task.refresh_from_db()
    assert task.done is False
    assert list(Message.objects.filter(conversation_id=thread_id).values_list("id", "data")) == (
        before
    )

    # The sync form cannot stream a notice: a 409 in the same words.
    response = api(
        action(
            thread_id,
            widget["id"],
            "tasks.set_done",
            {"task_id": task.pk, "done": True},
            "threads.sync_custom_action",
        )
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "thread_taken_over"
    assert "Dana Scully, a person from the team, has taken over" in error["message"]
    task.refresh_from_db()
    assert task.done is False

    # Handed back, the widget works again.
    hand_back(staff, thread_id)
    events = api(tick).events()
    assert events_of(events, "thread.item.replaced")
    task.refresh_from_db()
    assert task.done is True
