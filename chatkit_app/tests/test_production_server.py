"""
The production server, as ``scripts/serve`` starts it (uvicorn, one worker
per core), over real sockets: an oversized body is refused before it is
read, on every path, with bounded memory and no temporary file; the staff
websockets work; two workers both answer, sharing the database and Redis.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from chatkit_app.asgi_limits import body_limit_for_path

from .chatkit_client import create_thread, parse_sse
from .live_daphne import session_socket, token_client
from .live_production import ProductionServer, start_production_server
from .redis_server import redis_server as redis_server

# Starting the server (and two workers) is slow on a loaded machine.
pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(600)]

MB = 1024 * 1024
GIGABYTE = 1024 * MB
# Every kind of path: the endpoint, an upload link, the health probe, a page.
PATHS = ["/chatkit", "/chatkit/attachments/att_nope/upload", "/health", "/admin/login/"]


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker) -> Iterator[ProductionServer]:
    with start_production_server(workers=1) as running:
        yield running


@dataclass
class Answer:
    status_line: str
    body: bytes
    seconds: float
    body_bytes_sent: int
    peak_rss_growth: int
    peak_temp_bytes: int


def post_huge(server: ProductionServer, path: str, *, total: int, declared: int | None) -> Answer:
    """POST ``total`` bytes to ``path``, 1 MB at a time from a generator,
    chunked (``declared`` None) or under a ``Content-Length`` of ``declared``,
    reading the answer as soon as it comes. Stops sending when the server
    has answered or stopped reading."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)
    framing = (
        "Transfer-Encoding: chunked\r\n" if declared is None else f"Content-Length: {declared}\r\n"
    )
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\n{framing}\r\n"
    )
    rss_before = server.rss_bytes()
    peaks = {"rss": rss_before, "temp": 0}
    answered = threading.Event()
    received = bytearray()
    sent = 0
    started = time.monotonic()
    finished: dict[str, float] = {}

    def read_answer() -> None:
        try:
            while True:
                more = sock.recv(65536)
                if not more:
                    break
                received.extend(more)
                head_end = received.find(b"\r\n\r\n")
                if head_end >= 0:
                    length = next(
                        (
                            int(line.split(b":", 1)[1])
                            for line in received[:head_end].split(b"\r\n")
                            if line.lower().startswith(b"content-length:")
                        ),
                        0,
                    )
                    if len(received) >= head_end + 4 + length:
                        break
        except OSError:
            pass
        finished["at"] = time.monotonic() - started
        answered.set()

    def watch() -> None:
        while not answered.is_set():
            peaks["rss"] = max(peaks["rss"], server.rss_bytes())
            peaks["temp"] = max(peaks["temp"], server.temp_file_bytes())
            time.sleep(0.02)

    def body() -> Iterator[bytes]:
        chunk = b"x" * MB
        for _ in range(total // MB):
            yield (b"%x\r\n" % len(chunk)) + chunk + b"\r\n" if declared is None else chunk

    reader = threading.Thread(target=read_answer, daemon=True)
    watcher = threading.Thread(target=watch, daemon=True)
    reader.start()
    watcher.start()
    try:
        sock.sendall(head.encode())
        for piece in body():
            if answered.is_set():
                break
            sock.sendall(piece)
            sent += MB
    except OSError:  # the server closed the connection: it reads no more
        pass
    reader.join(timeout=30)
    answered.set()
    watcher.join()
    sock.close()
    status_line, _, rest = bytes(received).partition(b"\r\n")
    return Answer(
        status_line=status_line.decode(errors="replace"),
        body=rest.partition(b"\r\n\r\n")[2],
        seconds=finished.get("at", float("inf")),
        body_bytes_sent=sent,
        peak_rss_growth=peaks["rss"] - rss_before,
        peak_temp_bytes=peaks["temp"],
    )


def assert_refused_as_too_large(answer: Answer, path: str) -> None:
    assert answer.status_line.startswith("HTTP/1.1 413"), answer
    limit = body_limit_for_path(path)
    assert json.loads(answer.body) == {
        "error": {
            "code": "request_too_large",
            "message": f"The request body is larger than {limit} bytes.",
        }
    }


@pytest.mark.parametrize("path", PATHS)
def test_a_gigabyte_streamed_without_a_length_is_refused_after_a_few_megabytes(server, path):
    answer = post_huge(server, path, total=GIGABYTE, declared=None)
    assert_refused_as_too_large(answer, path)
    limit = body_limit_for_path(path)
    assert answer.seconds < 15
    # The server stopped reading: what was sent is the limit and what the
    # sockets' buffers hold, nowhere near the gigabyte.
    assert answer.body_bytes_sent < limit + 64 * MB
    assert answer.peak_rss_growth < 64 * MB
    assert answer.peak_temp_bytes <= limit + MB
    assert httpx.get(f"{server.url}/health").status_code == 200


@pytest.mark.parametrize("path", PATHS)
def test_a_lying_huge_content_length_is_refused_before_any_body_is_read(server, path):
    # A terabyte declared; sending stops as soon as the answer is there.
    answer = post_huge(server, path, total=GIGABYTE, declared=1024 * GIGABYTE)
    assert_refused_as_too_large(answer, path)
    assert answer.seconds < 15
    assert answer.body_bytes_sent < 64 * MB
    assert answer.peak_rss_growth < 64 * MB
    assert answer.peak_temp_bytes == 0


def test_a_body_under_the_limit_still_works(server, alice):
    with token_client(server, alice) as http:
        response = http.post("/chatkit", content=json.dumps(create_thread("Hello")))
    assert response.status_code == 200
    assert parse_sse(response.content)[-1]["type"] == "thread.item.done"


def until(sock: ClientConnection, kind: str) -> list[dict]:
    events = []
    while not events or events[-1]["type"] != kind:
        events.append(json.loads(sock.recv(timeout=15)))
    return events


def test_a_staff_websocket_connects_through_the_production_server(server, charlie):
    with session_socket(server, charlie, "/ws/chatkit/activity/") as sock:
        assert until(sock, "caught_up")[-1]["type"] == "caught_up"


def test_an_anonymous_websocket_is_closed_as_unauthenticated(server):
    with (
        ws_connect(
            server.url.replace("http://", "ws://") + "/ws/chatkit/activity/",
            origin=server.url,
            proxy=None,
            open_timeout=15,
        ) as sock,
        pytest.raises(ConnectionClosed) as closed,
    ):
        sock.recv(timeout=15)
    assert closed.value.rcvd.code == 4401


# --- two workers -------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_workers(redis_server, django_db_setup, django_db_blocker) -> Iterator[ProductionServer]:
    with start_production_server({"REDIS_URL": redis_server.url}, workers=2) as running:
        yield running


def client_on_worker(
    server: ProductionServer, user, *, other_than: int | None = None
) -> tuple[httpx.Client, int]:
    """A keep-alive client of ``server`` whose one connection a worker (not
    ``other_than``) accepted, and that worker. The kernel hands connections
    to whichever worker accepts first; a few tries find each."""
    headers = token_client(server, user).headers
    # One TLS context for all (none is used over http, but each client
    # would load the CA bundle again).
    tls = ssl.create_default_context()
    for _ in range(200):
        # One connection, kept alive: every request goes to the same worker.
        http = httpx.Client(
            base_url=server.url,
            headers=headers,
            timeout=30,
            verify=tls,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        response = http.get("/health")
        assert response.status_code == 200
        client_port = (
            response.extensions["network_stream"].get_extra_info("socket").getsockname()[1]
        )
        owner = server.owner_of_connection(client_port)
        if owner is not None and owner != other_than:
            return http, owner
        http.close()
    raise AssertionError(f"no connection reached a worker other than {other_than}")


def test_two_workers_both_answer_and_share_the_database_and_live_updates(
    two_workers, alice, charlie
):
    assert len(two_workers.workers()) == 2
    with session_socket(two_workers, charlie, "/ws/chatkit/activity/") as sock:
        watching = two_workers.owner_of_connection(sock.socket.getsockname()[1])
        assert watching in two_workers.workers()
        until(sock, "caught_up")
        http, writer = client_on_worker(two_workers, alice, other_than=watching)
        with contextlib.closing(http):
            events = parse_sse(
                http.post("/chatkit", content=json.dumps(create_thread("Hello"))).content
            )
        thread_id = events[0]["thread"]["id"]
        # Written by one worker, watched live through the other (Redis)...
        try:
            created = json.loads(sock.recv(timeout=15))
        except ConnectionClosed as closed:
            raise AssertionError(f"{closed!r}\n{two_workers.log()[-3000:]}") from closed
        assert (created["kind"], created["conversation_id"]) == ("conversation.created", thread_id)
    # ...and listed by the other (PostgreSQL or the shared SQLite file).
    reader, reading = client_on_worker(two_workers, alice, other_than=writer)
    with contextlib.closing(reader):
        listed = reader.post(
            "/chatkit", content=json.dumps({"type": "threads.list", "params": {}})
        ).json()
    assert {writer, reading} == set(two_workers.workers())
    assert thread_id in [thread["id"] for thread in listed["data"]]


def test_connections_arriving_together_are_spread_over_both_workers(two_workers):
    # uvicorn's own workers share one listening socket, and the worker that
    # wakes first accepts every connection waiting; scripts/serve gives each
    # worker a socket of its own (SO_REUSEPORT) and the kernel spreads them.
    sockets = [
        socket.create_connection(("127.0.0.1", two_workers.port), timeout=30) for _ in range(40)
    ]
    try:
        for sock in sockets:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        for sock in sockets:
            assert sock.recv(64).startswith(b"HTTP/1.1 200")
        owners = [two_workers.owner_of_connection(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
    counts = {pid: owners.count(pid) for pid in two_workers.workers()}
    # Each connection lands on either worker by a hash of its address: fewer
    # than 8 of 40 on one worker happens about once in 100,000 runs.
    assert min(counts.values()) >= 8, counts
