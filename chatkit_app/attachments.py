"""
``DjangoAttachmentStore``: the SDK's two-phase upload on Django storage,
and the signed links through which attachment bytes are reached.

``attachments.create`` records the attachment and answers with an upload
descriptor: a link signed for this attachment and its owner, to which the
client POSTs the file (multipart, field ``file``). Previews and downloads
are served through signed, expiring links too, regenerated each time an
attachment is returned to a client, so an ``<img>`` tag (which cannot send
a bearer token) can show a preview while nobody without the link can: the
files themselves are never on a public or guessable path.

Deleting is split the way the SDK calls it: ``delete_attachment`` here checks
ownership, then ``DjangoStore`` deletes the row, and the files go once that
transaction commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from chatkit.store import AttachmentStore, NotFoundError
from chatkit.types import (
    Attachment as AttachmentModel,
)
from chatkit.types import (
    AttachmentCreateParams,
    AttachmentUploadDescriptor,
    FileAttachment,
    ImageAttachment,
    ThreadItem,
    UserMessageItem,
)
from django.core import signing
from django.urls import reverse
from pydantic import AnyUrl

from . import selectors
from .conf import chatkit_settings
from .context import RequestContext
from .db import db_call
from .ids import generate_id
from .models import Attachment
from .request_errors import ChatKitRequestError
from .uploads import check_declared, kind_of

Purpose = Literal["upload", "preview", "file"]
SIGNING_SALT = "chatkit_app.attachments"


@dataclass(frozen=True)
class AttachmentGrant:
    """What a valid signed link allows: one purpose, one attachment, one owner."""

    purpose: Purpose
    attachment_id: str
    user_id: int


def sign(purpose: Purpose, attachment_id: str, user_id: int) -> str:
    return signing.dumps([purpose, attachment_id, user_id], salt=SIGNING_SALT)


def verify(token: str, purpose: Purpose, attachment_id: str) -> AttachmentGrant | None:
    """The grant a token carries, if it is genuine, unexpired and for this use."""
    try:
        signed_purpose, signed_id, user_id = signing.loads(
            token, salt=SIGNING_SALT, max_age=chatkit_settings.ATTACHMENT_URL_MAX_AGE
        )
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if signed_purpose != purpose or signed_id != attachment_id:
        return None
    return AttachmentGrant(purpose, attachment_id, user_id)


def base_url(context: RequestContext | None) -> str:
    if context is not None and context.request is not None:
        return context.request.build_absolute_uri("/").rstrip("/")
    return chatkit_settings.PUBLIC_URL.rstrip("/")


def signed_url(base: str, purpose: Purpose, attachment_id: str, user_id: int) -> str:
    path = reverse(f"chatkit-attachment-{purpose}", args=[attachment_id])
    return f"{base}{path}?token={sign(purpose, attachment_id, user_id)}"


def with_fresh_links(attachment: AttachmentModel, context: RequestContext) -> AttachmentModel:
    """The attachment with a new preview link if it uses ours (links expire, so
    stored ones are stale); a preview URL from elsewhere is kept as it is."""
    if isinstance(attachment, ImageAttachment):
        ours = reverse("chatkit-attachment-preview", args=[attachment.id])
        if urlsplit(str(attachment.preview_url)).path == ours:
            url = signed_url(base_url(context), "preview", attachment.id, context.user.pk)
            return attachment.model_copy(update={"preview_url": AnyUrl(url)})
    return attachment


def item_with_fresh_links(item: ThreadItem, context: RequestContext) -> ThreadItem:
    if isinstance(item, UserMessageItem) and any(
        isinstance(a, ImageAttachment) for a in item.attachments
    ):
        fresh = [with_fresh_links(a, context) for a in item.attachments]
        return item.model_copy(update={"attachments": fresh})
    return item


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


@db_call
def check_message_attachments(context: RequestContext, attachment_ids: list[str]) -> None:
    """A message may carry up to ATTACHMENT_MAX_COUNT of the caller's own
    uploaded files that no other message carries (one query)."""
    if not attachment_ids:
        return
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
