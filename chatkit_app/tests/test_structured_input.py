"""Questions an assistant asks (``ToolContext.ask``): over HTTP, on both
provider wire formats, the question is stored and streamed as a pending
``structured_input`` item and the turn ends there; the answer (or the skip)
sent with ``threads.add_structured_input`` is stored and reaches the model,
which answers in the same request."""

from __future__ import annotations

import pytest

from chatkit_app import services
from chatkit_app.models import Conversation, Message
from chatkit_app.serialization import item_from_message
from tasks.models import Task

from .chatkit_client import ApiClient, add_message, events_of, streamed_text

pytestmark = pytest.mark.django_db


def answer(thread_id: str, item_id: str, answers: dict, status: str = "answered") -> dict:
    return {
        "type": "threads.add_structured_input",
        "params": {
            "thread_id": thread_id,
            "item_id": item_id,
            "input": {"status": status, "answers": answers},
        },
    }


def question_of(events: list[dict]) -> dict:
    found = [
        e["item"]
        for e in events_of(events, "thread.item.done")
        if e["item"]["type"] == "structured_input"
    ]
    assert len(found) == 1, [e["type"] for e in events]
    return found[0]


def stored(item_id: str):
    return item_from_message(Message.objects.get(pk=item_id))


def test_a_question_ends_the_turn_and_its_answer_reaches_the_model(tasks_chat, api, alice):
    tasks_chat.call_tools(("ask_task_details", {"title": "Pay rent", "ask_due_date": True}))
    tasks_chat.reply("Added “Pay rent”, high priority, due on the 1st.")
    thread_id, events = api.start("Add pay rent")

    question = question_of(events)
    assert question["status"] == "pending"
    assert [(q["type"], q["id"], q["question"]) for q in question["inputs"]] == [
        ("multiple_choice", "priority", "Which priority for “Pay rent”?"),
        ("freeform", "due_date", "When is “Pay rent” due?"),
    ]
    assert [o["value"] for o in question["inputs"][0]["options"]] == ["low", "normal", "high"]
    assert question["inputs"][0]["multiple"] is False
    # The model stopped at the question: one request, no reply yet, and the
    # question is the thread's last item (what the user answers).
    assert len(tasks_chat.answer_requests()) == 1
    assert not events_of(events, "error")
    assert streamed_text(events) == ""
    last = Message.objects.filter(conversation_id=thread_id).order_by("-sequence").first()
    assert (last.pk, last.type) == (question["id"], "structured_input")

    response = api(
        answer(
            thread_id,
            question["id"],
            {"priority": {"values": ["high"]}, "due_date": {"values": ["2026-12-01"]}},
        )
    )
    assert response.status_code == 200
    answered = response.events()
    replaced = events_of(answered, "thread.item.replaced")[0]["item"]
    assert replaced["id"] == question["id"]
    assert replaced["status"] == "answered"
    assert [q["answer"]["values"] for q in replaced["inputs"]] == [["high"], ["2026-12-01"]]
    assert streamed_text(answered) == "Added “Pay rent”, high priority, due on the 1st."

    # The model was asked again, with the answers in the history.
    second = tasks_chat.answer_requests()[1]
    sent = " ".join(second.user_texts())
    assert "Which priority for “Pay rent”?: high" in sent
    assert "When is “Pay rent” due?: 2026-12-01" in sent
    assert "status: answered" in sent
    # Stored answered: a reload shows the answers.
    item = stored(question["id"])
    assert item.status == "answered"
    assert [q.answer.values for q in item.inputs] == [["high"], ["2026-12-01"]]

    # And the thread goes on: a third turn still carries the answered question.
    tasks_chat.reply("You're welcome.")
    api(add_message(thread_id, "thanks"))
    assert "Which priority for “Pay rent”?: high" in " ".join(
        tasks_chat.answer_requests()[2].user_texts()
    )


def test_skipping_the_questions_tells_the_model_they_were_skipped(tasks_chat, api):
    tasks_chat.call_tools(("ask_task_details", {"title": "Book flights"}))
    thread_id, events = api.start("Add book flights")
    question = question_of(events)

    tasks_chat.reply("Added it with normal priority.")
    skipped = api(answer(thread_id, question["id"], {}, status="skipped")).events()
    assert events_of(skipped, "thread.item.replaced")[0]["item"]["status"] == "skipped"
    assert streamed_text(skipped) == "Added it with normal priority."
    sent = " ".join(tasks_chat.answer_requests()[1].user_texts())
    assert "status: skipped" in sent
    assert "Which priority for “Book flights”?: skipped" in sent
    assert stored(question["id"]).inputs[0].answer.skipped is True


def test_several_tasks_can_be_chosen_from_the_users_open_tasks(tasks_chat, api, alice, bob):
    Task.objects.create(owner=alice, title="Buy milk")
    Task.objects.create(owner=alice, title="Buy eggs")
    Task.objects.create(owner=alice, title="Buy stamps", done=True)
    Task.objects.create(owner=alice, title="Call the bank")
    Task.objects.create(owner=bob, title="Buy Bob's present")
    tasks_chat.call_tools(("choose_tasks", {"question": "Which did you buy?", "matching": "buy"}))
    thread_id, events = api.start("I bought the shopping")

    question = question_of(events)
    [choice] = question["inputs"]
    assert choice["multiple"] is True
    # Only alice's open tasks that match, in the list's order.
    assert sorted(o["value"] for o in choice["options"]) == ["Buy eggs", "Buy milk"]

    tasks_chat.reply("Marked both done.")
    events = api(answer(thread_id, question["id"], {"tasks": {"values": ["Buy milk", "Buy eggs"]}}))
    assert streamed_text(events.events()) == "Marked both done."
    assert "Which did you buy?: Buy milk, Buy eggs" in " ".join(
        tasks_chat.answer_requests()[1].user_texts()
    )


def test_no_matching_task_asks_nothing_and_the_model_goes_on(tasks_chat, api):
    tasks_chat.call_tools(("choose_tasks", {"question": "Which?", "matching": "zebra"}))
    tasks_chat.reply("You have no such task.")
    _, events = api.start("finish the zebra tasks")
    assert not [
        e for e in events_of(events, "thread.item.done") if e["item"]["type"] == "structured_input"
    ]
    assert streamed_text(events) == "You have no such task."
    assert "No open task matches" in str(tasks_chat.answer_requests()[1].body)


def test_a_question_answers_once_and_only_for_its_owner(tasks_chat, api, bob):
    tasks_chat.call_tools(("ask_task_details", {"title": "Renew passport"}))
    thread_id, events = api.start("Add renew passport")
    question = question_of(events)
    body = answer(thread_id, question["id"], {"priority": {"values": ["low"]}})

    # Someone else cannot answer it (nor learn that it exists).
    assert ApiClient(bob)(body).status_code == 404
    assert stored(question["id"]).status == "pending"

    tasks_chat.reply("Added.")
    assert api(body).status_code == 200
    again = api(answer(thread_id, question["id"], {"priority": {"values": ["high"]}}))
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "bad_request"
    # The first answer stands, and the model was not asked again.
    assert stored(question["id"]).inputs[0].answer.values == ["low"]
    assert len(tasks_chat.answer_requests()) == 2

    # An item that is not a question, or none at all: 400 and 404, nothing changes.
    reply_id = Message.objects.filter(conversation_id=thread_id, type="assistant_message")[0].pk
    assert api(answer(thread_id, reply_id, {})).status_code == 400
    assert api(answer(thread_id, "msg_missing", {})).status_code == 404


def test_a_locked_thread_takes_no_answers(tasks_chat, api, alice):
    tasks_chat.call_tools(("ask_task_details", {"title": "Pay taxes"}))
    thread_id, events = api.start("Add pay taxes")
    question = question_of(events)
    services.conversation_set_status(
        conversation=Conversation.objects.get(pk=thread_id), status="locked", reason="Audit"
    )
    response = api(answer(thread_id, question["id"], {"priority": {"values": ["high"]}}))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "thread_locked"
    assert stored(question["id"]).status == "pending"
