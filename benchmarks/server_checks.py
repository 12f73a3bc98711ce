"""
What each ASGI server does with an oversized body, and whether it serves the
Channels websockets: the two things besides speed that choose the
production server.

For each ``--server`` it starts our site (one process, production settings,
on a scratch PostgreSQL database, as ``versus_baseline.py`` does) and:

- sends a 400 MB POST (``--megabytes``) to ``/chatkit`` with no credentials,
  once with ``Content-Length`` and once chunked, and to ``/health`` (which
  has no body limit of its own). It prints when the answer came, how much of
  the body had been sent by then, whether the server took the whole body, and
  the peak RSS and peak temporary-file bytes of the server's processes. A
  server that passes the body on in chunks lets the app's limiter
  (``chatkit_app/asgi_limits.py``) answer 413 after a few megabytes; one that
  buffers takes all of it (to memory or a temporary file) first;
- opens ``/ws/chatkit/activity/`` anonymously (the consumer must accept and
  close with 4401) and as a signed-in staff user (the socket must stay open).

    DATABASE_URL=postgres://postgres@127.0.0.1:55432/chatsite_bench \\
        .venv/bin/python benchmarks/server_checks.py --server daphne uvicorn granian hypercorn
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from versus_baseline import (
    SERVERS,
    Server,
    Setup,
    fake_provider,
    manage,
    prepare_database,
    rss_bytes,
    scratch_database_url,
    start_site,
)

CHUNK = 1024 * 1024
TEMP_DIRS = ("/tmp", "/var/tmp", os.environ.get("TMPDIR", "/tmp"))


def temp_file_bytes(pids: list[int]) -> int:
    """Bytes in temporary files the processes hold open (deleted ones too)."""
    total = 0
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            path = f"/proc/{pid}/fd/{fd}"
            try:
                target = os.readlink(path)
                if target.startswith(TEMP_DIRS) and not target.endswith(".log"):
                    stat = os.stat(path)
                    if stat.st_mode & 0o170000 == 0o100000:  # regular file
                        total += stat.st_size
            except OSError:
                continue
    return total


@dataclass
class BigPost:
    status: str
    answered_after_s: float | None
    sent_when_answered: int
    sent_total: int
    took_everything: bool
    peak_rss: int
    peak_temp: int


def big_post(server: Server, path: str, megabytes: int, chunked: bool) -> BigPost:
    total = megabytes * CHUNK
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        "X-Forwarded-Proto: https\r\n"
        + ("Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {total}\r\n")
        + "\r\n"
    )
    sent = 0
    answered: dict[str, object] = {}
    started = time.monotonic()
    stop = threading.Event()
    peaks = {"rss": 0, "temp": 0}

    def read_answer() -> None:
        data = b""
        try:
            while b"\r\n" not in data:
                more = sock.recv(4096)
                if not more:
                    break
                data += more
        except OSError:
            pass
        answered["at"] = time.monotonic() - started
        answered["sent"] = sent
        answered["status"] = data.split(b"\r\n", 1)[0].decode(errors="replace") or "closed"

    def watch() -> None:
        while not stop.is_set():
            pids = server.pids()
            peaks["rss"] = max(peaks["rss"], rss_bytes(pids))
            peaks["temp"] = max(peaks["temp"], temp_file_bytes(pids))
            stop.wait(0.05)

    reader = threading.Thread(target=read_answer, daemon=True)
    watcher = threading.Thread(target=watch, daemon=True)
    reader.start()
    watcher.start()
    body = b"x" * CHUNK
    took_everything = False
    try:
        sock.sendall(head.encode())
        while sent < total:
            frame = (b"%x\r\n" % len(body)) + body + b"\r\n" if chunked else body
            sock.sendall(frame)
            sent += len(body)
        if chunked:
            sock.sendall(b"0\r\n\r\n")
        took_everything = True
    except OSError:
        pass
    reader.join(timeout=120)
    time.sleep(0.3)  # the server's temp file may still be open
    stop.set()
    watcher.join()
    sock.close()
    return BigPost(
        status=str(answered.get("status", "no answer")),
        answered_after_s=answered.get("at"),  # type: ignore[arg-type]
        sent_when_answered=int(answered.get("sent", sent)),  # type: ignore[arg-type]
        sent_total=sent,
        took_everything=took_everything,
        peak_rss=peaks["rss"],
        peak_temp=peaks["temp"],
    )


def staff_session(setup: Setup) -> str:
    """A signed-in session of a staff superuser, made in the database."""
    return manage(
        setup,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model, SESSION_KEY, BACKEND_SESSION_KEY,"
        " HASH_SESSION_KEY;"
        "from django.contrib.sessions.backends.db import SessionStore;"
        "user, _ = get_user_model().objects.get_or_create(username='benchstaff');"
        "user.is_staff = user.is_superuser = True; user.set_unusable_password(); user.save();"
        "s = SessionStore(); s[SESSION_KEY] = str(user.pk);"
        "s[BACKEND_SESSION_KEY] = 'django.contrib.auth.backends.ModelBackend';"
        "s[HASH_SESSION_KEY] = user.get_session_auth_hash(); s.create();"
        "print(s.session_key)",
    ).split()[-1]


async def websocket_check(server: Server, session_key: str | None) -> str:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    url = server.url.replace("http://", "ws://") + "/ws/chatkit/activity/"
    headers = {"Cookie": f"sessionid={session_key}"} if session_key else {}
    try:
        async with connect(
            url, origin=server.url, additional_headers=headers, open_timeout=10
        ) as ws:
            try:
                message = await asyncio.wait_for(ws.recv(), 3)
                return f"open, first message {str(message)[:60]!r}"
            except TimeoutError:
                return "open (no message in 3 s)"
            except ConnectionClosed as closed:
                return f"closed with {closed.rcvd.code if closed.rcvd else 'no code'}"
    except InvalidStatus as exc:
        return f"handshake refused: HTTP {exc.response.status_code}"
    except Exception as exc:  # any failure is the finding
        return f"failed: {exc!r}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", nargs="+", choices=SERVERS, default=list(SERVERS))
    parser.add_argument("--megabytes", type=int, default=400)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()
    database_url = scratch_database_url(force=args.force)

    with fake_provider() as (url, key, _):
        setup = Setup(database_url, url, key, titles=True)
        prepare_database(setup)
        session_key = staff_session(setup)
        for kind in args.server:
            print(f"\n== {kind} ==", flush=True)
            server = start_site(setup, kind, 1, pool_max=None)
            try:
                for path, chunked in (("/chatkit", False), ("/chatkit", True), ("/health", False)):
                    result = big_post(server, path, args.megabytes, chunked)
                    when = (
                        f"{result.answered_after_s:.2f} s"
                        if result.answered_after_s is not None
                        else "never"
                    )
                    print(
                        f"  {args.megabytes} MB POST {path} "
                        f"({'chunked' if chunked else 'Content-Length'}): "
                        f"{result.status!r} after {when}, "
                        f"{result.sent_when_answered / 2**20:.0f} MB sent by then, "
                        f"{result.sent_total / 2**20:.0f} MB in all"
                        f"{' (server took all of it)' if result.took_everything else ''}; "
                        f"peak RSS {result.peak_rss / 2**20:.0f} MB, "
                        f"peak temp files {result.peak_temp / 2**20:.0f} MB",
                        flush=True,
                    )
                anonymous = asyncio.run(websocket_check(server, None))
                staff = asyncio.run(websocket_check(server, session_key))
                print(f"  websocket /ws/chatkit/activity/: anonymous {anonymous}; staff {staff}")
            finally:
                server.stop()
                log = server.log()
                os.unlink(server.log_path)
            if "Traceback" in log:
                print("  server log has a traceback:\n" + log[-1500:])


if __name__ == "__main__":
    main()
