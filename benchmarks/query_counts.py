"""
The SQL statements of one ChatKit request, counted and listed.

Runs the site in this process with production settings on a scratch
PostgreSQL database and the fake model provider, sends a first turn
(``threads.create``), a follow-up (``threads.add_user_message``) and an
``items.list`` through the real ASGI application (``chatsite.asgi``, driven
in-process by httpx) with a bearer token, and
prints every statement each request ran (all threads: the ORM runs in
``sync_to_async`` workers), in order, and the transactions committed.
Savepoints are statements too, and counted apart.

    DATABASE_URL=postgres://postgres@127.0.0.1:55432/chatsite_bench \\
        .venv/bin/python benchmarks/query_counts.py [--no-titles] [--sql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
sys.path.insert(0, str(BASE_DIR / "benchmarks"))

from versus_baseline import (  # noqa: E402
    FAST_QUESTION,
    Setup,
    add_message_body,
    create_body,
    items_body,
    scratch_database_url,
)

USERNAME = "bench-queries"

_lock = threading.Lock()
statements: list[tuple[str, str]] = []


def record_statements() -> None:
    """Note every statement any Django cursor executes, from any thread."""
    from django.db.backends import utils

    original_execute = utils.CursorWrapper._execute
    original_executemany = utils.CursorWrapper._executemany

    def _execute(self, sql, params, *ignored):
        with _lock:
            statements.append((threading.current_thread().name, str(sql)))
        return original_execute(self, sql, params, *ignored)

    def _executemany(self, sql, param_list, *ignored):
        with _lock:
            statements.append((threading.current_thread().name, "[many] " + str(sql)))
        return original_executemany(self, sql, param_list, *ignored)

    utils.CursorWrapper._execute = _execute
    utils.CursorWrapper._executemany = _executemany

    from django.db.backends.base.base import BaseDatabaseWrapper

    original_commit = BaseDatabaseWrapper._commit

    def _commit(self):
        with _lock:
            statements.append((threading.current_thread().name, "COMMIT"))
        return original_commit(self)

    BaseDatabaseWrapper._commit = _commit


def summary(sql: str) -> str:
    words = sql.split()
    head = " ".join(words[:3])
    if words and words[0] in ("SELECT", "UPDATE", "DELETE") and " FROM " in f" {sql} ":
        table = sql.split(" FROM ", 1)[1].split()[0] if " FROM " in sql else ""
        head = f"{words[0]} … FROM {table}"
    if words and words[0] == "UPDATE":
        head = f"UPDATE {words[1]}"
    if words and words[0] == "INSERT":
        head = f"INSERT INTO {words[2]}"
    return head


async def run(token: str, show_sql: bool) -> None:
    import logging

    import httpx

    from chatsite.asgi import application

    logging.getLogger("httpx").setLevel(logging.WARNING)

    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application),
        base_url="https://127.0.0.1",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=60,
    )

    async def post(body: bytes) -> httpx.Response:
        response = await client.post("/chatkit", content=body)
        if response.status_code != 200:
            raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
        return response

    async def send(label: str, body: bytes) -> bytes:
        statements.clear()
        response = await post(body)
        await asyncio.sleep(0.2)  # work scheduled after the last event
        ran = list(statements)
        commits = sum(sql == "COMMIT" for _, sql in ran)
        savepoints = sum("SAVEPOINT" in sql for _, sql in ran)
        print(
            f"\n{label}: {len(ran) - commits} statements ({savepoints} of them savepoints) "
            f"in {commits} transactions, besides autocommitted statements"
        )
        for thread, sql in ran:
            text = sql if show_sql else summary(sql)
            print(f"  [{thread[:22]:<22}] {text}")
        return response.content

    created = await send("first turn (threads.create)", create_body(FAST_QUESTION))
    thread_id = json.loads(created.split(b"\n", 1)[0].removeprefix(b"data: "))["thread"]["id"]
    await send(
        "follow-up turn (threads.add_user_message)", add_message_body(thread_id, FAST_QUESTION)
    )
    for _ in range(18):
        await post(add_message_body(thread_id, FAST_QUESTION))
    await send("items.list of 40", items_body(thread_id, 40))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-titles", dest="titles", action="store_false")
    parser.add_argument("--sql", action="store_true", help="print whole statements")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()
    database_url = scratch_database_url(force=args.force)

    from chatkit_app.tests.fake_provider import FakeProvider

    provider = FakeProvider()
    setup = Setup(database_url, provider.base_url, provider.api_key, args.titles)
    os.environ.clear()
    os.environ.update(setup.site_env(pool_max=None, redis=False))

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.apps import apps
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username=USERNAME)
    apps.get_model("chatkit_app", "Conversation").objects.filter(owner=user).delete()
    from io import StringIO

    out = StringIO()
    call_command("chatkit_token", USERNAME, stdout=out)
    token = out.getvalue().split()[-1]
    from django.db import connections

    connections.close_all()
    record_statements()
    print(f"titles {'on' if args.titles else 'off'}, live updates on, production settings")
    try:
        asyncio.run(run(token, args.sql))
    finally:
        provider.close()


if __name__ == "__main__":
    main()
