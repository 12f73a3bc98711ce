"""
JSON error responses.

Every failure a client can cause gets ``{"error": {"code", "message"}}``
with the matching HTTP status, never Django's HTML error pages.
"""

from __future__ import annotations

import json

from django.http import JsonResponse


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def error_response(status: int, code: str, message: str, **headers: str) -> JsonResponse:
    response = JsonResponse(error_body(code, message), status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def request_too_large_message(limit: int) -> str:
    return f"The request body is larger than {limit} bytes."


def request_too_large(limit: int) -> JsonResponse:
    return error_response(413, "request_too_large", request_too_large_message(limit))


def request_too_large_bytes(limit: int) -> bytes:
    """The same 413 body, for the ASGI limiter that answers before Django."""
    return json.dumps(error_body("request_too_large", request_too_large_message(limit))).encode()
