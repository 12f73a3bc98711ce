"""
Who is calling /chatkit: a bearer token, or the Django session with CSRF.

Token requests skip CSRF (a browser never attaches them on its own, so a
cross-site request cannot forge one); session requests must carry the CSRF
token in ``X-CSRFToken``, exactly as a Django form would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from asgiref.sync import sync_to_async
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware

from .db import db_call
from .http_errors import error_response
from .tokens import token_authenticate


@dataclass
class Caller:
    user: AbstractBaseUser
    method: Literal["session", "token"]


class _CsrfCheck(CsrfViewMiddleware):
    """Django's own CSRF check, returning the failure reason instead of a page."""

    def _reject(self, request: HttpRequest, reason: str) -> str:  # type: ignore[override]
        return reason


def csrf_failure(request: HttpRequest) -> str | None:
    check = _CsrfCheck(lambda request: None)  # type: ignore[arg-type,return-value]
    check.process_request(request)
    return check.process_view(request, None, (), {})  # type: ignore[return-value,arg-type]


@db_call
def _user_for_token(raw: str):
    token = token_authenticate(raw)
    return token.user if token else None


async def authenticate(request: HttpRequest) -> Caller | JsonResponse:
    """The caller, or the JSON error response to send instead."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            return _unauthorized("Use 'Authorization: Bearer <token>'.")
        user = await _user_for_token(raw.strip())
        if user is None:
            return _unauthorized("The bearer token is invalid or revoked.")
        if not user.is_active:
            return error_response(403, "inactive_user", "This account is disabled.")
        return Caller(user=user, method="token")

    user = await request.auser()
    if not user.is_authenticated:
        return _unauthorized("Sign in, or send 'Authorization: Bearer <token>'.")
    if not user.is_active:
        return error_response(403, "inactive_user", "This account is disabled.")
    reason = await sync_to_async(csrf_failure)(request)
    if reason:
        return error_response(403, "csrf_failed", f"CSRF check failed: {reason}")
    return Caller(user=user, method="session")


def _unauthorized(message: str) -> JsonResponse:
    return error_response(
        401, "unauthenticated", message, WWW_Authenticate='Bearer realm="chatkit"'
    )
