"""
Live events for staff: what the admin's watch and activity pages receive,
built from the rows the core saved.

Each event is plain JSON. An item carries the SDK's JSON as stored and a
``view`` of it (``transcript.describe_item``, what the admin's transcript
shows) that the watch page lays out with text nodes only. Activity entries
(conversations created, provider errors, feedback) carry a stable ``key``,
so a client that is sent one twice (replayed after a reconnect, then live)
shows it once.

``publish`` sends them when data is written, ``relay`` while a reply is
streamed, and the consumers (``consumers``) replay what a reconnecting
watcher missed, read by ``catch_up``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict
from datetime import datetime
from typing import Any

from django.contrib.admin.utils import quote
from django.urls import NoReverseMatch, reverse

from ..models import Conversation, Feedback, Handoff, Message, ModelUsage
from ..transcript import describe_item

# Staff watching the site as a whole: conversations created, provider
# failures, feedback, conversations flagged for review.
ACTIVITY_GROUP = "chatkit.activity"
# The consumer method that receives every event (channels maps the message
# type "live.event" to ``live_event``).
LAYER_MESSAGE_TYPE = "live.event"

_GROUP_SAFE = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")


def conversation_group(conversation_id: str) -> str:
    """The channel-layer group of one conversation's watchers.

    Group names allow only ASCII letters, digits, ``-_.`` and fewer than 100
    characters; SDK ids fit, an imported id might not and is hashed.
    """
    if _GROUP_SAFE.match(conversation_id):
        return f"chatkit.conversation.{conversation_id}"
    digest = hashlib.sha256(conversation_id.encode()).hexdigest()
    return f"chatkit.conversation.h.{digest}"


def timestamp(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def item_view(data: dict[str, Any]) -> dict[str, Any]:
    """What an item says, as the admin transcript shows it (``describe_item``),
    in plain JSON the watch page lays out with text nodes only."""
    view = describe_item(data if isinstance(data, dict) else {})
    shown = asdict(view)
    # A data: URL can be megabytes; the page links only http(s) images.
    if not view.image_url.startswith(("http://", "https://")):
        shown["image_url"] = ""
        shown["inline_image"] = bool(view.image_url)
    return shown


def item_event(
    *,
    conversation_id: str,
    item_id: str,
    sequence: int,
    data: dict[str, Any],
    interrupted: bool,
    updated_at: datetime | None,
    replay: bool = False,
    role: str = "",
) -> dict[str, Any]:
    """A saved item: the SDK's JSON as stored, its place in the thread
    (``sequence``) and ``updated_at``, which tells a newer version of the
    same item from a repeat."""
    return {
        "type": "item",
        "conversation_id": conversation_id,
        "item_id": item_id,
        "sequence": sequence,
        # The stored role: "person" for a staff member's reply (handoff/).
        "role": role,
        "interrupted": interrupted,
        "updated_at": timestamp(updated_at),
        "item": data,
        "view": item_view(data),
        "replay": replay,
    }


def message_event(message: Message, *, replay: bool = False) -> dict[str, Any]:
    return item_event(
        conversation_id=message.conversation_id,
        item_id=message.pk,
        sequence=message.sequence,
        data=message.data,
        interrupted=message.interrupted,
        updated_at=message.updated_at,
        replay=replay,
        role=message.role,
    )


def conversation_summary(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.pk,
        "title": conversation.title,
        "status": conversation.status,
        "status_reason": conversation.status_reason,
        # Only when already loaded: publishing must not cost a query.
        "owner": conversation.owner.get_username()
        if Conversation._meta.get_field("owner").is_cached(conversation)
        else "",
        "created_at": timestamp(conversation.created_at),
    }


def _admin_links(conversation_id: str | None) -> dict[str, str]:
    if not conversation_id:
        return {"conversation_url": "", "watch_url": ""}
    try:
        return {
            "conversation_url": reverse(
                "admin:chatkit_app_conversation_change", args=[quote(conversation_id)]
            ),
            "watch_url": reverse(
                "admin:chatkit_app_conversation_watch", args=[quote(conversation_id)]
            ),
        }
    except NoReverseMatch:  # a project without the admin
        return {"conversation_url": "", "watch_url": ""}


def _activity(
    *, kind: str, key: str, at: datetime, conversation_id: str | None, **fields: Any
) -> dict[str, Any]:
    return {
        "type": "activity",
        "kind": kind,
        # Stable per event: a client that sees the same key twice (replayed
        # after a reconnect, then live) shows it once.
        "key": key,
        "at": timestamp(at),
        "conversation_id": conversation_id or "",
        **_admin_links(conversation_id),
        **fields,
    }


def conversation_created_event(conversation: Conversation) -> dict[str, Any]:
    return _activity(
        kind="conversation.created",
        key=f"conversation:{conversation.pk}",
        at=conversation.created_at,
        conversation_id=conversation.pk,
        user=conversation.owner.get_username(),
        title=conversation.title,
    )


def provider_error_event(usage: ModelUsage) -> dict[str, Any]:
    return _activity(
        kind="provider.error",
        key=f"usage:{usage.pk}",
        at=usage.created_at,
        conversation_id=usage.conversation_id,
        user=usage.user.get_username(),
        provider=usage.provider,
        model=usage.model,
        purpose=usage.purpose,
        error=usage.error,
    )


def flagged_event(conversation: Conversation, *, by: Any = None) -> dict[str, Any]:
    """Staff flagged ``conversation`` for review (the review queue lists it)."""
    by = by or conversation.flagged_by
    return _activity(
        kind="conversation.flagged",
        # Flagged again later is news again.
        key=f"flag:{conversation.pk}:{timestamp(conversation.flagged_at)}",
        at=conversation.flagged_at or conversation.updated_at,
        conversation_id=conversation.pk,
        user=by.get_username() if by is not None else "",
        title=conversation.title,
        reason=conversation.flag_reason,
    )


def feedback_event(feedback: Feedback, *, user: Any = None) -> dict[str, Any]:
    user = user or feedback.user
    return _activity(
        kind="feedback",
        # Feedback given again replaces the earlier kind (same row, new time).
        key=f"feedback:{feedback.pk}:{timestamp(feedback.created_at)}",
        at=feedback.created_at,
        conversation_id=feedback.conversation_id,
        user=user.get_username(),
        item_id=feedback.message_id,
        feedback=feedback.kind,
    )


def person_name(user: Any) -> str:
    """How a staff member is named to users (as ``handoff.replies.display_name``)."""
    if user is None:
        return ""
    return (user.get_full_name() or "").strip() or user.get_username()


def handoff_event(handoff: Handoff | None, *, conversation_id: str = "") -> dict[str, Any]:
    """Who answers a conversation: ``state`` is ``requested`` (the user asked
    for a person), ``taken_over`` (``person`` answers), ``handed_back`` or
    ``""`` (the assistant answers). For staff; the owner's chat gets
    ``owner_handoff_event``."""
    if handoff is None:
        return {"type": "handoff", "conversation_id": conversation_id, "state": ""}
    holder = handoff.taken_over_by if handoff.taken_over_by_id else None
    return {
        "type": "handoff",
        "conversation_id": handoff.conversation_id,
        "state": handoff.state,
        "requested_at": timestamp(handoff.requested_at),
        "reason": handoff.request_reason,
        "taken_over_by": holder.get_username() if holder else "",
        "person": person_name(holder),
        "taken_over_at": timestamp(handoff.taken_over_at),
        "handed_back_at": timestamp(handoff.handed_back_at),
    }


def owner_handoff_event(event: dict[str, Any]) -> dict[str, Any]:
    """What the conversation's owner is told of a ``handoff_event``: the
    state and the name the person answers under, not staff usernames."""
    return {key: event.get(key, "") for key in ("type", "conversation_id", "state", "person")}


def handoff_requested_event(handoff: Handoff) -> dict[str, Any]:
    """Activity: a user asked for a person (needs ``conversation__owner``)."""
    return _activity(
        kind="handoff.requested",
        key=f"handoff:{handoff.conversation_id}:{timestamp(handoff.requested_at)}",
        at=handoff.requested_at or handoff.updated_at,
        conversation_id=handoff.conversation_id,
        user=handoff.conversation.owner.get_username(),
        title=handoff.conversation.title,
        reason=handoff.request_reason,
    )
