"""
``ask_for_person``: the default assistant's tool for a user who wants to
talk to a person (plugged in by ``ChatkitAppConfig.ready``; another
assistant lists it in its ``tools``).

It flags the thread (``services.handoff_request``), which puts it in the
live activity feed and ``selectors.conversations_handoff_requested`` (the
review queue), and shows the user's open chat that someone was asked to
join; the model is told to say so.
"""

from __future__ import annotations

from typing import Any

from ..assistants import ToolContext
from ..db import db_call
from .services import handoff_request


async def ask_for_person(ctx: ToolContext, reason: str = "") -> str:
    """Ask a person from the team to join this conversation. Use it when the
    user asks for a human, or when you cannot help them further.

    Args:
        reason: In a few words, what the user needs a person for.
    """
    await _request(ctx.user, ctx.thread.id, reason)
    await ctx.progress("A person has been asked to join", icon="profile")
    return (
        "A person from the team has been asked to join this conversation. Tell the user "
        "someone will join shortly and answer here; do not promise a time."
    )


@db_call
def _request(user: Any, thread_id: str, reason: str) -> None:
    handoff_request(owner=user, conversation_id=thread_id, reason=reason)
