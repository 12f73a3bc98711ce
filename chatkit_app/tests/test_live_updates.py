"""Live updates for staff: the websocket consumers, driven through the real
ASGI application (origin check, session auth, routing) with channels'
``WebsocketCommunicator`` and the in-memory channel layer."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission
from django.db import transaction
from django.utils import timezone

from chatkit_app import services
from chatkit_app.live.consumers import (
    CLOSE_BAD_REQUEST,
    CLOSE_FORBIDDEN,
    CLOSE_NOT_FOUND,
    CLOSE_UNAUTHENTICATED,
)
from chatkit_app.models import Conversation, Message

from .chatkit_client import add_message, post_chatkit
from .chatkit_client import create_thread as start_thread
from .live_sockets import (
    TIMEOUT,
    close_code,
    conversation_path,
    db,
    open_socket,
    save_item,
    save_thread,
    until,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_channel_layer"),
]


@pytest.fixture
def fast_replies(settings):
    settings.CHATKIT_DEV_RESPONDER_DELAY = 0
    settings.CHATKIT_LIVE_DELTA_INTERVAL = 0


async def watch(path: str, user) -> WebsocketCommunicator:
    socket, connected, _ = await open_socket(path, user)
    assert connected
    return socket


def texts(events: list[dict[str, Any]]) -> list[str]:
    return [event["view"]["text"] for event in events if event["type"] == "item"]


# --- who may watch --------------------------------------------------------------------


async def test_it_refuses_visitors_who_are_not_signed_in(alice):
    await db(save_thread, alice, "thr_a")
    socket, connected, _ = await open_socket(conversation_path("thr_a"), user=None)
    assert connected
    assert await close_code(socket) == CLOSE_UNAUTHENTICATED


async def test_it_refuses_users_who_are_not_staff(alice):
    await db(save_thread, alice, "thr_a")
    socket, _, _ = await open_socket(conversation_path("thr_a"), user=alice)
    assert await close_code(socket) == CLOSE_FORBIDDEN
    socket, _, _ = await open_socket("/ws/chatkit/activity/", user=alice)
    assert await close_code(socket) == CLOSE_FORBIDDEN


async def test_it_refuses_staff_without_permission_to_view_conversations(alice, bob):
    await db(save_thread, alice, "thr_a")
    bob.is_staff = True
    await db(bob.save)
    socket, _, _ = await open_socket(conversation_path("thr_a"), user=bob)
    assert await close_code(socket) == CLOSE_FORBIDDEN

    permission = await db(Permission.objects.get, codename="view_conversation")
    await db(bob.user_permissions.add, permission)
    socket = await watch(conversation_path("thr_a"), bob)
    assert (await socket.receive_json_from(timeout=TIMEOUT))["type"] == "conversation"
    await socket.disconnect()


async def test_it_refuses_a_page_from_another_origin(alice, charlie):
    await db(save_thread, alice, "thr_a")
    _, connected, _ = await open_socket(
        conversation_path("thr_a"), user=charlie, origin=b"https://evil.example"
    )
    assert not connected
    _, connected, _ = await open_socket("/ws/chatkit/activity/", user=charlie, origin=None)
    assert not connected


async def test_it_says_when_the_conversation_does_not_exist(charlie):
    socket, _, _ = await open_socket(conversation_path("thr_missing"), user=charlie)
    assert await close_code(socket) == CLOSE_NOT_FOUND


async def test_it_refuses_a_position_that_is_not_a_number(alice, charlie):
    await db(save_thread, alice, "thr_a")
    socket, _, _ = await open_socket(conversation_path("thr_a", after="abc"), user=charlie)
    assert await close_code(socket) == CLOSE_BAD_REQUEST


# --- losing the right to watch while connected ------------------------------------------

RECHECK = 0.2


def sign_out(user) -> None:
    """What signing out does to the session (``logout`` flushes it)."""
    from django.contrib.sessions.models import Session

    for session in Session.objects.all():
        if session.get_decoded().get("_auth_user_id") == str(user.pk):
            session.delete()


def deactivate(user) -> None:
    user.is_active = False
    user.save()


def remove_staff(user) -> None:
    user.is_staff = False
    user.save()


def remove_view_permission(user) -> None:
    user.user_permissions.remove(Permission.objects.get(codename="view_conversation"))


def change_password(user) -> None:
    user.set_password("a new password for a new session")
    user.save()


@pytest.fixture
def viewer(bob):
    """Staff allowed to view conversations by one permission (not a superuser)."""
    bob.is_staff = True
    bob.save()
    bob.user_permissions.add(Permission.objects.get(codename="view_conversation"))
    return bob


@pytest.mark.parametrize(
    ("revoke", "code", "path"),
    [
        (sign_out, CLOSE_UNAUTHENTICATED, "conversation"),
        (change_password, CLOSE_UNAUTHENTICATED, "conversation"),
        (deactivate, CLOSE_FORBIDDEN, "conversation"),
        (remove_staff, CLOSE_FORBIDDEN, "conversation"),
        (remove_view_permission, CLOSE_FORBIDDEN, "conversation"),
        (sign_out, CLOSE_UNAUTHENTICATED, "activity"),
        (remove_view_permission, CLOSE_FORBIDDEN, "activity"),
    ],
)
async def test_an_open_socket_closes_within_the_interval_once_its_watcher_may_not_watch(
    alice, viewer, settings, revoke, code, path
):
    settings.CHATKIT_LIVE_RECHECK_INTERVAL = RECHECK
    await db(save_thread, alice, "thr_a")
    socket = await watch(
        conversation_path("thr_a") if path == "conversation" else "/ws/chatkit/activity/", viewer
    )
    await until(socket, "caught_up")
    # Still allowed: the socket stays open over several checks.
    await asyncio.sleep(RECHECK * 2.5)
    await db(save_item, alice, "thr_a", "msg_1", "still watched")
    if path == "conversation":
        assert texts([await socket.receive_json_from(timeout=TIMEOUT)]) == ["still watched"]

    await db(revoke, viewer)
    # Closed by the socket's own re-check: nothing else happens until it is
    # (how soon is the machine's speed, not something to assert).
    assert await close_code(socket) == code
    # Nothing is sent after the close, though the conversation goes on.
    await db(save_item, alice, "thr_a", "msg_2", "after the close")
    await db(save_thread, alice, "thr_new")
    assert await socket.receive_nothing(timeout=RECHECK * 1.5)


async def test_no_event_goes_out_on_a_check_older_than_the_interval(alice, viewer, settings):
    """Events flowing do not keep a revoked watcher in: once the interval has
    passed, the next event is preceded by a check and not sent."""
    settings.CHATKIT_LIVE_RECHECK_INTERVAL = 60  # the timer will not fire in this test
    await db(save_thread, alice, "thr_a")
    socket = await watch(conversation_path("thr_a"), viewer)
    await until(socket, "caught_up")
    await db(deactivate, viewer)
    settings.CHATKIT_LIVE_RECHECK_INTERVAL = 0.05
    await asyncio.sleep(0.1)
    await db(save_item, alice, "thr_a", "msg_1", "secret")
    assert await close_code(socket) == CLOSE_FORBIDDEN


# --- watching a conversation ------------------------------------------------------------


async def test_staff_see_new_items_in_order(alice, charlie):
    await db(save_thread, alice, "thr_a", "Trip to Lisbon")
    socket = await watch(conversation_path("thr_a"), charlie)
    hello = await until(socket, "caught_up")
    assert hello[0]["type"] == "conversation"
    assert hello[0]["conversation"]["title"] == "Trip to Lisbon"
    assert hello[0]["reset"] is True
    assert hello[-1] == {"type": "caught_up", "last_sequence": 0, "earlier": False}

    for n in range(1, 4):
        await db(save_item, alice, "thr_a", f"msg_{n}", f"question {n}")
    events = [await socket.receive_json_from(timeout=TIMEOUT) for _ in range(3)]

    assert [event["sequence"] for event in events] == [1, 2, 3]
    assert texts(events) == ["question 1", "question 2", "question 3"]
    first = events[0]
    assert first["item"]["content"] == [{"type": "input_text", "text": "question 1"}]
    assert first["view"]["label"] == "User"
    assert first["replay"] is False
    assert await socket.receive_nothing()
    await socket.disconnect()


async def test_other_conversations_are_not_sent(alice, charlie):
    await db(save_thread, alice, "thr_a")
    await db(save_thread, alice, "thr_b")
    socket = await watch(conversation_path("thr_a"), charlie)
    await until(socket, "caught_up")
    await db(save_item, alice, "thr_b", "msg_b", "elsewhere")
    await db(save_item, alice, "thr_a", "msg_a", "here")
    event = await socket.receive_json_from(timeout=TIMEOUT)
    assert texts([event]) == ["here"]
    assert await socket.receive_nothing()
    await socket.disconnect()


async def test_a_new_watcher_gets_the_latest_items_first(alice, charlie, settings):
    settings.CHATKIT_LIVE_BACKLOG = 2
    await db(save_thread, alice, "thr_a")
    for n in range(1, 5):
        await db(save_item, alice, "thr_a", f"msg_{n}", f"question {n}")
    socket = await watch(conversation_path("thr_a"), charlie)
    events = await until(socket, "caught_up")
    assert texts(events) == ["question 3", "question 4"]
    assert all(event["replay"] for event in events if event["type"] == "item")
    assert events[-1] == {"type": "caught_up", "last_sequence": 4, "earlier": True}
    await socket.disconnect()


async def test_a_reconnecting_watcher_gets_what_it_missed_once_and_in_order(alice, charlie):
    await db(save_thread, alice, "thr_a")
    await db(save_item, alice, "thr_a", "msg_1", "before")
    socket = await watch(conversation_path("thr_a"), charlie)
    events = await until(socket, "caught_up")
    seen = events[-1]["last_sequence"]
    assert seen == 1
    await socket.disconnect()

    # Written while nobody watched.
    await db(save_item, alice, "thr_a", "msg_2", "missed 1")
    await db(save_item, alice, "thr_a", "msg_3", "missed 2")

    socket = await watch(conversation_path("thr_a", after=seen), charlie)
    events = await until(socket, "caught_up")
    assert events[0]["type"] == "conversation"
    assert events[0]["reset"] is False
    assert texts(events) == ["missed 1", "missed 2"]
    assert [event["sequence"] for event in events if event["type"] == "item"] == [2, 3]
    assert events[-1]["last_sequence"] == 3

    await db(save_item, alice, "thr_a", "msg_4", "live again")
    event = await socket.receive_json_from(timeout=TIMEOUT)
    assert (event["sequence"], event["replay"]) == (4, False)
    assert await socket.receive_nothing()
    await socket.disconnect()


async def test_a_reconnecting_watcher_can_resume_from_an_item_id(alice, charlie):
    await db(save_thread, alice, "thr_a")
    for n in range(1, 4):
        await db(save_item, alice, "thr_a", f"msg_{n}", f"question {n}")
    socket = await watch(conversation_path("thr_a", after_item="msg_1"), charlie)
    events = await until(socket, "caught_up")
    assert texts(events) == ["question 2", "question 3"]
    await socket.disconnect()

    # An item that is gone (a retry removed it): start over from the backlog.
    socket = await watch(conversation_path("thr_a", after_item="msg_gone"), charlie)
    events = await until(socket, "caught_up")
    assert events[0]["reset"] is True
    assert texts(events) == ["question 1", "question 2", "question 3"]
    await socket.disconnect()


async def test_items_saved_during_the_catch_up_are_neither_lost_nor_repeated(alice, charlie):
    """Events that arrive while the consumer reads the database wait in its
    channel; those the catch-up already covered are dropped."""
    await db(save_thread, alice, "thr_a")
    await db(save_item, alice, "thr_a", "msg_1", "one")
    socket = await watch(conversation_path("thr_a", after=0), charlie)
    # Written while the consumer may still be catching up.
    for n in range(2, 6):
        await db(save_item, alice, "thr_a", f"msg_{n}", f"item {n}")
    events = await until(socket, "caught_up")
    # (A receive that times out would stop the consumer: ask first.)
    while not await socket.receive_nothing(timeout=0.5):
        events.append(await socket.receive_json_from(timeout=TIMEOUT))
    sequences = [event["sequence"] for event in events if event["type"] == "item"]
    assert sorted(sequences) == [1, 2, 3, 4, 5]
    await socket.disconnect()


async def test_a_changed_item_is_sent_again_even_after_the_catch_up(alice, charlie):
    await db(save_thread, alice, "thr_a")
    await db(save_item, alice, "thr_a", "msg_1", "draft")
    socket = await watch(conversation_path("thr_a"), charlie)
    await until(socket, "caught_up")
    await db(save_item, alice, "thr_a", "msg_1", "final", interrupted=True)
    event = await socket.receive_json_from(timeout=TIMEOUT)
    assert (event["sequence"], event["view"]["text"], event["interrupted"]) == (1, "final", True)
    await socket.disconnect()


async def test_removed_items_and_status_changes_are_sent(alice, charlie):
    conversation = await db(save_thread, alice, "thr_a")
    await db(save_item, alice, "thr_a", "msg_1", "one")
    socket = await watch(conversation_path("thr_a"), charlie)
    await until(socket, "caught_up")

    await db(services.message_delete, owner=alice, conversation_id="thr_a", message_id="msg_1")
    assert await socket.receive_json_from(timeout=TIMEOUT) == {
        "type": "item.removed",
        "conversation_id": "thr_a",
        "item_id": "msg_1",
    }
    await db(
        services.conversation_set_status,
        conversation=conversation,
        status=Conversation.Status.LOCKED,
        reason="Under review",
    )
    event = await socket.receive_json_from(timeout=TIMEOUT)
    assert event["type"] == "conversation"
    assert (event["conversation"]["status"], event["conversation"]["status_reason"]) == (
        "locked",
        "Under review",
    )
    await socket.disconnect()


def save_and_roll_back(owner) -> None:
    with transaction.atomic():
        save_item(owner, "thr_a", "msg_doomed", "never happened")
        raise RuntimeError("rolled back")


async def test_nothing_is_announced_for_a_write_that_rolls_back(alice, charlie):
    await db(save_thread, alice, "thr_a")
    socket = await watch(conversation_path("thr_a"), charlie)
    await until(socket, "caught_up")
    with pytest.raises(RuntimeError):
        await db(save_and_roll_back, alice)
    assert await socket.receive_nothing(timeout=0.5)
    assert not await db(Message.objects.filter(pk="msg_doomed").exists)
    await socket.disconnect()


def test_a_channel_layer_failure_does_not_break_the_write(alice, settings, caplog):
    # A real Redis client, pointed at a port where nothing listens.
    from .live_daphne import free_port

    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{free_port()}/0"]},
        }
    }
    save_thread(alice, "thr_a")
    with caplog.at_level(logging.ERROR, logger="chatkit_app.live.publish"):
        message = save_item(alice, "thr_a", "msg_1", "kept")
    assert Message.objects.get(pk="msg_1").text == "kept" == message.text
    assert "Could not publish the live event item" in caplog.text


async def test_nothing_is_published_when_live_updates_are_off(alice, charlie, settings):
    settings.CHATKIT_LIVE_UPDATES = False
    await db(save_thread, alice, "thr_a")
    socket = await watch(conversation_path("thr_a"), charlie)
    await until(socket, "caught_up")
    await db(save_item, alice, "thr_a", "msg_1", "quiet")
    assert await socket.receive_nothing(timeout=0.5)
    await socket.disconnect()


async def test_a_reply_is_seen_while_it_is_written(alice, charlie, fast_replies):
    """The whole path: a message sent to /chatkit, the user's item, then the
    reply's start, its words, and the saved reply, in that order."""
    created = await db(post_chatkit, start_thread("Hello"), login=alice)
    thread_id = created.events()[0]["thread"]["id"]
    socket = await watch(conversation_path(thread_id), charlie)
    await until(socket, "caught_up")

    reply = await db(post_chatkit, add_message(thread_id, "<b>Is this live?</b>"), login=alice)
    assert reply.status_code == 200
    events = await until(socket, "stream.ended")
    kinds = [event["type"] for event in events]

    user_item = events[0]
    assert user_item["type"] == "item"
    assert user_item["view"]["text"] == "<b>Is this live?</b>"
    started = kinds.index("item.started")
    # Saved (and published) by the SDK when done, before the stream ends.
    saved_reply = events[-2]
    assert saved_reply["type"] == "item"
    assert saved_reply["view"]["label"] == "Assistant"
    deltas = [event for event in events if event["type"] == "item.delta"]
    assert deltas
    assert started < kinds.index("item.delta")
    assert all(event["item_id"] == saved_reply["item_id"] for event in deltas)
    assert "".join(event["delta"] for event in deltas) == saved_reply["view"]["text"]
    assert [event["offset"] for event in deltas] == [
        sum(len(event["delta"]) for event in deltas[:n]) for n in range(len(deltas))
    ]
    assert saved_reply["sequence"] == user_item["sequence"] + 1
    assert events[-1] == {"type": "stream.ended", "conversation_id": thread_id, "error": None}
    await socket.disconnect()


async def test_deltas_are_merged_when_an_interval_is_set(alice, charlie, settings):
    settings.CHATKIT_DEV_RESPONDER_DELAY = 0
    settings.CHATKIT_LIVE_DELTA_INTERVAL = 60
    created = await db(post_chatkit, start_thread("first"), login=alice)
    thread_id = created.events()[0]["thread"]["id"]
    socket = await watch(conversation_path(thread_id), charlie)
    await until(socket, "caught_up")
    await db(post_chatkit, add_message(thread_id, "one two three four five"), login=alice)
    events = await until(socket, "stream.ended")
    saved = events[-2]
    deltas = [event for event in events if event["type"] == "item.delta"]
    # Words within the interval go out together (here: all of them, when
    # the finished item is about to be saved).
    assert len(deltas) == 1
    assert "".join(event["delta"] for event in deltas) == saved["view"]["text"]
    await socket.disconnect()


async def test_a_provider_failure_ends_the_stream_with_its_message(alice, charlie, provider):
    created = await db(post_chatkit, start_thread("Hi"), login=alice)
    thread_id = created.events()[0]["thread"]["id"]
    socket = await watch(conversation_path(thread_id), charlie)
    await until(socket, "caught_up")
    provider.fail(500)
    await db(post_chatkit, add_message(thread_id, "again"), login=alice)
    events = await until(socket, "stream.ended")
    assert events[-1]["error"]
    assert "500" not in events[-1]["error"]
    await socket.disconnect()


# --- the activity feed ------------------------------------------------------------------


def record_usage(user, thread_id: str, error: str = ""):
    return services.usage_record(
        user=user,
        thread_id=thread_id,
        message_id="msg_1",
        provider="openai",
        model="gpt-test",
        purpose="response",
        input_tokens=1,
        output_tokens=1,
        latency_ms=5,
        error=error,
    )


async def test_staff_see_conversations_errors_and_feedback_as_they_happen(alice, charlie):
    socket = await watch("/ws/chatkit/activity/", charlie)
    assert await until(socket, "caught_up") == [{"type": "caught_up"}]

    await db(save_thread, alice, "thr_a", "Hello there")
    await db(save_item, alice, "thr_a", "msg_1", "hi")
    await db(record_usage, alice, "thr_a")  # a successful call: not activity
    await db(record_usage, alice, "thr_a", error="rate_limit")
    await db(
        services.feedback_record,
        owner=alice,
        conversation_id="thr_a",
        item_ids=["msg_1"],
        kind="negative",
    )
    events = [await socket.receive_json_from(timeout=TIMEOUT) for _ in range(3)]
    assert [event["kind"] for event in events] == [
        "conversation.created",
        "provider.error",
        "feedback",
    ]
    created, error, feedback = events
    assert (created["user"], created["title"], created["conversation_id"]) == (
        "alice",
        "Hello there",
        "thr_a",
    )
    assert created["watch_url"].endswith("/thr_5Fa/watch/")
    assert (error["error"], error["model"]) == ("rate_limit", "gpt-test")
    assert (feedback["feedback"], feedback["item_id"], feedback["user"]) == (
        "negative",
        "msg_1",
        "alice",
    )
    assert await socket.receive_nothing()
    await socket.disconnect()


async def test_the_activity_feed_replays_recent_activity_and_resumes_without_repeats(
    alice, charlie
):
    await db(save_thread, alice, "thr_old", "Earlier today")
    socket = await watch("/ws/chatkit/activity/", charlie)
    events = await until(socket, "caught_up")
    assert [(event["key"], event["replay"]) for event in events[:-1]] == [
        ("conversation:thr_old", True)
    ]
    newest = events[-2]["at"]
    await socket.disconnect()

    await db(save_thread, alice, "thr_new", "While away")
    socket = await watch(f"/ws/chatkit/activity/?since={newest.replace('+', '%2B')}", charlie)
    events = await until(socket, "caught_up")
    keys = [event["key"] for event in events[:-1]]
    # From the resume point on (the client drops what it already shows by key).
    assert keys[-1] == "conversation:thr_new"
    assert set(keys) <= {"conversation:thr_old", "conversation:thr_new"}
    await socket.disconnect()


async def test_the_activity_feed_leaves_out_what_is_older_than_a_day(alice, charlie):
    conversation = await db(save_thread, alice, "thr_old")
    long_ago = timezone.now() - timedelta(days=3)
    await db(
        Conversation.objects.filter(pk=conversation.pk).update,
        created_at=long_ago,
        updated_at=long_ago,
    )
    socket = await watch("/ws/chatkit/activity/", charlie)
    assert await until(socket, "caught_up") == [{"type": "caught_up"}]
    await socket.disconnect()
