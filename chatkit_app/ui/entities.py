"""
``GET /chatkit/entities?q=…``: what the composer's ``@`` menu offers, for
both clients (the official component's ``entities.onTagSearch`` and the
built-in client's menu call it).

The registered assistants answer (``Assistant.search_entities``), for the
caller only: a session (no CSRF needed, the request changes nothing) or a
bearer token, like ``/chatkit``. Answered only while ``CHATKIT_UI['entities']``
is on; otherwise it is a 404, as for any page that does not exist.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from ..assistants import search_entities
from ..authentication import authenticate
from ..http_errors import error_response
from .options import ui_settings

#: Longest query looked up; the rest is ignored.
MAX_QUERY_CHARS = 100


@never_cache
async def entity_search(request: HttpRequest) -> JsonResponse:
    if not ui_settings()["entities"]:
        return error_response(404, "not_found", "Tags are not enabled on this site.")
    if request.method != "GET":
        return error_response(405, "method_not_allowed", "Use GET.", Allow="GET")
    caller = await authenticate(request)
    if isinstance(caller, JsonResponse):
        return caller
    query = request.GET.get("q", "").strip()[:MAX_QUERY_CHARS]
    if "\x00" in query:
        return error_response(400, "invalid_query", "The query holds a NUL character.")
    found = await sync_to_async(search_entities)(caller.user, query)
    return JsonResponse({"data": [entity.as_option() for entity in found]})
