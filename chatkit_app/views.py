"""
HTTP endpoints: ``POST /chatkit`` (the ChatKit protocol) and ``GET /health``.

The view parses the body once (``parse_body``) and hands the parsed request
to the server, which answers every request type the SDK knows. What the view
adds is HTTP: authentication, size limits, status codes for errors, and an
SSE response that streams without buffering.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from typing import get_args

from chatkit.server import StreamingResult
from chatkit.store import NotFoundError
from chatkit.types import ChatKitReq, NonStreamingReq, StreamingReq
from django.db import InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from pydantic import ValidationError

from .authentication import authenticate
from .conf import chatkit_settings
from .context import RequestContext
from .http_errors import error_response, request_too_large
from .request_errors import ChatKitRequestError
from .server import REQUEST_ADAPTER, get_server
from .storable_text import unstorable_text_at, unstorable_text_response

logger = logging.getLogger(__name__)

# Built as the URLconf imports this module: the first request to the site
# (or ``manage.py check``) pays for importing the responders and the Agents
# SDK, which takes seconds, rather than the first answer.
get_server()

KNOWN_REQUEST_TYPES = frozenset(
    model.model_fields["type"].default
    for model in (*get_args(StreamingReq), *get_args(NonStreamingReq))
)


def request_locale(request: HttpRequest) -> str | None:
    """The locale the client asked replies in: the page's explicit choice,
    else the browser's first Accept-Language tag."""
    explicit = request.headers.get("X-ChatKit-Locale", "").strip()
    if explicit:
        return explicit[:35]
    accept = request.headers.get("Accept-Language", "")
    first = accept.split(",")[0].split(";")[0].strip()
    return first[:35] or None


@csrf_exempt  # enforced in authenticate() for session callers only
@never_cache
async def chatkit_endpoint(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return error_response(405, "method_not_allowed", "Use POST.", Allow="POST")

    limit = chatkit_settings.MAX_REQUEST_BYTES
    try:
        declared = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        return error_response(400, "invalid_request", "Invalid Content-Length header.")
    if declared > limit:
        return request_too_large(limit)
    # The ASGI limiter (chatsite.asgi) stops larger bodies before Django
    # reads them; this covers other entry points (test clients, WSGI).
    body = request.read(limit + 1)
    if len(body) > limit:
        return request_too_large(limit)

    try:
        caller = await authenticate(request)
        if isinstance(caller, JsonResponse):
            return caller

        parsed = parse_body(body)
        if isinstance(parsed, HttpResponse):
            return parsed

        context = RequestContext(
            user=caller.user,
            request=request,
            auth_method=caller.method,
            locale=request_locale(request),
        )
        return await process(parsed, context)
    except (OperationalError, InterfaceError):
        # Unreachable, or every pooled connection busy (psycopg's PoolTimeout
        # is an OperationalError): a retryable 503 in the endpoint's JSON.
        # Other database errors (DataError, IntegrityError) are no outage.
        logger.exception("Database unavailable for /chatkit")
        return error_response(
            503,
            "database_unavailable",
            "The service cannot reach its database right now. Please try again shortly.",
            Retry_After="5",
        )
    except Exception:
        logger.exception("Unexpected error in /chatkit")
        return error_response(500, "server_error", "The server could not handle this request.")


async def process(request: ChatKitReq, context: RequestContext) -> HttpResponse:
    """Run one ChatKit request and map the errors a client can cause to statuses."""
    server = get_server()
    try:
        result = await server.process(request, context)
        if isinstance(result, StreamingResult):
            stream = aiter(result)
            # Pull the first event before answering, so that errors raised
            # before anything streamed still get their own status code.
            try:
                first = await anext(stream)
            except StopAsyncIteration:
                first = b""
            return sse_response(first, stream)
        return HttpResponse(result.json, content_type="application/json")
    except NotFoundError:
        return error_response(404, "not_found", "No such thread, item or attachment.")
    except ChatKitRequestError as exc:
        return error_response(exc.status, exc.code, exc.message, **exc.headers())
    except NotImplementedError as exc:
        logger.info("Unsupported ChatKit request: %s", exc)
        return error_response(501, "not_supported", "This server does not support that request.")
    except ValueError as exc:
        # The SDK signals requests that make no sense for the thread's
        # contents (retrying a non-user item, tool output with no pending
        # call) with ValueError.
        logger.info("Rejected ChatKit request: %s", exc)
        return error_response(400, "bad_request", first_line(exc) or "Invalid request.")


def sse_response(first: bytes, stream: AsyncIterator[bytes]) -> StreamingHttpResponse:
    async def events() -> AsyncIterator[bytes]:
        if first:
            yield first
        # On client disconnect Django cancels this generator; the
        # CancelledError must reach the SDK (which saves the partial reply)
        # and propagate, so nothing here catches it.
        async for chunk in stream:
            yield chunk

    response = StreamingHttpResponse(events(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache, no-transform"
    response["X-Accel-Buffering"] = "no"
    return response


# Escapes that could spell text no database stores (a NUL, a surrogate):
# only a body holding one is walked string by string (``unstorable_text_at``).
# Raw NULs and surrogates cannot reach here: JSON forbids raw control
# characters and a raw surrogate is no valid UTF-8, so both fail to parse.
MAYBE_UNSTORABLE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def parse_body(body: bytes) -> ChatKitReq | JsonResponse:
    """The request, parsed once for the whole of its handling (the SDK's
    own ``process`` would build a new ``TypeAdapter`` per call), or the
    error answer for a body that is not one.

    The common case, a valid request, costs one pass of pydantic's JSON
    parser. Only a body it refuses goes through ``validate_body``, which
    tells malformed JSON and unknown request types apart from bad params.
    """
    try:
        parsed = REQUEST_ADAPTER.validate_json(body)
    except ValidationError as exc:
        return validate_body(body) or error_response(400, "invalid_params", validation_message(exc))
    if MAYBE_UNSTORABLE.search(body):
        where = unstorable_text_at(json.loads(body))
        if where is not None:
            return unstorable_text_response(where)
    return parsed


def validate_body(body: bytes) -> JsonResponse | None:
    """Tell malformed JSON and unknown request types apart from bad params."""
    if not body.strip():
        return error_response(400, "invalid_json", "The request body is empty.")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return error_response(400, "invalid_json", "The request body is not valid JSON.")
    except RecursionError:
        return error_response(400, "invalid_json", "The request body is nested too deeply.")
    if not isinstance(payload, dict):
        return error_response(400, "invalid_request", "The request must be a JSON object.")
    kind = payload.get("type")
    if not isinstance(kind, str) or kind not in KNOWN_REQUEST_TYPES:
        return error_response(
            400, "unknown_request_type", f"Unknown request type: {str(kind)[:100]!r}."
        )
    where = unstorable_text_at(payload)
    if where is not None:
        return unstorable_text_response(where)
    try:
        REQUEST_ADAPTER.validate_python(payload)
    except ValidationError as exc:
        return error_response(400, "invalid_params", validation_message(exc))
    return None


def validation_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg')}")
    return "Invalid request: " + "; ".join(parts)


def first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else ""


@never_cache
def health(request: HttpRequest) -> JsonResponse:
    """Liveness and database reachability, for load balancers and monitors."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.exception("Health check: database unreachable")
        return JsonResponse({"status": "error", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})
