"""Handoff reads: who answers a conversation, and which ones asked for a person."""

from __future__ import annotations

from django.db.models import QuerySet

from ..models import Conversation, Handoff
from ..statements import CompiledQuery


def handoff_for(*, conversation_id: str) -> Handoff | None:
    return (
        Handoff.objects.select_related("conversation__owner", "taken_over_by")
        .filter(pk=conversation_id)
        .first()
    )


def handoff_holder(*, conversation_id: str) -> Handoff | None:
    """The handoff of a conversation a person has taken over, else None
    (one indexed read per turn: the responder asks before every answer;
    its SQL built once)."""
    found = _HOLDER(conversation_id)
    return found[0] if found else None


_HOLDER = CompiledQuery(
    lambda conversation_id: (
        Handoff.objects.select_related("taken_over_by")
        .filter(pk=conversation_id, state=Handoff.State.TAKEN_OVER)
        .order_by()[:1]
    )
)


def conversations_handoff_requested() -> QuerySet[Conversation]:
    """Conversations whose user asked for a person and that nobody has taken
    over yet, longest waiting first (for the review queue)."""
    return (
        Conversation.objects.filter(handoff__state=Handoff.State.REQUESTED)
        .select_related("owner", "handoff")
        .order_by("handoff__requested_at", "pk")
    )
