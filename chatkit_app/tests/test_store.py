"""DjangoStore: lossless items, upserts, keyset pagination and deletion."""

from __future__ import annotations

from datetime import datetime

import pytest
from asgiref.sync import async_to_sync
from chatkit.store import NotFoundError
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    ClosedStatus,
    FileAttachment,
    ImageAttachment,
    LockedStatus,
    ThreadMetadata,
)

from chatkit_app.models import Conversation, Message

from .thread_items import assert_contains, every_thread_item, thread_item_types

pytestmark = pytest.mark.django_db
run = async_to_sync


def new_thread(store, context, **fields) -> ThreadMetadata:
    thread = ThreadMetadata(
        id=store.generate_thread_id(context), created_at=datetime.now(), **fields
    )
    run(store.save_thread)(thread, context)
    return thread


def text_item(store, context, thread, text: str) -> AssistantMessageItem:
    item = AssistantMessageItem(
        id=store.generate_item_id("message", thread, context),
        thread_id=thread.id,
        created_at=datetime.now(),
        content=[AssistantMessageContent(text=text)],
    )
    run(store.add_thread_item)(thread.id, item, context)
    return item


def page_ids(page) -> list[str]:
    return [row.id for row in page.data]


def test_every_item_type_the_sdk_defines_survives_save_and_load_unchanged(store, alice, ctx):
    context = ctx(alice)
    thread = new_thread(store, context)
    items = every_thread_item(thread.id)
    assert {item.type for item in items} == thread_item_types(), "a new SDK item type is untested"

    for item in items:
        run(store.add_thread_item)(thread.id, item, context)

    for item in items:
        loaded = run(store.load_item)(thread.id, item.id, context)
        assert type(loaded) is type(item)
        assert loaded == item, item.type
        assert loaded.model_dump(mode="json") == item.model_dump(mode="json")
    listed = run(store.load_thread_items)(thread.id, None, 100, "asc", context)
    assert listed.data == items


def test_items_get_queryable_columns_beside_the_full_json(store, alice, ctx):
    context = ctx(alice)
    thread = new_thread(store, context)
    for item in every_thread_item(thread.id):
        run(store.add_thread_item)(thread.id, item, context)

    rows = {row.type: row for row in Message.objects.filter(conversation_id=thread.id)}
    assert rows["user_message"].role == "user"
    assert rows["user_message"].text == "> quoted bit\nHello \nAlice"
    assert rows["assistant_message"].role == "assistant"
    assert "See the docs." in rows["assistant_message"].text
    assert rows["client_tool_call"].text.startswith("get_location(")
    assert rows["widget"].text == "copy"
    assert [row.sequence for row in Message.objects.filter(conversation_id=thread.id)] == list(
        range(1, 12)
    )


def test_thread_metadata_round_trips_with_status_and_metadata(store, alice, ctx):
    context = ctx(alice)
    thread = new_thread(
        store,
        context,
        title="Plans",
        status=LockedStatus(reason="under review"),
        metadata={"source": "api", "n": [1, 2]},
        allowed_image_domains=["example.org"],
    )
    loaded = run(store.load_thread)(thread.id, context)
    assert loaded.title == "Plans"
    assert loaded.status == LockedStatus(reason="under review")
    assert loaded.metadata == {"source": "api", "n": [1, 2]}
    assert loaded.allowed_image_domains == ["example.org"]

    loaded.status = ClosedStatus()
    loaded.title = "Renamed"
    run(store.save_thread)(loaded, context)
    again = run(store.load_thread)(thread.id, context)
    assert (again.title, again.status.type) == ("Renamed", "closed")
    assert Conversation.objects.get(pk=thread.id).status == "closed"


def test_thread_ids_are_the_sdks_own_ids_unchanged(store, alice, ctx):
    context = ctx(alice)
    thread = ThreadMetadata(id="thr_custom-Id.42", created_at=datetime.now())
    run(store.save_thread)(thread, context)
    assert Conversation.objects.get().pk == "thr_custom-Id.42"
    assert store.generate_thread_id(context).startswith("thr_")
    assert store.generate_item_id("message", thread, context).startswith("msg_")


def test_saving_an_item_again_replaces_it_in_place(store, alice, ctx):
    context = ctx(alice)
    thread = new_thread(store, context)
    first = text_item(store, context, thread, "draft")
    second = text_item(store, context, thread, "after")

    first.content[0].text = "final"
    run(store.save_item)(thread.id, first, context)

    page = run(store.load_thread_items)(thread.id, None, 10, "asc", context)
    assert [item.content[0].text for item in page.data] == ["final", "after"]
    assert page_ids(page) == [first.id, second.id]


def test_save_item_inserts_an_item_that_is_not_there_yet(store, alice, ctx):
    context = ctx(alice)
    thread = new_thread(store, context)
    item = AssistantMessageItem(
        id="msg_new", thread_id=thread.id, created_at=datetime.now(), content=[]
    )
    run(store.save_item)(thread.id, item, context)
    assert run(store.load_item)(thread.id, "msg_new", context) == item


def test_items_keep_insertion_order_when_timestamps_tie(store, alice, ctx):
    context = ctx(alice)
    thread = new_thread(store, context)
    same_time = datetime(2026, 1, 1, 12, 0, 0)
    ids = []
    for n in range(5):
        item = AssistantMessageItem(
            id=f"msg_{9 - n}", thread_id=thread.id, created_at=same_time, content=[]
        )
        run(store.add_thread_item)(thread.id, item, context)
        ids.append(item.id)
    page = run(store.load_thread_items)(thread.id, None, 10, "asc", context)
    assert page_ids(page) == ids


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_item_pages_walk_the_thread_in_both_orders(store, alice, ctx, order):
    context = ctx(alice)
    thread = new_thread(store, context)
    items = [text_item(store, context, thread, f"m{n}") for n in range(7)]
    expected = [item.id for item in items]
    if order == "desc":
        expected.reverse()

    seen, after, pages = [], None, 0
    while True:
        page = run(store.load_thread_items)(thread.id, after, 3, order, context)
        seen += page_ids(page)
        pages += 1
        if not page.has_more:
            assert page.after is None
            break
        after = page.after
        assert after == page.data[-1].id
    assert seen == expected
    assert pages == 3


def test_item_cursor_stays_correct_while_items_are_added(store, alice, ctx):
    context = ctx(alice)
    thread = new_thread(store, context)
    items = [text_item(store, context, thread, f"m{n}") for n in range(4)]

    first = run(store.load_thread_items)(thread.id, None, 2, "asc", context)
    added = text_item(store, context, thread, "new while paging")
    rest = run(store.load_thread_items)(thread.id, first.after, 10, "asc", context)
    assert page_ids(first) + page_ids(rest) == [item.id for item in items] + [added.id]

    newest = run(store.load_thread_items)(thread.id, None, 2, "desc", context)
    text_item(store, context, thread, "newer still")
    older = run(store.load_thread_items)(thread.id, newest.after, 10, "desc", context)
    assert page_ids(newest) + page_ids(older) == [added.id, *reversed([i.id for i in items])]


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_thread_pages_walk_the_users_threads_in_both_orders(store, alice, ctx, order):
    context = ctx(alice)
    threads = [new_thread(store, context, title=f"t{n}") for n in range(5)]
    # Same timestamp for two threads: the id breaks the tie, nothing repeats.
    Conversation.objects.filter(pk__in=[threads[1].id, threads[2].id]).update(
        created_at=Conversation.objects.get(pk=threads[1].id).created_at
    )
    seen, after = [], None
    while True:
        page = run(store.load_threads)(2, after, order, context)
        seen += page_ids(page)
        if not page.has_more:
            break
        after = page.after
    expected = list(
        Conversation.objects.order_by(
            *(("created_at", "id") if order == "asc" else ("-created_at", "-id"))
        ).values_list("id", flat=True)
    )
    assert seen == expected
    assert sorted(seen) == sorted(t.id for t in threads)


def test_page_size_is_capped(store, alice, ctx, settings):
    settings.CHATKIT_MAX_PAGE_SIZE = 3
    context = ctx(alice)
    thread = new_thread(store, context)
    for n in range(5):
        text_item(store, context, thread, str(n))
    page = run(store.load_thread_items)(thread.id, None, 1000, "asc", context)
    assert len(page.data) == 3
    assert page.has_more


def test_deleting_a_thread_removes_its_items(store, alice, ctx):
    context = ctx(alice)
    thread = new_thread(store, context)
    keep = new_thread(store, context)
    text_item(store, context, thread, "bye")
    text_item(store, context, keep, "stay")

    run(store.delete_thread)(thread.id, context)

    with pytest.raises(NotFoundError):
        run(store.load_thread)(thread.id, context)
    assert not Message.objects.filter(conversation_id=thread.id).exists()
    assert Message.objects.filter(conversation_id=keep.id).count() == 1


def test_deleting_an_item_removes_only_that_item(store, alice, ctx):
    context = ctx(alice)
    thread = new_thread(store, context)
    first = text_item(store, context, thread, "one")
    second = text_item(store, context, thread, "two")
    run(store.delete_thread_item)(thread.id, first.id, context)
    page = run(store.load_thread_items)(thread.id, None, 10, "asc", context)
    assert page_ids(page) == [second.id]
    with pytest.raises(NotFoundError):
        run(store.delete_thread_item)(thread.id, first.id, context)


def test_missing_things_are_not_found(store, alice, ctx):
    context = ctx(alice)
    thread = new_thread(store, context)
    with pytest.raises(NotFoundError):
        run(store.load_thread)("thr_missing", context)
    with pytest.raises(NotFoundError):
        run(store.load_item)(thread.id, "msg_missing", context)
    with pytest.raises(NotFoundError):
        run(store.load_thread_items)("thr_missing", None, 10, "asc", context)
    with pytest.raises(NotFoundError):
        run(store.load_attachment)("atc_missing", context)
    with pytest.raises(NotFoundError):
        run(store.load_threads)(10, "thr_missing", "desc", context)


def test_attachments_are_upserted_and_remember_their_thread(store, alice, ctx):
    context = ctx(alice)
    thread = new_thread(store, context)
    attachment = ImageAttachment(
        id="atc_1", name="cat.png", mime_type="image/png", preview_url="https://x.example/p.png"
    )
    run(store.save_attachment)(attachment, context)
    assert run(store.load_attachment)("atc_1", context) == attachment

    attached = attachment.model_copy(update={"thread_id": thread.id})
    run(store.save_attachment)(attached, context)
    assert run(store.load_attachment)("atc_1", context).thread_id == thread.id

    run(store.save_attachment)(
        FileAttachment(id="atc_2", name="a.txt", mime_type="text/plain"), context
    )
    run(store.delete_attachment)("atc_2", context)
    with pytest.raises(NotFoundError):
        run(store.load_attachment)("atc_2", context)


def test_a_widget_built_from_a_widget_template_loses_nothing(store, alice, ctx):
    from chatkit.types import WidgetItem

    from tasks.widgets import ListedTask, task_list_widget

    context = ctx(alice)
    thread = new_thread(store, context)
    widget = task_list_widget([ListedTask(7, "Buy milk", False, "Due Fri")])
    item = WidgetItem(id="msg_w", thread_id=thread.id, created_at=datetime.now(), widget=widget)
    run(store.add_thread_item)(thread.id, item, context)

    loaded = run(store.load_item)(thread.id, "msg_w", context)
    # The SDK reads the JSON back as its strict widget classes, which fill in
    # defaults (e.g. an action's loadingBehavior): more, never less.
    assert_contains(
        loaded.model_dump(mode="json", exclude_none=True),
        item.model_dump(mode="json", exclude_none=True),
    )
