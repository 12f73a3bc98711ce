"""Helpers for tests of the websocket consumers driven in-process: through
the real ASGI application (origin check, session auth, routing) with
channels' ``WebsocketCommunicator`` and the in-memory channel layer.

Tests using them also want ``pytest.mark.usefixtures("fresh_channel_layer")``
(``conftest.py``), so no group outlives the event loop of its test.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from chatkit.types import ThreadMetadata, UserMessageItem, UserMessageTextContent
from django.conf import settings

from chatkit_app import services
from chatkit_app.models import Conversation, Message
from chatsite.asgi import application

from .live_daphne import session_cookie

SITE = b"http://localhost"
TIMEOUT = 5


async def open_socket(
    path: str, user=None, origin: bytes | None = SITE
) -> tuple[WebsocketCommunicator, bool, Any]:
    """A socket to ``path`` as ``user`` (signed in by session cookie) from
    ``origin``; whether it was accepted, and the close code if not."""
    headers = [(b"host", b"localhost")]
    if origin is not None:
        headers.append((b"origin", origin))
    if user is not None:
        cookie = await sync_to_async(session_cookie)(user)
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    socket = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await socket.connect(timeout=TIMEOUT)
    return socket, connected, code


async def close_code(socket: WebsocketCommunicator) -> int:
    message = await socket.receive_output(timeout=TIMEOUT)
    assert message["type"] == "websocket.close", message
    return message["code"]


async def until(socket: WebsocketCommunicator, kind: str) -> list[dict[str, Any]]:
    """Events up to and including the first of type ``kind``."""
    events = []
    while True:
        event = await socket.receive_json_from(timeout=TIMEOUT)
        events.append(event)
        if event["type"] == kind:
            return events


async def db(function, *args, **kwargs):
    return await sync_to_async(function)(*args, **kwargs)


def save_thread(owner, thread_id: str, title: str = "") -> Conversation:
    return services.conversation_save(
        owner=owner,
        thread=ThreadMetadata(id=thread_id, title=title or None, created_at=datetime.now()),
    )


def user_message(thread_id: str, item_id: str, text: str) -> UserMessageItem:
    return UserMessageItem(
        id=item_id,
        thread_id=thread_id,
        created_at=datetime.now(),
        content=[UserMessageTextContent(text=text)],
        attachments=[],
        inference_options={},
    )


def save_item(owner, thread_id: str, item_id: str, text: str, **kwargs) -> Message:
    return services.message_upsert(
        owner=owner,
        conversation_id=thread_id,
        item=user_message(thread_id, item_id, text),
        **kwargs,
    )


def _socket_path(kind: str, thread_id: str, params: dict[str, Any]) -> str:
    query = "&".join(f"{name}={value}" for name, value in params.items())
    return f"/ws/chatkit/{kind}/{thread_id}/" + (f"?{query}" if query else "")


def conversation_path(thread_id: str, **params: Any) -> str:
    """Staff watching a conversation."""
    return _socket_path("conversations", thread_id, params)


def thread_path(thread_id: str, **params: Any) -> str:
    """The owner's own socket of their thread."""
    return _socket_path("threads", thread_id, params)
