"""
``DjangoStore``: the ChatKit ``Store`` backed by the Django ORM.

Every method is scoped to ``context.user``. Anything missing or owned by
someone else raises ``chatkit.store.NotFoundError``, never a different error,
so a caller cannot tell the two apart.
"""

from __future__ import annotations

from chatkit.store import NotFoundError, Store, StoreItemType
from chatkit.types import Attachment as AttachmentModel
from chatkit.types import Page, ThreadItem, ThreadMetadata
from django.core.exceptions import ObjectDoesNotExist

from . import selectors, services
from .attachments import item_with_fresh_links, with_fresh_links
from .conf import chatkit_settings
from .context import RequestContext
from .db import db_call
from .ids import generate_id
from .serialization import attachment_from_data, item_from_message, thread_from_conversation


def _clamp(limit: int) -> int:
    return max(1, min(int(limit), chatkit_settings.MAX_PAGE_SIZE))


class DjangoStore(Store[RequestContext]):
    """ChatKit store on the project's database. Stateless: one instance can
    serve every request."""

    # --- ids ----------------------------------------------------------------

    def generate_thread_id(self, context: RequestContext) -> str:
        return generate_id("thread")

    def generate_item_id(
        self, item_type: StoreItemType, thread: ThreadMetadata, context: RequestContext
    ) -> str:
        return generate_id(item_type)

    # --- threads ------------------------------------------------------------

    async def load_thread(self, thread_id: str, context: RequestContext) -> ThreadMetadata:
        return await _load_thread(context.user, thread_id)

    async def save_thread(self, thread: ThreadMetadata, context: RequestContext) -> None:
        await _save_thread(context.user, thread)

    async def load_threads(
        self, limit: int, after: str | None, order: str, context: RequestContext
    ) -> Page[ThreadMetadata]:
        return await _load_threads(context.user, _clamp(limit), after, _order(order))

    async def delete_thread(self, thread_id: str, context: RequestContext) -> None:
        await _delete_thread(context.user, thread_id)

    # --- items --------------------------------------------------------------

    async def load_thread_items(
        self,
        thread_id: str,
        after: str | None,
        limit: int,
        order: str,
        context: RequestContext,
    ) -> Page[ThreadItem]:
        page = await _load_items(context.user, thread_id, after, _clamp(limit), _order(order))
        page.data = [item_with_fresh_links(item, context) for item in page.data]
        return page

    async def add_thread_item(
        self, thread_id: str, item: ThreadItem, context: RequestContext
    ) -> None:
        await _upsert_item(context.user, thread_id, item)

    async def save_item(self, thread_id: str, item: ThreadItem, context: RequestContext) -> None:
        await _upsert_item(context.user, thread_id, item)

    async def load_item(self, thread_id: str, item_id: str, context: RequestContext) -> ThreadItem:
        return item_with_fresh_links(await _load_item(context.user, thread_id, item_id), context)

    async def delete_thread_item(
        self, thread_id: str, item_id: str, context: RequestContext
    ) -> None:
        await _delete_item(context.user, thread_id, item_id)

    # --- attachments ----------------------------------------------------------

    async def save_attachment(self, attachment: AttachmentModel, context: RequestContext) -> None:
        await _save_attachment(context.user, attachment)

    async def load_attachment(self, attachment_id: str, context: RequestContext) -> AttachmentModel:
        return with_fresh_links(await _load_attachment(context.user, attachment_id), context)

    async def delete_attachment(self, attachment_id: str, context: RequestContext) -> None:
        await _delete_attachment(context.user, attachment_id)


def _order(order: str) -> selectors.Order:
    return "asc" if order == "asc" else "desc"


# The sync halves: each is one burst of database work that releases its
# connection when done (see db.py). Ownership and missing rows both surface
# as NotFoundError.


@db_call
def _load_thread(user, thread_id: str) -> ThreadMetadata:
    try:
        return thread_from_conversation(
            selectors.conversation_get(owner=user, conversation_id=thread_id)
        )
    except ObjectDoesNotExist:
        raise NotFoundError(f"Thread {thread_id} not found") from None


@db_call
def _save_thread(user, thread: ThreadMetadata) -> None:
    try:
        services.conversation_save(owner=user, thread=thread)
    except services.IdCollision:
        raise NotFoundError(f"Thread {thread.id} not found") from None


@db_call
def _load_threads(
    user, limit: int, after: str | None, order: selectors.Order
) -> Page[ThreadMetadata]:
    try:
        rows, has_more = selectors.conversation_page(
            owner=user, limit=limit, after=after, order=order
        )
    except selectors.CursorNotFound:
        raise NotFoundError(f"Thread {after} not found") from None
    return Page(
        data=[thread_from_conversation(row) for row in rows],
        has_more=has_more,
        after=rows[-1].id if has_more and rows else None,
    )


@db_call
def _delete_thread(user, thread_id: str) -> None:
    try:
        services.conversation_delete(owner=user, conversation_id=thread_id)
    except ObjectDoesNotExist:
        raise NotFoundError(f"Thread {thread_id} not found") from None


@db_call
def _load_items(
    user, thread_id: str, after: str | None, limit: int, order: selectors.Order
) -> Page[ThreadItem]:
    try:
        rows, has_more = selectors.message_page(
            owner=user, conversation_id=thread_id, limit=limit, after=after, order=order
        )
    except ObjectDoesNotExist:
        raise NotFoundError(f"Thread {thread_id} not found") from None
    except selectors.CursorNotFound:
        raise NotFoundError(f"Item {after} not found") from None
    return Page(
        data=[item_from_message(row) for row in rows],
        has_more=has_more,
        after=rows[-1].id if has_more and rows else None,
    )


@db_call
def _upsert_item(user, thread_id: str, item: ThreadItem) -> None:
    try:
        services.message_upsert(owner=user, conversation_id=thread_id, item=item)
    except (ObjectDoesNotExist, services.IdCollision):
        raise NotFoundError(f"Thread {thread_id} not found") from None


@db_call
def _load_item(user, thread_id: str, item_id: str) -> ThreadItem:
    try:
        return item_from_message(
            selectors.message_get(owner=user, conversation_id=thread_id, message_id=item_id)
        )
    except ObjectDoesNotExist:
        raise NotFoundError(f"Item {item_id} not found") from None


@db_call
def _delete_item(user, thread_id: str, item_id: str) -> None:
    try:
        services.message_delete(owner=user, conversation_id=thread_id, message_id=item_id)
    except ObjectDoesNotExist:
        raise NotFoundError(f"Item {item_id} not found") from None


@db_call
def _save_attachment(user, attachment: AttachmentModel) -> None:
    try:
        services.attachment_save(owner=user, attachment=attachment)
    except (ObjectDoesNotExist, services.IdCollision):
        raise NotFoundError(f"Attachment {attachment.id} not found") from None


@db_call
def _load_attachment(user, attachment_id: str) -> AttachmentModel:
    try:
        row = selectors.attachment_get(owner=user, attachment_id=attachment_id)
    except ObjectDoesNotExist:
        raise NotFoundError(f"Attachment {attachment_id} not found") from None
    return attachment_from_data(row.data)


@db_call
def _delete_attachment(user, attachment_id: str) -> None:
    try:
        services.attachment_delete(owner=user, attachment_id=attachment_id)
    except ObjectDoesNotExist:
        raise NotFoundError(f"Attachment {attachment_id} not found") from None
