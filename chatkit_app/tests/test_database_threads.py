"""
The ORM work of requests and reply runs (``db_call``) runs on a few
database threads shared by the process (``CHATKIT_DB_THREADS``), each
request keeping the one it was given: its calls in order, one at a time,
never on the event loop; a request whose thread is busy with another's slow
call is not given that thread; a call from inside a database thread's own
``async_to_sync`` runs on that thread; outside a request, calls run where
they always did.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

import pytest
from asgiref.sync import async_to_sync
from django.db import connection

from chatkit_app.asgi_threads import ExecutorPool, PooledThreadContext
from chatkit_app.db import db_call
from chatkit_app.models import Conversation

pytestmark = pytest.mark.django_db(transaction=True)


@db_call
def database_thread(wait: threading.Event | None = None) -> tuple[int, str]:
    """The thread this call ran on, once the database has answered on it."""
    if wait is not None:
        assert wait.wait(10), "never released"
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return threading.get_native_id(), threading.current_thread().name


async def as_a_request(work):
    """``work()`` inside a request of the site's ASGI handler (its
    thread-sensitive context, with a thread from a pool)."""
    async with PooledThreadContext(ExecutorPool()):
        return await work()


def test_many_requests_at_once_share_a_few_database_threads_each_keeping_its_own(settings):
    settings.CHATKIT_DB_THREADS = 2

    async def three_calls() -> list[tuple[int, str]]:
        return [await database_thread() for _ in range(3)]

    async def at_once() -> list[list[tuple[int, str]]]:
        return await asyncio.gather(*(as_a_request(three_calls) for _ in range(20)))

    per_request = asyncio.run(at_once())
    threads = {thread for calls in per_request for thread, _ in calls}
    assert len(threads) <= 2
    assert threading.get_native_id() not in threads
    assert all(name.startswith("chatkit-db") for calls in per_request for _, name in calls)
    # A request's calls, one after another, all on the thread it was given.
    assert all(len({thread for thread, _ in calls}) == 1 for calls in per_request)


def test_a_request_is_not_given_the_thread_another_requests_slow_call_holds(settings):
    settings.CHATKIT_DB_THREADS = 2
    release = threading.Event()

    async def scene() -> tuple[int, int, bool]:
        slow = asyncio.create_task(as_a_request(lambda: database_thread(release)))
        await asyncio.sleep(0.2)  # its call is running, holding its thread
        quick_thread, _ = await asyncio.wait_for(as_a_request(database_thread), 5)
        slow_still_waiting = not slow.done()
        release.set()
        slow_thread, _ = await slow
        return slow_thread, quick_thread, slow_still_waiting

    slow_thread, quick_thread, slow_still_waiting = asyncio.run(scene())
    assert slow_still_waiting
    assert quick_thread != slow_thread


def test_a_call_made_after_its_request_stopped_waiting_runs_after_the_one_in_flight(settings):
    # The client leaves while a write is on the database thread; what the
    # request then saves (the stopped reply) must come after that write.
    settings.CHATKIT_DB_THREADS = 2
    order: list[str] = []
    release = threading.Event()

    @db_call
    def step(name: str, wait: threading.Event | None = None) -> None:
        if wait is not None:
            wait.wait(10)
        order.append(name)

    async def request() -> None:
        in_flight = asyncio.ensure_future(step("the write in flight", release))
        await asyncio.sleep(0.1)
        in_flight.cancel()  # the request stops waiting; the thread goes on
        saving = asyncio.ensure_future(step("the save after it"))
        await asyncio.sleep(0.1)
        assert order == []  # queued behind the write, not run beside it
        release.set()
        await saving

    asyncio.run(as_a_request(request))
    assert order == ["the write in flight", "the save after it"]


def test_a_call_from_inside_a_database_threads_own_async_to_sync_runs_on_that_thread(settings):
    # As the live-update publish after a commit does: async_to_sync from a
    # database thread. A database call in there must not queue behind the
    # call that waits for it.
    settings.CHATKIT_DB_THREADS = 2

    @db_call
    def outer() -> tuple[int, tuple[int, str]]:
        return threading.get_native_id(), async_to_sync(database_thread)()

    async def request() -> tuple[int, tuple[int, str]]:
        return await asyncio.wait_for(outer(), 10)

    outer_thread, (inner_thread, _) = asyncio.run(as_a_request(request))
    assert inner_thread == outer_thread


def test_with_no_database_threads_a_request_keeps_its_work_on_its_own_thread(settings):
    settings.CHATKIT_DB_THREADS = 0

    async def two_calls() -> list[tuple[int, str]]:
        return [await database_thread(), await database_thread()]

    calls = asyncio.run(as_a_request(two_calls))
    assert {name.split("_")[0] for _, name in calls} == {"asgi-request"}
    assert len({thread for thread, _ in calls}) == 1


@pytest.mark.django_db(transaction=False)
def test_outside_a_request_a_call_runs_on_the_callers_thread_and_sees_its_transaction(
    alice, settings
):
    settings.CHATKIT_DB_THREADS = 2
    Conversation.objects.create(id="thr_uncommitted", owner=alice)

    @db_call
    def visible() -> tuple[int, bool]:
        return threading.get_native_id(), Conversation.objects.filter(pk="thr_uncommitted").exists()

    thread, seen = async_to_sync(visible)()
    assert thread == threading.get_native_id()
    assert seen


@db_call
def held_over(wait: threading.Event | None = None) -> bool:
    """Whether this call found its thread already holding a connection."""
    if wait is not None:
        assert wait.wait(10), "never released"
    held = connection.connection is not None
    connection.ensure_connection()
    return held


def test_a_database_thread_keeps_its_connection_for_the_calls_waiting_and_then_hands_it_back(
    settings,
):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's test database is in memory: closing it keeps it open")
    settings.CHATKIT_DB_THREADS = 1
    release = threading.Event()

    async def scene() -> tuple[list[bool], bool]:
        first = asyncio.ensure_future(held_over(release))
        await asyncio.sleep(0.1)  # the first call holds the thread
        waiting = [asyncio.ensure_future(held_over()) for _ in range(10)]
        await asyncio.sleep(0.1)  # all queued behind it
        release.set()
        burst = [await first, *[await call for call in waiting]]
        return burst, await held_over()

    burst, lone = asyncio.run(as_a_request(scene))
    # Each call that had another queued behind it left the connection for it.
    assert burst == [False] + [True] * 10
    # The last of the burst had nobody waiting: it gave the connection back.
    assert lone is False


def test_a_call_cancelled_while_waiting_does_not_leave_its_thread_holding_a_connection(
    settings, monkeypatch
):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's test database is in memory: closing it keeps it open")
    from chatkit_app import db

    settings.CHATKIT_DB_THREADS = 1
    release = threading.Event()
    cancelled = threading.Event()
    real_release = db.release_connections_when_idle

    def then_wait_for_the_cancel(thread) -> None:
        # The call before the cancelled one has just kept its connection for
        # it; the client leaves only now, before the thread reaches it.
        real_release(thread)
        if release.is_set() and not cancelled.is_set():
            assert cancelled.wait(10)

    monkeypatch.setattr(db, "release_connections_when_idle", then_wait_for_the_cancel)

    async def scene() -> bool:
        first = asyncio.ensure_future(held_over(release))
        await asyncio.sleep(0.1)
        left = asyncio.ensure_future(held_over())
        await asyncio.sleep(0.1)  # queued behind the first
        release.set()
        await asyncio.sleep(0.1)  # the first has kept the connection for it
        left.cancel()
        await asyncio.sleep(0)
        cancelled.set()
        await first
        with contextlib.suppress(asyncio.CancelledError):
            await left
        await asyncio.sleep(0.2)
        return await held_over()

    assert asyncio.run(as_a_request(scene)) is False
