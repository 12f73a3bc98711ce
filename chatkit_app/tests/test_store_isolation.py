"""Every store method is scoped to ``context.user``: another user's data is
NotFound, exactly like missing data, and stays unchanged."""

from __future__ import annotations

from datetime import datetime

import pytest
from asgiref.sync import async_to_sync
from chatkit.store import NotFoundError
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    FileAttachment,
    ThreadMetadata,
)

from .stored import snapshot

pytestmark = pytest.mark.django_db
run = async_to_sync


@pytest.fixture
def alices_data(store, alice, ctx):
    context = ctx(alice)
    thread = ThreadMetadata(id="thr_alice", title="Alice's secrets", created_at=datetime.now())
    run(store.save_thread)(thread, context)
    item = AssistantMessageItem(
        id="msg_alice",
        thread_id=thread.id,
        created_at=datetime.now(),
        content=[AssistantMessageContent(text="secret")],
    )
    run(store.add_thread_item)(thread.id, item, context)
    attachment = FileAttachment(id="atc_alice", name="secret.txt", mime_type="text/plain")
    run(store.save_attachment)(attachment, context)
    return thread, item, attachment


def bobs_calls(store, thread, item, attachment, bob_thread):
    """Every store method, aimed at Alice's ids."""
    hijacked_item = item.model_copy(update={"content": [AssistantMessageContent(text="pwned")]})
    return {
        "load_thread": lambda c: store.load_thread(thread.id, c),
        "save_thread": lambda c: store.save_thread(thread.model_copy(update={"title": "pwned"}), c),
        "load_thread_items": lambda c: store.load_thread_items(thread.id, None, 10, "asc", c),
        "load_threads_after": lambda c: store.load_threads(10, thread.id, "desc", c),
        "add_thread_item": lambda c: store.add_thread_item(thread.id, hijacked_item, c),
        "add_thread_item_with_her_item_id": lambda c: store.add_thread_item(
            bob_thread.id, hijacked_item.model_copy(update={"thread_id": bob_thread.id}), c
        ),
        "save_item": lambda c: store.save_item(thread.id, hijacked_item, c),
        "save_item_with_her_item_id": lambda c: store.save_item(bob_thread.id, hijacked_item, c),
        "load_item": lambda c: store.load_item(thread.id, item.id, c),
        "load_item_through_own_thread": lambda c: store.load_item(bob_thread.id, item.id, c),
        "load_items_after_her_item": lambda c: store.load_thread_items(
            bob_thread.id, item.id, 10, "asc", c
        ),
        "delete_thread": lambda c: store.delete_thread(thread.id, c),
        "delete_thread_item": lambda c: store.delete_thread_item(thread.id, item.id, c),
        "delete_item_through_own_thread": lambda c: store.delete_thread_item(
            bob_thread.id, item.id, c
        ),
        "save_attachment": lambda c: store.save_attachment(
            attachment.model_copy(update={"name": "pwned"}), c
        ),
        "attach_to_her_thread": lambda c: store.save_attachment(
            FileAttachment(id="atc_bob", name="b", mime_type="text/plain", thread_id=thread.id), c
        ),
        "load_attachment": lambda c: store.load_attachment(attachment.id, c),
        "delete_attachment": lambda c: store.delete_attachment(attachment.id, c),
    }


CALLS = [
    "load_thread",
    "save_thread",
    "load_thread_items",
    "load_threads_after",
    "add_thread_item",
    "add_thread_item_with_her_item_id",
    "save_item",
    "save_item_with_her_item_id",
    "load_item",
    "load_item_through_own_thread",
    "load_items_after_her_item",
    "delete_thread",
    "delete_thread_item",
    "delete_item_through_own_thread",
    "save_attachment",
    "attach_to_her_thread",
    "load_attachment",
    "delete_attachment",
]


def test_the_isolation_cases_cover_every_abstract_store_method():
    from chatkit.store import Store

    covered = {name.removesuffix("_after") for name in CALLS}
    assert Store.__abstractmethods__ <= covered


@pytest.mark.parametrize("method", CALLS)
def test_another_users_data_is_not_found_and_left_unchanged(store, alices_data, bob, ctx, method):
    bob_context = ctx(bob)
    bob_thread = ThreadMetadata(id="thr_bob", created_at=datetime.now())
    run(store.save_thread)(bob_thread, bob_context)
    before = snapshot()

    calls = bobs_calls(store, *alices_data, bob_thread)
    assert list(calls) == CALLS
    call = calls[method]

    async def as_bob():
        await call(bob_context)

    with pytest.raises(NotFoundError):
        run(as_bob)()

    assert snapshot() == before


def test_a_users_thread_list_holds_only_their_threads(store, alices_data, bob, ctx):
    run(store.save_thread)(ThreadMetadata(id="thr_bob", created_at=datetime.now()), ctx(bob))
    assert [t.id for t in run(store.load_threads)(10, None, "desc", ctx(bob)).data] == ["thr_bob"]
