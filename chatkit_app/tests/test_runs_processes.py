"""Replies seen across server processes: two daphne processes sharing a
Redis server and the database. A reply written by one is followed, and
stopped, through the other."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from chatkit_app.models import Message, ReplyRun
from chatkit_app.server import CANCELLED_NOTE
from chatkit_app.tokens import token_create

from .chatkit_client import create_thread, hang_up_after, parse_sse, streamed_text
from .conftest import fake_provider_env
from .live_daphne import LiveDaphne, start_daphne, wait_until
from .redis_server import redis_server as redis_server
from .test_runs import CONTINUE, Streamer, note_of, reply_of, words

# Two servers start under the first test: more than the default 120 s on a busy machine.
pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(400)]


@pytest.fixture(scope="module")
def servers(
    redis_server, django_db_setup, django_db_blocker, fake_provider_server
) -> Iterator[tuple[LiveDaphne, LiveDaphne]]:
    env = {
        **fake_provider_env(fake_provider_server, "responses"),
        "CHATKIT_GENERATE_TITLES": "0",
        "REDIS_URL": redis_server.url,
    }
    with start_daphne(env) as first, start_daphne(env) as second:
        yield first, second


@pytest.fixture
def clients(servers, alice, fake_provider) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    _, raw = token_create(user=alice)
    headers = {"Authorization": f"Bearer {raw}"}
    with (
        httpx.Client(base_url=servers[0].url, headers=headers, timeout=30) as first,
        httpx.Client(base_url=servers[1].url, headers=headers, timeout=30) as second,
    ):
        yield first, second


def test_a_reply_written_by_one_process_is_followed_through_the_other(clients, fake_provider):
    first, second = clients
    text = words(60)
    # Held at word 20 until the other process has replayed it: the reply is
    # still being written when it is followed, however slow the machine.
    hold = fake_provider.reply_held(text, after_words=20, chunk_delay=0.05)
    first.headers.update(CONTINUE)
    thread_id = hang_up_after(first, create_thread("Tell me a story"), updates=10)

    watched = Streamer(second, "GET", f"/chatkit/threads/{thread_id}/stream")
    watched.start()
    written = " ".join(text.split()[:20])
    wait_until(lambda: streamed_text(watched.events) == written)
    assert watched.is_alive(), "the stream waits for the rest"
    hold.release()
    watched.finished()
    assert watched.status == 200
    assert streamed_text(watched.events) == text, "from the first word to the last"
    assert reply_of(thread_id).text == text
    assert ReplyRun.objects.get(conversation_id=thread_id).process.endswith(f":{first_pid(first)}")


def first_pid(client: httpx.Client) -> int:
    for server_url, pid in _pids.items():
        if str(client.base_url).rstrip("/") == server_url:
            return pid
    raise AssertionError("unknown server")


_pids: dict[str, int] = {}


@pytest.fixture(autouse=True)
def pids(servers) -> None:
    _pids.update({server.url: server.process.pid for server in servers})


def test_a_reply_written_by_one_process_is_stopped_through_the_other(clients, fake_provider):
    first, second = clients
    text = words(80)
    # Held at word 10: it is still running when the other process stops it.
    hold = fake_provider.reply_held(text, after_words=10, chunk_delay=0.05)
    first.headers.update(CONTINUE)
    thread_id = hang_up_after(first, create_thread("Tell me a story"), updates=5)
    wait_until(lambda: Message.objects.filter(conversation_id=thread_id, role="user").exists())

    stopped = second.post(f"/chatkit/threads/{thread_id}/stop")
    hold.release()
    assert (stopped.status_code, stopped.json()) == (200, {"stopped": True})
    # The stop reaches the writing process over Redis: it saves the reply a
    # moment after the answer, not before it.
    reply = reply_of(thread_id)
    assert reply.interrupted is True
    assert 3 <= len(reply.text.split()) <= 10
    assert note_of(thread_id) == CANCELLED_NOTE
    assert ReplyRun.objects.get(conversation_id=thread_id).reason == "stop"


def test_a_reply_nobody_follows_from_another_process_is_not_copied_to_redis(
    clients, fake_provider, redis_server
):
    """Most replies are read by their own request alone: they cost Redis
    nothing (a reader elsewhere asks for a run, which then mirrors it from
    its first event, as the test above shows)."""
    import redis

    first, _ = clients
    text = words(20)
    fake_provider.reply(text)
    answered = first.post("/chatkit", json=create_thread("Tell me a story"))
    assert answered.status_code == 200
    assert streamed_text(parse_sse(answered.content)) == text
    run = ReplyRun.objects.get(conversation_id=reply_of_thread(answered.content))
    assert run.status == ReplyRun.Status.DONE
    with redis.Redis.from_url(redis_server.url) as connection:
        assert connection.exists(f"chatkit:run:{run.pk}") == 0


def reply_of_thread(body: bytes) -> str:
    return parse_sse(body)[0]["thread"]["id"]
