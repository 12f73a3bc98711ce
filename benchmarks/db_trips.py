"""
What one trip from the event loop to a database thread costs in CPU.

Every ``db_call`` of a request or reply run is a trip: the call handed to
one of the process's database threads (``chatkit_app/db.py``), the event
loop woken when it returns. A turn makes nine
(``chatkit_app/tests/test_request_speed.py``). This compares, in one
process and interleaved, asgiref's ``SyncToAsync`` in a task of its own
(what ``db_call`` did before 2026-12-06, the baseline) with
``db.on_database_thread`` (what it does now), for an empty call and a
``SELECT 1``, one at a time and ten queued at once (where ours keeps the
connection for the calls waiting instead of a pool round trip each). CPU
of the whole process (both threads), median of the rounds.

    DATABASE_URL=postgres://postgres@127.0.0.1:55432/chatsite_bench \\
        .venv/bin/python benchmarks/db_trips.py [--calls 400] [--rounds 12]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    os.environ.setdefault("DJANGO_READ_DOT_ENV", "0")
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-" + "0123456789" * 4)
    import django

    django.setup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=400, help="calls per round")
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database (see the docstring).")
    setup_django()

    from asgiref.sync import SyncToAsync
    from django.db import connection

    from chatkit_app import db
    from chatkit_app.asgi_threads import RequestThread

    def empty() -> None:
        return None

    def select_one() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()

    def released(func: Callable[[], None]) -> Callable[[], None]:
        def call() -> None:
            try:
                func()
            finally:
                db.release_connections()

        return call

    thread = RequestThread(name_prefix="bench-db")

    async def asgiref_trip(func: Callable[[], None]) -> None:
        # db_call's function gave its connection back itself.
        runner = SyncToAsync(released(func), thread_sensitive=False, executor=thread)
        await asyncio.ensure_future(runner())

    async def our_trip(func: Callable[[], None]) -> None:
        await db.on_database_thread(thread, func, (), {})

    async def cpu_per_call(
        trip: Callable[[Callable[[], None]], Awaitable[None]],
        func: Callable[[], None],
        at_once: int,
    ) -> float:
        started = time.process_time()
        for _ in range(args.calls // at_once):
            await asyncio.gather(*(trip(func) for _ in range(at_once)))
        return (time.process_time() - started) / (args.calls // at_once * at_once) * 1e6

    async def measure() -> None:
        print(f"CPU per trip, µs (median of {args.rounds} rounds of {args.calls} calls)")
        print(f"  {'call':<38} {'asgiref':>8} {'ours':>8} {'ratio':>7}")
        cases = [
            ("empty, one at a time", empty, 1),
            ("SELECT 1, one at a time", select_one, 1),
            ("SELECT 1, ten queued at once", select_one, 10),
        ]
        for name, func, at_once in cases:
            times: dict[str, list[float]] = {"asgiref": [], "ours": []}
            for _ in range(args.rounds):
                times["asgiref"].append(await cpu_per_call(asgiref_trip, func, at_once))
                times["ours"].append(await cpu_per_call(our_trip, func, at_once))
            theirs, ours = (statistics.median(times[k]) for k in ("asgiref", "ours"))
            print(f"  {name:<38} {theirs:8.1f} {ours:8.1f} {ours / theirs:6.2f}x")

    asyncio.run(measure())


if __name__ == "__main__":
    main()
