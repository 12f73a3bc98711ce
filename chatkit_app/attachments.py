"""
``DjangoAttachmentStore``: the SDK's attachment hooks on Django storage.

The metadata row lives in the ``Attachment`` model (through ``DjangoStore``);
this class handles the bytes. Deleting is split the way the SDK calls it:
``delete_attachment`` here checks ownership, then ``DjangoStore`` deletes the
row, and the files go once that transaction commits.
"""

from __future__ import annotations

from chatkit.store import AttachmentStore, NotFoundError
from chatkit.types import Attachment as AttachmentModel
from chatkit.types import AttachmentCreateParams

from . import selectors
from .context import RequestContext
from .db import db_call
from .models import Attachment


class DjangoAttachmentStore(AttachmentStore[RequestContext]):
    async def delete_attachment(self, attachment_id: str, context: RequestContext) -> None:
        await _check_owned(context.user, attachment_id)

    async def create_attachment(
        self, input: AttachmentCreateParams, context: RequestContext
    ) -> AttachmentModel:
        raise NotImplementedError("Uploading attachments is not enabled.")


@db_call
def _check_owned(user, attachment_id: str) -> None:
    try:
        selectors.attachment_get(owner=user, attachment_id=attachment_id)
    except Attachment.DoesNotExist:
        raise NotFoundError(f"Attachment {attachment_id} not found") from None
