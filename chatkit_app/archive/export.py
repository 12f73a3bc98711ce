"""
Export: conversations as records (``records``), streamed in batches, so
memory does not grow with the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from ..models import Annotation, Attachment, Conversation, Feedback, Handoff, Message, ModelUsage
from .records import (
    ANNOTATION_FIELDS,
    ATTACHMENT_FIELDS,
    HANDOFF_TIMES,
    USAGE_VALUE_FIELDS,
    format_timestamp,
)


def conversations_for_export(
    *,
    username: str | None = None,
    since: datetime | None = None,
    label: str | None = None,
    feedback: str | None = None,
    flagged: bool = False,
) -> QuerySet[Conversation]:
    """Conversations an export covers: one user's, and/or active since a
    date, and/or with an answer annotated ``label``, with ``feedback``
    (``positive`` or ``negative``) on an item, or flagged for review."""
    qs = Conversation.objects.all()
    if username:
        qs = qs.filter(owner__username=username)
    if since is not None:
        qs = qs.filter(updated_at__gte=since)
    if label:
        qs = qs.filter(pk__in=Annotation.objects.filter(label=label).values("conversation_id"))
    if feedback:
        qs = qs.filter(pk__in=Feedback.objects.filter(kind=feedback).values("conversation_id"))
    if flagged:
        qs = qs.filter(flagged_at__isnull=False)
    return qs


def conversation_export(
    *, queryset: QuerySet[Conversation], batch_size: int = 200
) -> Iterator[dict[str, Any]]:
    """Each conversation of ``queryset`` as a self-contained record (see
    README, "Export and import"), streamed in id order.

    Conversations are read in keyset batches of ``batch_size`` and their
    items through one streaming cursor per batch, so memory holds one batch
    of conversations and one conversation's items, never the whole table.
    """
    last_id: str | None = None
    while True:
        page = queryset.select_related("owner", "flagged_by", "handoff__taken_over_by").order_by(
            "pk"
        )
        if last_id is not None:
            page = page.filter(pk__gt=last_id)
        batch = list(page[:batch_size])
        if not batch:
            return
        last_id = batch[-1].pk
        ids = [conversation.pk for conversation in batch]
        feedback = _records_by_conversation(
            Feedback.objects.filter(conversation_id__in=ids).order_by(
                "conversation_id", "message__sequence", "user__username"
            ),
            {
                "item_id": "message_id",
                "user": "user__username",
                "kind": "kind",
                "created_at": "created_at",
            },
        )
        usage = _records_by_conversation(
            ModelUsage.objects.filter(conversation_id__in=ids).order_by(
                "conversation_id", "created_at", "id"
            ),
            {
                "message_id": "message_id",
                "user": "user__username",
                **{name: name for name in (*USAGE_VALUE_FIELDS, "created_at")},
            },
        )
        annotations = _records_by_conversation(
            Annotation.objects.filter(conversation_id__in=ids).order_by(
                "conversation_id", "answer__sequence", "created_at", "id"
            ),
            {
                "item_id": "answer_id",
                "author": "author__username",
                **{name: name for name in ANNOTATION_FIELDS},
            },
        )
        attachments = _records_by_conversation(
            Attachment.objects.filter(conversation_id__in=ids).order_by(
                "conversation_id", "created_at", "id"
            ),
            {"owner": "owner__username", **{name: name for name in ATTACHMENT_FIELDS}},
        )
        # One cursor for the whole batch, in the same (conversation, sequence)
        # order the unique index keeps, consumed one conversation at a time.
        items = (
            Message.objects.filter(conversation_id__in=ids)
            .order_by("conversation_id", "sequence")
            .values_list("conversation_id", "id", "data", "interrupted")
            .iterator(chunk_size=2000)
        )
        pending = next(items, None)
        for conversation in batch:
            data: list[Any] = []
            interrupted: list[str] = []
            while pending is not None and pending[0] == conversation.pk:
                data.append(pending[2])
                if pending[3]:
                    interrupted.append(pending[1])
                pending = next(items, None)
            yield {
                "id": conversation.pk,
                "owner": conversation.owner.get_username(),
                "title": conversation.title,
                "status": conversation.status,
                "status_reason": conversation.status_reason,
                "allowed_image_domains": conversation.allowed_image_domains,
                "metadata": conversation.metadata,
                "created_at": format_timestamp(conversation.created_at),
                "updated_at": format_timestamp(conversation.updated_at),
                "items": data,
                "interrupted": interrupted,
                "feedback": feedback.get(conversation.pk, []),
                "usage": usage.get(conversation.pk, []),
                "attachments": attachments.get(conversation.pk, []),
                "flag": _flag_record(conversation),
                "annotations": annotations.get(conversation.pk, []),
                "handoff": _handoff_record(getattr(conversation, "handoff", None)),
            }


def _flag_record(conversation: Conversation) -> dict[str, Any] | None:
    if conversation.flagged_at is None:
        return None
    return {
        "flagged_at": format_timestamp(conversation.flagged_at),
        "flagged_by": conversation.flagged_by.get_username() if conversation.flagged_by else None,
        "reason": conversation.flag_reason,
        "note": conversation.flag_note,
    }


def _handoff_record(handoff: Handoff | None) -> dict[str, Any] | None:
    """Whether a person was asked for or answers, and who (by username; the
    display name their replies showed is in the replies' items)."""
    if handoff is None:
        return None
    times = {
        name: format_timestamp(value) if (value := getattr(handoff, name)) else None
        for name in HANDOFF_TIMES
    }
    return {
        "state": handoff.state,
        "request_reason": handoff.request_reason,
        "taken_over_by": (handoff.taken_over_by.get_username() if handoff.taken_over_by else None),
        **times,
    }


def _records_by_conversation(
    queryset: QuerySet, fields: dict[str, str]
) -> dict[str, list[dict[str, Any]]]:
    """``{conversation_id: [{name: value}]}`` for the ``fields`` (record name
    -> ORM path) of ``queryset``, timestamps as full-precision ISO strings."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for conversation_id, *values in queryset.values_list("conversation_id", *fields.values()):
        record = {
            name: format_timestamp(value) if isinstance(value, datetime) else value
            for name, value in zip(fields, values, strict=True)
        }
        grouped.setdefault(conversation_id, []).append(record)
    return grouped
