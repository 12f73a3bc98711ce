"""
Writes of attachment rows and their stored files: the SDK's metadata
(``attachment_save``, ``attachment_delete``), the uploaded bytes
(``attachment_store_upload``) and the clean-up of uploads refused or never
sent (``attachment_discard_pending``, ``attachments_prune_orphans``).

As in ``chatkit_app.services``: each function is one transaction and
``owner`` scopes every write. Files are removed only once the rows are gone
for good (on commit).
"""

from __future__ import annotations

import mimetypes
import uuid
from datetime import datetime

from chatkit.types import Attachment as AttachmentModel
from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from ..models import Attachment, Conversation
from ..selectors import attachments_orphaned
from ..serialization import attachment_from_data, attachment_to_data
from ..services import IdCollision, delete_files


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
    transaction.on_commit(lambda: delete_files(files))


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
    transaction.on_commit(lambda: delete_files(files))
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
        delete_files([tuple(stored)] if stored else [])
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
        transaction.on_commit(lambda: delete_files(files))
    return count
