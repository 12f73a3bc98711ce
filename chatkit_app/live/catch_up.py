"""
What a watcher missed: the reads the consumers make when a socket connects
or reconnects, each served by an index whatever the tables' size.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from ..conf import chatkit_settings
from ..models import Conversation, Feedback, Handoff, Message, ModelUsage
from .events import (
    conversation_created_event,
    feedback_event,
    flagged_event,
    handoff_requested_event,
    provider_error_event,
)

# Items per query when a reconnecting watcher catches up.
CATCH_UP_BATCH = 200
# The activity feed reaches back this far at most, so its queries stay on
# recent index ranges however large the tables grow.
ACTIVITY_WINDOW = timedelta(days=1)


def item_sequence(*, conversation_id: str, item_id: str) -> int | None:
    return (
        Message.objects.filter(conversation_id=conversation_id, pk=item_id)
        .values_list("sequence", flat=True)
        .first()
    )


def items_backlog(*, conversation_id: str) -> tuple[list[Message], bool]:
    """The latest ``CHATKIT_LIVE_BACKLOG`` items in order, and whether
    earlier ones exist."""
    limit = max(0, chatkit_settings.LIVE_BACKLOG)
    rows = list(
        Message.objects.filter(conversation_id=conversation_id).order_by("-sequence")[: limit + 1]
    )
    earlier = len(rows) > limit
    return rows[:limit][::-1], earlier


def items_after(*, conversation_id: str, after: int) -> list[Message]:
    """The next batch of items after sequence ``after``, in order (served by
    the unique (conversation, sequence) index)."""
    return list(
        Message.objects.filter(conversation_id=conversation_id, sequence__gt=after).order_by(
            "sequence"
        )[:CATCH_UP_BATCH]
    )


def activity_since(*, since: datetime | None) -> list[dict[str, Any]]:
    """Activity events after ``since`` (or the latest ``CHATKIT_LIVE_BACKLOG``),
    oldest first, within ``ACTIVITY_WINDOW``."""
    limit = max(0, chatkit_settings.LIVE_BACKLOG)
    cutoff = timezone.now() - ACTIVITY_WINDOW
    if since is not None:
        since = since if timezone.is_aware(since) else timezone.make_aware(since)
        cutoff = max(cutoff, since)
    # From the cutoff on (a resuming client drops what it has by key);
    # created_at <= updated_at, so
    # the updated_at bound lets the conversation query use its index.
    conversations = (
        Conversation.objects.select_related("owner")
        .filter(updated_at__gte=cutoff, created_at__gte=cutoff)
        .order_by("-created_at")[:limit]
    )
    errors = (
        ModelUsage.objects.select_related("user")
        .filter(created_at__gte=cutoff)
        .exclude(error="")
        .order_by("-created_at")[:limit]
    )
    feedback = (
        Feedback.objects.select_related("user")
        .filter(created_at__gte=cutoff)
        .order_by("-created_at")[:limit]
    )
    handoffs = (
        Handoff.objects.select_related("conversation__owner")
        .filter(requested_at__gte=cutoff)
        .order_by("-requested_at")[:limit]
    )
    # The partial index of flagged conversations (migration 0007).
    flagged = (
        Conversation.objects.select_related("flagged_by")
        .filter(flagged_at__gte=cutoff)
        .order_by("-flagged_at")[:limit]
    )
    events = [
        *((row.created_at, conversation_created_event(row)) for row in conversations),
        *((row.requested_at, handoff_requested_event(row)) for row in handoffs),
        *((row.flagged_at, flagged_event(row)) for row in flagged),
        *((row.created_at, provider_error_event(row)) for row in errors),
        *((row.created_at, feedback_event(row)) for row in feedback),
    ]
    events.sort(key=lambda pair: pair[0])
    return [event for _, event in events[-limit:]] if limit else []
