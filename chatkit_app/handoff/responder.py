"""
The assistant keeps quiet in a conversation a person has taken over.

``handoff_aware(respond)`` is the responder the ChatKit server is given
(``ChatkitAppConfig.build_server``). Before every answer it asks
``guard.person_answering`` (one indexed query per request, none for a
thread the request has just created; the usage gate asked the same
question first and counted no turn if a person answers): while a person
holds the thread, the user's message is stored as usual (the SDK saved it
before asking the responder) but no model is called; the stream carries
one ``notice`` saying who is answering, and ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from chatkit.types import ThreadMetadata, ThreadStreamEvent, UserMessageItem

from ..context import RequestContext
from ..server import Responder
from .guard import person_answering, person_notice


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
    holder = await person_answering(context, thread.id)
    if holder is None:
        async for event in responder(store, thread, input_user_message, context):
            yield event
        return
    yield person_notice(holder)
