"""The model path end to end: a daphne process answering from the fake
provider over real HTTP, on both wire formats."""

from __future__ import annotations

import json

import pytest

from chatkit_app.models import Message

from .chatkit_client import create_thread, events_of, hang_up_after, parse_sse, streamed_text
from .conftest import fake_provider_env
from .live_daphne import start_daphne, token_client, wait_until

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module", params=["responses", "chat_completions"])
def server(request, django_db_setup, django_db_blocker, fake_provider_server):
    with start_daphne(fake_provider_env(fake_provider_server, request.param)) as live:
        yield live


@pytest.fixture
def http(server, alice, fake_provider):
    with token_client(server, alice) as client:
        yield client


def test_a_model_answer_streams_over_http_and_is_stored(http, fake_provider):
    fake_provider.reply("Streaming works over real HTTP.", chunk_delay=0.01)
    response = http.post("/chatkit", content=json.dumps(create_thread("Does it stream?")))
    events = parse_sse(response.content)
    assert streamed_text(events) == "Streaming works over real HTTP."
    thread_id = events[0]["thread"]["id"]
    assert Message.objects.get(conversation_id=thread_id, role="assistant").text == (
        "Streaming works over real HTTP."
    )
    assert events_of(events, "thread.updated")[-1]["thread"]["title"] == "Fake title"


def test_stopping_mid_answer_keeps_the_partial_answer_marked(http, fake_provider):
    words = " ".join(f"word{n}" for n in range(80))
    fake_provider.reply(words, chunk_delay=0.03)
    thread_id = hang_up_after(http, create_thread("Go on and on"), updates=8)

    wait_until(
        lambda: Message.objects.filter(
            conversation_id=thread_id, type="sdk_hidden_context"
        ).exists()
    )
    partial = Message.objects.get(conversation_id=thread_id, role="assistant")
    assert partial.interrupted is True
    assert words.startswith(partial.text)
    assert 5 <= len(partial.text.split()) < 80
    assert Message.objects.get(conversation_id=thread_id, role="user").text == "Go on and on"


def test_a_provider_error_reaches_the_client_as_an_error_event(http, fake_provider):
    fake_provider.fail(429)
    response = http.post("/chatkit", content=json.dumps(create_thread("Hello?")))
    assert response.status_code == 200
    error = events_of(parse_sse(response.content), "error")[0]
    assert "too many requests" in error["message"]
    assert error["allow_retry"] is True
