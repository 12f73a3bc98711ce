"""
ASGI middleware that refuses oversized request bodies before Django reads them.

Django's ASGI handler reads the whole body (spooling it to disk) before any
middleware or view runs, so a view-level size check still lets a client make
the server store gigabytes. This wrapper answers a JSON 413 (the endpoint's
``{"error": …}`` format) as soon as ``Content-Length`` or the bytes actually
received pass the limit for the path, and reads nothing further. Every path
has a limit: ``/chatkit`` its own, uploads the attachment size, everything
else (``/health``, sign-in, the admin) ``CHATKIT_MAX_BODY_BYTES``.

It can only refuse what the server has not read yet: uvicorn (``scripts/serve``)
hands the body on as it arrives, daphne (``runserver``) reads it all first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .conf import chatkit_settings
from .http_errors import request_too_large_bytes

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# Room for the multipart envelope around an uploaded file.
MULTIPART_OVERHEAD = 64 * 1024


def body_limit_for_path(path: str) -> int:
    """The largest body accepted on ``path``."""
    if path.rstrip("/") == "/chatkit":
        return chatkit_settings.MAX_REQUEST_BYTES
    if path.startswith("/chatkit/attachments/") and path.endswith("/upload"):
        return chatkit_settings.ATTACHMENT_MAX_BYTES + MULTIPART_OVERHEAD
    return chatkit_settings.MAX_BODY_BYTES


class RequestBodyLimit:
    def __init__(
        self, app: ASGIApp, limit_for_path: Callable[[str], int | None] = body_limit_for_path
    ):
        self.app = app
        self.limit_for_path = limit_for_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limit_for_path(scope["path"]) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return

        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    # The app never runs, so nothing asks the server for the body.
                    await _send_413(send, limit)
                    return

        received = 0
        rejected = False
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    rejected = True
                    if not response_started:
                        await _send_413(send, limit)
                    # Django treats this as the client going away and stops.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if not rejected:
                response_started = True
                await send(message)

        await self.app(scope, limited_receive, guarded_send)


async def _send_413(send: Send, limit: int) -> None:
    body = request_too_large_bytes(limit)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
