"""
Handoff writes: a user asks for a person, staff take a conversation over,
reply in the assistant's place, and hand it back.

Each function is one transaction that locks the conversation's ``Handoff``
row, so two staff members pressing "Take over" at once get one winner and
one ``HandoffConflict``. What changed is announced with the core's
``handoff_changed`` signal (``live/`` publishes it once the transaction
commits); a reply is stored with the core's ``message_upsert``, which
announces the item like any other.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from .. import services, signals
from ..models import Conversation, Handoff, Message
from ..storable_text import UNSTORABLE
from .replies import staff_reply_item

#: Longest reply staff may send, in characters.
MAX_REPLY_CHARS = 10_000


class HandoffConflict(Exception):
    """The conversation is not in a state that allows this (taken over by
    someone else, not taken over at all); the message says which."""


class InvalidReply(ValueError):
    """A reply that is empty, too long, or holds text no database stores."""


def _locked(conversation: Conversation) -> Handoff | None:
    # Only the handoff row is locked: PostgreSQL cannot lock the nullable
    # side of the outer join to its staff member.
    return (
        Handoff.objects.select_for_update(of=("self",))
        .select_related("conversation__owner", "taken_over_by")
        .filter(pk=conversation.pk)
        .first()
    )


def _announce(handoff: Handoff) -> None:
    signals.handoff_changed.send(Handoff, handoff=handoff)


@transaction.atomic
def handoff_request(*, owner: Any, conversation_id: str, reason: str = "") -> Handoff:
    """The user (or the assistant, for them) asks for a person. Asking again,
    or while a person already answers, changes nothing."""
    conversation = (
        Conversation.objects.select_for_update()
        .select_related("owner")
        .get(pk=conversation_id, owner=owner)
    )
    handoff = _locked(conversation)
    if handoff is not None and handoff.state != Handoff.State.HANDED_BACK:
        return handoff
    now = timezone.now()
    if handoff is None:
        handoff = Handoff(conversation=conversation)
    handoff.state = Handoff.State.REQUESTED
    handoff.requested_at = now
    handoff.request_reason = reason.strip()[:255]
    handoff.updated_at = now
    handoff.save()
    _announce(handoff)
    return handoff


@transaction.atomic
def handoff_take_over(*, conversation: Conversation, staff: Any) -> Handoff:
    """``staff`` answers ``conversation`` from now on; the assistant does
    not. Taking over what one already holds changes nothing."""
    handoff = _locked(conversation) or Handoff(conversation=conversation)
    if handoff.state == Handoff.State.TAKEN_OVER:
        if handoff.taken_over_by_id == staff.pk:
            return handoff
        holder = handoff.taken_over_by.get_username() if handoff.taken_over_by else "someone"
        raise HandoffConflict(f"{holder} has already taken this conversation over.")
    now = timezone.now()
    handoff.state = Handoff.State.TAKEN_OVER
    handoff.taken_over_by = staff
    handoff.taken_over_at = now
    handoff.updated_at = now
    handoff.save()
    _announce(handoff)
    return handoff


@transaction.atomic
def handoff_hand_back(*, conversation: Conversation) -> Handoff:
    """The assistant answers ``conversation`` again, from its next message."""
    handoff = _locked(conversation)
    if handoff is None or handoff.state != Handoff.State.TAKEN_OVER:
        raise HandoffConflict("This conversation is not taken over.")
    now = timezone.now()
    handoff.state = Handoff.State.HANDED_BACK
    handoff.handed_back_at = now
    handoff.updated_at = now
    handoff.save()
    _announce(handoff)
    return handoff


@transaction.atomic
def staff_reply_post(*, conversation: Conversation, staff: Any, text: str) -> Message:
    """Store ``staff``'s reply in ``conversation`` (taken over: by them or a
    colleague) as a thread item the user sees, live in the built-in client."""
    text = text.strip()
    if not text:
        raise InvalidReply("Write a reply first.")
    if len(text) > MAX_REPLY_CHARS:
        raise InvalidReply(f"A reply is at most {MAX_REPLY_CHARS} characters.")
    if UNSTORABLE.search(text):
        raise InvalidReply("The reply holds characters that cannot be stored.")
    handoff = _locked(conversation)
    if handoff is None or handoff.state != Handoff.State.TAKEN_OVER:
        raise HandoffConflict("Take the conversation over before replying.")
    item = staff_reply_item(thread_id=conversation.pk, author=staff, text=text)
    return services.message_upsert(
        owner=conversation.owner, conversation_id=conversation.pk, item=item
    )
