"""
Text the databases can store, checked where requests come in.

PostgreSQL refuses a NUL character (``\\u0000``) in text and in jsonb
(psycopg raises ``DataError``), and neither database stores an unpaired
surrogate (``"\\ud800"`` is valid JSON but no valid UTF-8). A request that
carries one is the client's mistake: it is refused with a 400 naming where
the text is, before anything of it is stored, the same on SQLite as on
PostgreSQL. ``/chatkit`` checks every string and key of its JSON body
(``views.validate_body``); the middleware below checks every URL's path and
query string (ids in attachment links and the admin, the tag search).
"""

from __future__ import annotations

import re
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

from .http_errors import error_response

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable_text_at(value: Any) -> str | None:
    """Where in ``value`` (parsed JSON) a string or key that cannot be
    stored is, as a dotted path (``params.input.content.0.text``; ``""``
    for ``value`` itself), or None when all of it can be."""
    # Iterative: a body nested as deeply as the JSON parser allows must not
    # exhaust the stack here.
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            if UNSTORABLE.search(node):
                return path
        elif isinstance(node, dict):
            for key, child in node.items():
                child_path = f"{path}.{key}" if path else str(key)
                if UNSTORABLE.search(key):
                    return child_path
                stack.append((child_path, child))
        elif isinstance(node, list):
            stack.extend(
                (f"{path}.{index}" if path else str(index), child)
                for index, child in enumerate(node)
            )
    return None


def unstorable_text_response(where: str) -> HttpResponse:
    where = UNSTORABLE.sub("?", where)[:200] or "the request"
    return error_response(
        400,
        "invalid_text",
        f"Text may not contain NUL characters or unpaired surrogates (in {where}).",
    )


def unstorable_url_response(request: HttpRequest) -> HttpResponse | None:
    if UNSTORABLE.search(request.path):
        return unstorable_text_response("the URL")
    for name, values in request.GET.lists():
        if UNSTORABLE.search(name) or any(UNSTORABLE.search(value) for value in values):
            return unstorable_text_response(f"the query parameter {name!r}")
    return None


class UnstorableTextMiddleware:
    """Refuses a URL whose path or query string holds text no database
    stores. Sync and async capable, and does no I/O: under ASGI it runs on
    the event loop, without a thread of its own."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        return unstorable_url_response(request) or self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        return unstorable_url_response(request) or await self.get_response(request)
