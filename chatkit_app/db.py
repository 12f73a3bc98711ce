"""
Running ORM work from async code without holding database connections.

An SSE stream lives as long as the model takes to answer. If the stream's
ORM calls left their connection open, every open stream would pin one
connection (and, with psycopg's pool, a few dozen slow streams would exhaust
it). ``db_call`` runs a sync function in Django's thread-sensitive executor
and hands the connection back as soon as that burst of work is done (on a
database thread, below, when no other call waits for the thread: the next
one takes it over).

Off the database threads (below), each call runs in a task of its own. When
``sync_to_async`` returns, asgiref copies the worker thread's context
variables back into the awaiting task; when the awaiting task is cancelled
(a client hanging up mid-stream), it copies them while the thread is still
working, possibly from inside an ``async_to_sync`` of its own (the
live-update publish after a commit does one). The caller then inherits that
inner ``CurrentThreadExecutor`` as ``AsyncToSync.executors.current``, and
every later thread-sensitive call it makes (saving the stopped reply) is
sent to an executor that quits a moment later: ``RuntimeError:
CurrentThreadExecutor already quit or is broken``. A task of its own takes
that write-back, and the caller's context stays as it was.

Work that outlives its request or reply run (a title stored once the title
model answers) is started with ``detached_task``: it must not use the
request's or the run's executor, which is gone by then.

Which thread: inside a request of the ASGI server, or a reply run, each
``db_call`` goes to one of a few database threads shared by the whole
process (``CHATKIT_DB_THREADS``, ``DatabaseThreads``) rather than to the
request's (or run's) own thread. A request or run keeps the one it was
given, so its calls still run one at a time and in order (a stopped reply
is saved after what the stream was writing when the client left). Sixty
requests at once used to be sixty threads taking turns at the GIL, each
call a handoff between two of them: with a few shared threads a turn cost a
tenth less CPU and a process served a sixth more turns a second (README,
"Against the SDK's own server"). A thread also holds at most one pooled
connection at a time, so the calls of a process never take more than that
many. A call on a database thread goes straight to its executor
(``on_database_thread``): none of asgiref's ``SyncToAsync``, no task of its
own, and nothing copied back into the caller's context. Elsewhere (Django's
test client, a sync caller, a detached task) a call runs where asgiref's
thread-sensitive mode puts it, as before: a test's transaction is on the
caller's thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import AsyncToSync, SyncToAsync, sync_to_async
from django.db import connections

from .asgi_threads import RequestThread
from .conf import chatkit_settings

P = ParamSpec("P")
R = TypeVar("R")


def release_connections(*, unless_healthy: bool = False) -> None:
    """Close (return to the pool) this thread's connections, unless inside a
    transaction: a test's wrapping transaction or an outer ``atomic`` block
    owns the connection and must keep it. With ``unless_healthy``, a
    connection that saw no error is kept too (the next call is about to use
    it)."""
    for conn in connections.all(initialized_only=True):
        if conn.in_atomic_block or (unless_healthy and not conn.errors_occurred):
            continue
        conn.close_if_unusable_or_obsolete()


class DatabaseThreads:
    """The process's database threads (see the module docstring): each
    request or reply run is given the least busy of them at its first call
    and keeps it."""

    def __init__(self) -> None:
        self._threads: list[RequestThread] = []
        self._given: weakref.WeakKeyDictionary[object, RequestThread] = weakref.WeakKeyDictionary()
        # Tasks of several event loops (tests, an embedded server) may ask.
        self._lock = threading.Lock()

    def for_context(self, context: object) -> RequestThread | None:
        """The thread of ``context`` (a request's or run's
        ``ThreadSensitiveContext``), or None when the setting is 0."""
        thread = self._given.get(context)
        if thread is not None:
            return thread
        with self._lock:
            count = int(chatkit_settings.DB_THREADS)
            if count <= 0:
                return None
            while len(self._threads) < count:
                self._threads.append(RequestThread(name_prefix="chatkit-db"))
            thread = min(self._threads[:count], key=RequestThread.busy)
            self._given[context] = thread
        return thread

    def close_connections(self) -> None:
        """Close every database thread's connections, once its queued work
        is done (before a test database is dropped, say)."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.submit(connections.close_all).result()


#: The process's database threads.
DATABASE_THREADS = DatabaseThreads()


def db_call(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """Decorate a sync ORM function so it can be awaited and releases its connection."""

    @functools.wraps(func)
    def run_and_release(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        finally:
            release_connections()

    in_worker_thread = sync_to_async(run_and_release, thread_sensitive=True)

    @functools.wraps(func)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        context = SyncToAsync.thread_sensitive_context.get(None)
        # Inside an async_to_sync of a sync thread (a database thread's
        # publish, say), that thread waits for this call: it runs it itself,
        # as asgiref does (queued behind it, the call would wait for good).
        if context is not None and getattr(AsyncToSync.executors, "current", None) is None:
            thread = DATABASE_THREADS.for_context(context)
            if thread is not None:
                return await on_database_thread(thread, func, args, kwargs)
        # Cancelling the caller cancels this task too (see the docstring).
        return await asyncio.ensure_future(in_worker_thread(*args, **kwargs))

    return call


async def on_database_thread(
    thread: RequestThread, func: Callable[..., R], args: tuple, kwargs: dict[str, Any]
) -> R:
    """``func(*args, **kwargs)`` on ``thread``, in a copy of the caller's
    context, awaited; then the thread's connection goes back to the pool,
    unless another call is already queued on the thread. Under load a
    thread's calls follow each other without a pause, and taking a
    connection from the pool and giving it back for each cost about 80 µs
    of CPU a call (``benchmarks/db_trips.py``); a thread that keeps its
    connection uses it at once, so it never holds one while the pool is
    short.

    What asgiref's ``SyncToAsync`` would do, less what this call does not
    need: its context is never copied back into the caller's (the write-back
    the module docstring describes cannot happen), and no task of its own is
    made. The worker is told which loop it serves, so an ``async_to_sync`` of
    its own (the live-update publish) runs on this loop, as under asgiref.
    A cancelled caller stops waiting at once; work already running on the
    thread finishes there, and later calls queue behind it.
    """
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    pid = os.getpid()  # asgiref's check that the loop is this process's

    def work() -> R:
        local = SyncToAsync.threadlocal
        local.main_event_loop = loop
        local.main_event_loop_pid = pid
        local.task_context = []
        try:
            return context.run(func, *args, **kwargs)
        finally:
            # busy() counts this call until it has returned.
            release_connections_when_idle(thread)

    future = thread.submit(work)
    try:
        return await asyncio.wrap_future(future, loop=loop)
    except asyncio.CancelledError:
        if future.cancel():
            # It never ran, and the call before it may have kept the
            # connection for it: the thread gives it back once idle.
            thread.submit(release_connections_when_idle, thread)
        raise


def release_connections_when_idle(thread: RequestThread) -> None:
    """On ``thread``: its connection back to the pool unless a call waits."""
    release_connections(unless_healthy=thread.busy() > 1)


def detached_task(coroutine: Coroutine[Any, Any, R], *, name: str | None = None) -> asyncio.Task[R]:
    """Run ``coroutine`` in a task that may outlive the request or reply run
    that starts it: its ``db_call`` work goes to asgiref's process-wide
    thread instead of the executor of a request (or run) that may have ended
    by then ("ThreadSensitiveContext has exited")."""
    context = contextvars.copy_context()
    context.run(SyncToAsync.thread_sensitive_context.set, None)
    context.run(_forget_current_executor)
    return asyncio.get_running_loop().create_task(coroutine, name=name, context=context)


def _forget_current_executor() -> None:
    # A sync caller's thread (async_to_sync) would be chosen before any
    # context: the task is detached from that one as well.
    if hasattr(AsyncToSync.executors, "current"):
        del AsyncToSync.executors.current
