"""
Publishing live events when ChatKit data is written.

The receivers below are connected to the core's signals (``signals.py``)
by ``ChatkitAppConfig.ready``. ``services`` sends those signals inside the
write's transaction, and the event goes out through the channel layer only
once the transaction commits (``transaction.on_commit``), so nothing that
rolls back is ever announced. Every path that writes (the chat page, API
tokens, admin actions, management commands) is covered, because they all
go through ``services``. A publishing failure is logged and never breaks
the write.

With the in-memory channel layer events reach consumers of the same
process; with ``REDIS_URL`` set they reach every process (see README,
"Running several server processes").

Nobody watching costs nothing: the in-memory layer knows its groups, and an
event for a group with no consumer is not sent (no hop to the event loop
from the database thread). Skipping never reorders what is sent. The Redis
layer's groups have members in any process: an event goes out only if its
group's key exists in Redis, one round trip where ``group_send`` makes two
before it finds nobody (and a third, a script, when somebody is there).
That check cannot lose an event a watcher needs: a consumer joins its
group (the key) before it reads the database for what it missed, and an
event is checked only once its write has committed, so a consumer that
joined after the check finds that write in its catch-up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer
from django.db import transaction
from django.dispatch import receiver

from .. import signals
from ..conf import chatkit_settings
from ..models import Conversation, Feedback, Handoff, Message, ModelUsage
from .events import (
    ACTIVITY_GROUP,
    LAYER_MESSAGE_TYPE,
    conversation_created_event,
    conversation_group,
    conversation_summary,
    feedback_event,
    flagged_event,
    handoff_event,
    handoff_requested_event,
    message_event,
    provider_error_event,
)

logger = logging.getLogger(__name__)


def publish(group: str, event: dict[str, Any] | Callable[[], dict[str, Any]]) -> None:
    """Send ``event`` to ``group`` once the current transaction commits (at
    once outside one). Never raises.

    ``event`` may be a function that builds it: it is called only when
    somebody may be watching, so the writes of every turn (its items and
    thread, built from the rows they saved) cost nothing to describe while
    nobody does."""
    if not chatkit_settings.LIVE_UPDATES:
        return
    transaction.on_commit(lambda: _send_now(group, event))


def may_have_watchers(layer: BaseChannelLayer, group: str) -> bool:
    """False only when ``layer`` can tell that no consumer is in ``group``:
    the in-memory layer holds every group of its (single) process."""
    if isinstance(layer, InMemoryChannelLayer):
        return bool(layer.groups.get(group))
    return True


async def is_watched(layer: BaseChannelLayer, group: str) -> bool:
    """False when ``layer`` can tell the group has no member (the in-memory
    layer: in this process, no round trip; Redis: anywhere, by its key)."""
    if not may_have_watchers(layer, group):
        return False
    if _is_redis_layer(layer):
        # The group's sorted set, on the shard group_send reads it from.
        connection = layer.connection(layer.consistent_hash(group))
        return bool(await connection.exists(layer._group_key(group)))
    return True


async def send(layer: BaseChannelLayer, group: str, event: dict[str, Any]) -> None:
    """``group_send`` of ``event``, as the consumers receive it."""
    await layer.group_send(group, {"type": LAYER_MESSAGE_TYPE, "event": event})


async def send_if_watched(layer: BaseChannelLayer, group: str, event: dict[str, Any]) -> None:
    """``group_send`` unless ``layer`` can tell the group has no member."""
    if await is_watched(layer, group):
        await send(layer, group, event)


def _is_redis_layer(layer: BaseChannelLayer) -> bool:
    try:
        from channels_redis.core import RedisChannelLayer
    except ImportError:
        return False
    return isinstance(layer, RedisChannelLayer)


def _send_now(group: str, event: dict[str, Any] | Callable[[], dict[str, Any]]) -> None:
    try:
        layer = get_channel_layer()
        if layer is not None and may_have_watchers(layer, group):
            if callable(event):
                event = event()
            # From a thread started by sync_to_async this runs on the
            # server's event loop; from a command, on a loop of its own.
            async_to_sync(send_if_watched)(layer, group, event)
    except Exception:
        # Watching is a convenience; the write it reports has happened.
        kind = event.get("type") if isinstance(event, dict) else "(not built)"
        logger.exception("Could not publish the live event %s to %s", kind, group)


# --- the receivers of the core's signals --------------------------------------------
# dispatch_uid: connected once however often this module is imported.


@receiver(signals.item_saved, dispatch_uid="chatkit_app.live.item_saved")
def item_saved(sender: type[Message], *, message: Message, **kwargs: Any) -> None:
    """``message`` was inserted or replaced (``services.message_upsert``)."""
    publish(conversation_group(message.conversation_id), lambda: message_event(message))


@receiver(signals.item_removed, dispatch_uid="chatkit_app.live.item_removed")
def item_removed(
    sender: type[Message], *, conversation_id: str, item_id: str, **kwargs: Any
) -> None:
    publish(
        conversation_group(conversation_id),
        {"type": "item.removed", "conversation_id": conversation_id, "item_id": item_id},
    )


@receiver(signals.conversation_saved, dispatch_uid="chatkit_app.live.conversation_saved")
def conversation_saved(
    sender: type[Conversation], *, conversation: Conversation, created: bool, **kwargs: Any
) -> None:
    """A new conversation (activity feed) or a changed title or status
    (its watchers)."""
    publish(
        conversation_group(conversation.pk),
        lambda: {"type": "conversation", "conversation": conversation_summary(conversation)},
    )
    if created:
        publish(ACTIVITY_GROUP, lambda: conversation_created_event(conversation))


@receiver(signals.feedback_recorded, dispatch_uid="chatkit_app.live.feedback_recorded")
def feedback_recorded(
    sender: type[Feedback], *, feedbacks: Iterable[Feedback], user: Any, **kwargs: Any
) -> None:
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


@receiver(signals.usage_recorded, dispatch_uid="chatkit_app.live.usage_recorded")
def usage_recorded(sender: type[ModelUsage], *, usage: ModelUsage, **kwargs: Any) -> None:
    """Model calls that failed are provider errors in the activity feed."""
    if usage.error:
        publish(ACTIVITY_GROUP, provider_error_event(usage))


@receiver(signals.handoff_changed, dispatch_uid="chatkit_app.live.handoff_changed")
def handoff_changed(sender: type[Handoff], *, handoff: Handoff, **kwargs: Any) -> None:
    """The conversation's watchers and its owner's open chat learn who
    answers; a request for a person is activity too."""
    publish(conversation_group(handoff.conversation_id), handoff_event(handoff))
    if handoff.state == Handoff.State.REQUESTED:
        publish(ACTIVITY_GROUP, handoff_requested_event(handoff))


@receiver(signals.conversation_flagged, dispatch_uid="chatkit_app.live.conversation_flagged")
def conversation_flagged(
    sender: type[Conversation],
    *,
    conversation: Conversation,
    flagged: bool,
    by: Any,
    **kwargs: Any,
) -> None:
    """A flag is news for the activity feed; clearing one is not."""
    if flagged:
        publish(ACTIVITY_GROUP, flagged_event(conversation, by=by))
