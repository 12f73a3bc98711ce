"""
The user's own live channel: ``ws/chatkit/threads/<id>/`` tells the owner
of a conversation, in their open chat, what happens there without them.

That is a person's replies (staff who took the conversation over, see
``handoff/``) and who answers the conversation (``handoff`` events: a
person was asked for, a person took over, the assistant is back). Nothing
else of the conversation's group gets through: the user's own messages and
the assistant's replies reach them on the stream of their own request, and
staff-only detail (usernames, the ``view`` of items) is left out.

Same guards as the staff sockets (``consumers``): the origin check of
``chatsite/asgi.py``, the session cookie, re-checks of the session on a
timer; only the conversation's owner, signed in and active, gets in (anyone
else is closed with 4404, as for a missing conversation: no telling whose
ids exist). Works across server processes through the channel layer
(``REDIS_URL``), as the staff sockets do.

``?after_item=<id>`` (the newest item the page shows) sends the person's
replies saved after it first, so a page that lost its connection misses
none.
"""

from __future__ import annotations

from typing import Any

from ..db import db_call
from ..models import Conversation, Handoff, Message
from ..serialization import PERSON_ROLE
from . import events
from .catch_up import item_sequence
from .consumers import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED, StaffLiveConsumer


def _owner_refusal(user: Any) -> int | None:
    if user is None or not user.is_authenticated:
        return CLOSE_UNAUTHENTICATED
    if not user.is_active:
        return CLOSE_FORBIDDEN
    return None


def person_reply_event(*, item: dict[str, Any], sequence: int) -> dict[str, Any]:
    """A person's reply as the owner gets it: the SDK's JSON, as stored."""
    return {"type": "item", "item": item, "sequence": sequence}


class ThreadConsumer(StaffLiveConsumer):
    """``ws/chatkit/threads/<id>/``: a person's replies and the handoff state
    of one conversation, for its owner."""

    rule = staticmethod(_owner_refusal)

    def parse_position(self) -> str | None:
        return self.query_param("after_item") or None

    async def prepare(self) -> bool:
        self.conversation_id = self.scope["url_route"]["kwargs"]["thread_id"]
        if not await _owns(self.scope["user"], self.conversation_id):
            return False
        self.group = events.conversation_group(self.conversation_id)
        self.replayed: set[str] = set()
        return True

    async def catch_up(self, after_item: str | None) -> None:
        handoff = await _handoff(self.conversation_id)
        await self.send_json(
            events.owner_handoff_event(
                events.handoff_event(handoff, conversation_id=self.conversation_id)
            )
        )
        if after_item:
            for message in await _person_replies_after(self.conversation_id, after_item):
                self.replayed.add(message.pk)
                await self.send_json(
                    person_reply_event(item=message.data, sequence=message.sequence)
                )
        await self.send_json({"type": "caught_up"})

    async def live_event(self, message: dict[str, Any]) -> None:
        event = message["event"]
        kind = event.get("type")
        if kind == "handoff":
            await self.send_json(events.owner_handoff_event(event))
        elif (
            kind == "item"
            and event.get("role") == PERSON_ROLE
            and event.get("item_id") not in self.replayed
        ):
            await self.send_json(person_reply_event(item=event["item"], sequence=event["sequence"]))


@db_call
def _owns(user: Any, conversation_id: str) -> bool:
    return Conversation.objects.filter(pk=conversation_id, owner=user).exists()


@db_call
def _handoff(conversation_id: str) -> Handoff | None:
    return Handoff.objects.select_related("taken_over_by").filter(pk=conversation_id).first()


@db_call
def _person_replies_after(conversation_id: str, item_id: str) -> list[Message]:
    """A person's replies after ``item_id`` (all of them, if it is gone)."""
    after = item_sequence(conversation_id=conversation_id, item_id=item_id) or 0
    return list(
        Message.objects.filter(
            conversation_id=conversation_id, sequence__gt=after, role=PERSON_ROLE
        ).order_by("sequence")[:200]
    )
