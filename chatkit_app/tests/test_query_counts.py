"""Listing threads and items costs the same few queries whatever the page size."""

from __future__ import annotations

from datetime import datetime

import pytest
from asgiref.sync import async_to_sync
from chatkit.types import AssistantMessageContent, AssistantMessageItem, ThreadMetadata
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db
run = async_to_sync


def seed(store, context, threads: int, items: int) -> str:
    thread_id = ""
    for n in range(threads):
        thread = ThreadMetadata(id=f"thr_{n:04}", title=f"t{n}", created_at=datetime.now())
        run(store.save_thread)(thread, context)
        thread_id = thread.id
    for n in range(items):
        item = AssistantMessageItem(
            id=f"msg_{n:04}",
            thread_id=thread_id,
            created_at=datetime.now(),
            content=[AssistantMessageContent(text=f"m{n}")],
        )
        run(store.add_thread_item)(thread_id, item, context)
    return thread_id


def count_queries(call) -> int:
    with CaptureQueriesContext(connection) as captured:
        call()
    return len(captured)


@pytest.mark.parametrize("size", [3, 40])
def test_listing_threads_takes_constant_queries(store, alice, ctx, size):
    context = ctx(alice)
    seed(store, context, threads=size * 2, items=0)

    first_page = count_queries(lambda: run(store.load_threads)(size, None, "desc", context))
    page = run(store.load_threads)(size, None, "desc", context)
    assert len(page.data) == size
    next_page = count_queries(lambda: run(store.load_threads)(size, page.after, "desc", context))
    assert (first_page, next_page) == (1, 2)


@pytest.mark.parametrize("size", [3, 40])
def test_listing_items_takes_constant_queries(store, alice, ctx, size):
    context = ctx(alice)
    thread_id = seed(store, context, threads=1, items=size * 2)

    first_page = count_queries(
        lambda: run(store.load_thread_items)(thread_id, None, size, "asc", context)
    )
    page = run(store.load_thread_items)(thread_id, None, size, "asc", context)
    assert len(page.data) == size
    next_page = count_queries(
        lambda: run(store.load_thread_items)(thread_id, page.after, size, "asc", context)
    )
    # A row scoped to the owner proves the thread is theirs: no separate check.
    assert (first_page, next_page) == (1, 2)
