"""
Items written at the same time, from several connections, on PostgreSQL.

A new item is one statement there (``services._insert_new_item``: the
thread's next sequence number claimed and the item inserted together), so
what a transaction used to guarantee must hold without one: items written
at once into one thread are all kept, each with its own place in order;
one id written at once into two threads is kept in exactly one of them,
and the other writer learns so; saving an existing item again replaces it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TypeVar

import pytest
from chatkit.types import AssistantMessageContent, AssistantMessageItem, ThreadMetadata
from django.db import connection

from chatkit_app import services
from chatkit_app.models import Conversation, Message

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="SQLite takes one writer at a time: concurrency is PostgreSQL's case",
    ),
]

T = TypeVar("T")
WRITERS = 8
ROUNDS = 25


def new_thread(owner, thread_id: str) -> ThreadMetadata:
    thread = ThreadMetadata(id=thread_id, created_at=datetime.now())
    services.conversation_save(owner=owner, thread=thread, new=True)
    return thread


def reply(thread_id: str, item_id: str, text: str) -> AssistantMessageItem:
    return AssistantMessageItem(
        id=item_id,
        thread_id=thread_id,
        created_at=datetime.now(),
        content=[AssistantMessageContent(text=text)],
    )


def at_once(calls: list[Callable[[], T]]) -> list[T | Exception]:
    """Run ``calls`` together, each on a thread (a connection) of its own,
    released at the same instant; each one's result or exception."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T | Exception:
        start.wait()
        try:
            return call()
        except Exception as error:
            return error
        finally:
            connection.close()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_items_written_at_once_into_one_thread_are_all_kept_each_in_its_own_place(alice):
    thread = new_thread(alice, "thr_busy")

    def write(n: int) -> Callable[[], Message]:
        item = reply(thread.id, f"msg_{n}", f"answer {n}")
        return lambda: services.message_upsert(owner=alice, conversation_id=thread.id, item=item)

    results = at_once([write(n) for n in range(WRITERS)])

    assert not [r for r in results if isinstance(r, Exception)]
    stored = list(Message.objects.filter(conversation_id=thread.id).values_list("id", "sequence"))
    assert sorted(item_id for item_id, _ in stored) == sorted(f"msg_{n}" for n in range(WRITERS))
    sequences = [sequence for _, sequence in stored]
    assert len(set(sequences)) == WRITERS, "two items got the same place in the thread"
    # What each writer was told is what was stored.
    assert {(m.id, m.sequence) for m in results} == set(stored)  # type: ignore[union-attr]


def test_one_id_written_at_once_into_two_threads_is_kept_in_one_and_refused_in_the_other(
    alice, bob
):
    alices, bobs = new_thread(alice, "thr_alice"), new_thread(bob, "thr_bob")
    # Rounds, each with an id of its own: the writes must overlap in the
    # database at least once for the race to be there to lose.
    for round in range(ROUNDS):
        item_id = f"msg_same_{round}"
        for_alice, for_bob = reply(alices.id, item_id, "A"), reply(bobs.id, item_id, "B")
        results = at_once(
            [
                lambda item=for_alice: services.message_upsert(
                    owner=alice, conversation_id=alices.id, item=item
                ),
                lambda item=for_bob: services.message_upsert(
                    owner=bob, conversation_id=bobs.id, item=item
                ),
            ]
        )

        refused = [r for r in results if isinstance(r, services.IdCollision)]
        kept = [r for r in results if isinstance(r, Message)]
        assert (len(refused), len(kept)) == (1, 1), results
        row = Message.objects.get(pk=item_id)
        assert row.conversation_id == kept[0].conversation_id
        assert row.text == ("A" if row.conversation_id == alices.id else "B")


def test_saving_an_item_again_replaces_it_and_keeps_its_place(alice):
    thread = new_thread(alice, "thr_again")
    first = services.message_upsert(
        owner=alice, conversation_id=thread.id, item=reply(thread.id, "msg_1", "draft")
    )
    services.message_upsert(
        owner=alice, conversation_id=thread.id, item=reply(thread.id, "msg_2", "next")
    )

    again = services.message_upsert(
        owner=alice, conversation_id=thread.id, item=reply(thread.id, "msg_1", "final")
    )

    assert again.sequence == first.sequence
    rows = list(Message.objects.filter(conversation_id=thread.id).order_by("sequence"))
    assert [(m.id, m.text) for m in rows] == [("msg_1", "final"), ("msg_2", "next")]


def test_an_item_for_someone_elses_thread_is_refused_and_writes_nothing(alice, bob):
    thread = new_thread(alice, "thr_private")
    with pytest.raises(Conversation.DoesNotExist):
        services.message_upsert(
            owner=bob, conversation_id=thread.id, item=reply(thread.id, "msg_bob", "mine?")
        )
    assert not Message.objects.filter(pk="msg_bob").exists()
