"""
Read-only queries shared by the ChatKit store, views, admin and commands.

Every function that takes ``owner`` scopes its query to that user: a row
owned by someone else raises ``DoesNotExist`` exactly like a missing one, so
callers cannot leak which ids exist.
"""

from __future__ import annotations

from typing import Literal

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet

from .models import Attachment, Conversation, Message

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
