"""
The offline development responder.

Used when no model provider is configured, so the whole flow (threads,
streaming, history, cancel) works on a fresh machine without an API key.
Every reply says plainly that it is not a model.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING

from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageContentPartAdded,
    AssistantMessageContentPartDone,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    UserMessageItem,
)

from ..conf import chatkit_settings
from ..context import RequestContext
from ..serialization import item_text
from .titles import title_from_text

if TYPE_CHECKING:
    from chatkit.store import Store

LABEL = "[offline development responder]"


def dev_reply_text(user_text: str) -> str:
    said = " ".join(user_text.split())[:200] or "(nothing)"
    return (
        f"{LABEL} You said: “{said}”. No model provider is configured; set "
        "OPENAI_API_KEY or GEMINI_API_KEY for real answers."
    )


async def dev_respond(
    store: Store,
    thread: ThreadMetadata,
    input_user_message: UserMessageItem | None,
    context: RequestContext,
) -> AsyncIterator[ThreadStreamEvent]:
    """Stream a labelled echo of the user's message, word by word."""
    user_text = item_text(input_user_message) if input_user_message else ""
    if input_user_message and not thread.title:
        # The SDK saves the thread and tells the client when this changes.
        thread.title = title_from_text(user_text) or None

    item = AssistantMessageItem(
        id=store.generate_item_id("message", thread, context),
        thread_id=thread.id,
        created_at=datetime.now(),
        content=[],
    )
    yield ThreadItemAddedEvent(item=item)
    yield ThreadItemUpdatedEvent(
        item_id=item.id,
        update=AssistantMessageContentPartAdded(
            content_index=0, content=AssistantMessageContent(text="")
        ),
    )
    delay = chatkit_settings.DEV_RESPONDER_DELAY
    text = dev_reply_text(user_text)
    words = text.split(" ")
    for index, word in enumerate(words):
        if delay:
            await asyncio.sleep(delay)
        yield ThreadItemUpdatedEvent(
            item_id=item.id,
            update=AssistantMessageContentPartTextDelta(
                content_index=0, delta=word if index == 0 else " " + word
            ),
        )
    content = AssistantMessageContent(text=text)
    yield ThreadItemUpdatedEvent(
        item_id=item.id,
        update=AssistantMessageContentPartDone(content_index=0, content=content),
    )
    yield ThreadItemDoneEvent(item=item.model_copy(update={"content": [content]}))
