"""
``Gate``: the ChatKit server's limiter (``ChatSiteServer(limiter=...)``,
plugged in by apps.py).

The server calls it with each request once the request is known to be
valid and the caller's, before the SDK runs it. The gate counts the request
against the per-minute limit and, for a request that makes the model
answer (a turn), counts the turn and holds the user's token and cost
budgets, all in one step of the database. Refused, nothing runs, so nothing
is stored: a streamed request gets one ChatKit ``error`` event saying which
limit and when it resets; any other gets 429 with Retry-After. Admitted,
the request runs; when its stream ends the budgets are released, and a user
who has now used most of a daily or monthly limit is told once, with a
``notice`` event.

A request of a turn's kind that will be answered without a model call (a
message to a person who has taken the thread over: ``handoff/guard.py``
says so, as ``answered_without_model``) is no turn: it counts against the
per-minute limit only, so a user past their daily messages can still write
to the person.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from chatkit.server import NonStreamingResult, StreamingResult
from chatkit.types import (
    ChatKitReq,
    ErrorEvent,
    NoticeEvent,
    ThreadsAddClientToolOutputReq,
    ThreadsAddStructuredInputReq,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
    ThreadsRetryAfterItemReq,
    is_streaming_req,
)
from django.contrib.auth.base_user import AbstractBaseUser
from pydantic import BaseModel

from ..conf import chatkit_settings
from ..context import RequestContext
from ..db import db_call
from ..request_errors import LimitReached
from . import counters, periods
from .counters import Hold, Refusal
from .policy import KINDS, Kind, format_amount, known_limits, request_limits

Result = StreamingResult | NonStreamingResult

#: Requests that make the model answer: each is one turn.
TURNS = (
    ThreadsCreateReq,
    ThreadsAddUserMessageReq,
    ThreadsAddClientToolOutputReq,
    ThreadsAddStructuredInputReq,
    ThreadsRetryAfterItemReq,
)

#: The limits a user is told they are close to (per-minute ones pass too fast).
NOTICED = (Kind.TURNS, Kind.TOKENS, Kind.COST)


@dataclass(frozen=True)
class Admission:
    limits: dict[str, int]
    outcome: Refusal | Hold


#: Whether a request of a turn's kind will be answered without a model call.
AnsweredWithoutModel = Callable[[ChatKitReq, RequestContext], Awaitable[bool]]


class Gate:
    """The limiter: ``await gate(request, context, proceed)``."""

    def __init__(self, *, answered_without_model: AnsweredWithoutModel | None = None):
        self.answered_without_model = answered_without_model

    async def is_turn(self, request: ChatKitReq, context: RequestContext) -> bool:
        """A turn is a model call: a request of a turn's kind, unless it is
        answered without one."""
        if not isinstance(request, TURNS):
            return False
        if self.answered_without_model is None:
            return True
        return not await self.answered_without_model(request, context)

    async def __call__(
        self,
        request: ChatKitReq,
        context: RequestContext,
        proceed: Callable[[], Awaitable[Result]],
    ) -> Result:
        if known_limits(context.user) == {}:
            # Nothing to count for this user (known without a query, from
            # the token's: ``policy.preload_limits``): no trip to the database.
            return await proceed()
        turn = await self.is_turn(request, context)
        admission = await admit(context.user, turn=turn)
        if admission is None:
            return await proceed()
        if isinstance(admission.outcome, Refusal):
            refused = admission.outcome
            if is_streaming_req(request):
                return StreamingResult(refused_stream(refused))
            raise LimitReached(
                refused.message,
                limit=refused.kind,
                retry_after=refused.retry_after,
                code="turn_in_progress" if refused.busy else None,
            )
        hold = admission.outcome
        if not turn:
            return await proceed()
        try:
            result = await proceed()
        except BaseException:
            await release(hold)
            raise
        if not isinstance(result, StreamingResult):  # turns stream; just in case
            await release(hold)
            return result
        return StreamingResult(watched(result, admission.limits, hold))


@db_call
def admit(user: AbstractBaseUser, *, turn: bool) -> Admission | None:
    limits = request_limits(user)
    if not limits:
        return None
    now = periods.now()
    refused = counters.admit_request(user.pk, limits, now)
    if refused is not None:
        return Admission(limits, refused)
    if not turn:
        return Admission(limits, Hold(user.pk, {}))
    return Admission(limits, counters.admit_turn(user.pk, limits, now))


@db_call
def release(hold: Hold) -> None:
    counters.release(hold)


@db_call
def finish(hold: Hold, limits: dict[str, int]) -> list[NoticeEvent]:
    """Release the turn's budgets; a notice for each limit the user has now
    used ``LIMIT_NOTICE_AT`` of for the first time in its period."""
    counters.release(hold)
    now = periods.now()
    notices = []
    for kind in NOTICED:
        if kind not in limits:
            continue
        used = counters.claim_notice(
            hold.user_id, kind, limits[kind], chatkit_settings.LIMIT_NOTICE_AT, now
        )
        if used is not None:
            notices.append(notice(kind, used, limits[kind], now))
    return notices


def notice(kind: str, used: int, limit: int, now: datetime) -> NoticeEvent:
    if used >= limit:
        return NoticeEvent(level="warning", message=counters.refusal(kind, limit, now).message)
    what = {
        Kind.TURNS: f"{format_amount(kind, used)} of today's {format_amount(kind, limit)} messages",
        Kind.TOKENS: f"{format_amount(kind, used)} of today's {format_amount(kind, limit)} tokens",
        Kind.COST: f"{format_amount(kind, used)} of this month's budget of "
        f"{format_amount(kind, limit)}",
    }[kind]
    return NoticeEvent(
        level="info", message=f"You have used {what}; {KINDS[kind].period.resets(now)}."
    )


def sse(event: BaseModel) -> bytes:
    """An event as the SDK writes it to the stream."""
    data = event.model_dump_json(by_alias=True, exclude_none=True)
    return b"data: " + data.encode() + b"\n\n"


async def refused_stream(refused: Refusal) -> AsyncIterator[bytes]:
    yield sse(ErrorEvent(message=refused.message, allow_retry=False))


async def watched(
    result: StreamingResult, limits: dict[str, int], hold: Hold
) -> AsyncIterator[bytes]:
    try:
        async for chunk in result:
            yield chunk
    except BaseException:
        # Stopped, or the client went away: the reply's usage is recorded
        # by the responder; the budgets are free again.
        await release(hold)
        raise
    for event in await finish(hold, limits):
        yield sse(event)
