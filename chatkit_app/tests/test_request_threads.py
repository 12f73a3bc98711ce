"""
Each request's sync work runs on one thread of its own, taken from a pool
(``chatkit_app/asgi_threads.py``), through the site's real ASGI entry.

What a request does on its thread (the request signals, a sync view's
work; ``db_call``'s go to the database threads, ``test_database_threads``)
must stay on that one thread, and two requests at once must
never share one: the thread is lent to one request at a time. Requests one
after another reuse the same thread instead of starting (and joining) a new
one each: that is the point of the pool.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from django.core.signals import request_finished, request_started

from chatkit_app.asgi_threads import ExecutorPool, PooledThreadsASGIHandler

pytestmark = pytest.mark.django_db(transaction=True)


class ThreadLog:
    """The thread each request signal was handled on, per request (by query
    string). Kernel thread ids: a new thread never has an old one's (Python's
    ``get_ident`` may be reused once a thread has ended)."""

    def __init__(self) -> None:
        self.started: dict[str, int] = {}
        self.finished: list[int] = []

    def on_started(self, sender: Any, scope: dict | None = None, **kwargs: Any) -> None:
        if scope is not None:
            self.started[scope["query_string"].decode()] = threading.get_native_id()

    def on_finished(self, sender: Any, **kwargs: Any) -> None:
        self.finished.append(threading.get_native_id())


@pytest.fixture
def thread_log():
    log = ThreadLog()
    request_started.connect(log.on_started, dispatch_uid="test_request_threads.started")
    request_finished.connect(log.on_finished, dispatch_uid="test_request_threads.finished")
    yield log
    request_started.disconnect(dispatch_uid="test_request_threads.started")
    request_finished.disconnect(dispatch_uid="test_request_threads.finished")


def http_scope(path: str) -> dict[str, Any]:
    path, _, query = path.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"x-forwarded-proto", b"https")],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 443),
    }


async def get(
    app: PooledThreadsASGIHandler,
    path: str,
    body_arrives: Callable[[], Awaitable[Any]] | None = None,
) -> int:
    """GET ``path`` through ``app``; the request's body (empty) arrives once
    ``body_arrives`` returns. The response's status."""
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            if body_arrives is not None:
                await body_arrives()
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(http_scope(path), receive, send)
    return next(m["status"] for m in sent if m["type"] == "http.response.start")


def test_requests_one_after_another_run_their_sync_work_on_one_reused_thread(thread_log):
    app = PooledThreadsASGIHandler(ExecutorPool())

    async def one_after_another() -> list[int]:
        return [await get(app, f"/health?n={n}") for n in range(3)]

    # /health asks the database on the request's thread.
    assert asyncio.run(one_after_another()) == [200, 200, 200]
    threads = [thread_log.started[f"n={n}"] for n in range(3)]
    # Each request's signals ran on its own thread, not the event loop's...
    assert threading.get_native_id() not in threads
    # ...and its end on the thread its start ran on; the next request
    # reused that thread rather than starting one.
    assert thread_log.finished == threads
    assert len(set(threads)) == 1


def test_requests_at_the_same_time_never_share_a_thread(thread_log):
    app = PooledThreadsASGIHandler(ExecutorPool())

    async def overlapping() -> list[int]:
        second_done = asyncio.Event()
        # The first request is still waiting for its body (holding its
        # thread) while the second one runs from start to end.
        first = asyncio.create_task(get(app, "/health?first", body_arrives=second_done.wait))
        await asyncio.sleep(0)
        second = await get(app, "/health?second")
        second_done.set()
        return [await first, second]

    assert asyncio.run(overlapping()) == [200, 200]
    assert thread_log.started["first"] != thread_log.started["second"]


def test_the_site_serves_http_with_the_pooled_handler():
    from chatsite.asgi import django_asgi_app

    assert isinstance(django_asgi_app, PooledThreadsASGIHandler)
    assert asyncio.run(get(django_asgi_app, "/health")) == 200


def test_a_thread_still_busy_after_its_request_is_not_lent_to_the_next_one():
    # A request's task was cancelled (the client left) while its ORM call
    # went on: the next request must not queue behind that call.
    pool = ExecutorPool()
    first = pool.take()
    release = threading.Event()
    still_running = first.submit(release.wait, 10)
    pool.give_back(first)
    second = pool.take()
    assert second is not first
    assert pool.idle() == 0
    release.set()
    still_running.result(timeout=10)
    for _ in range(200):  # the thread comes back on its own, once done
        if pool.idle():
            break
        threading.Event().wait(0.01)
    assert pool.take() is first
    pool.give_back(second)
    assert pool.take() is second
