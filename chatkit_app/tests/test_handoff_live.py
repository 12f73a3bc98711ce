"""The live side of human handoff, through the real ASGI application
(origin check, session auth, routing) and the in-memory channel layer: the
owner's own socket (``ws/chatkit/threads/<id>/``) gets a person's replies
and who answers, nothing else and nobody else's; staff watching the
conversation and the activity feed see the handoff too."""

from __future__ import annotations

import pytest

from chatkit_app.handoff.services import (
    handoff_hand_back,
    handoff_request,
    handoff_take_over,
    staff_reply_post,
)
from chatkit_app.live.consumers import CLOSE_NOT_FOUND, CLOSE_UNAUTHENTICATED

from .live_sockets import (
    TIMEOUT,
    close_code,
    db,
    open_socket,
    save_item,
    save_thread,
    thread_path,
    until,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_channel_layer"),
]


async def test_the_owner_sees_a_person_take_over_and_their_replies_live(alice, charlie):
    chat = await db(save_thread, alice, "thr_live")
    socket, connected, _ = await open_socket(thread_path("thr_live"), user=alice)
    assert connected
    first, _caught_up = await until(socket, "caught_up")
    assert first == {"type": "handoff", "conversation_id": "thr_live", "state": "", "person": ""}

    await db(handoff_take_over, conversation=chat, staff=charlie)
    taken = await socket.receive_json_from(timeout=TIMEOUT)
    # The name users see, never staff usernames or other staff detail.
    assert taken == {
        "type": "handoff",
        "conversation_id": "thr_live",
        "state": "taken_over",
        "person": "charlie",
    }
    # The user's own message is not echoed back: their request's stream has it.
    await db(save_item, alice, "thr_live", "msg_u1", "Hello?")
    await db(staff_reply_post, conversation=chat, staff=charlie, text="Hi, I am here.")
    reply = await socket.receive_json_from(timeout=TIMEOUT)
    assert reply["type"] == "item"
    assert set(reply) == {"type", "item", "sequence"}
    assert reply["item"]["type"] == "assistant_message"
    assert reply["item"]["content"][1]["text"] == "Hi, I am here."
    assert reply["sequence"] == 2

    await db(handoff_hand_back, conversation=chat)
    back = await socket.receive_json_from(timeout=TIMEOUT)
    assert back["state"] == "handed_back"
    assert await socket.receive_nothing(timeout=0.2)
    await socket.disconnect()


async def test_a_reconnecting_owner_gets_the_replies_it_missed_once(alice, charlie):
    chat = await db(save_thread, alice, "thr_back")
    await db(save_item, alice, "thr_back", "msg_u1", "Anyone?")
    await db(handoff_take_over, conversation=chat, staff=charlie)
    await db(staff_reply_post, conversation=chat, staff=charlie, text="One")
    await db(save_item, alice, "thr_back", "msg_u2", "And?")
    await db(staff_reply_post, conversation=chat, staff=charlie, text="Two")

    socket, _, _ = await open_socket(thread_path("thr_back", after_item="msg_u2"), user=alice)
    events = await until(socket, "caught_up")

    assert events[0]["state"] == "taken_over"
    replies = [event["item"]["content"][1]["text"] for event in events if event["type"] == "item"]
    assert replies == ["Two"]
    await socket.disconnect()


async def test_nobody_but_the_owner_gets_the_thread_socket(alice, bob, charlie):
    await db(save_thread, alice, "thr_mine")
    for user, expected in ((bob, CLOSE_NOT_FOUND), (None, CLOSE_UNAUTHENTICATED)):
        socket, connected, _ = await open_socket(thread_path("thr_mine"), user=user)
        assert connected
        assert await close_code(socket) == expected
    # Staff included: a user's own channel is theirs; staff have the watch page.
    socket, _, _ = await open_socket(thread_path("thr_mine"), user=charlie)
    assert await close_code(socket) == CLOSE_NOT_FOUND
    socket, _, _ = await open_socket(thread_path("thr_missing"), user=alice)
    assert await close_code(socket) == CLOSE_NOT_FOUND
    _, connected, _ = await open_socket(
        thread_path("thr_mine"), user=alice, origin=b"https://evil.example"
    )
    assert not connected


async def test_staff_watching_see_the_handoff_state_and_the_feed_sees_requests(alice, charlie):
    chat = await db(save_thread, alice, "thr_staff")
    watch, _, _ = await open_socket("/ws/chatkit/conversations/thr_staff/", user=charlie)
    events = await until(watch, "caught_up")
    assert next(e for e in events if e["type"] == "handoff")["state"] == ""
    activity, _, _ = await open_socket("/ws/chatkit/activity/", user=charlie)
    await until(activity, "caught_up")

    await db(handoff_request, owner=alice, conversation_id="thr_staff", reason="billing")
    requested = await activity.receive_json_from(timeout=TIMEOUT)
    assert (requested["kind"], requested["user"], requested["reason"]) == (
        "handoff.requested",
        "alice",
        "billing",
    )
    assert (await watch.receive_json_from(timeout=TIMEOUT))["state"] == "requested"
    await db(handoff_take_over, conversation=chat, staff=charlie)
    taken = await watch.receive_json_from(timeout=TIMEOUT)
    assert (taken["state"], taken["taken_over_by"]) == ("taken_over", "charlie")
    await watch.disconnect()
    await activity.disconnect()
