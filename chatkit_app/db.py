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

``insert_row`` and ``update_columns`` are the writes of every turn (its
thread and items) without the ORM's query building, which costs them more
CPU than the database's work: the statement of a model is built once.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import AsyncToSync, SyncToAsync, sync_to_async
from django.db import connection, connections
from django.db.models import Field, Model
from django.db.models.expressions import DatabaseDefault

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


@functools.cache
def _insert_statement(model: type[Model], vendor: str) -> tuple[list[Field], str]:
    qn = connection.ops.quote_name
    fields = list(model._meta.concrete_fields)
    columns = ", ".join(qn(field.column) for field in fields)
    values = ", ".join(["%s"] * len(fields))
    return fields, f"INSERT INTO {qn(model._meta.db_table)} ({columns}) VALUES ({values})"


def insert_row(instance: Model) -> None:
    """INSERT ``instance`` as it is (every concrete field, its primary key
    given) in one statement on the default database, as
    ``save(force_insert=True)`` would, without sending model signals (no
    part of the site listens to them; ``signals.py`` says why)."""
    fields, sql = _insert_statement(type(instance), connection.vendor)
    values = [getattr(instance, field.attname) for field in fields]
    if any(isinstance(value, DatabaseDefault) for value in values):
        # A value the database chooses: the ORM knows how to ask for it.
        instance.save(force_insert=True)
        return
    params = [
        field.get_db_prep_save(value, connection)
        for field, value in zip(fields, values, strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    instance._state.adding = False
    instance._state.db = connection.alias


@functools.cache
def _update_statement(
    model: type[Model], vendor: str, names: tuple[str, ...], keys: tuple[str, ...]
) -> tuple[list[Field], str]:
    qn = connection.ops.quote_name
    meta = model._meta
    fields = [meta.get_field(name) for name in (*names, *keys)]
    assignments = ", ".join(f"{qn(field.column)} = %s" for field in fields[: len(names)])
    where = " AND ".join(f"{qn(field.column)} = %s" for field in fields[len(names) :])
    return fields, f"UPDATE {qn(meta.db_table)} SET {assignments} WHERE {where}"


def update_columns(model: type[Model], values: dict[str, Any], where: dict[str, Any]) -> int:
    """``model.objects.filter(**where).update(**values)`` for plain values
    and equality on plain columns (``owner_id``, not ``owner``): one UPDATE
    on the default database, its statement built once. The rows changed."""
    fields, sql = _update_statement(model, connection.vendor, tuple(values), tuple(where))
    params = [
        field.get_db_prep_save(value, connection)
        for field, value in zip(fields, [*values.values(), *where.values()], strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
