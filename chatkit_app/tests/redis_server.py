"""
A real Redis server for tests: Debian's ``redis-server`` on a free port,
with nothing saved to disk, stopped when the fixture ends.

Without ``redis-server`` the tests that need it skip, except under
``CI=true``, where a missing server is a failure (``.ci/run`` installs it),
as the browser tests do with Chromium.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from .live_daphne import free_port, stop_process

REDIS_SERVER = os.environ.get("CHATKIT_TEST_REDIS_SERVER", "redis-server")


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False


def require_redis() -> str:
    """The path of redis-server, or skip (fail under CI=true) without it."""
    found = shutil.which(REDIS_SERVER)
    if found:
        return found
    message = f"{REDIS_SERVER} is not installed (apt-get install redis-server)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; under CI=true the live update tests must run.")
    pytest.skip(message)


def start_redis(timeout: float = 10) -> Iterator[RedisServer]:
    executable = require_redis()
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="chatkit-redis-")
    process = subprocess.Popen(
        [
            executable,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    server = RedisServer(port=port, process=process)
    try:
        deadline = time.monotonic() + timeout
        while not server.ping():
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield server
    finally:
        stop_process(process)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """One Redis server per test module."""
    yield from start_redis()
