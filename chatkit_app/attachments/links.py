"""
Signed links through which attachment bytes are reached.

An upload, a preview and a download each go through a link signed for one
purpose, one attachment and its owner, valid ``CHATKIT_ATTACHMENT_URL_MAX_AGE``
seconds. Preview links are renewed each time an attachment is handed to a
client (``SignedLinks``, the store's ``links``), so an ``<img>`` tag (which
cannot send a bearer token) can show a preview while nobody without the
link can: the files themselves are never on a public or guessable path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from chatkit.types import Attachment as AttachmentModel
from chatkit.types import ImageAttachment, ThreadItem, UserMessageItem
from django.core import signing
from django.urls import reverse
from pydantic import AnyUrl

from ..conf import chatkit_settings
from ..context import RequestContext

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


class SignedLinks:
    """What ``DjangoStore`` is given as its ``links``: stored attachments
    get fresh signed preview links on their way to a client."""

    def attachment(self, attachment: AttachmentModel, context: RequestContext) -> AttachmentModel:
        return with_fresh_links(attachment, context)

    def item(self, item: ThreadItem, context: RequestContext) -> ThreadItem:
        return item_with_fresh_links(item, context)
