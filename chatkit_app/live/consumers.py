"""
Websocket consumers that push live events to staff (the admin's watch and
activity pages).

Only active staff with permission to view conversations get in: anyone else
is accepted and at once closed with a code the page understands (4401 not
signed in, 4403 not allowed, 4404 no such conversation, 4400 a malformed
position), so it stops reconnecting and says why. The origin is checked
before this code runs (``origin.SameOriginValidator`` in chatsite/asgi.py).

The right to watch is not checked once: an open socket re-checks its
watcher (the session still exists and still names them, the account is
active, staff, and allowed to view conversations) every
``CHATKIT_LIVE_RECHECK_INTERVAL`` seconds on a timer of its own, events or
not, and before sending anything when the last check is older than that.
Signing out (or the session expiring or being deleted) closes it with 4401;
deactivation or a lost staff flag or permission with 4403.

A reconnecting client says where it stopped (``?after=<sequence>`` or
``?after_item=<item id>`` for a conversation, ``?since=<time>`` for the
activity feed) and gets what it missed from the database before live
events. The consumer joins its group *before* reading the database: events
that arrive meanwhile wait in the channel (a consumer handles one message
at a time) and, once the catch-up is sent, those already covered by it are
dropped. So nothing falls between the query and the live stream, and
nothing is sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from importlib import import_module
from typing import Any
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib import auth
from django.contrib.auth import get_user_model
from django.utils.crypto import constant_time_compare
from django.utils.dateparse import parse_datetime

from ..conf import chatkit_settings
from ..db import db_call
from ..models import Conversation, Handoff
from . import events
from .catch_up import activity_since, item_sequence, items_after, items_backlog

logger = logging.getLogger(__name__)

# Close codes (4000-4999 are the application's own).
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
# The standard "internal error": not a refusal, the page retries.
CLOSE_SERVER_ERROR = 1011


#: Whether a user may have a socket: None, or the close code refusing them.
Rule = Callable[[Any], "int | None"]


@db_call
def _may_watch(user: Any, rule: Rule | None = None) -> int | None:
    return (rule or _refusal)(user)


def _refusal(user: Any) -> int | None:
    """None if ``user`` may watch conversations, else the close code."""
    if user is None or not user.is_authenticated:
        return CLOSE_UNAUTHENTICATED
    if not (user.is_active and user.is_staff):
        return CLOSE_FORBIDDEN
    # The admin's own rule for seeing conversations: view or change.
    if not (
        user.has_perm("chatkit_app.view_conversation")
        or user.has_perm("chatkit_app.change_conversation")
    ):
        return CLOSE_FORBIDDEN
    return None


@db_call
def _still_may_watch(session_key: str | None, user_pk: Any, rule: Rule | None = None) -> int | None:
    """Like ``_may_watch``, for the watcher of an open socket, read afresh
    from the session store and the database (the connection's own copies
    are the ones from when it opened). Read-only: Django's ``get_user``
    would flush or re-key the session, which is the HTTP side's business."""
    if not session_key:
        return CLOSE_UNAUTHENTICATED
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key).load()
    # Gone, expired, or another user's: signed out.
    if str(session.get(auth.SESSION_KEY)) != str(user_pk):
        return CLOSE_UNAUTHENTICATED
    user = get_user_model()._default_manager.filter(pk=user_pk).first()
    if user is None or not _session_hash_verified(session, user):
        return CLOSE_UNAUTHENTICATED
    return (rule or _refusal)(user)


def _session_hash_verified(session: dict[str, Any], user: Any) -> bool:
    """The session was made with the user's current password (or a key in
    ``SECRET_KEY_FALLBACKS``), as ``django.contrib.auth.get_user`` checks."""
    session_hash = session.get(auth.HASH_SESSION_KEY)
    if not session_hash:
        return False
    candidates = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    return any(constant_time_compare(session_hash, candidate) for candidate in candidates)


class StaffLiveConsumer(AsyncJsonWebsocketConsumer):
    """Staff-only socket that relays the live events (``events``) of its group.

    ``rule`` decides who may have one (staff who may view conversations); a
    subclass for other users (``threads.ThreadConsumer``, a conversation's
    owner) sets its own, and keeps the re-checks."""

    rule: Rule = staticmethod(_refusal)  # type: ignore[assignment]
    group: str = ""
    # (session key, user pk), set once the watcher is let in.
    watcher: tuple[str | None, Any] | None = None
    checked_at: float = 0.0
    revoked: bool = False
    recheck_task: asyncio.Task[None] | None = None

    def query_param(self, name: str) -> str | None:
        values = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get(name)
        return values[-1] if values else None

    async def refuse(self, code: int) -> None:
        # Accepted first: a close before accepting reaches the browser as a
        # failed handshake without the code, and it would keep retrying.
        await self.accept()
        await self.close(code=code)

    async def connect(self) -> None:
        refusal = await _may_watch(self.scope.get("user"), self.rule)
        if refusal is not None:
            await self.refuse(refusal)
            return
        try:
            position = self.parse_position()
        except ValueError:
            await self.refuse(CLOSE_BAD_REQUEST)
            return
        if not await self.prepare():
            await self.refuse(CLOSE_NOT_FOUND)
            return
        session = self.scope.get("session")
        self.watcher = (getattr(session, "session_key", None), self.scope["user"].pk)
        self.checked_at = time.monotonic()
        await self.accept()
        self.recheck_task = asyncio.create_task(self.recheck_periodically())
        # Join first, then read what was missed (see the module docstring).
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.catch_up(position)

    async def disconnect(self, code: int) -> None:
        task, self.recheck_task = self.recheck_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    # --- the watcher keeps the right to watch, or the socket closes

    @staticmethod
    def recheck_interval() -> float:
        return max(float(chatkit_settings.LIVE_RECHECK_INTERVAL), 0.05)

    async def recheck_periodically(self) -> None:
        """The socket's own timer: a watcher who lost the right is closed
        within the interval even when no event flows."""
        while not self.revoked:
            await asyncio.sleep(self.recheck_interval())
            await self.still_allowed()

    async def still_allowed(self) -> bool:
        if self.revoked:
            return False
        if self.watcher is None:
            return True
        try:
            refusal = await _still_may_watch(*self.watcher, self.rule)
        except Exception:
            # Unable to tell (the database is down): fail closed. 1011 is no
            # refusal, so the page reconnects with backoff and is checked then.
            logger.exception("Could not re-check a live watcher; closing the socket")
            refusal = CLOSE_SERVER_ERROR
        self.checked_at = time.monotonic()
        if refusal is None:
            return True
        if not self.revoked:
            self.revoked = True
            if self.group:
                await self.channel_layer.group_discard(self.group, self.channel_name)
            await self.close(code=refusal)
        return False

    async def send_json(self, content: Any, close: bool = False) -> None:
        """Nothing goes out on a check older than the interval, nor after
        the socket was closed for a lost right."""
        if self.revoked:
            return
        stale = time.monotonic() - self.checked_at >= self.recheck_interval()
        if stale and not await self.still_allowed():
            return
        await super().send_json(content, close=close)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # The stream is one-way; anything a client sends is ignored.
        return

    async def live_event(self, message: dict[str, Any]) -> None:
        event = message["event"]
        if self.is_repeat(event):
            return
        await self.send_json(event)

    # --- what subclasses define

    def parse_position(self) -> Any:
        raise NotImplementedError

    async def prepare(self) -> bool:
        return True

    async def catch_up(self, position: Any) -> None:
        raise NotImplementedError

    def is_repeat(self, event: dict[str, Any]) -> bool:
        return False


class ConversationConsumer(StaffLiveConsumer):
    """``ws/chatkit/conversations/<id>/``: one conversation's items as they
    are saved, a reply's text as it is written, title and status changes.

    On connecting the client gets ``conversation`` (with ``reset`` true when
    it should drop what it shows: a first connection, or a position the
    server no longer knows), the items it missed (``replay`` true), then
    ``caught_up`` with the last sequence, then live events.
    """

    def parse_position(self) -> tuple[str, int | str] | None:
        after = self.query_param("after")
        if after:
            sequence = int(after)
            if sequence < 0:
                raise ValueError(after)
            return ("sequence", sequence)
        after_item = self.query_param("after_item")
        if after_item:
            return ("item", after_item)
        return None

    async def prepare(self) -> bool:
        self.conversation_id = self.scope["url_route"]["kwargs"]["conversation_id"]
        self.conversation = await _conversation(self.conversation_id)
        if self.conversation is None:
            return False
        self.group = events.conversation_group(self.conversation_id)
        # item id -> updated_at of the version the catch-up sent
        self.replayed: dict[str, datetime] = {}
        return True

    async def catch_up(self, position: tuple[str, int | str] | None) -> None:
        after = await _sequence_of(self.conversation_id, position)
        await self.send_json(
            {
                "type": "conversation",
                "conversation": events.conversation_summary(self.conversation),
                "reset": after is None,
            }
        )
        await self.send_json(
            events.handoff_event(
                await _handoff(self.conversation_id), conversation_id=self.conversation_id
            )
        )
        if after is None:
            messages, earlier = await _backlog(self.conversation_id)
            await self.replay(messages)
            last = messages[-1].sequence if messages else 0
        else:
            earlier = after > 0
            last = after
            while True:
                messages = await _items_after(self.conversation_id, last)
                if not messages:
                    break
                await self.replay(messages)
                last = messages[-1].sequence
        # The last sequence sent, not the thread's: newer items come live.
        await self.send_json({"type": "caught_up", "last_sequence": last, "earlier": earlier})

    async def replay(self, messages: list[Any]) -> None:
        for message in messages:
            self.replayed[message.pk] = message.updated_at
            await self.send_json(events.message_event(message, replay=True))

    def is_repeat(self, event: dict[str, Any]) -> bool:
        """A live item event for a version the catch-up already sent.

        Compared by ``updated_at``, not by sequence: a later change to an
        item the catch-up sent (a tool call completing, a reply marked
        interrupted) keeps its sequence and must still get through.
        """
        if event.get("type") != "item":
            return False
        sent = self.replayed.get(event["item_id"])
        if sent is None:
            return False
        version = parse_datetime(event.get("updated_at") or "")
        return version is not None and version <= sent


class ActivityConsumer(StaffLiveConsumer):
    """``ws/chatkit/activity/``: conversations created, provider errors and
    feedback across the site, newest last."""

    group = events.ACTIVITY_GROUP

    def parse_position(self) -> datetime | None:
        since = self.query_param("since")
        if not since:
            return None
        parsed = parse_datetime(since)
        if parsed is None:
            raise ValueError(since)
        return parsed

    async def catch_up(self, since: datetime | None) -> None:
        self.replayed: set[str] = set()
        for event in await _activity(since):
            self.replayed.add(event["key"])
            await self.send_json({**event, "replay": True})
        await self.send_json({"type": "caught_up"})

    def is_repeat(self, event: dict[str, Any]) -> bool:
        return event.get("key") in self.replayed


# --- reads (each one burst of database work, see db.py) ----------------------------


@db_call
def _conversation(conversation_id: str) -> Conversation | None:
    return Conversation.objects.select_related("owner").filter(pk=conversation_id).first()


@db_call
def _handoff(conversation_id: str) -> Handoff | None:
    return Handoff.objects.select_related("taken_over_by").filter(pk=conversation_id).first()


@db_call
def _sequence_of(conversation_id: str, position: tuple[str, int | str] | None) -> int | None:
    """The sequence after which the client needs items, or None when it
    should start over with the backlog (no position, or an item that is no
    longer there, e.g. removed by a retry)."""
    if position is None:
        return None
    kind, value = position
    if kind == "sequence":
        return int(value)
    return item_sequence(conversation_id=conversation_id, item_id=str(value))


@db_call
def _backlog(conversation_id: str) -> tuple[list[Any], bool]:
    return items_backlog(conversation_id=conversation_id)


@db_call
def _items_after(conversation_id: str, after: int) -> list[Any]:
    return items_after(conversation_id=conversation_id, after=after)


@db_call
def _activity(since: datetime | None) -> list[dict[str, Any]]:
    return activity_since(since=since)
