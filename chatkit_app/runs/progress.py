"""
What a running reply has written so far, read from its stream's SSE chunks.

The SDK saves an item only when it is done. A process that dies mid-reply
takes the item being written with it, so the run keeps its own copy of the
assistant messages in progress (added, text deltas, parts done) and writes
it down at every heartbeat: that copy is what recovery keeps, marked
interrupted.
"""

from __future__ import annotations

import json
from typing import Any

from chatkit.types import AssistantMessageItem, ThreadItem
from pydantic import TypeAdapter, ValidationError

ITEM_ADAPTER: TypeAdapter[ThreadItem] = TypeAdapter(ThreadItem)


def chunk_events(chunk: bytes) -> list[dict[str, Any]]:
    """The JSON events of an SSE chunk (``data: {...}\\n\\n``, one or more)."""
    events = []
    for block in chunk.split(b"\n\n"):
        block = block.strip()
        if not block.startswith(b"data:"):
            continue
        try:
            event = json.loads(block[5:])
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


class ReplyProgress:
    """The thread a stream is about and its assistant messages in progress."""

    def __init__(self, thread_id: str | None = None) -> None:
        self.thread_id = thread_id
        # item id -> the item as JSON, with the text written so far
        self.pending: dict[str, dict[str, Any]] = {}

    def observe(self, chunk: bytes) -> None:
        for event in chunk_events(chunk):
            self._apply(event)

    def _apply(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "thread.created" and self.thread_id is None:
            self.thread_id = (event.get("thread") or {}).get("id")
        elif kind == "thread.item.added":
            item = event.get("item") or {}
            if item.get("type") == "assistant_message" and item.get("id"):
                self.pending[item["id"]] = item
        elif kind == "thread.item.done":
            self.pending.pop((event.get("item") or {}).get("id"), None)
        elif kind == "thread.item.removed":
            self.pending.pop(event.get("item_id"), None)
        elif kind == "thread.item.updated":
            item = self.pending.get(event.get("item_id"))
            if item is not None:
                _apply_update(item, event.get("update") or {})

    def partial(self) -> list[dict[str, Any]]:
        """The messages in progress that have any text, as JSON."""
        return [
            item
            for item in self.pending.values()
            if any((part.get("text") or "").strip() for part in item.get("content") or [])
        ]


def _apply_update(item: dict[str, Any], update: dict[str, Any]) -> None:
    content: list[dict[str, Any]] = item.setdefault("content", [])
    index = update.get("content_index")
    if not isinstance(index, int) or index < 0:
        return
    while len(content) <= index:
        content.append({"type": "output_text", "text": "", "annotations": []})
    kind = update.get("type", "")
    if kind == "assistant_message.content_part.text_delta":
        content[index]["text"] = (content[index].get("text") or "") + (update.get("delta") or "")
    elif kind in ("assistant_message.content_part.added", "assistant_message.content_part.done"):
        part = update.get("content")
        if isinstance(part, dict):
            content[index] = part


def partial_items(stored: list[dict[str, Any]]) -> list[AssistantMessageItem]:
    """The stored copy (``ReplyRun.partial``) as the SDK's items; anything
    that no longer validates is dropped rather than failing recovery."""
    items = []
    for data in stored or []:
        try:
            item = ITEM_ADAPTER.validate_python(data)
        except ValidationError:
            continue
        if isinstance(item, AssistantMessageItem):
            items.append(item)
    return items
