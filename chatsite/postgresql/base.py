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

Settings use it for every PostgreSQL database (ENGINE
``chatsite.postgresql``, ``CONN_HEALTH_CHECKS`` off: this is the check).
"""

from __future__ import annotations

import select
from typing import Any

from django.db.backends.postgresql import base
from psycopg import Connection
from psycopg.pq import TransactionStatus
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


class DatabaseWrapper(base.DatabaseWrapper):
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
