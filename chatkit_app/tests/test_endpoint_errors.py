"""/chatkit answers bad input with a clear JSON error and the right status,
never a 500, and a rejected request changes nothing that is stored."""

from __future__ import annotations

from datetime import datetime

import pytest
from asgiref.sync import async_to_sync
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    FileAttachment,
    LockedStatus,
    ThreadMetadata,
)

from chatkit_app.models import Conversation, Feedback, Message
from chatkit_app.tokens import token_create, token_revoke

from .chatkit_client import add_message, create_thread, post_chatkit
from .stored import snapshot

pytestmark = pytest.mark.django_db
run = async_to_sync


def post(body, **headers):
    return post_chatkit(body, **headers)


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    return error


@pytest.fixture
def bearer(alice):
    _, raw = token_create(user=alice)
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


@pytest.fixture
def alices_thread(store, alice, ctx):
    context = ctx(alice)
    thread = ThreadMetadata(id="thr_alice", title="Alice's", created_at=datetime.now())
    run(store.save_thread)(thread, context)
    item = AssistantMessageItem(
        id="msg_alice",
        thread_id=thread.id,
        created_at=datetime.now(),
        content=[AssistantMessageContent(text="hello alice")],
    )
    run(store.add_thread_item)(thread.id, item, context)
    run(store.save_attachment)(
        FileAttachment(id="atc_alice", name="a", mime_type="text/plain"), context
    )
    return thread


# --- method, size, authentication ---------------------------------------------


def test_get_is_405_with_allow_header(alice):
    response = post_chatkit(None, method="get", login=alice)
    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "POST"


def test_anonymous_caller_is_401():
    response = post({"type": "threads.list", "params": {}})
    assert_error(response, 401, "unauthenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header", ["Bearer ck_not-a-real-token", "Basic YWxpY2U6eA==", "Bearer", "Bearer   "]
)
def test_a_bad_authorization_header_is_401(alice, header):
    response = post({"type": "threads.list", "params": {}}, HTTP_AUTHORIZATION=header)
    assert_error(response, 401, "unauthenticated")


def test_a_revoked_token_is_401(alice, bearer):
    assert post({"type": "threads.list", "params": {}}, **bearer).status_code == 200
    token_revoke(queryset=alice.chatkit_tokens.all())
    assert_error(post({"type": "threads.list", "params": {}}, **bearer), 401, "unauthenticated")


def test_an_inactive_users_token_is_403(alice, bearer):
    alice.is_active = False
    alice.save()
    assert_error(post({"type": "threads.list", "params": {}}, **bearer), 403, "inactive_user")


def test_a_session_without_csrf_token_is_403(alice):
    response = post({"type": "threads.list", "params": {}}, login=alice, csrf=False)
    assert_error(response, 403, "csrf_failed")


def test_a_session_with_csrf_token_works(alice):
    response = post({"type": "threads.list", "params": {}}, login=alice)
    assert response.status_code == 200
    assert response.json() == {"data": [], "has_more": False}


def test_a_token_request_needs_no_csrf_token(alice, bearer):
    assert post({"type": "threads.list", "params": {}}, **bearer).status_code == 200


def test_a_body_over_the_limit_is_413_and_stores_nothing(bearer, settings):
    settings.CHATKIT_MAX_REQUEST_BYTES = 1000
    response = post(create_thread("x" * 2000), **bearer)
    assert_error(response, 413, "request_too_large")
    assert not Conversation.objects.exists()


# --- malformed and hostile bodies ---------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", "invalid_json"),
        (b"   ", "invalid_json"),
        (b"{not json", "invalid_json"),
        (b"\xff\xfe\x00garbage", "invalid_json"),
        (b'{"type": "threads.list", "params": {}', "invalid_json"),
        (b"[1, 2, 3]", "invalid_request"),
        (b'"threads.list"', "invalid_request"),
        (b"null", "invalid_request"),
        (b'{"params": {}}', "unknown_request_type"),
        (b'{"type": "threads.explode", "params": {}}', "unknown_request_type"),
        (b'{"type": ["threads.list"], "params": {}}', "unknown_request_type"),
        (b'{"type": "threads.create"}', "invalid_params"),
        (b'{"type": "threads.create", "params": {"input": {"content": "hi"}}}', "invalid_params"),
        (b'{"type": "threads.list", "params": {"limit": "many"}}', "invalid_params"),
        (b'{"type": "threads.list", "params": {"order": "sideways"}}', "invalid_params"),
        (
            b'{"type": "items.feedback", '
            b'"params": {"thread_id": "t", "item_ids": [], "kind": "meh"}}',
            "invalid_params",
        ),
        (b'{"type": "threads.get_by_id", "params": {"thread_id": null}}', "invalid_params"),
        (b'{"type": "threads.list", "params": {}}' + b" " * 10 + b"{}", "invalid_json"),
        (b"[" * 5000 + b"]" * 5000, "invalid_json"),
    ],
)
def test_malformed_bodies_are_400(bearer, alices_thread, body, code):
    before = snapshot()
    assert_error(post(body, **bearer), 400, code)
    assert snapshot() == before


def test_a_user_message_for_a_retry_of_a_non_user_item_is_400(bearer, alices_thread):
    body = {
        "type": "threads.retry_after_item",
        "params": {"thread_id": alices_thread.id, "item_id": "msg_alice"},
    }
    before = snapshot()
    assert_error(post(body, **bearer), 400, "bad_request")
    assert snapshot() == before


def test_tool_output_with_no_pending_tool_call_is_400(bearer, alices_thread):
    body = {
        "type": "threads.add_client_tool_output",
        "params": {"thread_id": alices_thread.id, "result": {"ok": True}},
    }
    assert_error(post(body, **bearer), 400, "bad_request")


# --- another user's ids -------------------------------------------------------

THREAD_REQUESTS = {
    "threads.get_by_id": {"thread_id": "thr_alice"},
    "threads.update": {"thread_id": "thr_alice", "title": "pwned"},
    "threads.delete": {"thread_id": "thr_alice"},
    "items.list": {"thread_id": "thr_alice"},
    "items.feedback": {"thread_id": "thr_alice", "item_ids": ["msg_alice"], "kind": "negative"},
    "threads.add_user_message": add_message("thr_alice", "hi")["params"],
    "threads.retry_after_item": {"thread_id": "thr_alice", "item_id": "msg_alice"},
    "threads.add_client_tool_output": {"thread_id": "thr_alice", "result": 1},
    "threads.add_structured_input": {
        "thread_id": "thr_alice",
        "item_id": "msg_alice",
        "input": {"answers": {}},
    },
    "threads.custom_action": {"thread_id": "thr_alice", "action": {"type": "x"}},
    "threads.sync_custom_action": {"thread_id": "thr_alice", "action": {"type": "x"}},
    "threads.list": {"after": "thr_alice"},
    "attachments.delete": {"attachment_id": "atc_alice"},
}


def test_every_request_type_that_names_a_thread_is_covered():
    from chatkit_app.views import KNOWN_REQUEST_TYPES

    without_ids = {"threads.create", "attachments.create", "input.transcribe"}
    assert set(THREAD_REQUESTS) == KNOWN_REQUEST_TYPES - without_ids


@pytest.mark.parametrize("kind", list(THREAD_REQUESTS))
def test_another_users_ids_are_404_and_change_nothing(alices_thread, bob, kind):
    _, raw = token_create(user=bob)
    before = snapshot()
    response = post(
        {"type": kind, "params": THREAD_REQUESTS[kind]}, HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    assert_error(response, 404, "not_found")
    assert "alice" not in response.content.decode().lower()
    assert snapshot() == before


def test_feedback_on_an_item_of_another_thread_is_404(alices_thread, bob, store, ctx):
    _, raw = token_create(user=bob)
    run(store.save_thread)(ThreadMetadata(id="thr_bob", created_at=datetime.now()), ctx(bob))
    body = {
        "type": "items.feedback",
        "params": {"thread_id": "thr_bob", "item_ids": ["msg_alice"], "kind": "positive"},
    }
    assert_error(post(body, HTTP_AUTHORIZATION=f"Bearer {raw}"), 404, "not_found")
    assert not Feedback.objects.exists()


# --- thread status ------------------------------------------------------------


def test_a_locked_thread_refuses_new_messages_with_409(bearer, alices_thread, store, alice, ctx):
    alices_thread.status = LockedStatus(reason="Under review")
    run(store.save_thread)(alices_thread, ctx(alice))
    before = snapshot()
    error = assert_error(post(add_message("thr_alice", "hi"), **bearer), 409, "thread_locked")
    assert "Under review" in error["message"]
    assert snapshot() == before


def test_a_locked_thread_can_still_be_read(bearer, alices_thread, store, alice, ctx):
    alices_thread.status = LockedStatus()
    run(store.save_thread)(alices_thread, ctx(alice))
    body = {"type": "threads.get_by_id", "params": {"thread_id": "thr_alice"}}
    response = post(body, **bearer)
    assert response.status_code == 200
    assert response.json()["status"] == {"type": "locked"}


# --- the happy path in-process --------------------------------------------------


def test_a_new_thread_streams_a_labelled_offline_reply(bearer):
    response = post(create_thread("Hello there"), **bearer)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert {"no-cache", "no-transform", "no-store"} <= set(response["Cache-Control"].split(", "))
    assert response["X-Accel-Buffering"] == "no"
    events = response.events()
    assert events[0]["type"] == "thread.created"
    done = [e["item"] for e in events if e["type"] == "thread.item.done"]
    assert [item["type"] for item in done] == ["user_message", "assistant_message"]
    reply = done[1]["content"][0]["text"]
    assert reply.startswith("[offline development responder]")
    assert "Hello there" in reply
    assert Message.objects.filter(conversation_id=events[0]["thread"]["id"]).count() == 2


def test_feedback_is_recorded_once_per_item_and_can_change(bearer, alices_thread, alice):
    for kind in ("positive", "negative"):
        body = {
            "type": "items.feedback",
            "params": {"thread_id": "thr_alice", "item_ids": ["msg_alice"], "kind": kind},
        }
        assert post(body, **bearer).json() == {}
    feedback = Feedback.objects.get()
    assert (feedback.kind, feedback.user, feedback.message_id) == ("negative", alice, "msg_alice")
