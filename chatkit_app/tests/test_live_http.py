"""End to end over real HTTP: a daphne process serving the site, spoken to
the way a ChatKit frontend or an API client does."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from django.test import Client

from chatkit_app.models import Conversation, Message

from .chatkit_client import (
    CSRF_SECRET,
    add_message,
    create_thread,
    hang_up_after,
    iter_sse,
    parse_sse,
    streamed_text,
)
from .live_daphne import start_daphne, token_client, wait_until

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    # A slow offline responder, so a reply is still streaming when a test
    # looks at the database or hangs up.
    with start_daphne({"CHATKIT_DEV_RESPONDER_DELAY": "0.03"}) as live:
        yield live


def session_client(server, user) -> httpx.Client:
    django_client = Client()
    django_client.force_login(user)
    return httpx.Client(
        base_url=server.url,
        cookies={"sessionid": django_client.cookies["sessionid"].value, "csrftoken": CSRF_SECRET},
        headers={"X-CSRFToken": CSRF_SECRET},
        timeout=30,
    )


@pytest.fixture(params=["session", "token"])
def http(request, server, alice) -> Iterator[httpx.Client]:
    make = session_client if request.param == "session" else token_client
    with make(server, alice) as client:
        yield client


def call(http: httpx.Client, body) -> httpx.Response:
    return http.post(
        "/chatkit", content=json.dumps(body), headers={"Content-Type": "application/json"}
    )


def test_a_conversation_from_first_message_to_deletion(http, alice):
    created = call(http, create_thread("What is Django?"))
    assert created.status_code == 200
    assert created.headers["content-type"] == "text/event-stream"
    events = parse_sse(created.content)
    thread_id = events[0]["thread"]["id"]
    assert "What is Django?" in streamed_text(events)
    assert events[-1]["type"] in {"thread.item.done", "thread.updated"}

    second = parse_sse(call(http, add_message(thread_id, "And channels?")).content)
    assert "And channels?" in streamed_text(second)

    listed = call(http, {"type": "threads.list", "params": {"limit": 10}}).json()
    assert [t["id"] for t in listed["data"]] == [thread_id]
    assert listed["data"][0]["title"] == "What is Django?"

    thread = call(http, {"type": "threads.get_by_id", "params": {"thread_id": thread_id}}).json()
    kinds = [
        (item["type"], item.get("content", [{}])[0].get("text", ""))
        for item in thread["items"]["data"]
    ]
    assert [k for k, _ in kinds] == ["user_message", "assistant_message"] * 2
    assert kinds[2][1] == "And channels?"

    items = call(
        http, {"type": "items.list", "params": {"thread_id": thread_id, "limit": 1}}
    ).json()
    assert items["has_more"] is True
    assert len(items["data"]) == 1

    renamed = call(
        http, {"type": "threads.update", "params": {"thread_id": thread_id, "title": "Django"}}
    )
    assert renamed.json()["title"] == "Django"
    assert Conversation.objects.get(pk=thread_id).title == "Django"

    assert call(http, {"type": "threads.delete", "params": {"thread_id": thread_id}}).json() == {}
    assert not Conversation.objects.filter(pk=thread_id).exists()
    assert not Message.objects.filter(conversation_id=thread_id).exists()


def test_the_reply_streams_before_it_is_finished(server, alice):
    with (
        token_client(server, alice) as http,
        http.stream(
            "POST", "/chatkit", content=json.dumps(create_thread("one two three four five six"))
        ) as response,
    ):
        events = iter_sse(response)
        thread_id = next(events)["thread"]["id"]
        # The thread exists, the reply is still being written.
        assert Conversation.objects.filter(pk=thread_id).exists()
        assert not Message.objects.filter(conversation_id=thread_id, role="assistant").exists()
        rest = list(events)
    assert "assistant_message" in {event.get("item", {}).get("type") for event in rest}
    assert Message.objects.filter(conversation_id=thread_id, role="assistant").exists()


def test_another_user_gets_404_over_http(server, alice, bob):
    with token_client(server, alice) as as_alice, token_client(server, bob) as as_bob:
        thread_id = parse_sse(call(as_alice, create_thread("private")).content)[0]["thread"]["id"]
        response = call(as_bob, {"type": "threads.get_by_id", "params": {"thread_id": thread_id}})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
        assert call(as_bob, {"type": "threads.list", "params": {}}).json()["data"] == []
        assert call(as_bob, add_message(thread_id, "let me in")).status_code == 404
    assert Message.objects.filter(conversation_id=thread_id).count() == 2


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{nope", 400, "invalid_json"),
        (b'{"type": "threads.frobnicate", "params": {}}', 400, "unknown_request_type"),
        (b'{"type": "threads.create", "params": {}}', 400, "invalid_params"),
        (b"[" * 100000, 400, "invalid_json"),
    ],
)
def test_bad_bodies_get_json_errors_over_http(server, alice, body, status, code):
    with token_client(server, alice) as http:
        response = http.post("/chatkit", content=body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_an_anonymous_request_is_401_over_http(server):
    response = httpx.post(
        f"{server.url}/chatkit", content=b'{"type": "threads.list", "params": {}}'
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_a_session_without_csrf_is_403_over_http(server, alice):
    with session_client(server, alice) as http:
        del http.headers["X-CSRFToken"]
        response = call(http, {"type": "threads.list", "params": {}})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"


def test_an_oversized_body_is_refused_before_it_is_read(server, alice):
    big = (
        b'{"type": "threads.list", "params": {}, "metadata": {"x": "'
        + b"x" * (5 * 1024 * 1024)
        + b'"}}'
    )
    with token_client(server, alice) as http:
        declared = http.post("/chatkit", content=big)

        def chunks():
            # No Content-Length: the limit applies to the bytes that arrive.
            for start in range(0, len(big), 64 * 1024):
                yield big[start : start + 64 * 1024]

        undeclared = http.post("/chatkit", content=chunks())
    for response in (declared, undeclared):
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "request_too_large"


def test_health_reports_the_database(server):
    response = httpx.get(f"{server.url}/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_a_client_that_hangs_up_mid_stream_keeps_the_message_and_partial_reply(server, alice):
    text = " ".join(f"word{n}" for n in range(60))
    with token_client(server, alice) as http:
        thread_id = hang_up_after(http, create_thread(text), updates=5)

    # The SDK saves the partial reply, then its hidden "the user cancelled"
    # note, after the connection is gone.
    wait_until(
        lambda: Message.objects.filter(
            conversation_id=thread_id, type="sdk_hidden_context"
        ).exists()
    )
    partial = Message.objects.get(conversation_id=thread_id, role="assistant")
    assert partial.interrupted is True
    words = partial.text.split()
    assert 3 <= len(words) < 60
    assert Message.objects.get(conversation_id=thread_id, role="user").text == text
