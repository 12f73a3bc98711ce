"""
The watch page's handoff controls: take a conversation over, reply as a
person, hand it back (``handoff/services``).

Three POST endpoints beside the watch page, answering JSON. Staff who may
view conversations see the handoff state on the watch page; only those who
may change them get the buttons and the reply box, and a request from
anyone else is a 403. The page learns the outcome like every other watcher,
from the socket (``handoff`` and ``item`` events); the JSON answer is for
the button that was pressed. Taking over and handing back are in the
conversation's admin history.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.contrib.admin.utils import quote, unquote
from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, path, reverse

from ..handoff.selectors import handoff_for
from ..handoff.services import (
    HandoffConflict,
    InvalidReply,
    handoff_hand_back,
    handoff_take_over,
    staff_reply_post,
)
from ..http_errors import error_response
from ..live.events import handoff_event
from ..models import Conversation

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin


def handoff_urls(model_admin: ModelAdmin) -> list[URLPattern]:
    wrap = model_admin.admin_site.admin_view

    def view(action: str):
        return wrap(
            lambda request, object_id: handoff_action(model_admin, request, object_id, action)
        )

    return [
        path(
            f"<path:object_id>/handoff/{action}/",
            view(action),
            name=f"chatkit_app_conversation_handoff_{action.replace('-', '_')}",
        )
        for action in ("take-over", "hand-back", "reply")
    ]


def handoff_page_config(
    model_admin: ModelAdmin, request: HttpRequest, conversation: Conversation
) -> dict[str, Any]:
    """What the watch page's handoff panel needs (``live/handoff.js``)."""
    allowed = model_admin.has_change_permission(request, conversation)
    urls = (
        {
            action: reverse(
                f"admin:chatkit_app_conversation_handoff_{action.replace('-', '_')}",
                args=[quote(conversation.pk)],
            )
            for action in ("take-over", "hand-back", "reply")
        }
        if allowed
        else {}
    )
    return {
        "canTakeOver": allowed,
        "urls": urls,
        "staff": request.user.get_username(),
        "state": handoff_event(
            handoff_for(conversation_id=conversation.pk), conversation_id=conversation.pk
        ),
    }


def handoff_action(
    model_admin: ModelAdmin, request: HttpRequest, object_id: str, action: str
) -> JsonResponse:
    if request.method != "POST":
        return error_response(405, "method_not_allowed", "Use POST.", Allow="POST")
    if not model_admin.has_view_permission(request):
        return error_response(403, "forbidden", "You may not see conversations.")
    conversation = (
        Conversation.objects.select_related("owner").filter(pk=unquote(object_id)).first()
    )
    if conversation is None:
        return error_response(404, "not_found", "No such conversation.")
    if not model_admin.has_change_permission(request, conversation):
        return error_response(
            403, "forbidden", "You may watch this conversation but not take it over."
        )
    try:
        if action == "take-over":
            handoff = handoff_take_over(conversation=conversation, staff=request.user)
            model_admin.log_change(request, conversation, "Taken over from the assistant.")
            return JsonResponse(handoff_event(handoff))
        if action == "hand-back":
            handoff = handoff_hand_back(conversation=conversation)
            model_admin.log_change(request, conversation, "Handed back to the assistant.")
            return JsonResponse(handoff_event(handoff))
        message = staff_reply_post(
            conversation=conversation, staff=request.user, text=_reply_text(request)
        )
        return JsonResponse({"item_id": message.pk, "sequence": message.sequence}, status=201)
    except HandoffConflict as error:
        return error_response(409, "handoff_conflict", str(error))
    except InvalidReply as error:
        return error_response(400, "invalid_reply", str(error))


def _reply_text(request: HttpRequest) -> str:
    """``text`` from a JSON body or a form."""
    if request.content_type == "application/json":
        try:
            body = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise InvalidReply("The body is not JSON.") from None
        text = body.get("text") if isinstance(body, dict) else None
    else:
        text = request.POST.get("text")
    if not isinstance(text, str):
        raise InvalidReply("Send the reply as text.")
    return text
