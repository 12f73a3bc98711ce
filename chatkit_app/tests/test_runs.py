"""Replies that survive the browser, over HTTP with a real daphne process and
the fake provider: a client that hangs up stops the reply or not, as
``CHATKIT_DISCONNECT`` and its ``X-ChatKit-Disconnect`` header say; the
stop endpoint stops it either way; a reloaded page reattaches to the reply
being written; limits stop abandoned replies; a worker that dies leaves an
interrupted reply, never a pending one."""

from __future__ import annotations

import io
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from chatkit_app.models import Message, ModelUsage, ReplyRun, UsageCounter, UserLimits
from chatkit_app.runs.services import runs_recover
from chatkit_app.server import CANCELLED_NOTE
from chatkit_app.tokens import token_create

from .chatkit_client import (
    add_message,
    create_thread,
    hang_up_after,
    iter_sse,
    parse_sse,
    streamed_text,
)
from .conftest import fake_provider_env
from .live_daphne import LiveDaphne, start_daphne, wait_until

# The module's server starts under the first test: on a loaded machine that
# alone has taken more than the default 120 s (every test then errored).
pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

CONTINUE = {"X-ChatKit-Disconnect": "continue"}
# Slow enough to hang up, stop or reload half way; quick enough for a test.
WORD_DELAY = 0.05


def words(count: int, prefix: str = "w") -> str:
    return " ".join(f"{prefix}{n}" for n in range(count))


def server_env(fake, **extra: str) -> dict[str, str]:
    return {
        **fake_provider_env(fake, "responses"),
        "CHATKIT_GENERATE_TITLES": "0",
        "CHATKIT_RUN_HEARTBEAT_SECONDS": "0.5",
        **extra,
    }


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, fake_provider_server) -> Iterator[LiveDaphne]:
    env = server_env(
        fake_provider_server, CHATKIT_MAX_BACKGROUND_RUNS="1", CHATKIT_MAX_RUN_SECONDS="15"
    )
    with start_daphne(env) as live:
        warm_up(live, django_db_blocker)
        yield live


def warm_up(live: LiveDaphne, django_db_blocker) -> None:
    """Answer one message before the tests: a fresh process builds its model
    client on the first one (importing the Agents SDK), which on a loaded
    machine has taken longer than this server's 15 s run limit and stopped
    the first test's reply as "timeout"."""
    with django_db_blocker.unblock():
        user = get_user_model().objects.create_user("warm-up")
        _, raw = token_create(user=user)
        answer = httpx.post(
            f"{live.url}/chatkit",
            content=json.dumps(create_thread("Hello")),
            headers={"Authorization": f"Bearer {raw}"},
            timeout=120,
        )
        assert answer.status_code == 200, answer.text
        user.delete()


@pytest.fixture
def http(server, alice, fake_provider) -> Iterator[httpx.Client]:
    _, raw = token_create(user=alice)
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {raw}"}, timeout=30
    ) as client:
        yield client


def reply_of(thread_id: str) -> Message:
    """The thread's assistant reply once its run has ended."""

    def settled() -> Message | None:
        if ReplyRun.objects.filter(conversation_id=thread_id, status="running").exists():
            return None
        return Message.objects.filter(conversation_id=thread_id, role="assistant").first()

    return wait_until(settled, timeout=40)


def note_of(thread_id: str) -> str | None:
    return (
        Message.objects.filter(conversation_id=thread_id, type="sdk_hidden_context")
        .values_list("text", flat=True)
        .first()
    )


def hang_up(http: httpx.Client, text: str, *, after: int, headers: dict | None = None) -> str:
    """Start a new thread with ``text`` and hang up after ``after`` words."""
    if headers:
        http.headers.update(headers)
    try:
        return hang_up_after(http, create_thread(text), updates=after)
    finally:
        for name in headers or {}:
            http.headers.pop(name)


class Streamer(threading.Thread):
    """Reads a stream to its end in the background, collecting its events."""

    def __init__(self, http: httpx.Client, method: str, url: str, **kwargs: Any) -> None:
        super().__init__(daemon=True)
        self.http, self.method, self.url, self.kwargs = http, method, url, kwargs
        self.events: list[dict[str, Any]] = []
        self.status = 0
        self.thread_id: str | None = None
        self.started_writing = threading.Event()

    def run(self) -> None:
        with self.http.stream(self.method, self.url, **self.kwargs) as response:
            self.status = response.status_code
            for event in iter_sse(response):
                self.events.append(event)
                self.thread_id = self.thread_id or event.get("thread", {}).get("id")
                if event["type"] == "thread.item.updated":
                    self.started_writing.set()

    def finished(self, timeout: float = 30) -> Streamer:
        self.join(timeout)
        assert not self.is_alive(), "the stream did not end"
        return self


def start_reply(http: httpx.Client, text: str, **headers: str) -> Streamer:
    streamer = Streamer(
        http, "POST", "/chatkit", content=json.dumps(create_thread(text)), headers=headers
    )
    streamer.start()
    assert streamer.started_writing.wait(20), "the reply did not start"
    return streamer


# --- a client that hangs up ----------------------------------------------------------


def test_a_client_hanging_up_in_continue_mode_gets_the_whole_reply_stored(
    http, alice, fake_provider
):
    UserLimits.objects.create(user=alice, turns_per_day=5)
    text = words(40)
    fake_provider.reply(text, chunk_delay=WORD_DELAY)
    thread_id = hang_up(http, "Tell me a story", after=5, headers=CONTINUE)

    reply = reply_of(thread_id)
    assert reply.text == text
    run = ReplyRun.objects.get(conversation_id=thread_id)
    assert reply.interrupted is False, (run.reason, run.finished_at - run.started_at)
    assert note_of(thread_id) is None, "nobody stopped anything"
    assert ReplyRun.objects.get(conversation_id=thread_id).status == "done"
    # The reply written in the background is one turn, used and paid once.
    usage = ModelUsage.objects.filter(conversation_id=thread_id)
    assert list(usage.values_list("purpose", "error", "output_tokens")) == [("response", "", 7)]
    assert UsageCounter.objects.get(user=alice, kind="turns").used == 1


def test_a_client_hanging_up_in_cancel_mode_keeps_the_partial_reply_marked(http, fake_provider):
    text = words(40)
    # Held at word 10 until the server has noticed: however slowly it does,
    # the reply cannot end first.
    hold = fake_provider.reply_held(text, after_words=10, chunk_delay=WORD_DELAY)
    thread_id = hang_up(http, "Tell me a story", after=5)  # cancel: the default

    reply = reply_of(thread_id)
    hold.release()
    assert reply.interrupted is True
    assert text.startswith(reply.text)
    assert 4 <= len(reply.text.split()) <= 10, "what the client saw, at most what was written"
    assert note_of(thread_id) == CANCELLED_NOTE
    run = ReplyRun.objects.get(conversation_id=thread_id)
    assert (run.status, run.reason) == ("stopped", "disconnect")


# --- the stop endpoint ---------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, CONTINUE], ids=["cancel mode", "continue mode"])
def test_the_stop_endpoint_stops_the_reply_and_keeps_what_it_wrote(http, fake_provider, headers):
    text = words(60)
    hold = fake_provider.reply_held(text, after_words=10, chunk_delay=WORD_DELAY)
    streamer = start_reply(http, "Tell me a story", **headers)
    # Stopped once the client has read ten words, while the reply waits for
    # the provider's eleventh: it cannot have ended on its own.
    written = " ".join(text.split()[:10])
    wait_until(lambda: streamed_text(streamer.events) == written)

    stopped = http.post(f"/chatkit/threads/{streamer.thread_id}/stop")
    hold.release()
    assert stopped.status_code == 200, stopped.text
    assert stopped.json() == {"stopped": True}
    streamer.finished()  # the stream of the stopped reply ends

    reply = Message.objects.get(conversation_id=streamer.thread_id, role="assistant")
    assert reply.interrupted is True
    assert reply.text == written == streamed_text(streamer.events), "what was said is kept"
    assert note_of(streamer.thread_id) == CANCELLED_NOTE
    assert ReplyRun.objects.get(conversation_id=streamer.thread_id).reason == "stop"
    # The thread answers the next message as usual.
    fake_provider.reply("Sure.")
    answer = parse_sse(
        http.post(
            "/chatkit", content=json.dumps(add_message(streamer.thread_id, "Shorter please"))
        ).content
    )
    assert streamed_text(answer) == "Sure."


def test_stopping_a_thread_with_no_reply_running_stops_nothing(http, fake_provider):
    fake_provider.reply("Done.")
    events = parse_sse(http.post("/chatkit", content=json.dumps(create_thread("Hi"))).content)
    thread_id = events[0]["thread"]["id"]

    answer = http.post(f"/chatkit/threads/{thread_id}/stop")
    assert (answer.status_code, answer.json()) == (200, {"stopped": False})
    assert note_of(thread_id) is None
    assert http.get(f"/chatkit/threads/{thread_id}/stream").status_code == 204


def test_another_users_thread_cannot_be_stopped_or_watched(server, http, bob, fake_provider):
    # Held so that it is still running when bob tries: a 404 must come from
    # the owner check, not from a reply that had already ended.
    hold = fake_provider.reply_held(words(60), after_words=5, chunk_delay=WORD_DELAY)
    streamer = start_reply(http, "Tell me a story")
    hold.wait_reached()
    _, raw = token_create(user=bob)
    as_bob = {"Authorization": f"Bearer {raw}"}

    stop = httpx.post(f"{server.url}/chatkit/threads/{streamer.thread_id}/stop", headers=as_bob)
    watch = httpx.get(f"{server.url}/chatkit/threads/{streamer.thread_id}/stream", headers=as_bob)
    assert (stop.status_code, stop.json()["error"]["code"]) == (404, "not_found")
    assert watch.status_code == 404
    assert httpx.post(f"{server.url}/chatkit/threads/{streamer.thread_id}/stop").status_code == 401
    hold.release()
    streamer.finished()
    assert reply_of(streamer.thread_id).interrupted is False


# --- reattaching -----------------------------------------------------------------------


def test_a_reloaded_page_sees_what_was_written_and_the_rest_live(http, fake_provider):
    text = words(60)
    # The provider stops at word 20 until the page has reattached, so the
    # reply is still being written whatever the machine's speed.
    hold = fake_provider.reply_held(text, after_words=20, chunk_delay=WORD_DELAY)
    thread_id = hang_up(http, "Tell me a story", after=10, headers=CONTINUE)

    # While it is written, the thread list says so.
    listed = http.post("/chatkit", content=json.dumps({"type": "threads.list", "params": {}}))
    (thread,) = [t for t in listed.json()["data"] if t["id"] == thread_id]
    assert thread["metadata"].get("answering") is True

    watched = Streamer(http, "GET", f"/chatkit/threads/{thread_id}/stream")
    watched.start()
    # Everything from the first word (replayed), the stream still open...
    written = " ".join(text.split()[:20])
    wait_until(lambda: streamed_text(watched.events) == written)
    assert watched.is_alive(), "the stream waits for the rest"
    # ...then the rest as it comes.
    hold.release()
    watched.finished()
    assert watched.status == 200
    assert streamed_text(watched.events) == text
    assert reply_of(thread_id).text == text

    got = http.post(
        "/chatkit",
        content=json.dumps({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}),
    ).json()
    assert "answering" not in (got.get("metadata") or {})


# --- limits ------------------------------------------------------------------------------


def test_a_reply_abandoned_beyond_the_background_limit_is_stopped(http, fake_provider):
    # The server allows one background reply per user. Both replies are held
    # half way, so the first is still running when the second is abandoned
    # and the second cannot end before the server stops it.
    first_hold = fake_provider.reply_held(words(60, "a"), after_words=10, chunk_delay=WORD_DELAY)
    second_hold = fake_provider.reply_held(words(60, "b"), after_words=10, chunk_delay=WORD_DELAY)
    first = hang_up(http, "First story", after=3, headers=CONTINUE)
    second = hang_up(http, "Second story", after=3, headers=CONTINUE)

    stopped = reply_of(second)
    second_hold.release()
    assert stopped.interrupted is True
    assert ReplyRun.objects.get(conversation_id=second).reason == "limit"
    first_hold.release()
    assert reply_of(first).interrupted is False


def test_a_reply_running_past_the_time_limit_is_stopped(http, fake_provider):
    # CHATKIT_MAX_RUN_SECONDS is 15 on this server; this reply would take 30.
    fake_provider.reply(words(100), chunk_delay=0.3)
    thread_id = hang_up(http, "Tell me everything", after=3, headers=CONTINUE)

    reply = reply_of(thread_id)
    assert reply.interrupted is True
    assert 3 <= len(reply.text.split()) < 100
    assert ReplyRun.objects.get(conversation_id=thread_id).reason == "timeout"


# --- a worker that dies ------------------------------------------------------------------


def test_a_killed_worker_leaves_an_interrupted_reply_not_a_pending_one(
    django_db_blocker, alice, fake_provider
):
    text = words(200)
    # Held at word 20: the process dies in the middle of the reply, not after.
    fake_provider.reply_held(text, after_words=20, chunk_delay=WORD_DELAY)
    with start_daphne(server_env(fake_provider)) as doomed:
        _, raw = token_create(user=alice)
        with httpx.Client(
            base_url=doomed.url, headers={"Authorization": f"Bearer {raw}", **CONTINUE}
        ) as client:
            thread_id = hang_up_after(client, create_thread("Tell me everything"), updates=5)
        # A heartbeat has written down some of the reply...
        run = wait_until(
            lambda: ReplyRun.objects.filter(conversation_id=thread_id).exclude(partial=[]).first()
        )
        os.kill(doomed.process.pid, signal.SIGKILL)
        doomed.process.wait()
    assert run.status == "running"
    assert not Message.objects.filter(conversation_id=thread_id, role="assistant").exists()

    # A heartbeat three times too old: the next server process (or
    # chatkit_prune, chatkit_check) finds the run and keeps what it wrote.
    time.sleep(1.6)
    out = io.StringIO()
    call_command("chatkit_prune", "--orphans", stdout=out)
    assert "Marked 1 reply(s) of a stopped server process interrupted." in out.getvalue()
    reply = Message.objects.get(conversation_id=thread_id, role="assistant")
    assert reply.interrupted is True
    assert 1 <= len(reply.text.split()) <= 20  # what the last heartbeat had written
    assert text.startswith(reply.text)
    assert note_of(thread_id) == CANCELLED_NOTE
    assert ReplyRun.objects.get(conversation_id=thread_id).status == "interrupted"
    assert runs_recover() == 0, "recovered once"
