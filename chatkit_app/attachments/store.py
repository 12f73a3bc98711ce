"""
``DjangoAttachmentStore``: the SDK's two-phase upload on Django storage.

``attachments.create`` records the attachment and answers with an upload
descriptor: a link signed for this attachment and its owner (``links``), to
which the client POSTs the file (multipart, field ``file``; ``views``).

Deleting is split the way the SDK calls it: ``delete_attachment`` here checks
ownership, then ``DjangoStore`` deletes the row, and the files go once that
transaction commits.
"""

from __future__ import annotations

from chatkit.store import AttachmentStore, NotFoundError
from chatkit.types import Attachment as AttachmentModel
from chatkit.types import (
    AttachmentCreateParams,
    AttachmentUploadDescriptor,
    FileAttachment,
    ImageAttachment,
    UserMessageInput,
)

from .. import selectors
from ..conf import chatkit_settings
from ..context import RequestContext
from ..db import db_call
from ..ids import generate_id
from ..models import Attachment
from ..request_errors import ChatKitRequestError
from .links import base_url, signed_url
from .uploads import check_declared, kind_of


class DjangoAttachmentStore(AttachmentStore[RequestContext]):
    def generate_attachment_id(self, mime_type: str, context: RequestContext) -> str:
        return generate_id("attachment")

    async def create_attachment(
        self, input: AttachmentCreateParams, context: RequestContext
    ) -> AttachmentModel:
        # The SDK saves what this returns through DjangoStore.save_attachment.
        check_declared(size=input.size, mime_type=input.mime_type)
        attachment_id = self.generate_attachment_id(input.mime_type, context)
        base = base_url(context)
        descriptor = AttachmentUploadDescriptor(
            url=signed_url(base, "upload", attachment_id, context.user.pk), method="POST"
        )
        fields = {
            "id": attachment_id,
            "name": input.name[:255],
            "mime_type": input.mime_type,
            "upload_descriptor": descriptor,
            "metadata": {"declared_size": input.size},
        }
        if kind_of(input.mime_type) == "image":
            preview = signed_url(base, "preview", attachment_id, context.user.pk)
            return ImageAttachment(**fields, preview_url=preview)
        return FileAttachment(**fields)

    async def delete_attachment(self, attachment_id: str, context: RequestContext) -> None:
        await _check_deletable(context.user, attachment_id)


@db_call
def _check_deletable(user, attachment_id: str) -> None:
    try:
        attachment = selectors.attachment_get(owner=user, attachment_id=attachment_id)
    except Attachment.DoesNotExist:
        raise NotFoundError(f"Attachment {attachment_id} not found") from None
    if attachment.conversation_id:
        raise ChatKitRequestError(
            "This file is part of a sent message; delete the conversation to remove it.",
            status=409,
            code="attachment_in_use",
        )


async def check_message_attachments(input: UserMessageInput, context: RequestContext) -> None:
    """A message may carry up to ATTACHMENT_MAX_COUNT of the caller's own
    uploaded files that no other message carries (one query). One of the
    server's input checks; a message with no files costs nothing."""
    if input.attachments:
        await _check_attachments(input.attachments, context)


@db_call
def _check_attachments(attachment_ids: list[str], context: RequestContext) -> None:
    limit = chatkit_settings.ATTACHMENT_MAX_COUNT
    if len(attachment_ids) > limit:
        raise ChatKitRequestError(
            f"A message can carry at most {limit} attachments.", code="too_many_attachments"
        )
    rows = {
        row.pk: row
        for row in Attachment.objects.filter(owner=context.user, pk__in=attachment_ids).only(
            "pk", "uploaded_at", "conversation_id"
        )
    }
    for attachment_id in attachment_ids:
        row = rows.get(attachment_id)
        if row is None:
            raise NotFoundError(f"Attachment {attachment_id} not found")
        if row.uploaded_at is None:
            raise ChatKitRequestError(
                "An attachment has not finished uploading; upload it again.",
                code="attachment_not_uploaded",
            )
        if row.conversation_id is not None:
            raise ChatKitRequestError(
                "An attachment was already sent in a message; attach the file again.",
                status=409,
                code="attachment_in_use",
            )
