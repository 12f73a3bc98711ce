"""The task assistant through the chat: the fake provider calls its tools
(as a real model would), the database changes, widgets arrive, and the
widgets' actions work through /chatkit, for the signed-in user only."""

from __future__ import annotations

from datetime import date

import pytest

from chatkit_app.models import Conversation, Message
from chatkit_app.serialization import item_from_message
from tasks.models import Task

from .chatkit_client import ApiClient, add_message, events_of, streamed_text
from .thread_items import assert_contains

pytestmark = pytest.mark.django_db


def widget_of(events: list[dict]) -> dict:
    items = [
        e["item"] for e in events_of(events, "thread.item.done") if e["item"]["type"] == "widget"
    ]
    assert items, [e["type"] for e in events]
    return items[-1]


def stored_widget(item_id: str) -> dict:
    """The widget as stored, in the form the client receives it."""
    item = item_from_message(Message.objects.get(pk=item_id))
    return item.model_dump(mode="json", exclude_none=True)["widget"]


def rows(widget: dict) -> list[dict]:
    return [c for c in widget["widget"]["children"] if c.get("key", "").startswith("task-")]


def action(
    thread_id: str, item_id: str, type_: str, payload: dict, kind: str = "threads.custom_action"
):
    return {
        "type": kind,
        "params": {
            "thread_id": thread_id,
            "item_id": item_id,
            "action": {"type": type_, "payload": payload},
        },
    }


def test_asking_to_add_a_task_creates_it_and_shows_the_list(tasks_chat, api, alice):
    tasks_chat.call_tools(
        ("add_task", {"title": "Buy groceries", "due_date": "2026-12-04", "priority": "high"})
    )
    tasks_chat.reply("Added “Buy groceries” for Friday.")
    thread_id, events = api.start("Add buy groceries to my list for Friday, it's urgent")

    task = Task.objects.get()
    assert (task.owner, task.title, task.due_date, task.priority, task.done) == (
        alice,
        "Buy groceries",
        date(2026, 12, 4),
        "high",
        False,
    )
    widget = widget_of(events)
    [row] = rows(widget)
    assert row["key"] == f"task-{task.pk}"
    assert row["children"][1]["children"][0]["value"] == "Buy groceries"
    assert streamed_text(events) == "Added “Buy groceries” for Friday."
    # Progress while the tool ran, and an effect telling the page to refresh.
    assert any("Buy groceries" in e["text"] for e in events_of(events, "progress_update"))
    assert events_of(events, "client_effect")[0]["name"] == "tasks.changed"
    # The widget is part of the thread for good.
    assert Message.objects.filter(conversation_id=thread_id, type="widget").count() == 1
    # The model got the tool's schema and the tool's result.
    first, second = tasks_chat.answer_requests()
    tool_names = [t.get("name") or t.get("function", {}).get("name") for t in first.body["tools"]]
    assert {"add_task", "list_tasks", "complete_task", "update_task", "delete_task"} <= set(
        tool_names
    )
    assert f"Added task {task.pk}: Buy groceries." in str(second.body)


def test_completing_and_listing_tasks_through_the_chat(tasks_chat, api, alice):
    milk = Task.objects.create(owner=alice, title="Milk")
    eggs = Task.objects.create(owner=alice, title="Eggs")
    tasks_chat.call_tools(("complete_task", {"task_id": milk.pk}))
    thread_id, _ = api.start("I bought the milk")
    milk.refresh_from_db()
    assert milk.done is True

    tasks_chat.call_tools(("list_tasks", {"show": "open"}))
    events = api(add_message(thread_id, "What is left?")).events()
    shown = [r["children"][1]["children"][0]["value"] for r in rows(widget_of(events))]
    assert shown == ["Eggs"]
    assert eggs.pk != milk.pk


def test_a_tool_call_for_another_users_task_touches_nothing(tasks_chat, api, bob):
    bobs = Task.objects.create(owner=bob, title="Bob's secret plan")
    tasks_chat.call_tools(
        ("complete_task", {"task_id": bobs.pk}), ("delete_task", {"task_id": bobs.pk})
    )
    tasks_chat.reply("I could not find that task.")
    _, events = api.start(f"Complete and delete task {bobs.pk}")

    bobs.refresh_from_db()
    assert bobs.done is False
    assert "secret" not in str(events)
    # The model was told plainly that there is no such task.
    assert f"There is no task {bobs.pk}" in str(tasks_chat.answer_requests()[-1].body)

    tasks_chat.call_tools(("list_tasks", {"show": "all"}))
    _, listed = api.start("show all my tasks")
    assert rows(widget_of(listed)) == []


def test_a_failing_tool_becomes_words_and_the_thread_stays_usable(tasks_chat, api):
    # A title the model cannot have meant: the task model refuses it.
    tasks_chat.call_tools(("add_task", {"title": "x" * 500, "priority": "urgent!!"}))
    tasks_chat.reply("Sorry, that did not work.")
    thread_id, events = api.start("add something weird")
    assert streamed_text(events) == "Sorry, that did not work."
    assert not events_of(events, "error")
    assert not Task.objects.exists()

    tasks_chat.reply("Still here.")
    again = api(add_message(thread_id, "hello?")).events()
    assert streamed_text(again) == "Still here."


def test_ticking_a_task_in_the_widget_completes_it_and_updates_the_widget_in_place(
    tasks_chat, api, alice
):
    task = Task.objects.create(owner=alice, title="Water the plants")
    tasks_chat.call_tools(("list_tasks", {}))
    thread_id, events = api.start("show my tasks")
    widget = widget_of(events)

    response = api(
        action(thread_id, widget["id"], "tasks.set_done", {"task_id": task.pk, "done": True})
    )
    assert response.status_code == 200
    task.refresh_from_db()
    assert task.done is True
    replaced = events_of(response.events(), "thread.item.replaced")[0]["item"]
    assert replaced["id"] == widget["id"]
    [row] = rows(replaced)
    assert row["children"][0]["defaultChecked"] is True
    assert row["children"][0]["onChangeAction"]["payload"] == {"task_id": task.pk, "done": False}
    assert events_of(response.events(), "client_effect")[0]["name"] == "tasks.changed"
    # Stored in place: reloading the thread shows the updated widget.
    assert_contains(stored_widget(widget["id"]), replaced["widget"])
    assert Message.objects.filter(conversation_id=thread_id, type="widget").count() == 1


def test_the_delete_button_acts_once(tasks_chat, api, alice):
    task = Task.objects.create(owner=alice, title="Old chore")
    tasks_chat.call_tools(("list_tasks", {}))
    thread_id, events = api.start("show my tasks")
    widget = widget_of(events)
    delete = action(thread_id, widget["id"], "tasks.delete", {"task_id": task.pk})

    first = api(delete).events()
    assert not Task.objects.exists()
    [row] = rows(events_of(first, "thread.item.replaced")[0]["item"])
    assert row["children"][-1] == {
        "type": "Badge",
        "label": "Deleted",
        "color": "secondary",
        "variant": "soft",
    }

    second = api(delete).events()
    assert events_of(second, "notice")[0]["message"] == "That task was already deleted."
    assert not events_of(second, "thread.item.replaced")


def test_a_sync_action_updates_and_stores_the_widget(tasks_chat, api, alice):
    task = Task.objects.create(owner=alice, title="Call mum")
    tasks_chat.call_tools(("list_tasks", {}))
    thread_id, events = api.start("tasks?")
    widget = widget_of(events)
    body = action(
        thread_id,
        widget["id"],
        "tasks.set_done",
        {"task_id": task.pk, "done": True},
        "threads.sync_custom_action",
    )
    response = api(body)
    assert response.status_code == 200
    updated = response.json()["updated_item"]
    assert rows(updated)[0]["children"][0]["defaultChecked"] is True
    assert_contains(stored_widget(widget["id"]), updated["widget"])
    task.refresh_from_db()
    assert task.done is True


@pytest.mark.parametrize(
    ("type_", "payload", "code"),
    [
        ("tasks.explode", {"task_id": 1}, "unknown_action"),
        ("tasks.set_done", {"task_id": "seven", "done": True}, "invalid_payload"),
        ("tasks.set_done", {}, "invalid_payload"),
        ("tasks.delete", None, "invalid_payload"),
    ],
)
def test_bad_actions_are_400_before_anything_happens(tasks_chat, api, alice, type_, payload, code):
    task = Task.objects.create(owner=alice, title="Stay")
    tasks_chat.call_tools(("list_tasks", {}))
    thread_id, events = api.start("tasks?")
    response = api(action(thread_id, widget_of(events)["id"], type_, payload))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert Task.objects.get() == task
    assert not Task.objects.get().done


def test_an_action_on_another_users_task_changes_nothing(tasks_chat, api, alice, bob):
    bobs = Task.objects.create(owner=bob, title="Bob's")
    Task.objects.create(owner=alice, title="Alice's")
    tasks_chat.call_tools(("list_tasks", {}))
    thread_id, events = api.start("tasks?")
    response = api(
        action(
            thread_id, widget_of(events)["id"], "tasks.set_done", {"task_id": bobs.pk, "done": True}
        )
    )
    assert events_of(response.events(), "notice")[0]["message"] == "That task no longer exists."
    bobs.refresh_from_db()
    assert bobs.done is False


def test_an_action_on_another_users_thread_is_404(tasks_chat, api, alice, bob):
    task = Task.objects.create(owner=alice, title="Mine")
    tasks_chat.call_tools(("list_tasks", {}))
    thread_id, events = api.start("tasks?")
    response = ApiClient(bob)(
        action(
            thread_id, widget_of(events)["id"], "tasks.set_done", {"task_id": task.pk, "done": True}
        )
    )
    assert response.status_code == 404
    task.refresh_from_db()
    assert task.done is False


@pytest.mark.parametrize("status", ["locked", "closed"])
def test_locked_and_closed_threads_refuse_actions(tasks_chat, api, alice, status):
    task = Task.objects.create(owner=alice, title="Frozen")
    tasks_chat.call_tools(("list_tasks", {}))
    thread_id, events = api.start("tasks?")
    Conversation.objects.filter(pk=thread_id).update(status=status)
    response = api(
        action(
            thread_id, widget_of(events)["id"], "tasks.set_done", {"task_id": task.pk, "done": True}
        )
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == f"thread_{status}"
    task.refresh_from_db()
    assert task.done is False


def test_the_tool_picker_routes_a_turn_to_another_assistant(provider, api, alice):
    Task.objects.create(owner=alice, title="Routed")
    provider.call_tools(("list_tasks", {}))
    _, events = api.start("what do I have?", inference_options={"tool_choice": {"id": "tasks"}})
    assert rows(widget_of(events))
    request = provider.answer_requests()[0]
    assert request.messages()[0][1].startswith("You manage the user's to-do list")

    _, plain = api.start("hello")
    # The default assistant has no task tools; it can only ask for a person.
    assert provider.answer_requests()[-1].tool_names() == ["ask_for_person"]
    assert events_of(plain, "thread.item.done")[-1]["item"]["type"] != "widget"


def test_an_unknown_assistant_is_refused(provider, api):
    response = api(
        {
            "type": "threads.create",
            "params": {
                "input": {
                    "content": [{"type": "input_text", "text": "hi"}],
                    "attachments": [],
                    "inference_options": {"tool_choice": {"id": "skynet"}},
                }
            },
        }
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_assistant"
    assert not Conversation.objects.exists()
