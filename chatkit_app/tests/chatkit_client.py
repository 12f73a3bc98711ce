"""Helpers for talking to /chatkit as a client would: request bodies and SSE parsing."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

# A valid CSRF secret for tests that sign in with a session.
CSRF_SECRET = "a" * 32


def user_input(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "content": [{"type": "input_text", "text": text}],
        "attachments": extra.pop("attachments", []),
        "inference_options": extra.pop("inference_options", {}),
        **extra,
    }


def create_thread(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "threads.create", "params": {"input": user_input(text, **extra)}}


def add_message(thread_id: str, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "threads.add_user_message",
        "params": {"thread_id": thread_id, "input": user_input(text, **extra)},
    }


#: What ends a line of a server-sent event stream, and nothing else: a
#: message's text may hold U+0085 or U+2028, which ``str.splitlines`` splits at.
SSE_LINE_END = re.compile(r"\r\n|\r|\n")


def parse_sse(body: bytes | str) -> list[dict[str, Any]]:
    """The JSON events of a server-sent event stream, in order."""
    if isinstance(body, bytes):
        body = body.decode()
    events = []
    for block in body.split("\n\n"):
        data = "\n".join(
            line[len("data:") :].lstrip()
            for line in SSE_LINE_END.split(block)
            if line.startswith("data:")
        )
        if data:
            events.append(json.loads(data))
    return events


class SseReader:
    """The events of a stream read as it arrives, block by block. httpx's
    ``iter_lines`` splits where ``str.splitlines`` does, so a stream is read
    as text and cut here, at blank lines and (``parse_sse``) CR and LF."""

    def __init__(self) -> None:
        self._rest = ""

    def feed(self, text: str) -> list[dict[str, Any]]:
        """The events that ``text`` completes."""
        *blocks, self._rest = (self._rest + text).split("\n\n")
        return [event for block in blocks for event in parse_sse(block)]


def iter_sse(response: Any) -> Iterator[dict[str, Any]]:
    """The events of an httpx streaming response, each as soon as it arrives."""
    reader = SseReader()
    for text in response.iter_text():
        yield from reader.feed(text)


async def aiter_sse(response: Any) -> AsyncIterator[dict[str, Any]]:
    """``iter_sse`` for an httpx ``AsyncClient``'s streaming response."""
    reader = SseReader()
    async for text in response.aiter_text():
        for event in reader.feed(text):
            yield event


def events_of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [event for event in events if event["type"] == kind]


def streamed_text(events: list[dict[str, Any]]) -> str:
    """The assistant text as the client assembles it from deltas."""
    return "".join(
        event["update"]["delta"]
        for event in events
        if event["type"] == "thread.item.updated"
        and event["update"]["type"] == "assistant_message.content_part.text_delta"
    )


@dataclass
class Reply:
    """A finished /chatkit response, streamed body included."""

    status_code: int
    headers: dict[str, str]
    content: bytes

    def __getitem__(self, header: str) -> str:
        return self.headers[header]

    def json(self) -> Any:
        return json.loads(self.content)

    def events(self) -> list[dict[str, Any]]:
        return parse_sse(self.content)


def post_live(client: Any, body: Any) -> list[dict[str, Any]]:
    """Send ``body`` to a live server's ``/chatkit`` with an ``httpx`` client
    and return the events of its stream (the request must succeed)."""
    response = client.post("/chatkit", content=json.dumps(body))
    assert response.status_code == 200, response.text
    return parse_sse(response.content)


def post_chatkit(
    body: Any,
    *,
    login=None,
    csrf: bool = True,
    path: str = "/chatkit",
    method: str = "post",
    **headers: str,
) -> Reply:
    """Send one request to the endpoint in-process and read it to the end.

    Everything runs inside one ``async_to_sync`` call, so the response is
    consumed on the event loop that produced it (``asyncio.run`` closes
    unfinished async generators when its loop ends) and the ORM work runs
    on this thread, inside the test's transaction. ``login`` signs a user in
    with a session; with ``csrf`` the CSRF cookie and header are sent.
    """
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    data = body if isinstance(body, bytes | str) else json.dumps(body)

    async def send() -> Reply:
        client = AsyncClient(enforce_csrf_checks=True)
        # Accept Django's HTTP_NAME spelling, send real header names.
        extra = {
            name.removeprefix("HTTP_").replace("_", "-"): value for name, value in headers.items()
        }
        if login is not None:
            await client.aforce_login(login)
            if csrf:
                client.cookies["csrftoken"] = CSRF_SECRET
                extra["X-CSRFToken"] = CSRF_SECRET
        if method == "post":
            response = await client.post(
                path, data=data, content_type="application/json", headers=extra
            )
        else:
            response = await getattr(client, method)(path, headers=extra)
        if response.streaming:
            content = b"".join([chunk async for chunk in response.streaming_content])
        else:
            content = response.content
        return Reply(response.status_code, dict(response.items()), content)

    return async_to_sync(send)()


class ApiClient:
    """A user's API client: a bearer token, and /chatkit requests in-process."""

    def __init__(self, user):
        from chatkit_app.tokens import token_create

        self.user = user
        _, raw = token_create(user=user)
        self.auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}

    def __call__(self, body: Any, **headers: str) -> Reply:
        return post_chatkit(body, **self.auth, **headers)

    def start(self, text: str, **extra: Any) -> tuple[str, list[dict[str, Any]]]:
        """Create a thread with one message; its id and the streamed events."""
        events = self(create_thread(text, **extra)).events()
        return events[0]["thread"]["id"], events


def hang_up_after(http, body: Any, updates: int) -> str:
    """Stream ``body`` with an httpx client, close the connection once
    ``updates`` item updates (words of the reply) have arrived, as a user
    pressing stop or closing the tab does; the new thread's id."""
    thread_id, seen = None, 0
    with http.stream("POST", "/chatkit", content=json.dumps(body)) as response:
        for event in iter_sse(response):
            thread_id = thread_id or event.get("thread", {}).get("id")
            seen += event["type"] == "thread.item.updated"
            if seen == updates:
                break  # leaving the block closes the connection mid-reply
    return thread_id
