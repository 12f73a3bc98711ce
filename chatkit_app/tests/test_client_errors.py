"""A client's mistake (an id it may not see, an item that is not where it
says) gets its status before anything streams, and is never logged as a
crash: no ERROR record, no traceback, inside a stream or out of it."""

from __future__ import annotations

import logging
from datetime import datetime

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from chatkit.types import StructuredInputFreeform, StructuredInputItem
from django.db import close_old_connections

from chatkit_app.context import RequestContext
from chatkit_app.models import Conversation, Message
from chatkit_app.server import get_server
from chatkit_app.store import DjangoStore

from .chatkit_client import ApiClient, parse_sse
from .stored import snapshot

pytestmark = pytest.mark.django_db


def crashes(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == code


@pytest.fixture
def as_alice(alice):
    return ApiClient(alice)


@pytest.fixture
def as_bob(bob):
    return ApiClient(bob)


def user_item_id(thread_id: str) -> str:
    return Message.objects.get(conversation_id=thread_id, role="user").pk


def test_retrying_after_another_users_item_is_404_and_changes_nothing(as_alice, as_bob, caplog):
    alices_thread, _ = as_alice.start("Hello")
    bobs_thread, _ = as_bob.start("Hi")
    before = snapshot()
    for item_id in (user_item_id(bobs_thread), "msg_does_not_exist"):
        response = as_alice(
            {
                "type": "threads.retry_after_item",
                "params": {"thread_id": alices_thread, "item_id": item_id},
            }
        )
        assert_error(response, 404, "not_found")
    assert snapshot() == before
    assert crashes(caplog) == []


def test_retrying_after_an_item_of_another_own_thread_is_404(as_alice):
    first, _ = as_alice.start("One")
    second, _ = as_alice.start("Two")
    response = as_alice(
        {
            "type": "threads.retry_after_item",
            "params": {"thread_id": first, "item_id": user_item_id(second)},
        }
    )
    assert_error(response, 404, "not_found")


def test_retrying_after_an_assistant_item_is_400_without_a_traceback(as_alice, caplog):
    thread_id, _ = as_alice.start("Hello")
    assistant = Message.objects.get(conversation_id=thread_id, role="assistant").pk
    response = as_alice(
        {
            "type": "threads.retry_after_item",
            "params": {"thread_id": thread_id, "item_id": assistant},
        }
    )
    assert_error(response, 400, "bad_request")
    assert crashes(caplog) == []


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        (
            "threads.custom_action",
            {"action": {"type": "tasks.set_done", "payload": {"task_id": 1, "done": True}}},
        ),
        ("threads.add_structured_input", {"input": {"answers": {}}}),
    ],
)
def test_a_missing_item_named_by_a_streamed_request_is_404_without_a_traceback(
    as_alice, caplog, kind, params
):
    thread_id, _ = as_alice.start("Hello")
    caplog.clear()
    response = as_alice(
        {"type": kind, "params": {"thread_id": thread_id, "item_id": "msg_nope", **params}}
    )
    assert_error(response, 404, "not_found")
    assert crashes(caplog) == []


def test_tool_output_with_no_pending_tool_call_is_400_without_a_traceback(as_alice, caplog):
    """Found by the fuzz suite: the SDK raised this inside the stream and
    logged it as an ERROR with a traceback."""
    thread_id, _ = as_alice.start("Hello")
    caplog.clear()
    before = snapshot()
    response = as_alice(
        {
            "type": "threads.add_client_tool_output",
            "params": {"thread_id": thread_id, "result": None},
        }
    )
    assert_error(response, 400, "bad_request")
    assert "tool call" in response.json()["error"]["message"]
    assert snapshot() == before
    assert crashes(caplog) == []


def answered_question(thread_id: str) -> str:
    item = StructuredInputItem(
        id="msg_answered",
        thread_id=thread_id,
        created_at=datetime.now(),
        status="answered",
        inputs=[StructuredInputFreeform(id="q1", question="Why?")],
    )
    owner = Conversation.objects.get(pk=thread_id).owner
    async_to_sync(DjangoStore().add_thread_item)(thread_id, item, RequestContext(user=owner))
    return item.id


@pytest.mark.parametrize("which", ["a plain message", "an answered question"])
def test_answering_an_item_that_asks_nothing_is_400_without_a_traceback(as_alice, caplog, which):
    """Found by the fuzz suite, as above: a 400, but logged as a crash."""
    thread_id, _ = as_alice.start("Hello")
    if which == "a plain message":
        item_id = user_item_id(thread_id)
    else:
        item_id = answered_question(thread_id)
    caplog.clear()
    before = snapshot()
    response = as_alice(
        {
            "type": "threads.add_structured_input",
            "params": {"thread_id": thread_id, "item_id": item_id, "input": {"answers": {}}},
        }
    )
    assert_error(response, 400, "bad_request")
    assert snapshot() == before
    assert crashes(caplog) == []


@pytest.mark.django_db(transaction=True)
async def test_a_conversation_deleted_while_its_reply_streams_is_logged_as_info(
    alice, settings, caplog
):
    """The one client mistake that only shows inside a stream: the user
    deletes the conversation (another tab) while its reply is written."""
    settings.CHATKIT_DEV_RESPONDER_DELAY = 0.02
    caplog.set_level(logging.INFO, logger="chatkit")
    body = (
        b'{"type": "threads.create", "params": {"input": {"content": [{"type": "input_text",'
        b' "text": "one two three four five six seven eight"}], "attachments": [],'
        b' "inference_options": {}}}}'
    )
    result = await get_server().process(body, RequestContext(user=alice))
    events: list[dict] = []
    async for chunk in result:
        events.extend(parse_sse(chunk))
        if [e["type"] for e in events].count("thread.item.updated") == 1:
            await sync_to_async(_delete_conversations)()
    assert events[-1]["type"] == "error"
    assert crashes(caplog) == []
    client_errors = [r for r in caplog.records if "a client's request" in r.getMessage()]
    assert [r.levelname for r in client_errors] == ["INFO"]
    assert client_errors[0].getMessage().startswith("NotFoundError: Thread thr_")


def _delete_conversations() -> None:
    Conversation.objects.all().delete()
    close_old_connections()
