"""
Thread titles: a few words written by the model after the first exchange,
or the first words of the user's message when the model cannot help.

The title model runs beside the reply (``PendingTitle``), never in its way:
a title ready before the reply ends goes out with the stream (the SDK sends
``thread.updated``); a later one is stored, and published to live watchers,
by a task of its own that the end of the reply, or the client leaving, does
not stop. The client sees it in its next list of threads.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass

from chatkit.types import ThreadMetadata

from .. import services
from ..context import RequestContext
from ..db import db_call, detached_task
from .model_clients import openai_client
from .providers import Provider

logger = logging.getLogger(__name__)

#: How long a title may take once the reply has ended before the message's
#: first words are stored instead.
TITLE_WAIT_SECONDS = 10.0
# Titles finishing after their reply: asyncio keeps only weak references.
_titles_in_flight: set[asyncio.Task[None]] = set()

TITLE_INSTRUCTIONS = (
    "Write a title of at most six words for a conversation that starts with the "
    "user's message below. Reply with the title only: no quotes, no final period."
)
MAX_TITLE_LENGTH = 80


@dataclass
class GeneratedTitle:
    title: str
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: int = 0
    error: str = ""


def title_from_text(text: str, words: int = 6) -> str:
    """A short title from the first words of a message."""
    parts = text.split()
    title = " ".join(parts[:words])
    if len(parts) > words:
        title += "…"
    return title[:MAX_TITLE_LENGTH]


def clean_title(raw: str) -> str:
    title = " ".join(raw.split()).strip().strip("\"'“”‘’").rstrip(".").strip()
    return title[:MAX_TITLE_LENGTH]


async def generate_title(provider: Provider, user_text: str) -> GeneratedTitle:
    """Ask the title model; fall back to the message's first words on any failure."""
    fallback = title_from_text(user_text) or "New conversation"
    started = time.monotonic()
    try:
        raw, tokens = await _ask_title_model(provider, user_text[:2000])
    except Exception as exc:
        logger.warning("Title generation failed, using the message's first words: %r", exc)
        return GeneratedTitle(fallback, latency_ms=_ms_since(started), error=type(exc).__name__)
    return GeneratedTitle(
        clean_title(raw) or fallback,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        latency_ms=_ms_since(started),
    )


async def _ask_title_model(provider: Provider, message: str) -> tuple[str, tuple[int, int]]:
    """The title model's text and its (input, output) tokens.

    Posted through the provider's client (its key, base URL, timeout,
    retries and error types) but as plain JSON both ways: the typed
    ``create()`` walks the request through its TypedDict transforms and
    builds pydantic models of the answer, twice the CPU of the call itself,
    spent beside every first reply (the title runs on the reply's event
    loop). Raises on any failure, ``generate_title`` falls back.
    """
    client = openai_client(provider)
    if provider.wire == "responses":
        body: dict[str, object] = {
            "model": provider.title_model,
            "instructions": TITLE_INSTRUCTIONS,
            "input": message,
            "max_output_tokens": 30,
        }
        answer = json.loads(await client.post("/responses", body=body, cast_to=bytes))
        text = "".join(
            part.get("text") or ""
            for item in answer.get("output") or ()
            if item.get("type") == "message"
            for part in item.get("content") or ()
            if part.get("type") == "output_text"
        )
        usage = answer.get("usage") or {}
        return text, (usage.get("input_tokens") or 0, usage.get("output_tokens") or 0)
    body = {
        "model": provider.title_model,
        "messages": [
            {"role": "system", "content": TITLE_INSTRUCTIONS},
            {"role": "user", "content": message},
        ],
        "max_tokens": 30,
    }
    answer = json.loads(await client.post("/chat/completions", body=body, cast_to=bytes))
    text = answer["choices"][0]["message"].get("content") or ""
    usage = answer.get("usage") or {}
    return text, (usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0)


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


class PendingTitle:
    """The title model's call for a new thread, running beside its reply."""

    def __init__(self, provider: Provider, user_text: str):
        self.provider = provider
        self.user_text = user_text
        self.task: asyncio.Task[GeneratedTitle] = asyncio.create_task(
            generate_title(provider, user_text)
        )

    def ready(self) -> GeneratedTitle | None:
        """The title, if the model has answered (never waits)."""
        if not self.task.done() or self.task.cancelled():
            return None
        return self.task.result()  # generate_title does not raise

    def cancel(self) -> None:
        self.task.cancel()

    def finish_later(self, context: RequestContext, thread: ThreadMetadata) -> asyncio.Task[None]:
        """Store the title once the model answers (at most
        ``TITLE_WAIT_SECONDS`` from now, else the message's first words),
        unless the thread has a title by then. Runs on, in the background,
        after the reply and its request have ended."""
        finishing = detached_task(self._store_when_ready(context, thread.id))
        _titles_in_flight.add(finishing)
        finishing.add_done_callback(_titles_in_flight.discard)
        return finishing

    async def _store_when_ready(self, context: RequestContext, thread_id: str) -> None:
        try:
            try:
                title = await asyncio.wait_for(self.task, TITLE_WAIT_SECONDS)
            except TimeoutError:
                title = GeneratedTitle(title_from_text(self.user_text), error="timeout")
            await store_title(context, thread_id, self.provider, title)
        except Exception:
            logger.exception("Could not store the title of thread %s", thread_id)


def title_usage(provider: Provider, title: GeneratedTitle) -> dict[str, object]:
    """The usage row of a title call (``services.usage_record`` arguments)."""
    return {
        "message_id": "",
        "provider": provider.name,
        "model": provider.title_model,
        "purpose": "title",
        "input_tokens": title.input_tokens,
        "output_tokens": title.output_tokens,
        "latency_ms": title.latency_ms,
        "error": title.error,
    }


@db_call
def store_title(
    context: RequestContext, thread_id: str, provider: Provider, title: GeneratedTitle
) -> None:
    services.conversation_title_fill(
        owner=context.user, conversation_id=thread_id, title=title.title
    )
    services.usage_record(user=context.user, thread_id=thread_id, **title_usage(provider, title))  # type: ignore[arg-type]
