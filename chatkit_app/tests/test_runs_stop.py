"""A stopped reply keeps what the user saw, wherever the stop lands.

The SDK keeps a stopped reply (marked interrupted, with its "the user
cancelled" note) only when the cancellation reaches it inside its stream. A
layer below it that turns the cancellation into an error event, or ends
quietly, would leave nothing: the run then keeps what it had published
itself. Seen in CI as a reply stopped through another process with nothing
stored."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from datetime import datetime

import pytest
from asgiref.sync import sync_to_async
from chatkit.types import ThreadMetadata

from chatkit_app import services
from chatkit_app.context import RequestContext
from chatkit_app.models import Message
from chatkit_app.runs.progress import ReplyProgress
from chatkit_app.runs.run import Run
from chatkit_app.server import CANCELLED_NOTE

pytestmark = pytest.mark.django_db(transaction=True)

THREAD = "thr_quiet"
ITEM = "msg_quiet"


def sse(event: dict) -> bytes:
    return b"data: " + json.dumps(event).encode() + b"\n\n"


def added() -> bytes:
    return sse(
        {
            "type": "thread.item.added",
            "item": {
                "type": "assistant_message",
                "id": ITEM,
                "thread_id": THREAD,
                "created_at": datetime.now().isoformat(),
                "content": [{"type": "output_text", "text": "", "annotations": []}],
            },
        }
    )


def delta(text: str) -> bytes:
    update = {
        "type": "assistant_message.content_part.text_delta",
        "content_index": 0,
        "delta": text,
    }
    return sse({"type": "thread.item.updated", "item_id": ITEM, "update": update})


async def error_instead_of_cancel() -> AsyncGenerator[bytes, None]:
    """Two words, then waits for the model; a stop becomes an error event."""
    yield delta("Half of")
    yield delta(" an answer")
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        yield sse({"type": "error", "code": "stream.error", "allow_retry": True})


async def test_a_stop_the_sdk_never_sees_still_keeps_what_was_written(alice):
    await sync_to_async(services.conversation_save)(
        owner=alice, thread=ThreadMetadata(id=THREAD, created_at=datetime.now())
    )
    first = added()
    progress = ReplyProgress(thread_id=THREAD)
    progress.observe(first)
    run = Run(
        run_id="run_quiet",
        context=RequestContext(user=alice),
        stream=error_instead_of_cancel(),
        progress=progress,
        first=first,
    )
    run.start()
    run.reader_gone(keep_going=True)
    await asyncio.wait_for(run.wait_beyond(2), 10)

    run.stop("stop")
    await asyncio.wait_for(run.wait(), 10)

    rows = Message.objects.filter(conversation_id=THREAD).order_by("created_at")
    kept = [row async for row in rows.values("type", "text", "interrupted")]
    assert {"type": "assistant_message", "text": "Half of an answer", "interrupted": True} in kept
    assert {"type": "sdk_hidden_context", "text": CANCELLED_NOTE, "interrupted": False} in kept
    assert len(kept) == 2
