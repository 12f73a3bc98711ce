"""
Running ORM work from async code without holding database connections.

An SSE stream lives as long as the model takes to answer. If the stream's
ORM calls left their connection open, every open stream would pin one
connection (and, with psycopg's pool, a few dozen slow streams would exhaust
it). ``db_call`` runs a sync function in Django's thread-sensitive executor
and hands the connection back as soon as that burst of work is done.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
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

    return sync_to_async(run_and_release, thread_sensitive=True)
