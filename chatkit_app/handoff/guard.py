"""
What a request may do in a conversation a person has taken over, decided
once per request.

While a person holds a thread the assistant does nothing in it:

- a user's message (or a question's answer, a client tool's output) is
  stored as usual and answered by a notice, not by the model
  (``responder.handoff_aware``); it is not a *turn*: a turn is a model
  call, so it counts against no daily message, token or cost limit
  (``answered_by_person``, given to the usage gate), though it still
  counts against the per-minute request limit, which guards the server,
  not the model budget;
- a retry and a widget action are refused before anything runs
  (``guarded``, around the usage gate): a retry would first delete every
  item after the retried message, the person's replies included, and a
  widget action's handler may call the model. The user gets a notice
  saying who answers (a sync action, which cannot stream one, a 409 with
  the same words); nothing is stored or deleted.

The gate, the guard and the responder ask ``person_answering``, which reads
the handoff once per request and thread and keeps the answer in the
request's context: a turn is counted exactly when the model may be called.
A take-over that lands while a request runs applies from the next one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from chatkit.server import NonStreamingResult, StreamingResult
from chatkit.types import (
    ChatKitReq,
    NoticeEvent,
    ThreadsAddClientToolOutputReq,
    ThreadsAddStructuredInputReq,
    ThreadsAddUserMessageReq,
    ThreadsCustomActionReq,
    ThreadsRetryAfterItemReq,
    ThreadsSyncCustomActionReq,
)

from ..context import RequestContext
from ..db import db_call
from ..request_errors import ChatKitRequestError
from ..server import Limiter
from ..store import created_by_request
from .replies import display_name
from .selectors import handoff_holder

Result = StreamingResult | NonStreamingResult

#: ``context.extra`` key: ``{thread_id: holder's name or None}``.
_ANSWERING = "chatkit_app.handoff.answering"

#: Requests on a thread whose answer is the responder's: quiet while a
#: person answers (the thread-creating request has no handoff yet).
ANSWERED_BY_RESPONDER = (
    ThreadsAddUserMessageReq,
    ThreadsAddClientToolOutputReq,
    ThreadsAddStructuredInputReq,
)
#: Requests refused while a person answers.
REFUSED = (ThreadsRetryAfterItemReq, ThreadsCustomActionReq, ThreadsSyncCustomActionReq)


async def person_answering(context: RequestContext, thread_id: str) -> str | None:
    """The display name of the person who holds ``thread_id``, else None;
    read once per request (a thread this request created: never)."""
    answering: dict[str, str | None] = context.extra.setdefault(_ANSWERING, {})
    if thread_id not in answering:
        answering[thread_id] = (
            None if created_by_request(context, thread_id) else await _holder_name(thread_id)
        )
    return answering[thread_id]


def person_notice(holder: str) -> NoticeEvent:
    return NoticeEvent(
        level="info",
        title=f"{holder} is answering",
        message=(
            f"{holder}, a person from the team, has taken over this conversation and "
            "will answer here. The assistant does not reply until they hand it back."
        ),
    )


def _thread_id(request: ChatKitReq) -> str | None:
    return getattr(getattr(request, "params", None), "thread_id", None)


async def answered_by_person(request: ChatKitReq, context: RequestContext) -> bool:
    """The usage gate's ``answered_without_model``: whether the responder
    will answer ``request`` with the notice that a person answers."""
    thread_id = _thread_id(request)
    if thread_id is None or not isinstance(request, ANSWERED_BY_RESPONDER):
        return False
    return await person_answering(context, thread_id) is not None


class ThreadTakenOver(ChatKitRequestError):
    """A sync widget action in a thread a person has taken over."""

    status = 409
    code = "thread_taken_over"


def guarded(limiter: Limiter | None) -> Limiter:
    """``limiter`` (or none), with retries and widget actions refused in a
    thread a person has taken over."""

    async def guard(
        request: ChatKitReq, context: RequestContext, proceed: Callable[[], Awaitable[Result]]
    ) -> Result:
        thread_id = _thread_id(request)
        if isinstance(request, REFUSED) and thread_id is not None:
            holder = await person_answering(context, thread_id)
            if holder is not None:
                notice = person_notice(holder)
                if isinstance(request, ThreadsSyncCustomActionReq):
                    raise ThreadTakenOver(notice.message)
                return StreamingResult(_notice_stream(notice))
        return await (limiter(request, context, proceed) if limiter else proceed())

    return guard


async def _notice_stream(notice: NoticeEvent) -> AsyncIterator[bytes]:
    data = notice.model_dump_json(by_alias=True, exclude_none=True)
    yield b"data: " + data.encode() + b"\n\n"


@db_call
def _holder_name(thread_id: str) -> str | None:
    handoff = handoff_holder(conversation_id=thread_id)
    if handoff is None:
        return None
    return display_name(handoff.taken_over_by) if handoff.taken_over_by else "A person"
