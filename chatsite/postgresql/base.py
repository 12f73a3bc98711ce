"""
Django's PostgreSQL backend, with a cheaper check of a pooled connection
before a request gets it.

With a pool, Django's ``CONN_HEALTH_CHECKS`` means psycopg_pool's own check
(``ConnectionPool.check_connection``): an empty query and its answer, a
round trip to the server every time a request takes a connection (several
times a turn, about 3% of our CPU per turn). What it guards against is a
connection PostgreSQL closed while it sat in the pool (a restart, a fast or
immediate shutdown, ``pg_terminate_backend``). Such a connection always has
something to read on its socket, the server's FATAL message or the end of
the stream, while a healthy idle one has nothing. So this backend looks
(``poll``, no waiting) and runs the full check only when there is
something to read: it raises for a dead connection (which goes back to the
pool, closed, to be replaced, and the next one is tried) and reads what a
live one was sent (a notice, a parameter change).

Neither check notices in time a server gone without its host closing the
socket (a network partition, a crashed machine): the round trip would
wait for TCP to give up as well.

It also gives the statements a turn runs again and again
(``chatkit_app/statements.py``) a cursor of their own, ``prepared_cursor``:
parameters bound by the server instead of quoted into the SQL by psycopg
in Python, and each statement prepared once per connection, so that
PostgreSQL parses and plans it once rather than on every call (the rest of
the site keeps Django's default, client-side binding, which every query
the ORM writes supports). Behind a connection pooler that cannot keep
prepared statements (PgBouncer in transaction mode before 1.21), turn it
off: ``OPTIONS["prepared_statements"] = False``
(``DATABASE_PREPARED_STATEMENTS=false``).

Settings use it for every PostgreSQL database (ENGINE
``chatsite.postgresql``, ``CONN_HEALTH_CHECKS`` off: this is the check).
"""

from __future__ import annotations

import select
from typing import Any

import psycopg
from django.db.backends.postgresql import base, operations
from django.db.backends.utils import CursorWrapper
from django.utils.asyncio import async_unsafe
from psycopg import Connection
from psycopg.pq import Format, TransactionStatus
from psycopg_pool import ConnectionPool


def is_usable(conn: Connection) -> bool:
    """Whether a connection just taken from the pool can serve a request."""
    try:
        if (
            conn.closed
            or conn.pgconn.transaction_status != TransactionStatus.IDLE
            or not hasattr(select, "poll")  # Windows: no poll, the full check
            or _readable(conn.fileno())
        ):
            ConnectionPool.check_connection(conn)
    except Exception:
        return False
    return True


def _readable(fd: int) -> bool:
    """Whether the socket has data, an end or an error waiting (without
    waiting for any)."""
    poller = select.poll()
    # POLLHUP and POLLERR are reported whether asked for or not.
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


#: psycopg's count of runs before it prepares a statement by itself: never.
PREPARE_ONLY_WHEN_ASKED = 2**31 - 1


class PreparedCursor(base.ServerBindingCursor):
    """Server-side binding, every statement prepared (psycopg keeps the
    statements of each connection, the least used dropped past 100)."""

    def execute(
        self, query: Any, params: Any = None, *, prepare: bool | None = None, **kwargs: Any
    ) -> PreparedCursor:
        prepare = True if prepare is None else prepare
        return super().execute(query, params, prepare=prepare, **kwargs)


class DatabaseOperations(operations.DatabaseOperations):
    def last_executed_query(self, cursor: Any, sql: str, params: Any) -> str | None:
        if isinstance(cursor, PreparedCursor):
            # Bound by the server, the values never were in the SQL: the
            # query log (DEBUG, a test's query count) shows them in it, as
            # for every other query.
            try:
                return self.compose_sql(sql, params)
            except psycopg.errors.DataError:
                return None
        return super().last_executed_query(cursor, sql, params)


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations

    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        params.pop("prepared_statements", None)
        if self.prepares_statements and params.get("prepare_threshold") is None:
            # Django turns psycopg's preparing off (None), which a cursor's
            # prepare=True cannot override. Only PreparedCursor asks for it:
            # Django's own cursors bind on the client and never prepare.
            params["prepare_threshold"] = PREPARE_ONLY_WHEN_ASKED
        return params

    @property
    def prepares_statements(self) -> bool:
        return self.settings_dict["OPTIONS"].get("prepared_statements", True) is not False

    @async_unsafe
    def prepared_cursor(self) -> CursorWrapper:
        """A cursor for a statement the site runs again and again (see the
        module docstring); Django's own cursor when prepared statements
        are off. Wrapped as ``cursor()`` wraps its own: database errors
        become Django's, queries are logged and counted alike."""
        if not self.prepares_statements:
            return self.cursor()
        self.close_if_health_check_failed()
        self.ensure_connection()
        with self.wrap_database_errors:
            cursor = PreparedCursor(self.connection)
            # As Django's create_cursor: the session's time zone, when the
            # connection's adapters disagree with it.
            loader = self.connection.adapters.get_loader(base.TIMESTAMPTZ_OID, Format.TEXT)
            if self.timezone != loader.timezone:
                base.register_tzloader(self.timezone, cursor)
            return self._prepare_cursor(cursor)

    def get_new_connection(self, conn_params: dict[str, Any]) -> Connection:
        connection = super().get_new_connection(conn_params)
        pool = self.pool
        if pool is None:
            return connection
        # After a restart every idle connection is dead: try them all (as
        # psycopg_pool's check loop does), then one more, made afresh.
        for _ in range(pool.max_size + 1):
            if is_usable(connection):
                return connection
            connection.close()
            pool.putconn(connection)  # closed: the pool replaces it
            connection = super().get_new_connection(conn_params)
        return connection
