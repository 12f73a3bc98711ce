"""
Running ORM work from async code without holding database connections.

An SSE stream lives as long as the model takes to answer. If the stream's
ORM calls left their connection open, every open stream would pin one
connection (and, with psycopg's pool, a few dozen slow streams would exhaust
it). ``db_call`` runs a sync function in Django's thread-sensitive executor
and hands the connection back as soon as that burst of work is done.

Each call runs in a task of its own. When ``sync_to_async`` returns, asgiref
copies the worker thread's context variables back into the awaiting task;
when the awaiting task is cancelled (a client hanging up mid-stream), it
copies them while the thread is still working, possibly from inside an
``async_to_sync`` of its own (the live-update publish after a commit does
one). The caller then inherits that inner ``CurrentThreadExecutor`` as
``AsyncToSync.executors.current``, and every later thread-sensitive call it
makes (saving the stopped reply) is sent to an executor that quits a moment
later: ``RuntimeError: CurrentThreadExecutor already quit or is broken``.
A task of its own takes that write-back, and the caller's context stays as
it was.

Work that outlives its request or reply run (a title stored once the title
model answers) is started with ``detached_task``: it must not use the
request's or the run's executor, which is gone by then.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import AsyncToSync, SyncToAsync, sync_to_async
from django.db import connections

P = ParamSpec("P")
R = TypeVar("R")


def release_connections() -> None:
    """Close (return to the pool) this thread's connections, unless inside a
    transaction: a test's wrapping transaction or an outer ``atomic`` block
    owns the connection and must keep it."""
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()


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
        # Cancelling the caller cancels this task too (see the docstring).
        return await asyncio.ensure_future(in_worker_thread(*args, **kwargs))

    return call


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
