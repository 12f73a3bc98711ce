"""What the database holds, for asserting that a refused request changed nothing."""

from __future__ import annotations

from django.core import serializers

from chatkit_app.models import Attachment, Conversation, Feedback, Message


def snapshot() -> str:
    """Every conversation, item, attachment and feedback row, serialised."""
    rows = [
        *Conversation.objects.all(),
        *Message.objects.all(),
        *Attachment.objects.all(),
        *Feedback.objects.all(),
    ]
    return serializers.serialize("json", rows)
