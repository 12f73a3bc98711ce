"""
Import: an exported conversation recreated exactly (ids, timestamps, the
items' JSON as stored), or refused whole with a reason
(``chatkit_import``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from chatkit.types import ThreadItem
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils.dateparse import parse_datetime
from pydantic import ValidationError

from ..models import (
    Annotation,
    Attachment,
    Conversation,
    Feedback,
    Handoff,
    Message,
    ModelUsage,
)
from ..serialization import aware, item_from_data, item_to_fields
from .records import HANDOFF_TIMES, USAGE_VALUE_FIELDS


class ImportRecordError(ValueError):
    """An exported conversation record that cannot be imported as it is."""


def conversation_import(*, record: Mapping[str, Any]) -> bool:
    """Recreate a conversation exported by ``export.conversation_export``
    exactly: ids, timestamps, the items' JSON as stored, interrupted marks,
    feedback, usage and attachment rows, the review flag, the staff
    annotations and the handoff to a person (files of earlier versions,
    without them, import too).
    Users are matched by username and created, with no usable password,
    when missing.

    Returns False and changes nothing when the conversation already exists,
    so importing the same file twice adds nothing. Raises ImportRecordError
    for a record that does not fit, and then stores nothing of it.
    """
    try:
        return _conversation_import(record)
    except ImportRecordError:
        raise
    except (IntegrityError, ValueError, TypeError, KeyError, DjangoValidationError) as error:
        # Rolled back by the atomic block: a value the database or a field
        # refused (a repeated feedback, a count that is not a number, …).
        raise ImportRecordError(f"{type(error).__name__}: {error}") from None


@transaction.atomic
def _conversation_import(record: Mapping[str, Any]) -> bool:
    conversation_id = _field(record, "id", str)
    if Conversation.objects.filter(pk=conversation_id).exists():
        return False
    status = _field(record, "status", str)
    if status not in Conversation.Status.values:
        raise ImportRecordError(f"unknown status {status!r}")
    items = [
        _import_item(conversation_id, n, data)
        for n, data in enumerate(_field(record, "items", list), 1)
    ]
    ids = [item.id for item, _ in items]
    if len(set(ids)) != len(ids):
        raise ImportRecordError("the same item id appears twice")
    taken = list(Message.objects.filter(pk__in=ids).values_list("pk", flat=True)[:3])
    if taken:
        raise ImportRecordError(
            f"item ids already used by another conversation: {', '.join(taken)}"
        )
    users = _ImportUsers()
    flag = record.get("flag") or {}
    if not isinstance(flag, Mapping):
        raise ImportRecordError("'flag' is not an object")
    conversation = Conversation.objects.create(
        id=conversation_id,
        owner=users.get(_field(record, "owner", str)),
        title=str(record.get("title") or "")[:255],
        status=status,
        status_reason=str(record.get("status_reason") or "")[:255],
        allowed_image_domains=record.get("allowed_image_domains"),
        metadata=record.get("metadata") or {},
        item_sequence=len(items),
        created_at=_timestamp(record, "created_at"),
        updated_at=_timestamp(record, "updated_at"),
        flagged_at=_timestamp(flag, "flagged_at") if flag else None,
        flagged_by=users.get(str(flag["flagged_by"])) if flag.get("flagged_by") else None,
        flag_reason=str(flag.get("reason") or "")[:255],
        flag_note=str(flag.get("note") or ""),
    )
    interrupted = set(record.get("interrupted") or [])
    Message.objects.bulk_create(
        [
            Message(
                conversation=conversation,
                id=item.id,
                sequence=sequence,
                interrupted=item.id in interrupted,
                # The JSON exactly as exported, not re-dumped: lossless even
                # for fields this SDK version does not know.
                **{**item_to_fields(item), "data": data},
            )
            for sequence, (item, data) in enumerate(items, 1)
        ],
        batch_size=500,
    )
    for row in record.get("attachments") or []:
        attachment_id = _field(row, "id", str)
        if Attachment.objects.filter(pk=attachment_id).exists():
            raise ImportRecordError(f"attachment {attachment_id} already exists")
        Attachment.objects.create(
            id=attachment_id,
            owner=users.get(_field(row, "owner", str)),
            conversation=conversation,
            kind=str(row.get("kind") or Attachment.Kind.FILE),
            name=str(row.get("name") or "")[:255],
            mime_type=str(row.get("mime_type") or "")[:255],
            data=row.get("data") or {},
            size=int(row.get("size") or 0),
            preview_url=str(row.get("preview_url") or ""),
            file=str(row.get("file") or ""),
            preview=str(row.get("preview") or ""),
            uploaded_at=_timestamp(row, "uploaded_at") if row.get("uploaded_at") else None,
            created_at=_timestamp(row, "created_at"),
        )
    known = set(ids)
    for row in record.get("feedback") or []:
        item_id = _field(row, "item_id", str)
        if item_id not in known:
            raise ImportRecordError(f"feedback on {item_id}, which is not an item of this thread")
        Feedback.objects.create(
            conversation=conversation,
            message_id=item_id,
            user=users.get(_field(row, "user", str)),
            kind=_field(row, "kind", str),
            created_at=_timestamp(row, "created_at"),
        )
    answers = {item.id for item, _ in items if item.type == "assistant_message"}
    for row in record.get("annotations") or []:
        item_id = _field(row, "item_id", str)
        if item_id not in answers:
            raise ImportRecordError(
                f"annotation of {item_id}, which is not an answer of this thread"
            )
        Annotation.objects.create(
            conversation=conversation,
            answer_id=item_id,
            author=users.get(str(row["author"])) if row.get("author") else None,
            label=_field(row, "label", str)[:64],
            note=str(row.get("note") or ""),
            corrected_text=str(row.get("corrected_text") or ""),
            created_at=_timestamp(row, "created_at"),
            updated_at=_timestamp(row, "updated_at"),
        )
    ModelUsage.objects.bulk_create(
        [
            ModelUsage(
                conversation=conversation,
                user=users.get(_field(row, "user", str)),
                message_id=str(row.get("message_id") or ""),
                **{name: row[name] for name in USAGE_VALUE_FIELDS if name in row},
                created_at=_timestamp(row, "created_at"),
            )
            for row in record.get("usage") or []
        ]
    )
    _import_handoff(conversation, record.get("handoff"), users)
    return True


def _import_handoff(conversation: Conversation, row: Any, users: _ImportUsers) -> None:
    if not row:
        return
    if not isinstance(row, Mapping):
        raise ImportRecordError("'handoff' is not an object")
    state = _field(row, "state", str)
    if state not in Handoff.State.values:
        raise ImportRecordError(f"unknown handoff state {state!r}")
    holder = row.get("taken_over_by")
    Handoff.objects.create(
        conversation=conversation,
        state=state,
        request_reason=str(row.get("request_reason") or "")[:255],
        taken_over_by=users.get(str(holder)) if holder else None,
        # Only ``updated_at`` is always set; the others tell how far it got.
        **{
            name: _timestamp(row, name) if row.get(name) or name == "updated_at" else None
            for name in HANDOFF_TIMES
        },
    )


def _field(record: Mapping[str, Any], name: str, kind: type) -> Any:
    value = record.get(name) if isinstance(record, Mapping) else None
    if not isinstance(value, kind) or (kind is str and not value):
        raise ImportRecordError(f"{name!r} is missing or not a {kind.__name__}")
    return value


def _timestamp(record: Mapping[str, Any], name: str) -> datetime:
    value = parse_datetime(str(record.get(name) or ""))
    if value is None:
        raise ImportRecordError(f"{name!r} is missing or not an ISO 8601 timestamp")
    return aware(value)


def _import_item(conversation_id: str, position: int, data: Any) -> tuple[ThreadItem, Any]:
    try:
        item = item_from_data(data)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise ImportRecordError(
            f"item {position} is not a ChatKit thread item ({where}: {problem['msg']})"
        ) from None
    if item.thread_id != conversation_id:
        raise ImportRecordError(f"item {item.id} belongs to thread {item.thread_id}")
    return item, data


class _ImportUsers:
    """Users by username, created on first sight (no usable password: an
    operator sets one, or they sign in some other way)."""

    def __init__(self) -> None:
        self.model = get_user_model()
        self.cache: dict[str, AbstractBaseUser] = {}

    def get(self, username: str) -> AbstractBaseUser:
        if username not in self.cache:
            lookup = {self.model.USERNAME_FIELD: username}
            user = self.model.objects.filter(**lookup).first()
            if user is None:
                user = self.model(**lookup)
                user.set_unusable_password()
                user.save()
            self.cache[username] = user
        return self.cache[username]
