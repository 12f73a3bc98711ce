"""
Who is calling: a signed link, a bearer token, or the Django session with CSRF.

One rule for /chatkit and the attachment views alike: a request is judged
by the one kind of credential it presents, and never falls back to another.

- ``?token=`` on a view that takes signed links (``link=``): the link must
  be genuine, unexpired and for this object; a bad one is refused even if
  a session cookie came along (otherwise ``?token=bogus`` would turn a
  session request into one that skips the CSRF check).
- ``Authorization: Bearer``: the token must be valid and unrevoked. Token
  and link requests skip CSRF: a browser never attaches them on its own, so
  a cross-site request cannot forge one.
- Anything else is a session request: the CSRF token must come in
  ``X-CSRFToken`` for unsafe methods, exactly as for a Django form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, overload

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware

from .db import db_call
from .http_errors import error_response
from .tokens import token_authenticate

#: Checks a signed link's token for the object a view serves; returns the id
#: of the user the link was signed for, or None for a bad or expired link.
LinkVerifier = Callable[[str], "int | None"]


@dataclass
class Caller:
    user: AbstractBaseUser
    method: Literal["session", "token", "link"]


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


@db_call
def _user_by_pk(pk: int):
    return get_user_model()._default_manager.filter(pk=pk).first()


@overload
async def authenticate(
    request: HttpRequest, *, link: LinkVerifier | None = None, required: Literal[True] = True
) -> Caller | JsonResponse: ...
@overload
async def authenticate(
    request: HttpRequest, *, link: LinkVerifier | None = None, required: bool
) -> Caller | JsonResponse | None: ...
async def authenticate(
    request: HttpRequest, *, link: LinkVerifier | None = None, required: bool = True
) -> Caller | JsonResponse | None:
    """The caller, or the JSON error response to send instead.

    ``link`` makes ``?token=`` a credential (see the module docstring); a
    bad link is the 404 of a missing object, since the link names one.
    With ``required=False`` a request with no credentials at all answers
    None (the view decides what an anonymous caller gets) instead of 401.
    """
    if link is not None and "token" in request.GET:
        user_id = link(request.GET["token"])
        user = await _user_by_pk(user_id) if user_id is not None else None
        if user is None:
            return error_response(404, "not_found", "This link is invalid or has expired.")
        if not user.is_active:
            return error_response(403, "inactive_user", "This account is disabled.")
        return Caller(user=user, method="link")

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
        if not required:
            return None
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
