"""
Django's ASGI handler, with each request's sync thread taken from a pool.

Django runs every HTTP request in an asgiref ``ThreadSensitiveContext``:
the request's thread-sensitive ``sync_to_async`` calls (the request
signals, a sync middleware hook, a sync view; ``db.db_call`` sends its
ORM bursts to the database threads instead, see ``db.py``) share one
thread of their own. asgiref makes that thread per request: a new
one-thread ``ThreadPoolExecutor`` at the first call, and at the end a
``shutdown()`` joined in yet another new thread. Two threads started and
joined per request, ``items.list`` included: about 4% of the CPU of one
(profiled, ``benchmarks/versus_baseline.py --profile-lists``).

``PooledThreadsASGIHandler`` gives each request one such executor from a
pool and takes it back when the request has ended, so a thread serves one
request at a time, one after another. Everything else is asgiref's and
Django's, unchanged:

- within a request, every thread-sensitive call runs on that request's one
  thread, in order, and no other request uses the thread meanwhile;
- a call still running when its request ends (its task was cancelled: the
  client went away) keeps the thread to itself: the thread goes back to the
  pool only once its work is done, so no other request waits behind it
  (Django's handler waits for it at the end of the request instead);
- a task that outlives its request and then makes a thread-sensitive call
  gets a new executor, as with Django's handler (``db.detached_task`` and
  ``runs/`` choose their thread themselves).

A reused thread keeps its thread-locals, the database connections among
them: what a request leaves open is closed as with any thread at the end of
a request (``request_finished`` runs ``close_old_connections`` on it), and
with ``CONN_MAX_AGE`` a connection outlives the request as it would in a
WSGI worker. Idle executors beyond ``IDLE_EXECUTORS`` are shut down.

Reply runs (``runs/run.py``), which outlive their request and need a thread
of their own, borrow theirs from the same pool (``POOL``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import django
from asgiref.sync import SyncToAsync, ThreadSensitiveContext
from django.core.handlers.asgi import ASGIHandler

#: Idle request threads kept for the next requests; more are shut down.
#: A worker process serves a few dozen requests at once at most before the
#: database pool makes them wait, and an idle thread costs a stack.
IDLE_EXECUTORS = 64


class RequestThread(ThreadPoolExecutor):
    """A one-thread executor that knows whether work is queued or running
    on it, and can say when it has none left."""

    def __init__(self, name_prefix: str = "asgi-request") -> None:
        super().__init__(max_workers=1, thread_name_prefix=name_prefix)
        self._busy = 0
        self._when_idle: Callable[[RequestThread], None] | None = None
        self._count_lock = threading.Lock()

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        with self._count_lock:
            self._busy += 1
        future = super().submit(fn, *args, **kwargs)
        # Runs when the call returns, or at once if it is cancelled before
        # it started (then it never runs).
        future.add_done_callback(self._call_done)
        return future

    def busy(self) -> int:
        """Calls queued or running on it."""
        return self._busy

    def _call_done(self, _future: Future[Any]) -> None:
        with self._count_lock:
            self._busy -= 1
            callback = self._when_idle if self._busy == 0 else None
            if callback is not None:
                self._when_idle = None
        if callback is not None:
            callback(self)

    def when_idle(self, callback: Callable[[RequestThread], None]) -> None:
        """``callback(self)`` now if no work is queued or running, else once
        the last of it is done (on the worker thread)."""
        with self._count_lock:
            if self._busy:
                self._when_idle = callback
                return
        callback(self)


class ExecutorPool:
    """One-thread executors, each lent to one request at a time."""

    def __init__(self, idle_max: int = IDLE_EXECUTORS):
        self.idle_max = idle_max
        self._idle: list[RequestThread] = []
        # The handler is called on one event loop, but nothing stops a
        # process from running two (tests, an embedded server); and an
        # executor comes back on its own thread when its work outlived its
        # request.
        self._lock = threading.Lock()

    def take(self) -> RequestThread:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return RequestThread()

    def give_back(self, executor: RequestThread) -> None:
        """Back in the pool once nothing runs on it any more."""
        executor.when_idle(self._keep)

    def _keep(self, executor: RequestThread) -> None:
        with self._lock:
            if len(self._idle) < self.idle_max:
                self._idle.append(executor)
                return
        # Not joined: the loop must not wait for a thread to finish.
        executor.shutdown(wait=False)

    def idle(self) -> int:
        return len(self._idle)


#: The process's pool: the handler's request threads and the reply runs'.
POOL = ExecutorPool()


class PooledThreadContext(ThreadSensitiveContext):
    """asgiref's ``ThreadSensitiveContext`` (no executor given), whose
    thread comes from ``pool`` and goes back to it on exit instead of
    being shut down."""

    def __init__(self, pool: ExecutorPool):
        super().__init__()
        self.pool = pool

    async def __aenter__(self) -> PooledThreadContext:
        await super().__aenter__()
        if self.token is not None:  # the outermost context: ours to give a thread
            SyncToAsync.context_to_thread_executor[self] = self.pool.take()
        return self

    async def __aexit__(self, exc: Any, value: Any, tb: Any) -> None:
        if self.token is None:
            return
        executor = SyncToAsync.context_to_thread_executor.pop(self, None)
        SyncToAsync.thread_sensitive_context.reset(self.token)
        self.token = None
        if executor is not None:
            self.pool.give_back(executor)


class PooledThreadsASGIHandler(ASGIHandler):
    """``ASGIHandler`` with request threads from an ``ExecutorPool``."""

    def __init__(self, pool: ExecutorPool | None = None):
        super().__init__()
        self.pool = pool or POOL

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            # Django's own refusal (it serves HTTP only).
            return await super().__call__(scope, receive, send)
        async with PooledThreadContext(self.pool):
            await self.handle(scope, receive, send)


def get_asgi_application() -> PooledThreadsASGIHandler:
    """``django.core.asgi.get_asgi_application`` with this handler."""
    django.setup(set_prefix=False)
    return PooledThreadsASGIHandler()
