"""Usage limits across real server processes: two daphne servers on one
database share each user's budget, turns sent all at once are answered
exactly as many times as the limit allows, and a reply the user stops
still counts against their budget."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from django.db import connection

from chatkit_app.models import Conversation, ModelUsage, UsageCounter, UserLimits
from chatkit_app.tokens import token_create

from .chatkit_client import create_thread, events_of, hang_up_after, parse_sse, streamed_text
from .conftest import fake_provider_env
from .live_daphne import LiveDaphne, start_daphne, wait_until

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite takes one writer at a time: concurrency is PostgreSQL's case",
)


@pytest.fixture(scope="module")
def servers(
    django_db_setup, django_db_blocker, fake_provider_server
) -> Iterator[tuple[LiveDaphne, LiveDaphne]]:
    # No limits in the settings: each test sets the user's own, in the
    # database both processes read.
    env = {**fake_provider_env(fake_provider_server, "responses"), "CHATKIT_GENERATE_TITLES": "0"}
    with start_daphne(env) as first, start_daphne(env) as second:
        yield first, second


@pytest.fixture
def tokens(alice, fake_provider) -> dict[str, str]:
    _, raw = token_create(user=alice)
    return {"Authorization": f"Bearer {raw}"}


def send(server: LiveDaphne, headers: dict[str, str], body: Any) -> list[dict[str, Any]]:
    response = httpx.post(
        f"{server.url}/chatkit", content=json.dumps(body), headers=headers, timeout=60
    )
    assert response.status_code == 200, response.text
    return parse_sse(response.content)


def all_at_once(servers: tuple[LiveDaphne, ...], headers: dict[str, str], count: int) -> list[str]:
    """The outcomes of ``count`` new threads sent together, alternately to each server."""
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [
            pool.submit(send, servers[n % len(servers)], headers, create_thread(f"turn {n}"))
            for n in range(count)
        ]
        return [outcome(future.result()) for future in futures]


def outcome(events: list[dict[str, Any]]) -> str:
    if streamed_text(events) and not events_of(events, "error"):
        return "answered"
    (error,) = events_of(events, "error")
    return error["message"]


def test_two_processes_share_one_daily_budget(servers, alice, tokens, fake_provider):
    UserLimits.objects.create(user=alice, turns_per_day=2)
    first, second = servers
    assert outcome(send(first, tokens, create_thread("one"))) == "answered"
    assert outcome(send(second, tokens, create_thread("two"))) == "answered"
    for server in servers:
        assert outcome(send(server, tokens, create_thread("three"))) == (
            "You have used today's 2 messages; the limit resets at 00:00 UTC."
        )
    assert Conversation.objects.count() == 2


@on_postgresql
def test_turns_sent_all_at_once_are_answered_exactly_as_often_as_allowed(
    servers, alice, tokens, fake_provider
):
    UserLimits.objects.create(user=alice, turns_per_day=3)
    for _ in range(12):
        # Slow answers, so that every request arrives while others run.
        fake_provider.reply("Answered.", first_token_delay=0.5)
    outcomes = all_at_once(servers, tokens, 12)

    assert sorted(set(outcomes)) == [
        "You have used today's 3 messages; the limit resets at 00:00 UTC.",
        "answered",
    ]
    assert outcomes.count("answered") == 3
    assert Conversation.objects.count() == 3
    assert len(fake_provider.answer_requests()) == 3
    assert UsageCounter.objects.get(user=alice, kind="turns").used == 3


@on_postgresql
def test_a_token_budget_lets_one_reply_run_at_a_time(servers, alice, tokens, fake_provider):
    UserLimits.objects.create(user=alice, tokens_per_day=1_000)
    for _ in range(6):
        fake_provider.reply("Answered.", first_token_delay=1.0)
    outcomes = all_at_once(servers, tokens, 6)

    # What a reply costs is known only when it ends: until then it holds
    # the budget, so concurrent turns can overspend it by one turn at most.
    assert outcomes.count("answered") == 1
    assert set(outcomes) - {"answered"} == {
        "Your previous message is still being answered; send this one once it is done."
    }
    assert Conversation.objects.count() == 1
    # Once it ended, the next turn runs.
    assert outcome(send(servers[0], tokens, create_thread("next"))) == "answered"


def test_a_stopped_reply_counts_against_the_budget(servers, alice, tokens, fake_provider):
    UserLimits.objects.create(user=alice, tokens_per_day=60)
    words = " ".join(f"word{n}" for n in range(200))
    fake_provider.reply(words, chunk_delay=0.03)
    with httpx.Client(base_url=servers[0].url, headers=tokens, timeout=30) as http:
        hang_up_after(http, create_thread("Tell me a long story " * 10), updates=20)

    # The provider reports usage only at the end: the stopped reply's is estimated.
    stopped = wait_until(lambda: ModelUsage.objects.filter(error="stopped").first())
    assert stopped.input_tokens > 0
    assert stopped.output_tokens > 0
    counter = wait_until(
        lambda: UsageCounter.objects.filter(user=alice, kind="tokens", busy_until=None).first()
    )
    assert counter.used == stopped.total_tokens
    assert counter.used >= 60, "the estimate covers the long question and the words sent"
    assert outcome(send(servers[1], tokens, create_thread("more"))) == (
        "You have used today's 60 tokens; the limit resets at 00:00 UTC."
    )
