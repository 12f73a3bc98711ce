"""
The Content-Security-Policy of the site's HTML pages.

django-csp builds the header from ``settings.CONTENT_SECURITY_POLICY`` (the
fixed part, in ``chatsite/settings.py``); this middleware adds the sources that
follow from ``CHATKIT_UI`` and the request, so they can never drift from what
the page loads:

- the origin of ``script_url`` (the official ``<openai-chatkit>`` component):
  its script, the frame it opens, and what it fetches, and inline styles
  while the component is configured. An empty ``script_url`` (built-in client
  only) adds no third-party origin at all, and the policy stays fully strict;
- the origin of ``api_url`` when the chat talks to another host;
- ``ws(s)://`` of the page's own host, for the admin's live pages (``'self'``
  covers websockets in current browsers, but not in older Safari).

The policy goes on HTML responses only: ``/chatkit``'s JSON and event streams,
files and static assets carry no markup for it to protect.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from csp.constants import UNSAFE_INLINE
from csp.middleware import CSPMiddleware as LibraryCSPMiddleware
from csp.middleware import PolicyParts
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from .conf import DEFAULTS

# What the official component's origin is allowed to do on our pages: load
# its script, open its frame, fetch, and show its images, styles and fonts.
OFFICIAL_COMPONENT_DIRECTIVES = (
    "script-src",
    "frame-src",
    "connect-src",
    "img-src",
    "style-src",
    "font-src",
)


class CSPMiddleware(LibraryCSPMiddleware):
    """django-csp's middleware, async-native, for HTML responses only.

    Django's ``MiddlewareMixin`` runs ``process_request`` and
    ``process_response`` through ``sync_to_async`` under ASGI: two hops to the
    one shared sync thread on every request, ``POST /chatkit`` included. Both
    hooks only build strings (no I/O), so they run on the event loop here.
    """

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:  # type: ignore[override]
        self.process_request(request)
        response = await self.get_response(request)  # type: ignore[misc]
        return self.process_response(request, response)

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if not response.get("Content-Type", "").startswith("text/html"):
            return response
        return super().process_response(request, response)

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        # A view's own @csp_update comes last, so it can only add to ours.
        parts.update = merge_sources(page_sources(request), parts.update or {})
        return parts


def page_sources(request: HttpRequest) -> dict[str, list[str]]:
    """The sources a chat page needs beyond the fixed policy, per directive."""
    ui = getattr(settings, "CHATKIT_UI", None) or {}
    if not isinstance(ui, dict):
        ui = {}  # reported by manage.py check (chatkit.E008); the page fails anyway
    sources: dict[str, list[str]] = {}
    script_url = ui.get("script_url", DEFAULTS["UI"]["script_url"])
    component = origin(script_url)
    for directive in OFFICIAL_COMPONENT_DIRECTIVES if component else ():
        sources[directive] = [component]
    if script_url:
        # The component's loader is closed source (served only from OpenAI's
        # CDN, out of reach of our tests): nothing says how it styles the
        # frame it inserts, so inline styles are allowed while it is
        # configured. Scripts stay strict, and img-src, font-src and
        # connect-src keep styles from sending anything to other hosts.
        # (No nonce in style-src: a nonce would make browsers ignore this.)
        sources.setdefault("style-src", []).append(UNSAFE_INLINE)
    api = origin(ui.get("api_url", ""))
    if api:
        sources.setdefault("connect-src", []).append(api)
    try:
        host = request.get_host()
    except DisallowedHost:
        host = ""  # the 400 page needs no websocket
    if host:
        scheme = "wss" if request.is_secure() else "ws"
        sources.setdefault("connect-src", []).append(f"{scheme}://{host}")
    return sources


def origin(url: Any) -> str:
    """``scheme://host[:port]`` of an absolute http(s) URL; "" for a relative or empty one."""
    if not isinstance(url, str) or not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}"


def merge_sources(*directive_maps: dict[str, Any]) -> dict[str, list[str]]:
    """Directive maps joined source by source (first ones first, no repeats)."""
    merged: dict[str, list[str]] = {}
    for directives in directive_maps:
        for directive, values in directives.items():
            if values is None:
                continue
            if isinstance(values, str):
                values = [values]
            known = merged.setdefault(directive, [])
            known.extend(value for value in values if value not in known)
    return merged
