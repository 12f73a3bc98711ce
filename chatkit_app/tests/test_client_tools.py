"""Tools that run in the user's page (``ToolContext.call_client_tool``): over
HTTP, on both provider wire formats, the call is stored and streamed as a
pending ``client_tool_call`` item that ends the turn; the page's result,
sent with ``threads.add_client_tool_output``, completes it and reaches the
model as the tool's output, and the model answers in the same request."""

from __future__ import annotations

import json

import pytest

from chatkit_app.models import Message
from chatkit_app.serialization import item_from_message

from .chatkit_client import ApiClient, add_message, events_of, streamed_text

pytestmark = pytest.mark.django_db

SELECTED = {"selected": True, "task": {"id": 7, "title": "Water the plants", "done": False}}


def output(thread_id: str, result: object) -> dict:
    return {
        "type": "threads.add_client_tool_output",
        "params": {"thread_id": thread_id, "result": result},
    }


def tool_outputs(request) -> list[str]:
    """What the model was told the tools returned, in either wire format."""
    body = request.body
    if "input" in body:  # Responses API
        return [i["output"] for i in body["input"] if i.get("type") == "function_call_output"]
    return [m["content"] for m in body["messages"] if m.get("role") == "tool"]


def test_a_client_tool_call_waits_for_the_page_and_its_result_reaches_the_model(tasks_chat, api):
    tasks_chat.call_tools(("read_selected_task", {}))
    tasks_chat.reply("You selected “Water the plants”.")
    thread_id, events = api.start("What is the selected task?")

    [call] = [
        e["item"]
        for e in events_of(events, "thread.item.done")
        if e["item"]["type"] == "client_tool_call"
    ]
    assert (call["name"], call["arguments"], call["status"]) == (
        "read_selected_task",
        {},
        "pending",
    )
    # The turn ended at the call: one model request, nothing said yet, and
    # the call is the thread's last item (what the SDK completes).
    assert len(tasks_chat.answer_requests()) == 1
    assert streamed_text(events) == ""
    assert not events_of(events, "error")
    last = Message.objects.filter(conversation_id=thread_id).order_by("-sequence").first()
    assert (last.pk, last.type) == (call["id"], "client_tool_call")

    response = api(output(thread_id, SELECTED))
    assert response.status_code == 200
    assert streamed_text(response.events()) == "You selected “Water the plants”."
    second = tasks_chat.answer_requests()[1]
    assert [json.loads(text) for text in tool_outputs(second)] == [SELECTED]
    stored = item_from_message(Message.objects.get(pk=call["id"]))
    assert (stored.status, stored.output) == ("completed", SELECTED)

    # Later turns still show the model what the page said.
    tasks_chat.reply("Anything else?")
    api(add_message(thread_id, "thanks"))
    assert [json.loads(text) for text in tool_outputs(tasks_chat.answer_requests()[2])] == [
        SELECTED
    ]


def test_tool_output_without_a_pending_call_is_refused(tasks_chat, api, bob):
    tasks_chat.reply("Hello.")
    thread_id, _ = api.start("hi")
    response = api(output(thread_id, {"x": 1}))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
    assert len(tasks_chat.answer_requests()) == 1

    tasks_chat.call_tools(("read_selected_task", {}))
    api(add_message(thread_id, "what is selected?"))
    # Someone else's thread is not found, and its call stays pending.
    assert ApiClient(bob)(output(thread_id, SELECTED)).status_code == 404
    call = Message.objects.get(conversation_id=thread_id, type="client_tool_call")
    assert item_from_message(call).status == "pending"


def test_a_message_sent_instead_of_the_output_leaves_the_call_out_of_the_history(tasks_chat, api):
    tasks_chat.call_tools(("read_selected_task", {}))
    thread_id, _ = api.start("What is selected?")
    tasks_chat.reply("Sure, let's talk about something else.")
    events = api(add_message(thread_id, "never mind")).events()
    # A call that was never answered is not sent to the model (it could not
    # be: a call without output is refused by the providers).
    assert streamed_text(events) == "Sure, let's talk about something else."
    assert tool_outputs(tasks_chat.answer_requests()[1]) == []
