"""
A fake model provider: a real local HTTP server speaking OpenAI's wire formats.

It answers the Responses API (``POST /v1/responses``, streamed as server-sent
events or not), Chat Completions (``POST /v1/chat/completions``, streamed
chunks or not), audio transcription (``POST /v1/audio/transcriptions``) and
``GET /v1/models``, so the real ``openai`` client and the Agents SDK run
unmodified against it. Tests script what it does next: a reply text, tool
calls, an HTTP error (401, 429, 500...), a slow first token, or a stream cut
in the middle of the answer, or an answer that stops half way until the test
lets it go on (``reply_held``), so a test can act "while the reply is being
written" without betting on how fast a loaded machine runs. Every request is
recorded for inspection.

Streaming requests (the answers) take scripted behaviours in order; with
none queued they echo the last user message. Non-streaming requests (thread
titles, transcriptions) answer ``title`` / ``transcript`` unless a behaviour
is queued with ``for_non_streaming=True``.
"""

from __future__ import annotations

import email.parser
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

ECHO_PREFIX = "Echo: "


# While an answer is held, a comment line this often keeps the connection
# busy, so the site's read timeout (CHATKIT_REQUEST_TIMEOUT) does not fire and
# a client that went away is noticed (the write fails).
HOLD_KEEPALIVE = 0.5
# A held answer goes on by itself after this long, so a test that fails
# before releasing it does not leave a request hanging for the next test.
HOLD_LIMIT = 60.0


class Hold:
    """A point in a scripted answer where the provider stops and waits for
    the test: ``reached`` is set once ``after_words`` words were sent,
    ``release()`` lets the rest of the answer go."""

    def __init__(self, after_words: int) -> None:
        self.after_words = after_words
        self.reached = threading.Event()
        self.released = threading.Event()

    def wait_reached(self, timeout: float = 30) -> None:
        assert self.reached.wait(timeout), f"the answer never reached word {self.after_words}"

    def release(self) -> None:
        self.released.set()


@dataclass
class Behaviour:
    """What the provider does for one request."""

    text: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    error_message: str = ""
    first_token_delay: float = 0.0
    chunk_delay: float = 0.0
    cut_after_chunks: int | None = None
    # Applies to the next non-streaming request (a title or a transcription)
    # instead of the next streamed answer.
    for_non_streaming: bool = False
    usage: tuple[int, int] = (11, 7)
    hold: Hold | None = None


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def streaming(self) -> bool:
        return isinstance(self.body, dict) and bool(self.body.get("stream"))

    def has_audio(self) -> bool:
        messages = self.body.get("messages", []) if isinstance(self.body, dict) else []
        return any(
            isinstance(part, dict) and part.get("type") == "input_audio"
            for message in messages
            if isinstance(message.get("content"), list)
            for part in message["content"]
        )

    def tool_names(self) -> list[str]:
        """The names of the tools offered to the model (either API)."""
        tools = (self.body.get("tools") if isinstance(self.body, dict) else None) or []
        return [tool.get("name") or tool.get("function", {}).get("name", "") for tool in tools]

    def user_texts(self) -> list[str]:
        """The text of every user message sent, in order (either API)."""
        return [text for role, text in self.messages() if role == "user"]

    def messages(self) -> list[tuple[str, str]]:
        """(role, text) of each message in the request, system prompt first."""
        body = self.body if isinstance(self.body, dict) else {}
        out: list[tuple[str, str]] = []
        if body.get("instructions"):
            out.append(("system", body["instructions"]))
        messages = body.get("messages") or body.get("input") or []
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        for message in messages:
            role = message.get("role") or message.get("type", "")
            out.append((role, content_text(message.get("content"))))
        return out


def content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if isinstance(part, dict):
            parts.append(part.get("text") or "")
    return "".join(parts)


class FakeProvider:
    """The server and its script. Thread-safe: the server runs in its own thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._script: deque[Behaviour] = deque()
        self._holds: list[Hold] = []
        self.requests: list[RecordedRequest] = []
        self.title = "Fake title"
        self.transcript = "transcribed words"
        self.api_key = "sk-fake-provider-key"
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    # --- scripting ------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            for hold in self._holds:
                hold.release()  # no answer of an earlier test stays stuck
            self._holds.clear()
            self._script.clear()
            self.requests.clear()
            self.title = "Fake title"
            self.transcript = "transcribed words"

    def reply(self, text: str, **options: Any) -> None:
        """Queue an answer with this text."""
        self.queue(Behaviour(text=text, **options))

    def reply_held(self, text: str, *, after_words: int, **options: Any) -> Hold:
        """Queue an answer that stops after ``after_words`` words until the
        returned hold is released (the rest then follows, ``chunk_delay``
        apart as usual)."""
        hold = Hold(after_words)
        with self._lock:
            self._holds.append(hold)
        self.queue(Behaviour(text=text, hold=hold, **options))
        return hold

    def call_tools(self, *calls: tuple[str, dict[str, Any]], **options: Any) -> None:
        """Queue an answer that calls tools: ``("name", {"arg": 1})`` pairs."""
        self.queue(
            Behaviour(
                tool_calls=[{"name": name, "arguments": args} for name, args in calls], **options
            )
        )

    def fail(self, status: int, message: str = "", times: int = 1, **options: Any) -> None:
        """Queue ``times`` HTTP errors with this status."""
        for _ in range(times):
            self.queue(Behaviour(status=status, error_message=message, **options))

    def queue(self, behaviour: Behaviour) -> None:
        with self._lock:
            self._script.append(behaviour)

    def next_behaviour(self, *, streaming: bool) -> Behaviour | None:
        with self._lock:
            for behaviour in self._script:
                if behaviour.for_non_streaming != streaming:
                    self._script.remove(behaviour)
                    return behaviour
        return None

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    # --- inspection -------------------------------------------------------------

    def answer_requests(self) -> list[RecordedRequest]:
        """The streamed (answer) requests, oldest first."""
        return [r for r in self.requests if r.streaming]

    def title_requests(self) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if r.method == "POST" and not r.streaming and "audio" not in r.path
        ]

    def wait_for_requests(self, count: int, timeout: float = 5) -> None:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ThreadingHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    @property
    def fake(self) -> FakeProvider:
        return self.server.fake  # type: ignore[attr-defined]

    # --- plumbing -----------------------------------------------------------------

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, behaviour: Behaviour) -> None:
        kinds = {401: "invalid_api_key", 429: "rate_limit_exceeded", 400: "invalid_request_error"}
        message = behaviour.error_message or f"Fake provider error {behaviour.status}"
        self._send_json(
            behaviour.status,
            {
                "error": {
                    "message": message,
                    "type": kinds.get(behaviour.status, "server_error"),
                    "code": kinds.get(behaviour.status),
                }
            },
        )

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _cut(self) -> None:
        """Drop the connection without ending the chunked body, a moment after
        the last chunk, so the client has read what was sent (as when a
        provider dies mid-answer rather than before it)."""
        self.wfile.flush()
        time.sleep(0.2)
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def _hold(self, behaviour: Behaviour, sent_words: int) -> None:
        """Wait here while the behaviour's hold says so (see ``Hold``)."""
        hold = behaviour.hold
        if hold is None or sent_words != hold.after_words:
            return
        hold.reached.set()
        deadline = time.monotonic() + HOLD_LIMIT
        while not hold.released.wait(HOLD_KEEPALIVE) and time.monotonic() < deadline:
            self._chunk(b": held\n\n")  # an SSE comment: ignored by clients

    def _authorized(self) -> bool:
        expected = f"Bearer {self.fake.api_key}"
        if self.headers.get("Authorization") == expected:
            return True
        self._send_error(Behaviour(status=401, error_message="Incorrect API key provided."))
        return False

    # --- routes ---------------------------------------------------------------------

    def do_GET(self) -> None:
        self.fake.record(RecordedRequest("GET", self.path, dict(self.headers), None))
        if not self._authorized():
            return
        if self.path.rstrip("/") == "/v1/models":
            self._send_json(
                200,
                {
                    "object": "list",
                    "data": [
                        {"id": "fake-model", "object": "model", "created": 0, "owned_by": "fake"}
                    ],
                },
            )
        else:
            self._send_json(404, {"error": {"message": "not found", "type": "not_found"}})

    def do_POST(self) -> None:
        raw = self._body()
        if self.path.startswith("/v1/audio/transcriptions"):
            self._transcribe(raw)
            return
        body = json.loads(raw or b"{}")
        request = RecordedRequest("POST", self.path, dict(self.headers), body)
        self.fake.record(request)
        behaviour = self.fake.next_behaviour(streaming=request.streaming)
        if behaviour is None:
            if request.streaming:
                text = ECHO_PREFIX + (request.user_texts() or [""])[-1]
            elif request.has_audio():
                text = self.fake.transcript  # Gemini-style transcription by chat
            else:
                text = self.fake.title
            behaviour = Behaviour(text=text)
        if behaviour.first_token_delay:
            time.sleep(behaviour.first_token_delay)
        if not self._authorized():
            return
        if behaviour.status != 200:
            self._send_error(behaviour)
            return
        model = body.get("model", "fake-model")
        try:
            if self.path.rstrip("/") == "/v1/responses":
                self._responses(body, behaviour, model, request.streaming)
            elif self.path.rstrip("/") == "/v1/chat/completions":
                self._chat(body, behaviour, model, request.streaming)
            else:
                self._send_json(404, {"error": {"message": "not found", "type": "not_found"}})
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _transcribe(self, raw: bytes) -> None:
        content_type = self.headers.get("Content-Type", "")
        message = email.parser.BytesParser().parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + raw
        )
        fields: dict[str, Any] = {}
        for part in message.get_payload() if message.is_multipart() else []:
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if part.get_filename():
                fields[name] = {
                    "filename": part.get_filename(),
                    "bytes": len(payload),
                    "content_type": part.get_content_type(),
                }
            else:
                fields[name] = payload.decode()
        self.fake.record(RecordedRequest("POST", self.path, dict(self.headers), fields))
        behaviour = self.fake.next_behaviour(streaming=False)
        if not self._authorized():
            return
        if behaviour is not None and behaviour.status != 200:
            self._send_error(behaviour)
            return
        self._send_json(200, {"text": self.fake.transcript})

    # --- Responses API ------------------------------------------------------------------

    def _responses(self, body: dict, behaviour: Behaviour, model: str, streaming: bool) -> None:
        response_id = f"resp_{time.monotonic_ns()}"
        message_id = f"msg_fake{time.monotonic_ns()}"
        text = behaviour.text or ""
        output: list[dict[str, Any]] = []
        calls = [
            {
                "type": "function_call",
                "id": f"fc_{n}_{time.monotonic_ns()}",
                "call_id": f"call_{n}_{time.monotonic_ns()}",
                "name": call["name"],
                "arguments": json.dumps(call["arguments"]),
                "status": "completed",
            }
            for n, call in enumerate(behaviour.tool_calls)
        ]
        message = {
            "type": "message",
            "id": message_id,
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
        }
        output = calls or [message]
        usage = {
            "input_tokens": behaviour.usage[0],
            "output_tokens": behaviour.usage[1],
            "total_tokens": sum(behaviour.usage),
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        }

        def response(status: str, items: list, with_usage: bool) -> dict:
            return {
                "id": response_id,
                "object": "response",
                "created_at": time.time(),
                "status": status,
                "model": model,
                "output": items,
                "parallel_tool_calls": True,
                "tool_choice": "auto",
                "tools": [],
                "usage": usage if with_usage else None,
                "error": None,
                "incomplete_details": None,
                "instructions": body.get("instructions"),
                "metadata": {},
                "temperature": 1.0,
                "top_p": 1.0,
                "text": {"format": {"type": "text"}},
            }

        if not streaming:
            self._send_json(200, response("completed", output, True))
            return

        self._start_stream()
        sequence = 0
        sent_chunks = 0

        def send(event: dict) -> bool:
            nonlocal sequence, sent_chunks
            if behaviour.cut_after_chunks is not None and sent_chunks >= behaviour.cut_after_chunks:
                self._cut()
                return False
            event["sequence_number"] = sequence
            sequence += 1
            self._chunk(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())
            sent_chunks += 1
            return True

        if not send({"type": "response.created", "response": response("in_progress", [], False)}):
            return
        if calls:
            for index, call in enumerate(calls):
                added = {**call, "arguments": "", "status": "in_progress"}
                if not send(
                    {"type": "response.output_item.added", "output_index": index, "item": added}
                ):
                    return
                if not send(
                    {
                        "type": "response.function_call_arguments.delta",
                        "item_id": call["id"],
                        "output_index": index,
                        "delta": call["arguments"],
                    }
                ):
                    return
                if not send(
                    {
                        "type": "response.function_call_arguments.done",
                        "item_id": call["id"],
                        "output_index": index,
                        "arguments": call["arguments"],
                        "name": call["name"],
                    }
                ):
                    return
                if not send(
                    {"type": "response.output_item.done", "output_index": index, "item": call}
                ):
                    return
        else:
            in_progress = {**message, "status": "in_progress", "content": []}
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            if not send(
                {"type": "response.output_item.added", "output_index": 0, "item": in_progress}
            ):
                return
            if not send(
                {
                    "type": "response.content_part.added",
                    "item_id": message_id,
                    "output_index": 0,
                    "content_index": 0,
                    "part": part,
                }
            ):
                return
            for index, piece in enumerate(_pieces(text)):
                self._hold(behaviour, index)
                if behaviour.chunk_delay:
                    time.sleep(behaviour.chunk_delay)
                if not send(
                    {
                        "type": "response.output_text.delta",
                        "item_id": message_id,
                        "output_index": 0,
                        "content_index": 0,
                        "delta": piece,
                        "logprobs": [],
                    }
                ):
                    return
            done_part = {**part, "text": text}
            for event in (
                {
                    "type": "response.output_text.done",
                    "item_id": message_id,
                    "output_index": 0,
                    "content_index": 0,
                    "text": text,
                    "logprobs": [],
                },
                {
                    "type": "response.content_part.done",
                    "item_id": message_id,
                    "output_index": 0,
                    "content_index": 0,
                    "part": done_part,
                },
                {"type": "response.output_item.done", "output_index": 0, "item": message},
            ):
                if not send(event):
                    return
        if not send(
            {"type": "response.completed", "response": response("completed", output, True)}
        ):
            return
        self._end_stream()

    # --- Chat Completions -----------------------------------------------------------------

    def _chat(self, body: dict, behaviour: Behaviour, model: str, streaming: bool) -> None:
        completion_id = f"chatcmpl-{time.monotonic_ns()}"
        text = behaviour.text or ""
        calls = [
            {
                "id": f"call_{n}_{time.monotonic_ns()}",
                "type": "function",
                "function": {"name": call["name"], "arguments": json.dumps(call["arguments"])},
            }
            for n, call in enumerate(behaviour.tool_calls)
        ]
        usage = {
            "prompt_tokens": behaviour.usage[0],
            "completion_tokens": behaviour.usage[1],
            "total_tokens": sum(behaviour.usage),
        }
        finish = "tool_calls" if calls else "stop"
        if not streaming:
            message: dict[str, Any] = {"role": "assistant", "content": None if calls else text}
            if calls:
                message["tool_calls"] = calls
            self._send_json(
                200,
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": usage,
                },
            )
            return

        self._start_stream()
        sent_chunks = 0

        def send(
            delta: dict | None, finish_reason: str | None = None, with_usage: bool = False
        ) -> bool:
            nonlocal sent_chunks
            if behaviour.cut_after_chunks is not None and sent_chunks >= behaviour.cut_after_chunks:
                self._cut()
                return False
            chunk: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": []
                if delta is None
                else [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            }
            if with_usage:
                chunk["usage"] = usage
            self._chunk(f"data: {json.dumps(chunk)}\n\n".encode())
            sent_chunks += 1
            return True

        if not send({"role": "assistant", "content": ""}):
            return
        if calls:
            for index, call in enumerate(calls):
                if not send(
                    {
                        "tool_calls": [
                            {
                                "index": index,
                                "id": call["id"],
                                "type": "function",
                                "function": {"name": call["function"]["name"], "arguments": ""},
                            }
                        ]
                    }
                ):
                    return
                if not send(
                    {
                        "tool_calls": [
                            {
                                "index": index,
                                "function": {"arguments": call["function"]["arguments"]},
                            }
                        ]
                    }
                ):
                    return
        else:
            for index, piece in enumerate(_pieces(text)):
                self._hold(behaviour, index)
                if behaviour.chunk_delay:
                    time.sleep(behaviour.chunk_delay)
                if not send({"content": piece}):
                    return
        if not send({}, finish_reason=finish):
            return
        if (body.get("stream_options") or {}).get("include_usage") and not send(
            None, with_usage=True
        ):
            return
        self._chunk(b"data: [DONE]\n\n")
        self._end_stream()


def _pieces(text: str) -> Iterator[str]:
    """Split text into word-sized deltas, as providers stream it."""
    words = text.split(" ")
    for index, word in enumerate(words):
        yield word if index == 0 else " " + word


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def fake_provider_server() -> Iterator[FakeProvider]:
    server = FakeProvider()
    yield server
    server.close()


@pytest.fixture
def fake_provider(fake_provider_server: FakeProvider) -> Iterator[FakeProvider]:
    """The fake provider, with an empty script and request log for this test."""
    fake_provider_server.reset()
    yield fake_provider_server
    fake_provider_server.reset()
