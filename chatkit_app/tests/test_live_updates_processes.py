"""Live updates across processes: two real daphne servers behind one site,
sharing the database and a real Redis server (the channel layer). What is
written through one process reaches staff watching through the other."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.client import ClientConnection

from chatkit_app.models import Message

from .chatkit_client import add_message, create_thread, post_live
from .live_daphne import LiveDaphne, session_socket, start_daphne, token_client
from .redis_server import redis_server as redis_server

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

TIMEOUT = 15


@pytest.fixture(scope="module")
def servers(redis_server, django_db_setup, django_db_blocker) -> Iterator[tuple[LiveDaphne, ...]]:
    # Replies slow enough that a watcher sees words before the reply is saved.
    env = {"REDIS_URL": redis_server.url, "CHATKIT_DEV_RESPONDER_DELAY": "0.05"}
    with start_daphne(env) as first, start_daphne(env) as second:
        yield first, second


def receive(socket: ClientConnection) -> dict[str, Any]:
    return json.loads(socket.recv(timeout=TIMEOUT))


def until(socket: ClientConnection, kind: str) -> list[dict[str, Any]]:
    events = []
    while True:
        events.append(receive(socket))
        if events[-1]["type"] == kind:
            return events


def test_a_message_sent_through_one_process_is_seen_live_through_the_other(servers, alice, charlie):
    first, second = servers
    with token_client(first, alice) as alice_api:
        thread_id = post_live(alice_api, create_thread("Hello"))[0]["thread"]["id"]
        with session_socket(second, charlie, f"/ws/chatkit/conversations/{thread_id}/") as socket:
            hello = until(socket, "caught_up")
            assert [event["view"]["label"] for event in hello if event["type"] == "item"] == [
                "User",
                "Assistant",
            ]

            with alice_api.stream(
                "POST", "/chatkit", content=json.dumps(add_message(thread_id, "Are you there?"))
            ) as response:
                assert response.status_code == 200
                user_item = receive(socket)
                assert user_item["type"] == "item"
                assert user_item["view"]["text"] == "Are you there?"
                assert user_item["sequence"] == hello[-1]["last_sequence"] + 1
                written = until(socket, "item.delta")
                assert written[0]["type"] == "item.started"
                # Words arrive through the second process while the first
                # is still writing the reply: it is not saved yet.
                assert not Message.objects.filter(pk=written[0]["item_id"]).exists()
                response.read()

            rest = until(socket, "stream.ended")
            saved = [event for event in rest if event["type"] == "item"]
            assert [event["item_id"] for event in saved] == [written[0]["item_id"]]
            deltas = [event for event in written + rest if event["type"] == "item.delta"]
            assert "".join(event["delta"] for event in deltas) == saved[0]["view"]["text"]
            assert saved[0]["view"]["text"] == Message.objects.get(pk=saved[0]["item_id"]).text


def test_staff_on_one_process_see_activity_from_the_other(servers, alice, charlie):
    first, second = servers
    with session_socket(second, charlie, "/ws/chatkit/activity/") as socket:
        until(socket, "caught_up")
        with token_client(first, alice) as alice_api:
            events = post_live(alice_api, create_thread("Hello from the first process"))
            thread_id = events[0]["thread"]["id"]
            reply_id = next(
                event["item"]["id"]
                for event in events
                if event["type"] == "thread.item.done"
                and event["item"]["type"] == "assistant_message"
            )
            feedback_body = {
                "type": "items.feedback",
                "params": {"thread_id": thread_id, "item_ids": [reply_id], "kind": "positive"},
            }
            alice_api.post("/chatkit", content=json.dumps(feedback_body)).raise_for_status()
        created = receive(socket)
        feedback = receive(socket)
    assert (created["kind"], created["conversation_id"], created["user"]) == (
        "conversation.created",
        thread_id,
        "alice",
    )
    assert (feedback["kind"], feedback["item_id"], feedback["feedback"]) == (
        "feedback",
        reply_id,
        "positive",
    )


def test_a_watcher_that_reconnects_to_the_other_process_gets_what_it_missed(
    servers, alice, charlie
):
    first, second = servers
    with token_client(first, alice) as alice_api:
        thread_id = post_live(alice_api, create_thread("Hello"))[0]["thread"]["id"]
        path = f"/ws/chatkit/conversations/{thread_id}/"
        with session_socket(second, charlie, path) as socket:
            seen = until(socket, "caught_up")[-1]["last_sequence"]
        assert seen == 2

        # Written while the watcher is away.
        events = post_live(alice_api, add_message(thread_id, "Missed this?"))
        written = [e["item"]["id"] for e in events if e["type"] == "thread.item.done"]

        with session_socket(first, charlie, f"{path}?after={seen}") as socket:
            caught_up = until(socket, "caught_up")
            replayed = [event for event in caught_up if event["type"] == "item"]
            assert [event["item_id"] for event in replayed] == written
            assert [event["sequence"] for event in replayed] == [3, 4]
            assert caught_up[-1]["last_sequence"] == 4

            post_live(alice_api, add_message(thread_id, "And now?"))
            live = until(socket, "stream.ended")
        live_items = [event for event in live if event["type"] == "item"]
        assert [event["sequence"] for event in live_items] == [5, 6]
        assert all(not event["replay"] for event in live_items)
