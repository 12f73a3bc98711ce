"""
The admin's live pages: watch one conversation as it happens, and the
site's recent activity. Both are plain pages whose script
(``static/chatkit/live/``) opens a websocket to the consumers in
``live/consumers.py``; these views only check permissions and say where to
connect.

Mounted by ``ConversationAdmin.get_urls`` (``live_urls``) so they share the
admin's login, permissions, breadcrumbs and look.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote as url_quote

from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from ..live.events import conversation_summary
from ..models import Conversation
from .handoff import handoff_page_config, handoff_urls

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin


def live_urls(model_admin: ModelAdmin) -> list[URLPattern]:
    """URL patterns to put before the model admin's own (``activity/``
    would otherwise be taken for an object id)."""
    wrap = model_admin.admin_site.admin_view
    return [
        path(
            "activity/",
            wrap(lambda request: activity_view(model_admin, request)),
            name="chatkit_app_conversation_activity",
        ),
        path(
            "<path:object_id>/watch/",
            wrap(lambda request, object_id: watch_view(model_admin, request, object_id)),
            name="chatkit_app_conversation_watch",
        ),
        # Take over, reply, hand back (handoff.py).
        *handoff_urls(model_admin),
    ]


def _page_context(model_admin: ModelAdmin, request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        **extra,
    }


def watch_view(model_admin: ModelAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    conversation = (
        Conversation.objects.select_related("owner").filter(pk=unquote(object_id)).first()
    )
    if conversation is None:
        raise Http404("No such conversation.")
    label = conversation.title or conversation.pk
    config = {
        "kind": "conversation",
        "socketPath": f"/ws/chatkit/conversations/{url_quote(conversation.pk, safe='')}/",
        "conversation": conversation_summary(conversation),
    }
    return TemplateResponse(
        request,
        "admin/chatkit_app/conversation/watch.html",
        _page_context(
            model_admin,
            request,
            title=f"Watching: {label}",
            subtitle=None,
            original=conversation,
            conversation_url=reverse(
                "admin:chatkit_app_conversation_change", args=[quote(conversation.pk)]
            ),
            live_config=config,
            handoff_config=handoff_page_config(model_admin, request, conversation),
        ),
    )


def activity_view(model_admin: ModelAdmin, request: HttpRequest) -> HttpResponse:
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    return TemplateResponse(
        request,
        "admin/chatkit_app/conversation/activity.html",
        _page_context(
            model_admin,
            request,
            title="Recent activity",
            subtitle=None,
            live_config={"kind": "activity", "socketPath": "/ws/chatkit/activity/"},
        ),
    )
