"""
The hook ``ChatSiteServer`` hands every result to (``runs=own``, plugged
in by ``ChatkitAppConfig.build_server``): a streamed reply becomes a
``Run`` the server owns, and the response is its first reader.

A client that hangs up without asking to stop means what
``CHATKIT_DISCONNECT`` says, or what the request's
``X-ChatKit-Disconnect`` header asks: ``cancel`` stops the reply (the
ChatKit protocol's meaning: the official component stops a reply only by
aborting its request), ``continue`` lets it write on and be stored (the
built-in client, whose Stop button calls the stop endpoint instead).

Thread lists and ``threads.get_by_id`` also pass through here: a thread
with a reply being written carries ``metadata.answering = true``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator

from chatkit.server import NonStreamingResult, StreamingResult
from chatkit.types import ChatKitReq, ThreadsGetByIdReq, ThreadsListReq

from ..conf import chatkit_settings
from ..context import RequestContext
from ..db import db_call
from ..server import STOPPED_REPLY_WAIT_SECONDS
from . import mirror
from . import services as run_services
from .checks import DISCONNECT_MODES
from .progress import ReplyProgress
from .run import Run, stop_local

logger = logging.getLogger(__name__)

DISCONNECT_HEADER = "X-ChatKit-Disconnect"

Result = StreamingResult | NonStreamingResult


def disconnect_mode(context: RequestContext) -> str:
    """``cancel`` or ``continue``: the request's header, else the setting."""
    if context.request is not None:
        asked = context.request.headers.get(DISCONNECT_HEADER, "").strip().lower()
        if asked in DISCONNECT_MODES:
            return asked
    configured = str(chatkit_settings.DISCONNECT).strip().lower()
    return configured if configured in DISCONNECT_MODES else "cancel"


async def own(parsed: ChatKitReq, context: RequestContext, result: Result) -> Result:
    await maintain()
    if isinstance(result, NonStreamingResult):
        if isinstance(parsed, ThreadsGetByIdReq | ThreadsListReq):
            return await _with_answering(parsed, context, result)
        return result
    stream = result.json_events
    # Pulled here, in the request, so that what fails before anything
    # streamed still gets its own status code (the view maps it).
    try:
        first = await anext(stream)
    except StopAsyncIteration:
        return result
    progress = ReplyProgress(thread_id=getattr(parsed.params, "thread_id", None))
    progress.observe(first)
    if progress.thread_id is None:
        # No thread (a refused request's lone error event): nothing to own.
        return StreamingResult(_prepended(first, stream))
    run_id = f"run_{run_services.generate_run_id()}"
    try:
        await _start(run_id, context, progress.thread_id)
    except Exception:
        logger.exception("Could not record reply run %s; it stays with its request.", run_id)
        return StreamingResult(_prepended(first, stream))
    run = Run(run_id=run_id, context=context, stream=stream, progress=progress, first=first)
    run.start()
    return StreamingResult(_first_reader(run, keep_going=disconnect_mode(context) == "continue"))


async def _prepended(first: bytes, rest: AsyncGenerator[bytes, None]) -> AsyncIterator[bytes]:
    async with contextlib.aclosing(rest):
        yield first
        async for chunk in rest:
            yield chunk


async def _first_reader(run: Run, *, keep_going: bool) -> AsyncIterator[bytes]:
    """The response of the request that started ``run``."""
    read_to_end = False
    try:
        async for chunk in run.read(primary=True):
            yield chunk
        read_to_end = True
    finally:
        if not read_to_end:
            run.reader_gone(keep_going=keep_going)
            if not keep_going:
                # As before runs: the request ends once the stopped reply is kept.
                await run.wait(within=STOPPED_REPLY_WAIT_SECONDS + 1)


async def _with_answering(
    parsed: ThreadsGetByIdReq | ThreadsListReq, context: RequestContext, result: NonStreamingResult
) -> NonStreamingResult:
    if isinstance(parsed, ThreadsGetByIdReq):
        if not await _answering(context, [parsed.params.thread_id]):
            return result
        data = json.loads(result.json)
        threads = [data]
    else:
        data = json.loads(result.json)
        threads = [thread for thread in data.get("data") or [] if isinstance(thread, dict)]
        answering = await _answering(context, [thread.get("id") for thread in threads])
        threads = [thread for thread in threads if thread.get("id") in answering]
        if not threads:
            return result
    for thread in threads:
        thread["metadata"] = {**(thread.get("metadata") or {}), "answering": True}
    return NonStreamingResult(json.dumps(data, separators=(",", ":")).encode())


@db_call
def _start(run_id: str, context: RequestContext, thread_id: str) -> None:
    run_services.run_start(run_id=run_id, owner=context.user, conversation_id=thread_id)


@db_call
def _answering(context: RequestContext, thread_ids: list[str]) -> set[str]:
    return run_services.threads_answering(owner=context.user, thread_ids=thread_ids)


# --- what each process does once, then now and then ----------------------------

_last_sweep = 0.0
_listening: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}


async def maintain() -> None:
    """Recover the runs of dead processes (on a process's first request,
    then at most once per stale interval: one query), and listen for stops
    published by other processes (with Redis)."""
    global _last_sweep
    now = time.monotonic()
    if now - _last_sweep >= run_services.stale_after().total_seconds():
        _last_sweep = now
        try:
            recovered = await _recover()
        except Exception:
            logger.exception("Could not recover the reply runs of stopped processes")
        else:
            if recovered:
                logger.warning(
                    "Marked %s reply(s) of a stopped server process interrupted.", recovered
                )
    if mirror.enabled():
        loop = asyncio.get_running_loop()
        if loop not in _listening or _listening[loop].done():
            _listening[loop] = loop.create_task(mirror.listen_for_stops(stop_local))


@db_call
def _recover() -> int:
    return run_services.runs_recover()
