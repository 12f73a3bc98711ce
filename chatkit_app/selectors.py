"""
Read-only queries shared by the ChatKit store, views, admin and commands.

Every function that takes ``owner`` scopes its query to that user: a row
owned by someone else raises ``DoesNotExist`` exactly like a missing one, so
callers cannot leak which ids exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from .models import Attachment, Conversation, Feedback, Message, ModelUsage

Order = Literal["asc", "desc"]


class CursorNotFound(Exception):
    """The ``after`` cursor names no row the caller can see."""


def conversation_get(*, owner: AbstractBaseUser, conversation_id: str) -> Conversation:
    return Conversation.objects.get(pk=conversation_id, owner=owner)


def conversation_list(*, owner: AbstractBaseUser) -> QuerySet[Conversation]:
    return Conversation.objects.filter(owner=owner)


def conversation_page(
    *, owner: AbstractBaseUser, limit: int, after: str | None, order: Order
) -> tuple[list[Conversation], bool]:
    """A page of the owner's conversations, keyset-paginated on (created_at, id).

    Returns the rows and whether more follow. Two queries at most, whatever
    the page size.
    """
    qs = Conversation.objects.filter(owner=owner)
    if after:
        cursor = qs.filter(pk=after).values("created_at", "id").first()
        if cursor is None:
            raise CursorNotFound(after)
        if order == "asc":
            qs = qs.filter(
                Q(created_at__gt=cursor["created_at"])
                | Q(created_at=cursor["created_at"], id__gt=cursor["id"])
            )
        else:
            qs = qs.filter(
                Q(created_at__lt=cursor["created_at"])
                | Q(created_at=cursor["created_at"], id__lt=cursor["id"])
            )
    ordering = ("created_at", "id") if order == "asc" else ("-created_at", "-id")
    rows = list(qs.order_by(*ordering)[: limit + 1])
    return rows[:limit], len(rows) > limit


def message_page(
    *,
    owner: AbstractBaseUser,
    conversation_id: str,
    limit: int,
    after: str | None,
    order: Order,
) -> tuple[list[Message], bool]:
    """A page of a conversation's items in insertion order, keyset-paginated
    on the per-conversation sequence, so items added between two page loads
    never shift or repeat what the client already has."""
    if not Conversation.objects.filter(pk=conversation_id, owner=owner).exists():
        raise Conversation.DoesNotExist(conversation_id)
    qs = Message.objects.filter(conversation_id=conversation_id)
    if after:
        sequence = qs.filter(pk=after).values_list("sequence", flat=True).first()
        if sequence is None:
            raise CursorNotFound(after)
        qs = (
            qs.filter(sequence__gt=sequence) if order == "asc" else qs.filter(sequence__lt=sequence)
        )
    rows = list(qs.order_by("sequence" if order == "asc" else "-sequence")[: limit + 1])
    return rows[:limit], len(rows) > limit


def message_recent(*, owner: AbstractBaseUser, conversation_id: str, limit: int) -> list[Message]:
    """The last ``limit`` items of a conversation, oldest first, in one query."""
    rows = list(
        Message.objects.filter(conversation_id=conversation_id, conversation__owner=owner).order_by(
            "-sequence"
        )[:limit]
    )
    rows.reverse()
    return rows


def message_get(*, owner: AbstractBaseUser, conversation_id: str, message_id: str) -> Message:
    return Message.objects.get(
        pk=message_id, conversation_id=conversation_id, conversation__owner=owner
    )


def attachment_get(*, owner: AbstractBaseUser, attachment_id: str) -> Attachment:
    return Attachment.objects.get(pk=attachment_id, owner=owner)


# --- staff tools: admin, exports, maintenance commands --------------------------
# Not scoped by owner: only staff (through admin permissions) and operators
# (through manage.py) reach these.


@dataclass
class TranscriptPage:
    """A page of a conversation's items with what staff need beside each."""

    messages: list[Message]
    has_more: bool
    feedback: dict[str, list[Feedback]] = field(default_factory=dict)
    usage: dict[str, list[ModelUsage]] = field(default_factory=dict)
    attachments: dict[str, Attachment] = field(default_factory=dict)


def conversation_transcript(
    *, conversation_id: str, after_sequence: int | None, limit: int
) -> TranscriptPage:
    """Items in sequence order with their feedback, usage and attachments:
    four queries whatever the page size."""
    qs = Message.objects.filter(conversation_id=conversation_id).order_by("sequence")
    if after_sequence is not None:
        qs = qs.filter(sequence__gt=after_sequence)
    rows = list(qs[: limit + 1])
    page = TranscriptPage(messages=rows[:limit], has_more=len(rows) > limit)
    ids = [message.pk for message in page.messages]
    for feedback in Feedback.objects.filter(message_id__in=ids).select_related("user"):
        page.feedback.setdefault(feedback.message_id, []).append(feedback)
    for usage in ModelUsage.objects.filter(
        conversation_id=conversation_id, message_id__in=ids
    ).order_by("created_at", "id"):
        page.usage.setdefault(usage.message_id, []).append(usage)
    attachment_ids = {
        str(attachment.get("id"))
        for message in page.messages
        if isinstance(message.data, dict)
        for attachment in message.data.get("attachments") or []
        if isinstance(attachment, dict)
    }
    if attachment_ids:
        page.attachments = {a.pk: a for a in Attachment.objects.filter(pk__in=attachment_ids)}
    return page


def conversation_item_counts(*, conversation_ids: list[str]) -> dict[str, int]:
    """How many items each of these conversations has: one query over their
    rows of the (conversation, sequence) index, whatever the table size."""
    return dict(
        Message.objects.filter(conversation_id__in=conversation_ids)
        .order_by()
        .values_list("conversation_id")
        .annotate(n=Count("id"))
    )


def conversation_usage_totals(*, conversation_id: str) -> dict[str, int]:
    totals = ModelUsage.objects.filter(conversation_id=conversation_id).aggregate(
        responses=Count("id"), input_tokens=Sum("input_tokens"), output_tokens=Sum("output_tokens")
    )
    return {name: value or 0 for name, value in totals.items()}


def conversations_for_export(
    *, username: str | None = None, since: datetime | None = None
) -> QuerySet[Conversation]:
    """Conversations an export covers: one user's, and/or active since a date."""
    qs = Conversation.objects.all()
    if username:
        qs = qs.filter(owner__username=username)
    if since is not None:
        qs = qs.filter(updated_at__gte=since)
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
    from .transcript import format_timestamp as ts

    last_id: str | None = None
    while True:
        page = queryset.select_related("owner").order_by("pk")
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
        attachments = _records_by_conversation(
            Attachment.objects.filter(conversation_id__in=ids).order_by(
                "conversation_id", "created_at", "id"
            ),
            {"owner": "owner__username", **{name: name for name in _ATTACHMENT_FIELDS}},
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
                "created_at": ts(conversation.created_at),
                "updated_at": ts(conversation.updated_at),
                "items": data,
                "interrupted": interrupted,
                "feedback": feedback.get(conversation.pk, []),
                "usage": usage.get(conversation.pk, []),
                "attachments": attachments.get(conversation.pk, []),
            }


# A usage row's values, exported (and imported, services.conversation_import)
# as they are stored, beside the renamed relations above.
USAGE_VALUE_FIELDS = (
    "provider",
    "model",
    "purpose",
    "input_tokens",
    "output_tokens",
    "latency_ms",
    "error",
)
_ATTACHMENT_FIELDS = (
    "id",
    "kind",
    "name",
    "mime_type",
    "size",
    "preview_url",
    "file",
    "preview",
    "data",
    "uploaded_at",
    "created_at",
)


def _records_by_conversation(
    queryset: QuerySet, fields: dict[str, str]
) -> dict[str, list[dict[str, Any]]]:
    """``{conversation_id: [{name: value}]}`` for the ``fields`` (record name
    -> ORM path) of ``queryset``, timestamps as full-precision ISO strings."""
    from .transcript import format_timestamp

    grouped: dict[str, list[dict[str, Any]]] = {}
    for conversation_id, *values in queryset.values_list("conversation_id", *fields.values()):
        record = {
            name: format_timestamp(value) if isinstance(value, datetime) else value
            for name, value in zip(fields, values, strict=True)
        }
        grouped.setdefault(conversation_id, []).append(record)
    return grouped


def conversations_inactive_since(
    *, before: datetime, status: str | None = None
) -> QuerySet[Conversation]:
    """Conversations with no activity since ``before`` (what prune deletes)."""
    qs = Conversation.objects.filter(updated_at__lt=before)
    if status:
        qs = qs.filter(status=status)
    return qs


def conversations_contents_count(*, queryset: QuerySet[Conversation]) -> dict[str, int]:
    """How many conversations, items and attachment rows ``queryset`` holds."""
    return {
        "conversations": queryset.count(),
        "items": Message.objects.filter(conversation__in=queryset.values("pk")).count(),
        "attachments": Attachment.objects.filter(conversation__in=queryset.values("pk")).count(),
    }


def usage_stats(*, since: datetime) -> dict[str, Any]:
    """Totals for ``chatkit_stats``: all time, and since ``since``."""
    by_status = dict(Conversation.objects.order_by().values_list("status").annotate(n=Count("id")))
    tokens = (
        ModelUsage.objects.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .order_by()
        .values("day", "provider", "model")
        .annotate(
            responses=Count("id"),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            errors=Count("id", filter=~Q(error="")),
        )
        .order_by("day", "provider", "model")
    )
    recent = Conversation.objects.filter(updated_at__gte=since)
    return {
        "since": since,
        "conversations": {
            "total": sum(by_status.values()),
            "by_status": {status: by_status.get(status, 0) for status in Conversation.Status},
            "active_since": recent.count(),
        },
        "messages": {
            "total": Message.objects.count(),
            "since": Message.objects.filter(created_at__gte=since).count(),
        },
        "users": {
            "with_conversations": Conversation.objects.values("owner_id").distinct().count(),
            "active_since": recent.values("owner_id").distinct().count(),
        },
        "tokens_by_day": [
            {**row, "day": row["day"].isoformat() if row["day"] else None} for row in tokens
        ],
    }


def usage_by_user(*, since: datetime, prices: dict[str, Any]) -> list[dict[str, Any]]:
    """Tokens per user and model since ``since`` (one grouped query), with
    their cost where ``prices`` ({model: [input, output] per million tokens})
    knows the model; users by cost, then tokens, highest first."""
    rows = (
        ModelUsage.objects.filter(created_at__gte=since)
        .order_by()
        .values("user__username", "model")
        .annotate(
            calls=Count("id"), input_tokens=Sum("input_tokens"), output_tokens=Sum("output_tokens")
        )
    )
    users: dict[str, dict[str, Any]] = {}
    for row in rows:
        user = users.setdefault(
            row["user__username"],
            {
                "user": row["user__username"],
                "calls": 0,
                "input_tokens": 0,
                "output_tokens": 0,
                "cost": 0.0,
                "unpriced_models": [],
            },
        )
        user["calls"] += row["calls"]
        user["input_tokens"] += row["input_tokens"]
        user["output_tokens"] += row["output_tokens"]
        price = prices.get(row["model"])
        if price is None:
            user["unpriced_models"].append(row["model"])
        else:
            user["cost"] += (row["input_tokens"] * price[0] + row["output_tokens"] * price[1]) / 1e6
    return sorted(
        users.values(),
        key=lambda u: (-u["cost"], -(u["input_tokens"] + u["output_tokens"]), u["user"]),
    )


def attachments_orphaned(*, before: datetime) -> QuerySet[Attachment]:
    """Attachments created before ``before`` that no message carries."""
    return Attachment.objects.filter(conversation__isnull=True, created_at__lt=before)
