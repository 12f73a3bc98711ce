"""
Start the site in a real daphne process, on the test database.

The child runs ``chatsite.test_settings`` with ``CHATKIT_TEST_CHILD=1`` (so
the environment this module passes is honoured) and the test database's
name, so rows a ``transaction=True`` test commits are what the server sees.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from django.db import connection
from websockets.sync.client import ClientConnection, connect

BASE_DIR = Path(__file__).resolve().parents[2]


@dataclass
class LiveDaphne:
    url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def stop_process(process: subprocess.Popen) -> None:
    """Ask a server process to stop; kill it if it does not within ten seconds."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CHATKIT_", "OPENAI_", "GEMINI_")) and key != "REDIS_URL"
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "chatsite.test_settings",
            "CHATKIT_TEST_CHILD": "1",
            "CHATKIT_TEST_CHILD_DB_NAME": str(connection.settings_dict["NAME"]),
            "CHATKIT_TEST_MEDIA_ROOT": os.environ.get(
                "CHATKIT_TEST_MEDIA_ROOT", str(BASE_DIR / ".test-media")
            ),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


def wait_until_serving(
    name: str,
    process: subprocess.Popen,
    url: str,
    log: Callable[[], str],
    *,
    timeout: float,
    interval: float = 0.1,
    ready: Callable[[], bool] = lambda: True,
) -> None:
    """Wait until the server ``process`` at ``url`` answers ``/health`` and
    ``ready()`` holds; fail with its ``log()`` if it exits or times out first."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{log()}")
        # Any answer means it is serving; /health may be 503 on purpose.
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"{url}/health", timeout=5)
            if ready():
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start serving:\n{log()}")
        time.sleep(interval)


@contextlib.contextmanager
def start_daphne(
    extra_env: dict[str, str] | None = None, timeout: float = 120
) -> Iterator[LiveDaphne]:
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="daphne-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "chatsite.asgi:application",
        ],
        cwd=BASE_DIR,
        env=child_environment(extra_env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = LiveDaphne(url=f"http://127.0.0.1:{port}", process=process, log_path=Path(log.name))
    try:
        wait_until_serving("daphne", process, server.url, server.log, timeout=timeout)
        yield server
    finally:
        stop_process(process)
        log.close()
        os.unlink(log.name)


def token_client(server: LiveDaphne, user, *, timeout: float = 30) -> httpx.Client:
    """An HTTP client of ``server`` that signs in as ``user`` with a new API token."""
    from chatkit_app.tokens import token_create

    _, raw = token_create(user=user)
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {raw}"}, timeout=timeout
    )


def poll_until(condition, timeout: float, interval: float = 0.05):
    """Call ``condition`` until it returns something truthy or ``timeout``
    seconds have passed; its last result either way."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def wait_until(condition, timeout: float = 10, interval: float = 0.05):
    """Poll ``condition`` until it returns something truthy; return that, or
    fail with the last value. Work a live server does after the response
    ends (saving a stopped reply) is only visible a moment later."""
    value = poll_until(condition, timeout, interval)
    assert value, f"condition not met within {timeout}s"
    return value


def session_cookie(user) -> str:
    """The value of a session cookie signed in as ``user``."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def session_socket(server, user, path: str, *, timeout: float = 15) -> ClientConnection:
    """A websocket to ``path`` of the live ``server`` (anything with a
    ``url``), from the server's own origin, signed in as ``user`` by session."""
    from django.conf import settings

    return connect(
        server.url.replace("http://", "ws://") + path,
        origin=server.url,
        additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={session_cookie(user)}"},
        proxy=None,
        open_timeout=timeout,
    )
