"""
Read-only queries shared by the ChatKit store, views, admin and commands.

Every function that takes ``owner`` scopes its query to that user: a row
owned by someone else raises ``DoesNotExist`` exactly like a missing one, so
callers cannot leak which ids exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, ExpressionWrapper, F, Q, QuerySet, Sum, TextField
from django.db.models.functions import TruncDate

from .models import Annotation, Attachment, Conversation, Feedback, Message, ModelUsage
from .statements import CompiledQuery

Order = Literal["asc", "desc"]


class CursorNotFound(Exception):
    """The ``after`` cursor names no row the caller can see."""


def conversation_get(*, owner: AbstractBaseUser, conversation_id: str) -> Conversation:
    """The owner's conversation; ``Conversation.DoesNotExist`` if they have
    no such one (every follow-up turn loads its thread this way)."""
    found = _CONVERSATION(conversation_id, owner.pk)
    if not found:
        raise Conversation.DoesNotExist(f"No conversation {conversation_id!r} of this user.")
    return found[0]


_CONVERSATION = CompiledQuery(
    lambda conversation_id, owner_id: Conversation.objects.filter(
        pk=conversation_id, owner_id=owner_id
    ).order_by()[:1]
)


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


#: A message's ``data`` (the complete item) as the JSON text the database
#: sends, not decoded: ``serialization.item_from_json`` parses it straight
#: into the item's model, without building Python dicts (and model rows,
#: with every other column) first. Both databases send JSON as text
#: (Django's PostgreSQL backend loads jsonb unparsed).
MESSAGE_JSON = ExpressionWrapper(F("data"), output_field=TextField())


def message_page(
    *,
    owner: AbstractBaseUser,
    conversation_id: str,
    limit: int,
    after: str | None,
    order: Order,
) -> tuple[list[str], bool]:
    """A page of a conversation's items in insertion order, keyset-paginated
    on the per-conversation sequence, so items added between two page loads
    never shift or repeat what the client already has: each item's JSON
    (``MESSAGE_JSON``), and whether more follow.

    One query (two with a cursor) when the page has items: a row scoped to
    the owner proves the conversation is theirs. Only an empty answer asks
    whether the conversation exists at all."""
    extra: tuple[int, ...] = ()
    if after:
        sequences = _ITEM_SEQUENCE(conversation_id, owner.pk, after)
        if not sequences:
            _conversation_must_exist(owner, conversation_id)
            raise CursorNotFound(after)
        extra = (sequences[0],)
    rows = _ITEM_PAGE(conversation_id, owner.pk, *extra, shape=(order, limit))
    if not rows and not after:
        _conversation_must_exist(owner, conversation_id)
    return rows[:limit], len(rows) > limit


def _items_of(conversation_id: str, owner_id: int) -> QuerySet[Message]:
    return Message.objects.filter(conversation_id=conversation_id, conversation__owner_id=owner_id)


#: The reads of ``message_page`` and ``message_recent``, built once
#: (``statements.CompiledQuery``): an items.list, and every turn's history.
_ITEM_SEQUENCE = CompiledQuery(
    lambda conversation_id, owner_id, item_id: (
        _items_of(conversation_id, owner_id)
        .filter(pk=item_id)
        .values_list("sequence", flat=True)[:1]
    )
)


def _item_page(
    order: Order, limit: int, conversation_id: str, owner_id: int, *after: int
) -> QuerySet[Message]:
    items = _items_of(conversation_id, owner_id)
    if after:
        (sequence,) = after
        items = (
            items.filter(sequence__gt=sequence)
            if order == "asc"
            else items.filter(sequence__lt=sequence)
        )
    return items.order_by("sequence" if order == "asc" else "-sequence").values_list(
        MESSAGE_JSON, flat=True
    )[: limit + 1]


_ITEM_PAGE = CompiledQuery(_item_page)

_RECENT_ITEMS = CompiledQuery(
    lambda limit, conversation_id, owner_id: (
        _items_of(conversation_id, owner_id)
        .order_by("-sequence")
        .values_list(MESSAGE_JSON, flat=True)[:limit]
    )
)


def _conversation_must_exist(owner: AbstractBaseUser, conversation_id: str) -> None:
    if not Conversation.objects.filter(pk=conversation_id, owner=owner).exists():
        raise Conversation.DoesNotExist(conversation_id)


def message_recent(*, owner: AbstractBaseUser, conversation_id: str, limit: int) -> list[str]:
    """The JSON (``MESSAGE_JSON``) of the last ``limit`` items of a
    conversation, oldest first, in one query."""
    rows = _RECENT_ITEMS(conversation_id, owner.pk, shape=(limit,))
    rows.reverse()
    return rows


def message_json(*, owner: AbstractBaseUser, conversation_id: str, message_id: str) -> str:
    """One item's JSON (``MESSAGE_JSON``); ``Message.DoesNotExist`` if the
    owner has no such item in that conversation."""
    return Message.objects.values_list(MESSAGE_JSON, flat=True).get(
        pk=message_id, conversation_id=conversation_id, conversation__owner=owner
    )


def reply_finished(*, conversation_id: str) -> bool:
    """Whether the thread's last item is an assistant answer stored whole."""
    last = (
        Message.objects.filter(conversation_id=conversation_id)
        .order_by("-sequence")
        .values_list("type", "interrupted")
        .first()
    )
    return last == ("assistant_message", False)


def attachment_get(*, owner: AbstractBaseUser, attachment_id: str) -> Attachment:
    return Attachment.objects.get(pk=attachment_id, owner=owner)


# --- staff tools: admin and maintenance commands -------------------------------
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
    annotations: dict[str, list[Annotation]] = field(default_factory=dict)


def conversation_transcript(
    *, conversation_id: str, after_sequence: int | None, limit: int
) -> TranscriptPage:
    """Items in sequence order with their feedback, usage, attachments and
    staff annotations: five queries whatever the page size."""
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
    for annotation in (
        Annotation.objects.filter(answer_id__in=ids)
        .select_related("author")
        .order_by("created_at", "id")
    ):
        page.annotations.setdefault(annotation.answer_id, []).append(annotation)
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
            errors=Count("id", filter=ModelUsage.failed()),
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
