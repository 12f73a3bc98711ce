"""
Websocket consumers that push live events to staff (the admin's watch and
activity pages).

Only active staff with permission to view conversations get in: anyone else
is accepted and at once closed with a code the page understands (4401 not
signed in, 4403 not allowed, 4404 no such conversation, 4400 a malformed
position), so it stops reconnecting and says why. The origin is checked
before this code runs (``AllowedHostsOriginValidator`` in chatsite/asgi.py).

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

from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils.dateparse import parse_datetime

from . import live_events
from .db import db_call
from .models import Conversation

# Close codes (4000-4999 are the application's own).
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404


@db_call
def _may_watch(user: Any) -> int | None:
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


class StaffLiveConsumer(AsyncJsonWebsocketConsumer):
    """Staff-only socket that relays ``live_events`` messages of its group."""

    group: str = ""

    def query_param(self, name: str) -> str | None:
        values = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get(name)
        return values[-1] if values else None

    async def refuse(self, code: int) -> None:
        # Accepted first: a close before accepting reaches the browser as a
        # failed handshake without the code, and it would keep retrying.
        await self.accept()
        await self.close(code=code)

    async def connect(self) -> None:
        refusal = await _may_watch(self.scope.get("user"))
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
        await self.accept()
        # Join first, then read what was missed (see the module docstring).
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.catch_up(position)

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

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
        self.group = live_events.conversation_group(self.conversation_id)
        # item id -> updated_at of the version the catch-up sent
        self.replayed: dict[str, datetime] = {}
        return True

    async def catch_up(self, position: tuple[str, int | str] | None) -> None:
        after = await _sequence_of(self.conversation_id, position)
        await self.send_json(
            {
                "type": "conversation",
                "conversation": live_events.conversation_summary(self.conversation),
                "reset": after is None,
            }
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
            await self.send_json(live_events.message_event(message, replay=True))

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

    group = live_events.ACTIVITY_GROUP

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
def _sequence_of(conversation_id: str, position: tuple[str, int | str] | None) -> int | None:
    """The sequence after which the client needs items, or None when it
    should start over with the backlog (no position, or an item that is no
    longer there, e.g. removed by a retry)."""
    if position is None:
        return None
    kind, value = position
    if kind == "sequence":
        return int(value)
    return live_events.item_sequence(conversation_id=conversation_id, item_id=str(value))


@db_call
def _backlog(conversation_id: str) -> tuple[list[Any], bool]:
    return live_events.items_backlog(conversation_id=conversation_id)


@db_call
def _items_after(conversation_id: str, after: int) -> list[Any]:
    return live_events.items_after(conversation_id=conversation_id, after=after)


@db_call
def _activity(since: datetime | None) -> list[dict[str, Any]]:
    return live_events.activity_since(since=since)
