"""
``POST /chatkit/threads/<id>/stop`` and ``GET /chatkit/threads/<id>/stream``.

Both are owner-scoped (another user's thread, or a missing one, is 404)
and authenticated as ``/chatkit`` is: a bearer token, or the session with
the CSRF header for the POST.

Stop ends the thread's running reply wherever it runs (this process, or
another through Redis or, without Redis, at the run's next heartbeat) and
answers once what it had written is kept, marked interrupted.

Stream answers server-sent events: what the running reply has written so
far, from its first event, then the rest live, and ends with the run. No
reply running: ``204 No Content`` (the thread's stored items are all
there is).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from ..authentication import Caller, authenticate
from ..conf import chatkit_settings
from ..db import db_call
from ..http_errors import error_response
from ..models import Conversation, ReplyRun
from ..server import STOPPED_REPLY_WAIT_SECONDS
from . import mirror
from . import services as run_services
from .owner import maintain
from .run import local_run_for

POLL_SECONDS = 0.1


async def _owner_of(request: HttpRequest, thread_id: str, method: str) -> Caller | HttpResponse:
    """The authenticated caller, if the request uses ``method`` and the
    thread is theirs; otherwise the error response to send (405, 401/403,
    404). Runs of dead processes are recovered first, so that what follows
    sees no reply left running by one."""
    if request.method != method:
        return error_response(405, "method_not_allowed", f"Use {method}.", Allow=method)
    caller = await authenticate(request)
    if isinstance(caller, JsonResponse):
        return caller
    if not await _owns(caller.user, thread_id):
        return _not_found()
    await maintain()
    return caller


@csrf_exempt  # enforced in authenticate() for session callers only
@never_cache
async def stop_view(request: HttpRequest, thread_id: str) -> HttpResponse:
    caller = await _owner_of(request, thread_id, "POST")
    if isinstance(caller, HttpResponse):
        return caller
    run = local_run_for(thread_id, caller.user.pk)
    if run is not None:
        run.stop("stop")
        await run.wait(within=STOPPED_REPLY_WAIT_SECONDS + 1)
        return JsonResponse({"stopped": True})
    run_id = await _request_stop(caller.user, thread_id)
    if run_id is None:
        return JsonResponse({"stopped": False})
    if mirror.enabled():
        await mirror.publish_stop(run_id)
    # Without Redis the run reads the request at its next heartbeat.
    beat = float(chatkit_settings.RUN_HEARTBEAT_SECONDS)
    deadline = time.monotonic() + STOPPED_REPLY_WAIT_SECONDS + 2 * beat
    while time.monotonic() < deadline:
        if not await _still_running(run_id):
            return JsonResponse({"stopped": True})
        await asyncio.sleep(POLL_SECONDS)
    return error_response(
        504, "stop_pending", "The reply was asked to stop but has not stopped yet."
    )


@never_cache
async def stream_view(request: HttpRequest, thread_id: str) -> HttpResponse:
    caller = await _owner_of(request, thread_id, "GET")
    if isinstance(caller, HttpResponse):
        return caller
    run = local_run_for(thread_id, caller.user.pk)
    if run is not None:
        return _sse(run.read())
    if mirror.enabled():
        elsewhere = await _running(caller.user, thread_id)
        if elsewhere is not None:

            async def alive() -> bool:
                return await _still_running(elsewhere)

            return _sse(mirror.read(elsewhere, alive=alive))
    return HttpResponse(status=204)


def _sse(chunks: AsyncIterator[bytes]) -> StreamingHttpResponse:
    # On disconnect Django cancels the iterator: a reader leaving changes
    # nothing for the run.
    response = StreamingHttpResponse(chunks, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache, no-transform"
    response["X-Accel-Buffering"] = "no"
    return response


def _not_found() -> JsonResponse:
    return error_response(404, "not_found", "No such thread.")


@db_call
def _owns(user, thread_id: str) -> bool:
    return Conversation.objects.filter(pk=thread_id, owner=user).exists()


@db_call
def _request_stop(user, thread_id: str) -> str | None:
    return run_services.run_request_stop(owner=user, conversation_id=thread_id)


@db_call
def _running(user, thread_id: str) -> str | None:
    run = run_services.run_running(owner=user, conversation_id=thread_id)
    return run.pk if run is not None else None


@db_call
def _still_running(run_id: str) -> bool:
    return ReplyRun.objects.filter(pk=run_id, status=ReplyRun.Status.RUNNING).exists()
