"""
The test suite's fake model provider as a process of its own, for benchmarks.

A real local HTTP server speaking OpenAI's wire formats
(``chatkit_app.tests.fake_provider``), in its own process so that its CPU is
neither the benchmark client's nor a server's. Every streamed answer is told
by the question: a user message containing "N words, D s apart" is answered
with N words, D seconds apart (D may be 0); other questions are echoed at
once. Non-streaming requests (thread titles) get "Fake title" at once.

    .venv/bin/python benchmarks/fake_provider_process.py   # prints its base URL and key
"""

from __future__ import annotations

import re
import signal
import socketserver
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

# socketserver listens with a backlog of 5: hundreds of streams opening at
# once would wait for SYN retransmits (a second or more) instead of the model.
ThreadingHTTPServer.request_queue_size = 4096
# Each streamed chunk is a small write: with Nagle's algorithm on, a write
# waits for the client's delayed ACK (up to 40 ms) and every answer would
# include such pauses, the same for both servers, hiding their difference.
socketserver.StreamRequestHandler.disable_nagle_algorithm = True

from chatkit_app.tests.fake_provider import (  # noqa: E402
    Behaviour,
    FakeProvider,
    RecordedRequest,
)

ASK = re.compile(r"(\d+) words, ([\d.]+) s apart")


class ScriptedByQuestion(FakeProvider):
    """Answers as the question asks; remembers nothing (a benchmark sends
    thousands of requests)."""

    def __init__(self) -> None:
        self._current = threading.local()
        super().__init__()

    def record(self, request: RecordedRequest) -> None:
        # The handler records a request, then asks for its behaviour, on the
        # same thread.
        self._current.request = request

    def next_behaviour(self, *, streaming: bool) -> Behaviour | None:
        request: RecordedRequest | None = getattr(self._current, "request", None)
        if not streaming or request is None:
            return None
        asked = ASK.search((request.user_texts() or [""])[-1])
        if asked is None:
            return None
        words, delay = int(asked.group(1)), float(asked.group(2))
        return Behaviour(text=" ".join(["word"] * words), chunk_delay=delay)


def main() -> None:
    provider = ScriptedByQuestion()
    print(provider.base_url, provider.api_key, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    provider.close()


if __name__ == "__main__":
    main()
