"""
Which pages may open the staff websockets: the site's own origin and
``CSRF_TRUSTED_ORIGINS``, nothing else.

A websocket is not covered by the same-origin policy or by Django's CSRF
check, and the browser sends the session cookie along from any page. So a
page elsewhere, opened by a signed-in staff member, could read live
conversations unless the handshake's ``Origin`` is checked. channels'
``AllowedHostsOriginValidator`` compares only the host name with
``ALLOWED_HOSTS``, so any port or scheme of an allowed host got in (a page
on ``http://127.0.0.1:9999`` read a conversation served on port 8000).

``SameOriginValidator`` applies the rule Django's CSRF check applies to a
POST, with Django's own code: the handshake is turned into a Django request,
whose scheme comes from the connection (``SECURE_PROXY_SSL_HEADER`` behind a
proxy, i.e. ``USE_X_FORWARDED_PROTO``) and whose host and port come from the
``Host`` header as Django validates it (``ALLOWED_HOSTS``); the ``Origin``
must be exactly that ``scheme://host[:port]``, or one of
``CSRF_TRUSTED_ORIGINS`` (wildcards as Django reads them). A missing
``Origin`` (not a browser page) is refused too. A refused handshake is
answered with HTTP 403 and logged as a warning.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from channels.security.websocket import WebsocketDenier
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.middleware.csrf import CsrfViewMiddleware

logger = logging.getLogger(__name__)

_HTTP_SCHEMES = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


class _OriginCheck(CsrfViewMiddleware):
    """Django's CSRF middleware, for its origin rule only."""

    def __init__(self) -> None:
        super().__init__(lambda request: None)  # type: ignore[arg-type,return-value]

    def origin_verified(self, request: ASGIRequest) -> bool:
        return self._origin_verified(request)


def handshake_request(scope: dict[str, Any]) -> ASGIRequest:
    """The websocket handshake as the Django request it would be over HTTP."""
    http_scope = {
        **scope,
        "type": "http",
        "method": "GET",
        "scheme": _HTTP_SCHEMES.get(str(scope.get("scheme") or "ws"), "http"),
    }
    return ASGIRequest(http_scope, io.BytesIO())


def origin_allowed(scope: dict[str, Any]) -> bool:
    request = handshake_request(scope)
    if "HTTP_ORIGIN" not in request.META:
        return False
    try:
        request.get_host()
    except DisallowedHost:
        return False
    return _OriginCheck().origin_verified(request)


class SameOriginValidator:
    """ASGI middleware for websockets: refuse a handshake whose ``Origin`` is
    not the site's own or a trusted one (see the module docstring)."""

    def __init__(self, application: Any):
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] != "websocket":
            raise ValueError("SameOriginValidator only guards websocket connections.")
        if origin_allowed(scope):
            return await self.application(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        logger.warning(
            "Refused a websocket to %s from origin %r (host %r)",
            scope.get("path", ""),
            headers.get(b"origin", b"").decode("latin-1") or None,
            headers.get(b"host", b"").decode("latin-1") or None,
        )
        return await WebsocketDenier()(scope, receive, send)
