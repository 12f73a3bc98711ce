"""
``DjangoStore``: the ChatKit ``Store`` backed by the Django ORM.

Every method is scoped to ``context.user``. Anything missing or owned by
someone else raises ``chatkit.store.NotFoundError``, never a different error,
so a caller cannot tell the two apart.

Attachments are stored with the links they had when saved; links that
expire (the signed preview links of ``attachments``) are renewed on the way
out by the ``links`` the store is given (``ChatkitAppConfig.build_server``).

A request does not read the same rows twice: what it has already read is
handed on, in its context, to the one read that would repeat it
(``hand_on_thread``, ``hand_on_latest_items``), and a thread whose id the
store has just generated is inserted without being looked up first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from chatkit.store import NotFoundError, Store, StoreItemType
from chatkit.types import Attachment as AttachmentModel
from chatkit.types import Page, ThreadItem, ThreadMetadata
from django.core.exceptions import ObjectDoesNotExist

from . import selectors, services
from .conf import chatkit_settings
from .context import RequestContext
from .db import db_call
from .ids import generate_id
from .serialization import attachment_from_data, item_from_json, thread_from_conversation

# Keys of ``RequestContext.extra``: reads handed on (see the module docstring).
_HANDED_THREAD = "chatkit_app.store.thread"
_HANDED_ITEMS = "chatkit_app.store.latest_items"
_NEW_THREADS = "chatkit_app.store.new_threads"
_CREATED_THREADS = "chatkit_app.store.created_threads"


def hand_on_thread(context: RequestContext, thread: ThreadMetadata) -> None:
    """``thread``, just loaded, answers the request's next ``load_thread``
    of it (the server checks a thread before the SDK loads it)."""
    context.extra[_HANDED_THREAD] = thread


def created_by_request(context: RequestContext, thread_id: str) -> bool:
    """Whether this request created the thread: nothing else (a handoff, a
    run) can be attached to it yet, so nobody need look."""
    return thread_id in context.extra.get(_CREATED_THREADS, ())


def hand_on_latest_items(
    context: RequestContext, thread_id: str, items: Sequence[ThreadItem], *, complete: bool
) -> None:
    """``items``, the thread's latest items just loaded (oldest first; all
    of them if ``complete``), answer the request's next load of its newest
    items (the Agents SDK helper reads the last two before a reply)."""
    context.extra[_HANDED_ITEMS] = (thread_id, list(items), complete)


def _clamp(limit: int) -> int:
    return max(1, min(int(limit), chatkit_settings.MAX_PAGE_SIZE))


class AttachmentLinks(Protocol):
    """Gives attachments handed to a client links that work now."""

    def attachment(self, attachment: AttachmentModel, context: RequestContext) -> AttachmentModel:
        """``attachment`` with fresh links (itself if it needs none)."""

    def item(self, item: ThreadItem, context: RequestContext) -> ThreadItem:
        """``item`` with fresh links in the attachments it carries."""


class DjangoStore(Store[RequestContext]):
    """ChatKit store on the project's database. Stateless: one instance can
    serve every request. Without ``links``, attachments keep the links they
    were saved with."""

    def __init__(self, links: AttachmentLinks | None = None):
        self.links = links

    # --- ids ----------------------------------------------------------------

    def generate_thread_id(self, context: RequestContext) -> str:
        thread_id = generate_id("thread")
        context.extra.setdefault(_NEW_THREADS, set()).add(thread_id)
        return thread_id

    def generate_item_id(
        self, item_type: StoreItemType, thread: ThreadMetadata, context: RequestContext
    ) -> str:
        return generate_id(item_type)

    # --- threads ------------------------------------------------------------

    async def load_thread(self, thread_id: str, context: RequestContext) -> ThreadMetadata:
        handed = context.extra.pop(_HANDED_THREAD, None)
        if handed is not None and handed.id == thread_id:
            return handed
        return await _load_thread(context.user, thread_id)

    async def save_thread(self, thread: ThreadMetadata, context: RequestContext) -> None:
        new_threads = context.extra.get(_NEW_THREADS, set())
        new = thread.id in new_threads
        new_threads.discard(thread.id)
        await _save_thread(context.user, thread, new)
        if new:
            context.extra.setdefault(_CREATED_THREADS, set()).add(thread.id)

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
        page = _handed_items(context, thread_id, after, _clamp(limit), order) or await _load_items(
            context.user, thread_id, after, _clamp(limit), _order(order)
        )
        if self.links is not None:
            page.data = [self.links.item(item, context) for item in page.data]
        return page

    async def add_thread_item(
        self, thread_id: str, item: ThreadItem, context: RequestContext
    ) -> None:
        await _upsert_item(context.user, thread_id, item)

    async def save_item(self, thread_id: str, item: ThreadItem, context: RequestContext) -> None:
        await _upsert_item(context.user, thread_id, item)

    async def load_item(self, thread_id: str, item_id: str, context: RequestContext) -> ThreadItem:
        item = await _load_item(context.user, thread_id, item_id)
        return self.links.item(item, context) if self.links is not None else item

    async def delete_thread_item(
        self, thread_id: str, item_id: str, context: RequestContext
    ) -> None:
        await _delete_item(context.user, thread_id, item_id)

    # --- attachments ----------------------------------------------------------

    async def save_attachment(self, attachment: AttachmentModel, context: RequestContext) -> None:
        await _save_attachment(context.user, attachment)

    async def load_attachment(self, attachment_id: str, context: RequestContext) -> AttachmentModel:
        attachment = await _load_attachment(context.user, attachment_id)
        return self.links.attachment(attachment, context) if self.links is not None else attachment

    async def delete_attachment(self, attachment_id: str, context: RequestContext) -> None:
        await _delete_attachment(context.user, attachment_id)


def _handed_items(
    context: RequestContext, thread_id: str, after: str | None, limit: int, order: str
) -> Page[ThreadItem] | None:
    """The newest ``limit`` items from ``hand_on_latest_items``, if they are
    what is asked for (once)."""
    if after is not None or order != "desc" or _HANDED_ITEMS not in context.extra:
        return None
    handed_id, items, complete = context.extra.pop(_HANDED_ITEMS)
    if handed_id != thread_id or not (complete or len(items) > limit):
        return None
    newest = items[::-1]
    data, has_more = newest[:limit], len(newest) > limit
    return Page(data=data, has_more=has_more, after=data[-1].id if has_more else None)


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
def _save_thread(user, thread: ThreadMetadata, new: bool) -> None:
    try:
        services.conversation_save(owner=user, thread=thread, new=new)
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
    data = [item_from_json(row) for row in rows]
    return Page(data=data, has_more=has_more, after=data[-1].id if has_more and data else None)


@db_call
def _upsert_item(user, thread_id: str, item: ThreadItem) -> None:
    try:
        services.message_upsert(owner=user, conversation_id=thread_id, item=item)
    except (ObjectDoesNotExist, services.IdCollision):
        raise NotFoundError(f"Thread {thread_id} not found") from None


@db_call
def _load_item(user, thread_id: str, item_id: str) -> ThreadItem:
    try:
        return item_from_json(
            selectors.message_json(owner=user, conversation_id=thread_id, message_id=item_id)
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
