"""
The transcript on a conversation's admin page: its items a page at a time,
in sequence order (never inlines, which would load them all), each
described by ``transcript.describe_item`` with what staff need beside it:
feedback, model usage, attachments, staff annotations (and the form to
annotate an answer, for staff who may) and a link to the item's raw JSON.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.utils import quote
from django.http import HttpRequest
from django.urls import reverse

from .. import selectors
from ..models import Conversation
from ..review.selectors import review_labels
from ..transcript import describe_item
from .review import can_annotate


def transcript_context(
    request: HttpRequest, conversation: Conversation, *, page_size: int
) -> dict[str, Any]:
    """The template context of the transcript: ``page_size`` items after
    the sequence in ``?after=`` (from the start without it)."""
    try:
        after = int(request.GET["after"])
    except (KeyError, ValueError):
        after = None
    page = selectors.conversation_transcript(
        conversation_id=conversation.pk, after_sequence=after, limit=page_size
    )
    can_view = {
        model: request.user.has_perm(f"chatkit_app.view_{model}")
        for model in ("message", "attachment")
    }
    annotating = can_annotate(request.user)
    entries = []
    for message in page.messages:
        view = describe_item(message.data if isinstance(message.data, dict) else {})
        annotations = page.annotations.get(message.pk, [])
        entries.append(
            {
                "annotations": annotations,
                "mine": next((a for a in annotations if a.author_id == request.user.pk), None),
                "annotate_url": reverse("admin:review_annotate", args=[quote(message.pk)])
                if annotating and message.type == "assistant_message"
                else "",
                "message": message,
                "view": view,
                "json_url": reverse("admin:chatkit_app_message_json", args=[quote(message.pk)])
                if can_view["message"]
                else "",
                "feedback": page.feedback.get(message.pk, []),
                "usage": page.usage.get(message.pk, []),
                "attachments": [
                    {
                        **attachment,
                        "row": page.attachments.get(attachment["id"]),
                        "url": reverse(
                            "admin:chatkit_app_attachment_change",
                            args=[quote(attachment["id"])],
                        )
                        if can_view["attachment"] and attachment["id"] in page.attachments
                        else "",
                    }
                    for attachment in view.attachments
                ],
                "indent": [(depth * 1.25, line) for depth, line in view.outline],
                "inline_image": view.image_url.startswith("data:image/"),
            }
        )
    return {
        "entries": entries,
        "first": after is None,
        "next_after": page.messages[-1].sequence if page.has_more else None,
        "totals": selectors.conversation_usage_totals(conversation_id=conversation.pk),
        "labels": review_labels(),
    }
