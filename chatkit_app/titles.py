"""
Thread titles: a few words written by the model after the first exchange,
or the first words of the user's message when the model cannot help.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from .model_clients import openai_client
from .providers import Provider

logger = logging.getLogger(__name__)

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
    client = openai_client(provider)
    started = time.monotonic()
    message = user_text[:2000]
    try:
        if provider.wire == "responses":
            response = await client.responses.create(
                model=provider.title_model,
                instructions=TITLE_INSTRUCTIONS,
                input=message,
                max_output_tokens=30,
            )
            raw = response.output_text
            usage = response.usage
            tokens = (usage.input_tokens, usage.output_tokens) if usage else (0, 0)
        else:
            completion = await client.chat.completions.create(
                model=provider.title_model,
                messages=[
                    {"role": "system", "content": TITLE_INSTRUCTIONS},
                    {"role": "user", "content": message},
                ],
                max_tokens=30,
            )
            raw = completion.choices[0].message.content or ""
            usage = completion.usage
            tokens = (usage.prompt_tokens, usage.completion_tokens) if usage else (0, 0)
    except Exception as exc:
        logger.warning("Title generation failed, using the message's first words: %r", exc)
        return GeneratedTitle(fallback, latency_ms=_ms_since(started), error=type(exc).__name__)
    return GeneratedTitle(
        clean_title(raw) or fallback,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        latency_ms=_ms_since(started),
    )


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
