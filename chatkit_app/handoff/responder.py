"""
The assistant keeps quiet in a conversation a person has taken over.

``handoff_aware(respond)`` is the responder the ChatKit server is given
(``ChatkitAppConfig.build_server``). Before every answer it reads the
conversation's handoff (one indexed query, none for a thread the request
has just created): while a person holds it, the user's message is stored
as usual (the SDK saved it before asking the responder) but no model is
called; the stream carries one ``notice`` saying who is answering, and
ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from chatkit.types import NoticeEvent, ThreadMetadata, ThreadStreamEvent, UserMessageItem

from ..context import RequestContext
from ..db import db_call
from ..server import Responder
from ..store import created_by_request
from .replies import display_name
from .selectors import handoff_holder


def handoff_aware(responder: Responder) -> Responder:
    def respond(
        store: Any,
        thread: ThreadMetadata,
        input_user_message: UserMessageItem | None,
        context: RequestContext,
    ) -> AsyncIterator[ThreadStreamEvent]:
        return _respond(responder, store, thread, input_user_message, context)

    return respond


async def _respond(
    responder: Responder,
    store: Any,
    thread: ThreadMetadata,
    input_user_message: UserMessageItem | None,
    context: RequestContext,
) -> AsyncIterator[ThreadStreamEvent]:
    # A thread this request created has no handoff yet: no query for it.
    holder = None if created_by_request(context, thread.id) else await _holder_name(thread.id)
    if holder is None:
        async for event in responder(store, thread, input_user_message, context):
            yield event
        return
    yield NoticeEvent(level="info", title=f"{holder} is answering", message=person_notice(holder))


def person_notice(holder: str) -> str:
    return (
        f"{holder}, a person from the team, has taken over this conversation and "
        "will answer here. The assistant does not reply until they hand it back."
    )


@db_call
def _holder_name(thread_id: str) -> str | None:
    handoff = handoff_holder(conversation_id=thread_id)
    if handoff is None:
        return None
    return display_name(handoff.taken_over_by) if handoff.taken_over_by else "A person"
