"""
Write operations shared by the ChatKit store, admin actions and commands.

Each function is one transaction. ``owner`` scopes every write: an id that
belongs to another user behaves as missing (``DoesNotExist``) and nothing of
theirs is touched.
"""

from __future__ import annotations

import mimetypes
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chatkit.types import Attachment as AttachmentModel
from chatkit.types import ThreadItem, ThreadMetadata
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from pydantic import ValidationError

from . import live_events
from .models import Attachment, Conversation, Feedback, Message, ModelUsage
from .selectors import USAGE_VALUE_FIELDS, attachments_orphaned
from .serialization import (
    attachment_from_data,
    attachment_to_data,
    aware,
    item_from_data,
    item_to_fields,
    thread_to_fields,
)


class IdCollision(Exception):
    """An id the caller supplied already belongs to another user's data."""


@transaction.atomic
def conversation_save(*, owner: AbstractBaseUser, thread: ThreadMetadata) -> Conversation:
    """Create or update the conversation for a ChatKit thread."""
    fields = thread_to_fields(thread)
    conversation = Conversation.objects.select_for_update().filter(pk=thread.id).first()
    if conversation is None:
        conversation = Conversation.objects.create(
            id=thread.id, owner=owner, created_at=aware(thread.created_at), **fields
        )
        live_events.conversation_saved(conversation, created=True)
        return conversation
    if conversation.owner_id != owner.pk:
        raise IdCollision(thread.id)
    for name, value in fields.items():
        setattr(conversation, name, value)
    conversation.updated_at = timezone.now()
    conversation.save(update_fields=[*fields, "updated_at"])
    live_events.conversation_saved(conversation, created=False)
    return conversation


@transaction.atomic
def conversation_set_status(
    *, conversation: Conversation, status: str, reason: str = ""
) -> Conversation:
    conversation.status = status
    conversation.status_reason = reason
    conversation.updated_at = timezone.now()
    conversation.save(update_fields=["status", "status_reason", "updated_at"])
    live_events.conversation_saved(conversation, created=False)
    return conversation


@transaction.atomic
def conversation_delete(*, owner: AbstractBaseUser, conversation_id: str) -> None:
    conversation = Conversation.objects.get(pk=conversation_id, owner=owner)
    _delete_conversations(Conversation.objects.filter(pk=conversation.pk))


def conversations_delete(*, queryset) -> int:
    """Delete conversations with their items and attachment files (admin, prune)."""
    with transaction.atomic():
        return _delete_conversations(queryset)


def _delete_conversations(queryset) -> int:
    ids = list(queryset.values_list("pk", flat=True))
    files = list(
        Attachment.objects.filter(conversation_id__in=ids)
        .exclude(file="")
        .values_list("file", "preview")
    )
    Message.objects.filter(conversation_id__in=ids).delete()
    _, deleted = Conversation.objects.filter(pk__in=ids).delete()
    count = deleted.get(Conversation._meta.label, 0)
    # Files are removed only once the rows are gone for good.
    transaction.on_commit(lambda: _delete_files(files))
    return count


def _delete_files(names: list[tuple[str, str]]) -> None:
    from django.core.files.storage import default_storage

    for pair in names:
        for name in pair:
            if name:
                default_storage.delete(name)


@transaction.atomic
def message_upsert(
    *,
    owner: AbstractBaseUser,
    conversation_id: str,
    item: ThreadItem,
    interrupted: bool | None = None,
) -> Message:
    """Insert a thread item, or replace it if the id is already in this thread.

    New items take the conversation's next sequence number under its row
    lock, which keeps insertion order total even when timestamps tie.
    ``interrupted`` marks a reply that was stopped before it finished; left
    as None, an update keeps the mark the row already has.
    """
    conversation = (
        Conversation.objects.select_for_update()
        .only("pk", "owner_id")
        .get(pk=conversation_id, owner=owner)
    )
    fields = item_to_fields(item)
    existing = (
        Message.objects.filter(pk=item.id)
        .only("pk", "conversation_id", "sequence", "interrupted")
        .first()
    )
    now = timezone.now()
    if existing is not None:
        if existing.conversation_id != conversation.pk:
            raise IdCollision(item.id)
        if interrupted is not None:
            fields["interrupted"] = interrupted
        Message.objects.filter(pk=item.id).update(**fields, updated_at=now)
        message = existing
        for name, value in {**fields, "updated_at": now}.items():
            setattr(message, name, value)
    else:
        Conversation.objects.filter(pk=conversation.pk).update(item_sequence=F("item_sequence") + 1)
        sequence = Conversation.objects.filter(pk=conversation.pk).values_list(
            "item_sequence", flat=True
        )[0]
        message = Message.objects.create(
            id=item.id,
            conversation_id=conversation.pk,
            sequence=sequence,
            interrupted=bool(interrupted),
            **fields,
        )
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=now)
    live_events.item_saved(message)
    return message


@transaction.atomic
def message_delete(*, owner: AbstractBaseUser, conversation_id: str, message_id: str) -> None:
    deleted, _ = Message.objects.filter(
        pk=message_id, conversation_id=conversation_id, conversation__owner=owner
    ).delete()
    if not deleted:
        raise Message.DoesNotExist(message_id)
    live_events.item_removed(conversation_id=conversation_id, item_id=message_id)


@transaction.atomic
def attachment_save(*, owner: AbstractBaseUser, attachment: AttachmentModel) -> Attachment:
    """Upsert attachment metadata (the SDK saves it again once it has a thread)."""
    existing = Attachment.objects.select_for_update().filter(pk=attachment.id).first()
    if existing is not None and existing.owner_id != owner.pk:
        raise IdCollision(attachment.id)
    conversation_id = attachment.thread_id
    if (
        conversation_id
        and not Conversation.objects.filter(pk=conversation_id, owner=owner).exists()
    ):
        raise Conversation.DoesNotExist(conversation_id)
    values = {
        "owner": owner,
        "conversation_id": conversation_id,
        "kind": attachment.type,
        "name": attachment.name[:255],
        "mime_type": attachment.mime_type[:255],
        "preview_url": str(getattr(attachment, "preview_url", "") or ""),
        "data": attachment_to_data(attachment),
    }
    if existing is None:
        return Attachment.objects.create(id=attachment.id, **values)
    for name, value in values.items():
        setattr(existing, name, value)
    existing.save()
    return existing


@transaction.atomic
def attachment_delete(*, owner: AbstractBaseUser, attachment_id: str) -> None:
    attachment = Attachment.objects.select_for_update().get(pk=attachment_id, owner=owner)
    files = [(attachment.file.name, attachment.preview.name)]
    attachment.delete()
    transaction.on_commit(lambda: _delete_files(files))


class AttachmentAlreadyUploaded(Exception):
    """The attachment's bytes were uploaded before; an upload is one-shot."""


def attachment_store_upload(
    *, attachment: Attachment, content: File, mime_type: str, preview: File | None
) -> Attachment:
    """Store the uploaded bytes (and image preview) of an attachment that
    ``attachments.create`` recorded, under random names; the SDK's copy of
    the attachment loses its upload descriptor (the upload is done)."""
    stored: list[str] = []
    try:
        with transaction.atomic():
            row = Attachment.objects.select_for_update().get(pk=attachment.pk)
            if row.uploaded_at is not None:
                raise AttachmentAlreadyUploaded(row.pk)
            suffix = mimetypes.guess_extension(mime_type) or ""
            row.file.save(f"{uuid.uuid4().hex}{suffix}", content, save=False)
            stored.append(row.file.name)
            if preview is not None:
                row.preview.save(f"{uuid.uuid4().hex}.webp", preview, save=False)
                stored.append(row.preview.name)
            model = attachment_from_data(row.data).model_copy(
                update={"mime_type": mime_type, "upload_descriptor": None}
            )
            row.mime_type = mime_type
            row.size = content.size
            row.uploaded_at = timezone.now()
            row.data = attachment_to_data(model)
            row.save()
    except BaseException:
        # The row is as it was; the bytes written before the failure go.
        _delete_files([tuple(stored)] if stored else [])
        raise
    return row


def attachments_prune_orphans(*, older_than: datetime) -> int:
    """Delete attachments never sent in a message (uploads the user removed
    from the composer, or abandoned) created before ``older_than``, with
    their files. Returns how many were deleted."""
    with transaction.atomic():
        orphans = attachments_orphaned(before=older_than)
        files = list(orphans.values_list("file", "preview"))
        count, _ = orphans.delete()
        transaction.on_commit(lambda: _delete_files(files))
    return count


@transaction.atomic
def feedback_record(
    *, owner: AbstractBaseUser, conversation_id: str, item_ids: list[str], kind: str
) -> list[Feedback]:
    """Record the owner's thumbs up or down on items of their conversation.

    Giving feedback again replaces the earlier kind. Every item must belong
    to the owner's conversation, or nothing is recorded.
    """
    conversation = Conversation.objects.get(pk=conversation_id, owner=owner)
    wanted = set(item_ids)
    messages = list(Message.objects.filter(conversation=conversation, pk__in=wanted).only("pk"))
    if len(messages) != len(wanted):
        raise Message.DoesNotExist(", ".join(sorted(wanted - {m.pk for m in messages})))
    recorded = []
    for message in messages:
        feedback, _ = Feedback.objects.update_or_create(
            message=message,
            user=owner,
            defaults={"kind": kind, "conversation": conversation, "created_at": timezone.now()},
        )
        recorded.append(feedback)
    live_events.feedback_recorded(recorded, user=owner)
    return recorded


def usage_record(
    *,
    user: AbstractBaseUser,
    thread_id: str,
    message_id: str,
    provider: str,
    model: str,
    purpose: str,
    input_tokens: int,
    output_tokens: int,
    latency_ms: int,
    error: str = "",
) -> ModelUsage:
    """Record one model call. The conversation may be gone already (deleted
    while the answer streamed); the usage row stays, for cost reporting."""
    conversation_id = (
        Conversation.objects.filter(pk=thread_id, owner=user).values_list("pk", flat=True).first()
    )
    usage = ModelUsage.objects.create(
        user=user,
        conversation_id=conversation_id,
        message_id=message_id,
        provider=provider,
        model=model[:100],
        purpose=purpose,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        latency_ms=latency_ms,
        error=error[:255],
    )
    live_events.usage_recorded(usage)
    return usage


# --- staff tools: import and prune ----------------------------------------------


class ImportRecordError(ValueError):
    """An exported conversation record that cannot be imported as it is."""


def conversation_import(*, record: Mapping[str, Any]) -> bool:
    """Recreate a conversation exported by ``selectors.conversation_export``
    exactly: ids, timestamps, the items' JSON as stored, interrupted marks,
    feedback, usage and attachment rows. Users are matched by username and
    created, with no usable password, when missing.

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
    return True


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


@dataclass
class PruneCounts:
    conversations: int = 0
    items: int = 0
    attachments: int = 0


def conversations_prune(
    *,
    queryset: QuerySet[Conversation],
    batch_size: int = 500,
    on_batch: Callable[[PruneCounts], None] | None = None,
) -> PruneCounts:
    """Delete the conversations of ``queryset`` with their items and
    attachment files, ``batch_size`` per transaction: a prune of millions of
    rows never holds one huge transaction or its locks, and stopping it half
    way loses nothing that was meant to stay. ``on_batch`` gets each batch's
    counts (for progress)."""
    total = PruneCounts()
    while True:
        candidates = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not candidates:
            return total
        with transaction.atomic():
            # Filtered again inside the transaction: a conversation that
            # became active since the query above is kept.
            ids = list(queryset.filter(pk__in=candidates).values_list("pk", flat=True))
            batch = PruneCounts(
                conversations=len(ids),
                items=Message.objects.filter(conversation_id__in=ids).count(),
                attachments=Attachment.objects.filter(conversation_id__in=ids).count(),
            )
            _delete_conversations(Conversation.objects.filter(pk__in=ids))
        total.conversations += batch.conversations
        total.items += batch.items
        total.attachments += batch.attachments
        if on_batch is not None:
            on_batch(batch)
