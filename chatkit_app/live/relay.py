"""
Relaying a reply to its watchers while it is written.

Items are saved (and published, ``publish``) only when they are done, so a
reply being written is relayed from the response stream itself: ``relay``
wraps the responder's events (``ChatSiteServer`` is given it by
``ChatkitAppConfig.build_server``) and publishes their start and their text
deltas, coalesced to at most one message per ``CHATKIT_LIVE_DELTA_INTERVAL``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from channels.layers import BaseChannelLayer, get_channel_layer
from chatkit.errors import CustomStreamError
from chatkit.types import (
    AssistantMessageContentPartTextDelta,
    ErrorEvent,
    ThreadItemAddedEvent,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
)

from ..conf import chatkit_settings
from .events import conversation_group, item_view
from .publish import is_watched, send

logger = logging.getLogger(__name__)


async def _watched_layer(group: str) -> BaseChannelLayer | None:
    """The channel layer, if ``group`` may have a watcher (see
    ``publish.is_watched``): events are built only for a group someone
    watches, so a reply nobody watches costs a dictionary lookup per
    flush (one Redis round trip with Redis)."""
    try:
        layer = get_channel_layer()
        if layer is not None and await is_watched(layer, group):
            return layer
    except Exception:
        logger.exception("Could not tell whether anyone watches %s", group)
    return None


async def _group_send(layer: BaseChannelLayer, group: str, event: dict[str, Any]) -> None:
    try:
        await send(layer, group, event)
    except Exception:
        logger.exception("Could not publish the live event %s to %s", event.get("type"), group)


class _StreamPublisher:
    """Publishes the start of each streamed item and its text deltas.

    Deltas are buffered and sent at most once per ``interval`` seconds (and
    always before any other event, so a watcher never sees the finished item
    before the last words of its text). Words buffered when the model pauses
    go out when the interval is up, by a timer: a watcher never waits for
    the next word to see the last ones. Each delta carries ``offset``, the
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
        # One flush at a time, so that deltas reach the group in order.
        self._flushing = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._late_flushes: set[asyncio.Task[None]] = set()

    async def observe(self, event: ThreadStreamEvent) -> None:
        if isinstance(event, ThreadItemUpdatedEvent) and isinstance(
            event.update, AssistantMessageContentPartTextDelta
        ):
            key = (event.item_id, event.update.content_index)
            if self.pending and (self.pending[-1][0], self.pending[-1][1]) == key:
                self.pending[-1][2] += event.update.delta
            else:
                self.pending.append([*key, event.update.delta])
            waited = time.monotonic() - self.last_flush
            if waited >= self.interval:
                await self.flush()
            elif self._timer is None:
                self._timer = asyncio.get_running_loop().call_later(
                    self.interval - waited, self._flush_late
                )
            return
        await self.flush()
        if isinstance(event, ThreadItemAddedEvent):
            layer = await _watched_layer(self.group)
            if layer is None:
                return
            data = event.item.model_dump(mode="json")
            await _group_send(
                layer,
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

    def _flush_late(self) -> None:
        self._timer = None
        if self.pending and not self.done:
            task = asyncio.ensure_future(self.flush())
            self._late_flushes.add(task)
            task.add_done_callback(self._late_flushes.discard)

    async def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        async with self._flushing:
            self.last_flush = time.monotonic()
            pending, self.pending = self.pending, []
            if not pending:
                return
            # Offsets count every character, sent or not: a watcher who
            # joins later knows what it missed.
            layer = await _watched_layer(self.group)
            for item_id, content_index, delta in pending:
                offset = self.published.get((item_id, content_index), 0)
                self.published[(item_id, content_index)] = offset + len(delta)
                if layer is None:
                    continue
                await _group_send(
                    layer,
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
        layer = await _watched_layer(self.group)
        if layer is None:
            return
        await _group_send(
            layer,
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
