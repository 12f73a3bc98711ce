"""
PostgreSQL stopped and started again under a running site.

A throwaway cluster of its own (initdb in a temporary directory, as
``.ci/run`` does) serves a real daphne process. While replies stream (a slow
fake provider), the database stops: the open streams end with a ChatKit
``error`` event and close, new requests get a JSON 503 with Retry-After,
and once the database is back the site answers again by itself, with
everything stored before the outage still there.

Runs when the suite runs on PostgreSQL (``DATABASE_URL=postgres://…``), so
once per CI run; skipped when the PostgreSQL server binaries are missing.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from django.db import connection

from .chatkit_client import add_message, create_thread, iter_sse, parse_sse, streamed_text
from .conftest import fake_provider_env
from .live_daphne import BASE_DIR, child_environment, free_port, start_daphne

pytestmark = [
    pytest.mark.live,
    # Setting up the cluster, migrating and starting the site count too.
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="runs once per CI run, with the PostgreSQL suite",
    ),
]

# The pool waits this long for a connection before a request gets its 503.
POOL_TIMEOUT = 3
# Requests succeed again this soon after the database is back.
RECOVERY_SECONDS = 5


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@dataclass
class Cluster:
    """A PostgreSQL cluster in a temporary directory, run by the postgres
    user when the tests run as root (PostgreSQL refuses to run as root)."""

    bin: Path
    root: Path
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/chatsite"

    def run(self, *args: str) -> None:
        command = shlex.join([str(self.bin / args[0]), *args[1:]])
        as_root = os.geteuid() == 0
        argv = ["su", "postgres", "-c", command] if as_root else ["bash", "-c", command]
        subprocess.run(argv, check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self.run("initdb", "-D", f"{self.root}/data", "-A", "trust", "-U", "postgres")
        self.start()
        self.run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "chatsite")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c fsync=off"
        data, log = f"{self.root}/data", f"{self.root}/log"
        self.run("pg_ctl", "-D", data, "-o", options, "-l", log, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self.run("pg_ctl", "-D", f"{self.root}/data", "-m", mode, "-w", "stop")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    pg_bin = postgres_bin()
    if pg_bin is None:
        pytest.skip("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin")
    cluster = Cluster(bin=pg_bin, root=Path(tempfile.mkdtemp(prefix="chatsite-outage-")))
    try:
        cluster.init()
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            cluster.stop("immediate")
        shutil.rmtree(cluster.root, ignore_errors=True)


def site_environment(cluster: Cluster, fake) -> dict[str, str]:
    return {
        **fake_provider_env(fake, "responses"),
        "DATABASE_URL": cluster.url,
        "CHATKIT_TEST_CHILD_DB_NAME": "chatsite",
        "DATABASE_POOL_TIMEOUT": str(POOL_TIMEOUT),
    }


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=child_environment(env),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return result.stdout


CREATE_ALICE = """
from django.contrib.auth import get_user_model
from chatkit_app.tokens import token_create
alice = get_user_model().objects.create_user("alice", "alice@example.org", "pw")
print(token_create(user=alice)[1])
"""


@pytest.fixture(scope="module")
def site(cluster, fake_provider_server, tmp_path_factory):
    env = site_environment(cluster, fake_provider_server)
    env["CHATKIT_TEST_MEDIA_ROOT"] = str(tmp_path_factory.mktemp("outage-media"))
    manage(env, "migrate", "--noinput", "-v", "0")
    token = manage(env, "shell", "-c", CREATE_ALICE).strip().splitlines()[-1]
    with start_daphne(env, timeout=90) as live:
        live.http = httpx.Client(
            base_url=live.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        yield live
        live.http.close()


def post(http: httpx.Client, body) -> httpx.Response:
    return http.post("/chatkit", content=json.dumps(body))


def items_of(http: httpx.Client, thread_id: str) -> list[dict]:
    body = {"type": "items.list", "params": {"thread_id": thread_id, "order": "asc"}}
    response = post(http, body)
    assert response.status_code == 200, response.text
    return response.json()["data"]


class Stream(threading.Thread):
    """One streamed request, read to its end in a thread of its own."""

    def __init__(self, http: httpx.Client, body) -> None:
        super().__init__(daemon=True)
        self.http, self.body = http, body
        self.events: list[dict] = []
        self.status: int | None = None
        self.error: BaseException | None = None
        self.replying = threading.Event()

    def run(self) -> None:
        try:
            with self.http.stream("POST", "/chatkit", content=json.dumps(self.body)) as response:
                self.status = response.status_code
                for event in iter_sse(response):
                    self.events.append(event)
                    if event["type"] == "thread.item.updated":
                        self.replying.set()
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            self.replying.set()


def wait_for(condition, timeout: float, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_the_site_survives_postgresql_stopping_and_starting_again(
    site, cluster, fake_provider, mode
):
    http = site.http
    # Stored before the outage.
    fake_provider.reply("kept before the outage")
    stored = parse_sse(post(http, create_thread("remember this")).content)
    kept_thread = stored[0]["thread"]["id"]
    kept_items = items_of(http, kept_thread)
    assert [item["type"] for item in kept_items][-2:] == ["user_message", "assistant_message"]

    # Two replies still streaming when the database goes.
    slow = " ".join(f"word{n}" for n in range(60))
    streams = []
    for text in ("first open question", "second open question"):
        fake_provider.reply(slow, chunk_delay=0.1)
        streams.append(
            Stream(http, add_message(kept_thread, text) if not streams else create_thread(text))
        )
    for stream in streams:
        stream.start()
    for stream in streams:
        assert stream.replying.wait(30), stream.events
        assert stream.status == 200

    cluster.stop(mode)
    stopped_at = time.monotonic()

    # The open streams end, with an error event, instead of hanging.
    for stream in streams:
        stream.join(timeout=30)
        assert not stream.is_alive(), "a stream kept its connection open"
        assert stream.error is None, stream.error
        assert stream.events[-1]["type"] == "error", stream.events[-3:]

    # New requests: a retryable JSON 503, not a hang or an HTML 500.
    for body in (
        {"type": "threads.list", "params": {}},
        create_thread("while it is down"),
        {"type": "threads.get_by_id", "params": {"thread_id": kept_thread}},
    ):
        started = time.monotonic()
        response = post(http, body)
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/json"
        assert response.json()["error"]["code"] == "database_unavailable"
        assert int(response.headers["Retry-After"]) > 0
        assert time.monotonic() - started < POOL_TIMEOUT + 10
    assert httpx.get(f"{site.url}/health", timeout=30).status_code == 503

    cluster.start()
    restarted_at = time.monotonic()

    # Back by itself within a few seconds, without restarting the site.
    def answers() -> bool:
        return post(http, {"type": "threads.list", "params": {}}).status_code == 200

    assert wait_for(answers, timeout=RECOVERY_SECONDS), site.log()[-3000:]
    recovery = time.monotonic() - restarted_at
    # And for good: no pooled connection that died with the old server
    # fails a later request.
    statuses = [post(http, {"type": "threads.list", "params": {}}).status_code for _ in range(10)]
    assert statuses == [200] * 10
    fake_provider.reply("after the outage")
    after = parse_sse(post(http, add_message(kept_thread, "are you back?")).content)
    assert streamed_text(after) == "after the outage", after[-3:]
    assert httpx.get(f"{site.url}/health", timeout=30).status_code == 200

    # Nothing stored before the outage is lost; the questions asked while
    # it began are kept.
    items = items_of(http, kept_thread)
    by_id = {item["id"]: item for item in items}
    for item in kept_items:
        assert by_id[item["id"]] == item
    user_texts = [
        part["text"] for item in items if item["type"] == "user_message" for part in item["content"]
    ]
    assert "first open question" in user_texts
    assert "are you back?" in user_texts

    # A restart nobody noticed (no request while it was down): the pooled
    # connections it killed are replaced, not handed to the next requests.
    cluster.stop(mode)
    cluster.start()
    statuses = [post(http, {"type": "threads.list", "params": {}}).status_code for _ in range(5)]
    assert statuses == [200] * 5
    print(f"{mode}: outage {restarted_at - stopped_at:.1f} s, recovered {recovery:.1f} s later")
