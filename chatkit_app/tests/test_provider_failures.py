"""When the model provider fails, the user gets a readable error event, what
was stored stays stored, and the next message works."""

from __future__ import annotations

import logging

import pytest

from chatkit_app.models import Message, ModelUsage

from .chatkit_client import ApiClient, add_message, create_thread, events_of, streamed_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_alice(alice) -> ApiClient:
    return ApiClient(alice)


def error_of(events: list[dict]) -> dict:
    errors = events_of(events, "error")
    assert len(errors) == 1, events
    return errors[0]


@pytest.mark.parametrize(
    ("status", "words", "allow_retry", "kind"),
    [
        (401, "rejected this site's API key", False, "auth"),
        (429, "too many requests", True, "rate_limit"),
        (500, "internal error", True, "server_error"),
        (503, "internal error", True, "server_error"),
    ],
)
def test_an_http_error_becomes_a_readable_error_event(
    provider, as_alice, caplog, status, words, allow_retry, kind
):
    provider.fail(status, "secret internal detail sk-live-123")
    with caplog.at_level(logging.WARNING, logger="chatkit_app"):
        events = as_alice(create_thread("Hello?")).events()
    thread_id = events[0]["thread"]["id"]

    error = error_of(events)
    assert error["code"] == "custom"
    assert words in error["message"]
    assert error["allow_retry"] is allow_retry
    assert "sk-live-123" not in str(events), "the provider's raw error never reaches the user"

    assert list(Message.objects.filter(conversation_id=thread_id).values_list("role", "text")) == [
        ("user", "Hello?")
    ]
    assert ModelUsage.objects.get(purpose="response").error == kind
    assert thread_id in caplog.text


def test_a_slow_first_token_times_out_readably(provider, as_alice, settings):
    settings.CHATKIT_REQUEST_TIMEOUT = 0.5
    provider.reply("too late", first_token_delay=2)
    events = as_alice(create_thread("Hello?")).events()
    assert "took too long" in error_of(events)["message"]
    assert Message.objects.filter(role="user").count() == 1


def test_a_stream_cut_mid_answer_keeps_the_partial_answer(provider, as_alice):
    words = " ".join(f"w{n}" for n in range(30))
    provider.reply(words, cut_after_chunks=12)
    events = as_alice(create_thread("Tell me everything")).events()
    thread_id = events[0]["thread"]["id"]

    assert "lost before the answer was complete" in error_of(events)["message"]
    partial = Message.objects.get(conversation_id=thread_id, role="assistant")
    assert partial.interrupted is True
    assert words.startswith(partial.text)
    assert 2 <= len(partial.text.split()) < 30
    # The client was told the partial message is final, so it stops spinning.
    done = [e["item"]["id"] for e in events_of(events, "thread.item.done")]
    assert partial.id in done
    assert streamed_text(events).startswith(partial.text)


def test_the_thread_works_again_after_a_failure(provider, as_alice):
    provider.fail(500)
    events = as_alice(create_thread("first")).events()
    thread_id = events[0]["thread"]["id"]
    provider.reply("All good now.")
    again = as_alice(add_message(thread_id, "second")).events()
    assert streamed_text(again) == "All good now."
    assert not events_of(again, "error")
    # The failed turn's question is still part of the history.
    assert provider.answer_requests()[-1].user_texts()[-2:] == ["first", "second"]


def test_the_client_retries_a_failed_request_when_retries_are_configured(
    provider, as_alice, settings
):
    settings.CHATKIT_MAX_RETRIES = 1
    provider.fail(500)
    provider.reply("Second time lucky.")
    events = as_alice(create_thread("hi")).events()
    assert streamed_text(events) == "Second time lucky."
    assert not events_of(events, "error")
    assert len(provider.answer_requests()) == 2


def test_a_failed_first_exchange_still_gets_a_title(provider, as_alice):
    provider.fail(500)
    events = as_alice(create_thread("Plan a trip to Lisbon")).events()
    titles = [e["thread"]["title"] for e in events_of(events, "thread.updated")]
    assert titles == ["Plan a trip to Lisbon"]
