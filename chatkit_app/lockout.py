"""
The page a locked-out sign-in gets instead of the form (django-axes'
``AXES_LOCKOUT_CALLABLE``): the site's own template, status 429 with
``Retry-After``, saying when the lock lifts or that staff must lift it.

Both sign-in pages (``/accounts/login/`` and ``/admin/login/``) end here, since
axes refuses the attempt in its authentication backend and ``AxesMiddleware``
swaps the response. Staff unlock in the admin (Axes › Access attempts) or
with ``manage.py axes_reset_username`` / ``axes_reset_ip``.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

TEMPLATE = "registration/locked_out.html"


def lockout_response(
    request: HttpRequest, original_response: Any = None, credentials: Any = None
) -> HttpResponse:
    """The lockout page for ``request``."""
    # axes 8.3.1's async middleware passes the credentials where the response
    # belongs; the handler keeps the cleaned ones on the request either way.
    credentials = getattr(request, "axes_credentials", None) or (
        credentials if isinstance(credentials, dict) else None
    )
    retry_at = lockout_ends(request, credentials)
    wait_seconds = (
        max(1, math.ceil((retry_at - timezone.now()).total_seconds())) if retry_at else None
    )
    response = render(
        request,
        TEMPLATE,
        {
            "username": get_client_username(request, credentials) or "",
            "failure_limit": get_failure_limit(request, credentials),
            "retry_at": retry_at,
            "wait": wait_text(wait_seconds) if wait_seconds else "",
        },
        status=429,
    )
    if wait_seconds:
        response["Retry-After"] = str(wait_seconds)
    return response


def lockout_ends(request: HttpRequest, credentials: dict[str, Any] | None) -> datetime | None:
    """When every lock on this request's address and username has lifted, or
    None when locks never lift by themselves (no cool-off: staff unlock)."""
    cool_off = get_cool_off(request)
    if cool_off is None:
        return None
    handler = AxesProxyHandler.get_implementation()
    if not hasattr(handler, "get_user_attempts"):  # not the database handler
        return timezone.now() + cool_off
    limit = get_failure_limit(request, credentials)
    ends = timezone.now()
    # One queryset per lockout parameter (address, username), holding the
    # attempts within the cool-off. Each row counts until cool-off after its
    # latest failure, so a lock lifts once enough of the oldest rows expire.
    for attempts in handler.get_user_attempts(request, credentials):
        rows = list(
            attempts.order_by("attempt_time").values_list("attempt_time", "failures_since_start")
        )
        remaining = sum(failures for _, failures in rows)
        for attempt_time, failures in rows:
            if remaining < limit:
                break
            remaining -= failures
            ends = max(ends, attempt_time + cool_off)
    return ends


def wait_text(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
