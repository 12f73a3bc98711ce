"""Streams do not hold database connections while the model thinks.

With a pool of two connections, a dozen answers streaming at once (each
waiting on a slow provider) all finish: every burst of ORM work hands its
connection back before the model call. Held connections would time out in
the pool (psycopg_pool.PoolTimeout) after DATABASE_POOL_TIMEOUT."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.db import connection

from chatkit_app.models import Message
from chatkit_app.tokens import token_create

from .chatkit_client import create_thread, events_of, parse_sse, streamed_text
from .conftest import fake_provider_env
from .live_daphne import start_daphne

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

STREAMS = 12


def test_many_slow_streams_share_a_pool_of_two_connections(
    django_db_setup, fake_provider_server, fake_provider, alice
):
    if connection.vendor != "postgresql":
        pytest.skip("connection pooling is PostgreSQL's (SQLite opens a file per connection)")
    env = fake_provider_env(fake_provider_server, "responses")
    env.update(
        {"DATABASE_POOL_MIN_SIZE": "1", "DATABASE_POOL_MAX_SIZE": "2", "DATABASE_POOL_TIMEOUT": "3"}
    )
    env["CHATKIT_GENERATE_TITLES"] = "false"
    for _ in range(STREAMS):
        # Each answer takes about five seconds to write, longer than the
        # pool's timeout: a stream holding its connection would starve others.
        fake_provider.reply(" ".join(["word"] * 25), first_token_delay=1.0, chunk_delay=0.15)
    _, raw = token_create(user=alice)

    with start_daphne(env) as server:

        def ask(n: int) -> list[dict]:
            response = httpx.post(
                f"{server.url}/chatkit",
                content=json.dumps(create_thread(f"question {n}")),
                headers={"Authorization": f"Bearer {raw}"},
                timeout=60,
            )
            assert response.status_code == 200, response.text
            return parse_sse(response.content)

        with ThreadPoolExecutor(STREAMS) as pool:
            results = list(pool.map(ask, range(STREAMS)))
        log = server.log()

    assert "PoolTimeout" not in log
    for events in results:
        assert not events_of(events, "error"), events_of(events, "error")
        assert streamed_text(events) == " ".join(["word"] * 25)
    assert Message.objects.filter(role="assistant").count() == STREAMS
