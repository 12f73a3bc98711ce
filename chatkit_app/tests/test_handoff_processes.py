"""Human handoff across processes: two real daphne servers sharing the
database and a real Redis server. Staff take over and reply through one;
the user, connected to the other, sees who answers and the reply live, and
their message there gets no answer from the assistant."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.conf import settings
from websockets.sync.client import ClientConnection

from chatkit_app.models import Message

from .chatkit_client import add_message, create_thread, events_of, parse_sse
from .live_daphne import LiveDaphne, session_cookie, session_socket, start_daphne, token_client
from .redis_server import redis_server as redis_server

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

TIMEOUT = 15


@pytest.fixture(scope="module")
def servers(redis_server, django_db_setup, django_db_blocker) -> Iterator[tuple[LiveDaphne, ...]]:
    env = {"REDIS_URL": redis_server.url}
    # Generous: on a busy machine a server takes half a minute to start.
    with start_daphne(env, timeout=90) as first, start_daphne(env, timeout=90) as second:
        yield first, second


def owner_socket(server: LiveDaphne, user, thread_id: str) -> ClientConnection:
    return session_socket(server, user, f"/ws/chatkit/threads/{thread_id}/", timeout=TIMEOUT)


def receive(socket: ClientConnection) -> dict[str, Any]:
    return json.loads(socket.recv(timeout=TIMEOUT))


def staff_session(server: LiveDaphne, user, thread_id: str) -> tuple[httpx.Client, str]:
    """A signed-in admin client and the watch page's CSRF token."""
    client = httpx.Client(base_url=server.url, timeout=TIMEOUT)
    client.cookies.set(settings.SESSION_COOKIE_NAME, session_cookie(user))
    page = client.get(f"/admin/chatkit_app/conversation/{thread_id.replace('_', '_5F')}/watch/")
    assert page.status_code == 200, page.text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return client, token


def test_staff_on_one_process_answer_a_user_on_the_other(servers, alice, charlie):
    first, second = servers
    with token_client(second, alice) as alice_api:
        response = alice_api.post("/chatkit", content=json.dumps(create_thread("Hello")))
        thread_id = parse_sse(response.content)[0]["thread"]["id"]
        staff, token = staff_session(first, charlie, thread_id)
        base = f"/admin/chatkit_app/conversation/{thread_id.replace('_', '_5F')}/handoff"
        headers = {"X-CSRFToken": token}

        with contextlib.closing(staff), owner_socket(second, alice, thread_id) as socket:
            assert receive(socket)["state"] == ""
            assert receive(socket)["type"] == "caught_up"

            assert staff.post(f"{base}/take-over/", headers=headers).status_code == 200
            taken = receive(socket)
            assert (taken["state"], taken["person"]) == ("taken_over", "charlie")

            events = parse_sse(
                alice_api.post(
                    "/chatkit", content=json.dumps(add_message(thread_id, "Hi?"))
                ).content
            )
            assert events_of(events, "notice")[0]["title"] == "charlie is answering"
            assert not [
                e
                for e in events_of(events, "thread.item.done")
                if e["item"]["type"] == "assistant_message"
            ]

            sent = staff.post(f"{base}/reply/", headers=headers, json={"text": "Charlie here."})
            assert sent.status_code == 201, sent.text
            reply = receive(socket)
            assert reply["type"] == "item"
            assert reply["item"]["content"][1]["text"] == "Charlie here."

            assert staff.post(f"{base}/hand-back/", headers=headers).status_code == 200
            assert receive(socket)["state"] == "handed_back"

        events = parse_sse(
            alice_api.post("/chatkit", content=json.dumps(add_message(thread_id, "Bye"))).content
        )
        assert any(
            e["item"]["type"] == "assistant_message" for e in events_of(events, "thread.item.done")
        ), "the assistant answers again"
    roles = list(
        Message.objects.filter(conversation_id=thread_id)
        .exclude(role="system")
        .order_by("sequence")
        .values_list("role", flat=True)
    )
    assert roles == ["user", "assistant", "user", "person", "user", "assistant"]
