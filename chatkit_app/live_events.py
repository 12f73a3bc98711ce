"""
Live events for staff: what the admin's watch and activity pages receive.

Events are published where data is written, not where requests arrive:
``services`` call the ``*_saved`` / ``*_recorded`` hooks below inside their
transaction, and the event goes out through the channel layer only once the
transaction commits (``transaction.on_commit``), so nothing that rolls back
is ever announced. Every path that writes (the chat page, API tokens, admin
actions, management commands) is covered because they all go through
``services``. A publishing failure is logged and never breaks the write.

Items are saved only when they are done, so a reply being written is
relayed from the response stream itself (``relay``, wrapped around
``ChatSiteServer.respond``/``action``): its start and its text deltas,
coalesced to at most one message per ``CHATKIT_LIVE_DELTA_INTERVAL``.

With the in-memory channel layer events reach consumers of the same
process; with ``REDIS_URL`` set they reach every process (see README,
"Running several server processes").
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from chatkit.errors import CustomStreamError
from chatkit.types import (
    AssistantMessageContentPartTextDelta,
    ErrorEvent,
    ThreadItemAddedEvent,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
)
from django.contrib.admin.utils import quote
from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from .conf import chatkit_settings
from .models import Conversation, Feedback, Message, ModelUsage
from .transcript import describe_item

logger = logging.getLogger(__name__)

# Staff watching the site as a whole: conversations created, provider
# failures, feedback.
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


# --- building events ----------------------------------------------------------------


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
) -> dict[str, Any]:
    """A saved item: the SDK's JSON as stored, its place in the thread
    (``sequence``) and ``updated_at``, which tells a newer version of the
    same item from a repeat."""
    return {
        "type": "item",
        "conversation_id": conversation_id,
        "item_id": item_id,
        "sequence": sequence,
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


# --- what a watcher missed (read by the consumers when they connect) ---------------

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
    events = [
        *((row.created_at, conversation_created_event(row)) for row in conversations),
        *((row.created_at, provider_error_event(row)) for row in errors),
        *((row.created_at, feedback_event(row)) for row in feedback),
    ]
    events.sort(key=lambda pair: pair[0])
    return [event for _, event in events[-limit:]] if limit else []


# --- publishing from services (sync code, inside their transaction) -----------------


def publish(group: str, event: dict[str, Any]) -> None:
    """Send ``event`` to ``group`` once the current transaction commits (at
    once outside one). Never raises."""
    if not chatkit_settings.LIVE_UPDATES:
        return
    transaction.on_commit(lambda: _send_now(group, event))


def _send_now(group: str, event: dict[str, Any]) -> None:
    try:
        layer = get_channel_layer()
        if layer is not None:
            # From a thread started by sync_to_async this runs on the
            # server's event loop; from a command, on a loop of its own.
            async_to_sync(layer.group_send)(group, {"type": LAYER_MESSAGE_TYPE, "event": event})
    except Exception:
        # Watching is a convenience; the write it reports has happened.
        logger.exception("Could not publish the live event %s to %s", event.get("type"), group)


def item_saved(message: Message) -> None:
    """``message`` was inserted or replaced (``services.message_upsert``)."""
    publish(conversation_group(message.conversation_id), message_event(message))


def item_removed(*, conversation_id: str, item_id: str) -> None:
    publish(
        conversation_group(conversation_id),
        {"type": "item.removed", "conversation_id": conversation_id, "item_id": item_id},
    )


def conversation_saved(conversation: Conversation, *, created: bool) -> None:
    """A new conversation (activity feed) or a changed title or status
    (its watchers)."""
    publish(
        conversation_group(conversation.pk),
        {"type": "conversation", "conversation": conversation_summary(conversation)},
    )
    if created:
        publish(ACTIVITY_GROUP, conversation_created_event(conversation))


def feedback_recorded(feedbacks: Iterable[Feedback], *, user: Any) -> None:
    """``user`` gave these (passed in: a row read back by update_or_create
    has no user loaded, and publishing must not cost a query)."""
    for feedback in feedbacks:
        publish(ACTIVITY_GROUP, feedback_event(feedback, user=user))
        publish(
            conversation_group(feedback.conversation_id),
            {
                "type": "feedback",
                "conversation_id": feedback.conversation_id,
                "item_id": feedback.message_id,
                "feedback": feedback.kind,
                "user": user.get_username(),
            },
        )


def usage_recorded(usage: ModelUsage) -> None:
    """Model calls that failed are provider errors in the activity feed."""
    if usage.error:
        publish(ACTIVITY_GROUP, provider_error_event(usage))


# --- relaying a reply while it is written (async, from ChatSiteServer) --------------


async def _group_send(group: str, event: dict[str, Any]) -> None:
    try:
        layer = get_channel_layer()
        if layer is not None:
            await layer.group_send(group, {"type": LAYER_MESSAGE_TYPE, "event": event})
    except Exception:
        logger.exception("Could not publish the live event %s to %s", event.get("type"), group)


class _StreamPublisher:
    """Publishes the start of each streamed item and its text deltas.

    Deltas are buffered and sent at most once per ``interval`` seconds (and
    always before any other event, so a watcher never sees the finished item
    before the last words of its text). Each delta carries ``offset``, the
    length of the text before it, so a watcher who joined mid-reply knows
    that it missed the beginning.
    """

    def __init__(self, thread_id: str, interval: float):
        self.thread_id = thread_id
        self.group = conversation_group(thread_id)
        self.interval = interval
        self.last_flush = 0.0
        # (item_id, content_index) -> characters published so far
        self.published: dict[tuple[str, int], int] = {}
        # (item_id, content_index, text) in arrival order, merged when adjacent
        self.pending: list[list[Any]] = []
        self.done = False

    async def observe(self, event: ThreadStreamEvent) -> None:
        if isinstance(event, ThreadItemUpdatedEvent) and isinstance(
            event.update, AssistantMessageContentPartTextDelta
        ):
            key = (event.item_id, event.update.content_index)
            if self.pending and (self.pending[-1][0], self.pending[-1][1]) == key:
                self.pending[-1][2] += event.update.delta
            else:
                self.pending.append([*key, event.update.delta])
            if time.monotonic() - self.last_flush >= self.interval:
                await self.flush()
            return
        await self.flush()
        if isinstance(event, ThreadItemAddedEvent):
            data = event.item.model_dump(mode="json")
            await _group_send(
                self.group,
                {
                    "type": "item.started",
                    "conversation_id": self.thread_id,
                    "item_id": event.item.id,
                    "item": data,
                    "view": item_view(data),
                },
            )
        elif isinstance(event, ErrorEvent):
            await self.ended(error=event.message or "The reply failed.")

    async def flush(self) -> None:
        self.last_flush = time.monotonic()
        pending, self.pending = self.pending, []
        for item_id, content_index, delta in pending:
            offset = self.published.get((item_id, content_index), 0)
            self.published[(item_id, content_index)] = offset + len(delta)
            await _group_send(
                self.group,
                {
                    "type": "item.delta",
                    "conversation_id": self.thread_id,
                    "item_id": item_id,
                    "content_index": content_index,
                    "offset": offset,
                    "delta": delta,
                },
            )

    async def ended(self, *, error: str | None = None) -> None:
        if self.done:
            return
        self.done = True
        await self.flush()
        await _group_send(
            self.group,
            {"type": "stream.ended", "conversation_id": self.thread_id, "error": error},
        )


async def relay(
    thread_id: str, events: AsyncIterator[ThreadStreamEvent]
) -> AsyncIterator[ThreadStreamEvent]:
    """Yield ``events`` unchanged, publishing what a watcher needs to see the
    reply being written (the saved items themselves are published by
    ``services`` when the SDK stores them)."""
    if not chatkit_settings.LIVE_UPDATES:
        async for event in events:
            yield event
        return
    publisher = _StreamPublisher(thread_id, chatkit_settings.LIVE_DELTA_INTERVAL)
    closing = getattr(events, "aclose", None)
    async with contextlib.AsyncExitStack() as stack:
        if closing is not None:
            # Closing this relay closes the responder too (its cleanup runs).
            stack.push_async_callback(closing)
        try:
            async for event in events:
                await publisher.observe(event)
                yield event
        except CustomStreamError as error:
            await publisher.ended(error=error.message)
            raise
        except Exception:
            await publisher.ended(error="The reply failed.")
            raise
        await publisher.ended()
