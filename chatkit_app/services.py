"""
Write operations shared by the ChatKit store, admin actions and commands.

Each function is one transaction. ``owner`` scopes every write: an id that
belongs to another user behaves as missing (``DoesNotExist``) and nothing of
theirs is touched. What was written is announced through the core's signals
(``signals.py``), from inside the transaction; that is how the live updates
hear of every write, whoever made it.

Attachment rows and their files are written here too: the store (core)
saves them, and the core imports no concern (``tests/test_layout.py``).
The writes of runs and handoffs are in their packages.
"""

from __future__ import annotations

import functools
import mimetypes
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chatkit.types import Attachment as AttachmentModel
from chatkit.types import ThreadItem, ThreadMetadata
from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, Field, OuterRef, QuerySet
from django.utils import timezone

from . import signals
from .models import Annotation, Attachment, Conversation, Feedback, Message, ModelUsage
from .selectors import attachments_orphaned, reply_finished
from .serialization import (
    attachment_from_data,
    attachment_to_data,
    aware,
    item_to_fields,
    thread_to_fields,
)
from .statements import (
    insert_row,
    insert_rows,
    statement_cursor,
    update_columns,
    update_returning,
)


class IdCollision(Exception):
    """An id the caller supplied already belongs to another user's data."""


def conversation_save(
    *, owner: AbstractBaseUser, thread: ThreadMetadata, new: bool = False
) -> Conversation:
    """Create or update the conversation for a ChatKit thread: one
    statement, an UPDATE of the owner's row or else an INSERT (so no
    transaction of its own: either statement is one).

    ``new``: the caller has just generated the thread's id, so there is no
    row to update. An id that is someone else's is an ``IdCollision``.
    """
    fields = thread_to_fields(thread)
    now = timezone.now()
    if not new:
        updated = update_columns(
            Conversation, {**fields, "updated_at": now}, {"id": thread.id, "owner_id": owner.pk}
        )
        if updated:
            conversation = Conversation(
                id=thread.id,
                owner=owner,
                created_at=aware(thread.created_at),
                updated_at=now,
                **fields,
            )
            signals.conversation_saved.send(Conversation, conversation=conversation, created=False)
            return conversation
    conversation = Conversation(
        id=thread.id, owner=owner, created_at=aware(thread.created_at), updated_at=now, **fields
    )
    try:
        # Inside a caller's transaction, a collision must not end it.
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            insert_row(conversation)
    except IntegrityError:
        raise IdCollision(thread.id) from None
    signals.conversation_saved.send(Conversation, conversation=conversation, created=True)
    return conversation


def conversation_title_fill(
    *, owner: AbstractBaseUser, conversation_id: str, title: str
) -> Conversation | None:
    """Give an untitled conversation its title: one the title model wrote
    after the reply had ended. None, and nothing changed, if it has a title
    by now (the user named it) or is gone. One statement, which only
    changes a row still untitled."""
    conversation = update_returning(
        Conversation,
        {"title": title[:255], "updated_at": timezone.now()},
        {"id": conversation_id, "owner_id": owner.pk, "title": ""},
    )
    if conversation is None:
        return None
    signals.conversation_saved.send(Conversation, conversation=conversation, created=False)
    return conversation


@transaction.atomic
def conversation_set_status(
    *, conversation: Conversation, status: str, reason: str = ""
) -> Conversation:
    conversation.status = status
    conversation.status_reason = reason
    conversation.updated_at = timezone.now()
    conversation.save(update_fields=["status", "status_reason", "updated_at"])
    signals.conversation_saved.send(Conversation, conversation=conversation, created=False)
    return conversation


@transaction.atomic
def conversation_delete(*, owner: AbstractBaseUser, conversation_id: str) -> None:
    conversation = Conversation.objects.get(pk=conversation_id, owner=owner)
    _delete_conversations(Conversation.objects.filter(pk=conversation.pk))


@transaction.atomic
def conversation_discard_if_empty(*, owner: AbstractBaseUser, conversation_id: str) -> bool:
    """Delete a conversation that has no items at all: one whose stream
    failed before even the user's message was stored. True if it went."""
    empty = (
        Conversation.objects.select_for_update()
        .filter(pk=conversation_id, owner=owner)
        .exclude(Exists(Message.objects.filter(conversation_id=OuterRef("pk"))))
    )
    return _delete_conversations(empty) > 0


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

    A new item costs one statement on PostgreSQL (``_insert_new_item``) and
    two elsewhere, in a transaction: one UPDATE of the conversation (owner
    check, row lock, next sequence number, ``updated_at``, and whether the
    item's id is taken) and the INSERT. Replacing one reads it back first.
    """
    fields = item_to_fields(item)
    now = timezone.now()
    message = None
    if connection.vendor == "postgresql":
        message = _insert_new_item(owner, conversation_id, item.id, fields, bool(interrupted), now)
    if message is None:
        message = _message_upsert_locked(owner, conversation_id, item.id, fields, interrupted, now)
    signals.item_saved.send(Message, message=message)
    return message


def _new_message(
    conversation_id: str,
    item_id: str,
    sequence: int,
    fields: dict[str, Any],
    interrupted: bool,
    now: datetime,
) -> Message:
    return Message(
        id=item_id,
        conversation_id=conversation_id,
        sequence=sequence,
        interrupted=interrupted,
        updated_at=now,
        **fields,
    )


@transaction.atomic
def _message_upsert_locked(
    owner: AbstractBaseUser,
    conversation_id: str,
    item_id: str,
    fields: dict[str, Any],
    interrupted: bool | None,
    now: datetime,
) -> Message:
    sequence, taken_by = _claim_item_sequence(owner, conversation_id, item_id, now)
    if taken_by is None:
        message = _new_message(conversation_id, item_id, sequence, fields, bool(interrupted), now)
        insert_row(message)
        return message
    if taken_by != conversation_id:
        raise IdCollision(item_id)
    # The number claimed above goes unused: sequences need order, not density.
    message = Message.objects.only("pk", "conversation_id", "sequence", "interrupted").get(
        pk=item_id
    )
    if interrupted is not None:
        fields["interrupted"] = interrupted
    Message.objects.filter(pk=item_id).update(**fields, updated_at=now)
    for name, value in {**fields, "updated_at": now}.items():
        setattr(message, name, value)
    return message


@functools.cache
def _insert_new_item_statement() -> tuple[list[Field], str]:
    conversations, messages = Conversation._meta, Message._meta
    qn = connection.ops.quote_name
    sequence = qn(conversations.get_field("item_sequence").column)
    fields = [f for f in messages.concrete_fields if f.attname != "sequence"]
    columns = [qn(f.column) for f in fields]
    return fields, (
        f"WITH claimed AS (UPDATE {qn(conversations.db_table)} "
        f"SET {sequence} = {sequence} + 1, "
        f"{qn(conversations.get_field('updated_at').column)} = %s "
        f"WHERE {qn(conversations.pk.column)} = %s "
        f"AND {qn(conversations.get_field('owner').column)} = %s "
        f"AND NOT EXISTS (SELECT 1 FROM {qn(messages.db_table)} "
        f"WHERE {qn(messages.pk.column)} = %s) "
        f"RETURNING {sequence}) "
        f"INSERT INTO {qn(messages.db_table)} "
        f"({', '.join(columns)}, {qn(messages.get_field('sequence').column)}) "
        f"SELECT {', '.join(['%s'] * len(columns))}, {sequence} FROM claimed "
        f"ON CONFLICT DO NOTHING RETURNING {qn(messages.get_field('sequence').column)}"
    )


def _insert_new_item(
    owner: AbstractBaseUser,
    conversation_id: str,
    item_id: str,
    fields: dict[str, Any],
    interrupted: bool,
    now: datetime,
) -> Message | None:
    """PostgreSQL: claim the conversation's next sequence number and insert
    the item with it, in one statement (an UPDATE … RETURNING feeding the
    INSERT), so a new item needs no transaction of its own: the statement is
    one. The row lock and the numbering are those of
    ``_claim_item_sequence``. None, and nothing written, when the item's id
    is taken (a replacement, or a collision) or the conversation is missing
    or someone else's: ``_message_upsert_locked`` tells those apart."""
    statement_fields, sql = _insert_new_item_statement()
    message = _new_message(conversation_id, item_id, 0, fields, interrupted, now)
    params = [
        connection.ops.adapt_datetimefield_value(now),
        conversation_id,
        owner.pk,
        item_id,
        *(
            field.get_db_prep_save(getattr(message, field.attname), connection)
            for field in statement_fields
        ),
    ]
    with statement_cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    message.sequence = int(row[0])
    message._state.adding = False
    message._state.db = connection.alias
    return message


@functools.cache
def _claim_statement(vendor: str) -> str:
    conversations, messages = Conversation._meta, Message._meta
    qn = connection.ops.quote_name
    sequence = qn(conversations.get_field("item_sequence").column)
    return (
        f"UPDATE {qn(conversations.db_table)} "
        f"SET {sequence} = {sequence} + 1, {qn(conversations.get_field('updated_at').column)} = %s "
        f"WHERE {qn(conversations.pk.column)} = %s "
        f"AND {qn(conversations.get_field('owner').column)} = %s "
        f"RETURNING {sequence}, (SELECT {qn(messages.get_field('conversation').column)} "
        f"FROM {qn(messages.db_table)} WHERE {qn(messages.pk.column)} = %s)"
    )


def _claim_item_sequence(
    owner: AbstractBaseUser, conversation_id: str, item_id: str, now: datetime
) -> tuple[int, str | None]:
    """The owner's conversation's next item sequence number, with its
    ``updated_at`` set to ``now`` and its row locked until the transaction
    ends, and the conversation an item ``item_id`` already belongs to
    (None: the id is free). One statement (UPDATE … RETURNING, which
    PostgreSQL and SQLite 3.35+ both have); ``DoesNotExist`` when the
    conversation is missing or someone else's."""
    with statement_cursor() as cursor:
        cursor.execute(
            _claim_statement(connection.vendor),
            [connection.ops.adapt_datetimefield_value(now), conversation_id, owner.pk, item_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise Conversation.DoesNotExist(conversation_id)
    return int(row[0]), row[1]


@transaction.atomic
def stopped_reply_keep(
    *,
    owner: AbstractBaseUser,
    conversation_id: str,
    partial: list[ThreadItem],
    note: ThreadItem,
) -> None:
    """Keep what a stopped reply had said (marked interrupted) and the note
    that tells the next reply it was stopped: both, or neither.

    A client that leaves once the reply is finished and stored (while the
    stream still ends, a title is chosen) stopped nothing: no note then, or
    the next reply would be told that a whole answer was cancelled.
    """
    if not partial and reply_finished(conversation_id=conversation_id):
        return
    for item in partial:
        message_upsert(owner=owner, conversation_id=conversation_id, item=item, interrupted=True)
    message_upsert(owner=owner, conversation_id=conversation_id, item=note)


@transaction.atomic
def message_delete(*, owner: AbstractBaseUser, conversation_id: str, message_id: str) -> None:
    deleted, _ = Message.objects.filter(
        pk=message_id, conversation_id=conversation_id, conversation__owner=owner
    ).delete()
    if not deleted:
        raise Message.DoesNotExist(message_id)
    signals.item_removed.send(Message, conversation_id=conversation_id, item_id=message_id)


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


@transaction.atomic
def attachment_discard_pending(*, attachment_id: str) -> bool:
    """Delete an attachment whose upload was refused, only while nothing was
    uploaded to it and no message carries it (checked under the row lock, so
    a refused upload racing a good one never removes the good one's file).
    True if it was deleted."""
    attachment = (
        Attachment.objects.select_for_update()
        .filter(pk=attachment_id, uploaded_at__isnull=True, conversation__isnull=True)
        .first()
    )
    if attachment is None:
        return False
    files = [(attachment.file.name, attachment.preview.name)]
    attachment.delete()
    transaction.on_commit(lambda: _delete_files(files))
    return True


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
    signals.feedback_recorded.send(Feedback, feedbacks=recorded, user=owner)
    return recorded


def usage_record(*, user: AbstractBaseUser, thread_id: str, **call: Any) -> ModelUsage:
    """Record one model call: ``call`` holds the keyword arguments of
    ``_usage_row`` (see ``usages_record``)."""
    return usages_record(user=user, thread_id=thread_id, calls=[call])[0]


def usages_record(
    *, user: AbstractBaseUser, thread_id: str, calls: list[dict[str, Any]]
) -> list[ModelUsage]:
    """Record model calls made for the owner's thread ``thread_id``, in one
    INSERT. The conversation may be gone already (deleted while the answer
    streamed); the usage rows stay, for cost reporting, without it."""
    rows = [_usage_row(user, thread_id, **call) for call in calls]
    if connection.in_atomic_block:
        # A missing conversation would only fail the enclosing commit (the
        # foreign key is checked then): look it up first.
        if not Conversation.objects.filter(pk=thread_id, owner=user).exists():
            for row in rows:
                row.conversation_id = None
        insert_rows(ModelUsage, rows)
    else:
        try:
            insert_rows(ModelUsage, rows)
        except IntegrityError:
            for row in rows:
                row.pk, row.conversation_id = None, None
            insert_rows(ModelUsage, rows)
    for row in rows:
        signals.usage_recorded.send(ModelUsage, usage=row)
    return rows


def _usage_row(
    user: AbstractBaseUser,
    thread_id: str,
    *,
    message_id: str,
    provider: str,
    model: str,
    purpose: str,
    input_tokens: int,
    output_tokens: int,
    latency_ms: int,
    error: str = "",
    assistant: str = "",
    first_token_ms: int | None = None,
) -> ModelUsage:
    return ModelUsage(
        user=user,
        conversation_id=thread_id or None,
        message_id=message_id,
        provider=provider,
        model=model[:100],
        purpose=purpose,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        latency_ms=latency_ms,
        first_token_ms=first_token_ms,
        assistant=assistant[:64],
        error=error[:255],
    )


# --- staff tools: review ---------------------------------------------------------


@transaction.atomic
def conversation_flag(
    *, conversation: Conversation, by: AbstractBaseUser, reason: str = "", note: str = ""
) -> Conversation:
    """Flag ``conversation`` for review (the review queue lists it until it
    is unflagged). Flagging again replaces the reason and note, and the
    time and who, so the queue shows the latest word on it."""
    conversation.flagged_at = timezone.now()
    conversation.flagged_by = by
    conversation.flag_reason = reason.strip()[:255]
    conversation.flag_note = note.strip()
    conversation.save(update_fields=["flagged_at", "flagged_by", "flag_reason", "flag_note"])
    signals.conversation_flagged.send(Conversation, conversation=conversation, flagged=True, by=by)
    return conversation


@transaction.atomic
def conversation_unflag(*, conversation: Conversation, by: AbstractBaseUser) -> Conversation:
    """Clear the flag: the conversation leaves the queue's flagged source."""
    conversation.flagged_at = None
    conversation.flagged_by = None
    conversation.flag_reason = ""
    conversation.flag_note = ""
    conversation.save(update_fields=["flagged_at", "flagged_by", "flag_reason", "flag_note"])
    signals.conversation_flagged.send(Conversation, conversation=conversation, flagged=False, by=by)
    return conversation


class NotAnAnswer(ValueError):
    """Only assistant answers are annotated."""


@transaction.atomic
def annotation_save(
    *,
    answer: Message,
    author: AbstractBaseUser,
    label: str,
    note: str = "",
    corrected_text: str = "",
) -> Annotation:
    """Add ``author``'s annotation of ``answer``, or change the one they
    already wrote (one per answer and author). The label is checked by the
    caller's form against ``CHATKIT_REVIEW_LABELS``: a list that changed
    since must not make older annotations unsavable here."""
    if answer.type != "assistant_message":
        raise NotAnAnswer(answer.pk)
    now = timezone.now()
    values = {
        "conversation_id": answer.conversation_id,
        "label": label[:64],
        "note": note.strip(),
        "corrected_text": corrected_text.strip(),
        "updated_at": now,
    }
    annotation, _ = Annotation.objects.update_or_create(
        answer=answer,
        author=author,
        defaults=values,
        create_defaults={**values, "created_at": now},
    )
    return annotation


@transaction.atomic
def annotation_delete(*, answer: Message, author: AbstractBaseUser) -> bool:
    deleted, _ = Annotation.objects.filter(answer=answer, author=author).delete()
    return bool(deleted)


# --- staff tools: prune -----------------------------------------------------------


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
