"""
Reads whose SQL is built once (``statements.CompiledQuery``) answer exactly
what their querysets answer, call after call, with each call's own values;
on PostgreSQL a turn's statements are prepared, the ORM's own queries not.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from django.db import connection
from django.db.models import Exists, OuterRef

from chatkit_app.models import ApiToken, Conversation, GroupLimits, Message, UserLimits
from chatkit_app.statements import CompiledQuery
from chatkit_app.tokens import token_create

from .chatkit_client import ApiClient, add_message

pytestmark = pytest.mark.django_db


def conversation(owner, conversation_id: str, texts: list[str]) -> Conversation:
    row = Conversation.objects.create(id=conversation_id, owner=owner)
    for n, text in enumerate(texts):
        Message.objects.create(
            id=f"{conversation_id}_{n}",
            conversation=row,
            sequence=n + 1,
            type="assistant_message",
            text=text,
            data={"id": f"{conversation_id}_{n}"},
        )
    return row


def tokens_with_users(digest: str):
    return (
        ApiToken.objects.select_related("user", "user__chatkit_limits")
        .annotate(
            groups_have_limits=Exists(GroupLimits.objects.filter(group__user=OuterRef("user")))
        )
        .filter(digest=digest, revoked_at__isnull=True)
        .order_by()[:1]
    )


def test_a_compiled_read_returns_the_models_its_queryset_returns_with_related_rows_and_annotations(
    alice, bob, django_assert_num_queries
):
    UserLimits.objects.create(user=alice, turns_per_day=5)
    alices, _ = token_create(user=alice)
    bobs, _ = token_create(user=bob)
    compiled = CompiledQuery(tokens_with_users)

    for token in (alices, bobs, alices):
        (got,) = compiled(token.digest)
        (expected,) = tokens_with_users(token.digest)
        assert (got.pk, got.user, got.created_at) == (
            expected.pk,
            expected.user,
            expected.created_at,
        )
        assert got.groups_have_limits is expected.groups_have_limits is False
        # The related rows came in the same query, present or not.
        with django_assert_num_queries(0):
            assert got.user.username == expected.user.username
            if token is alices:
                assert got.user.chatkit_limits.turns_per_day == 5
            else:
                with pytest.raises(UserLimits.DoesNotExist):
                    got.user.chatkit_limits  # noqa: B018
    assert compiled("no such digest") == []


def test_each_call_gets_its_own_values_and_its_own_shape(alice, bob):
    conversation(alice, "thr_a", ["one", "two", "three"])
    conversation(bob, "thr_b", ["bob's"])
    newest = CompiledQuery(
        lambda limit, conversation_id, owner_id: (
            Message.objects.filter(conversation_id=conversation_id, conversation__owner_id=owner_id)
            .order_by("-sequence")
            .values_list("text", flat=True)[:limit]
        )
    )

    assert newest("thr_a", alice.pk, shape=(2,)) == ["three", "two"]
    assert newest("thr_a", alice.pk, shape=(5,)) == ["three", "two", "one"]
    assert newest("thr_b", bob.pk, shape=(2,)) == ["bob's"]
    # Someone else's conversation: nothing, as the queryset would say.
    assert newest("thr_a", bob.pk, shape=(2,)) == []


def test_rows_come_as_the_values_list_gives_them_with_the_databases_conversions(alice):
    conversation(alice, "thr_a", ["one"])
    rows = CompiledQuery(
        lambda conversation_id: Message.objects.filter(conversation_id=conversation_id).values_list(
            "id", "sequence", "interrupted", "created_at"
        )
    )
    (expected,) = Message.objects.filter(conversation_id="thr_a").values_list(
        "id", "sequence", "interrupted", "created_at"
    )
    assert rows("thr_a") == [expected]
    assert isinstance(expected[2], bool)
    assert isinstance(expected[3], datetime)


def test_an_argument_the_sql_does_not_get_as_it_is_is_refused_when_first_built(alice):
    conversation(alice, "thr_a", ["Hello"])
    containing = CompiledQuery(
        lambda text: Message.objects.filter(text__icontains=text).values_list("id", flat=True)
    )
    with pytest.raises(ValueError, match="did not reach the SQL unchanged"):
        containing("hell")


def test_an_argument_of_another_type_is_answered_by_the_queryset_itself(alice):
    conversation(alice, "thr_a", ["one"])
    by_id = CompiledQuery(
        lambda conversation_id: Conversation.objects.filter(pk=str(conversation_id)).values_list(
            "pk", flat=True
        )
    )
    other = uuid.uuid4()
    assert by_id(other) == []
    assert by_id("thr_a") == ["thr_a"]


def test_a_title_fills_only_an_untitled_conversation_and_comes_back_as_stored(alice, bob):
    from chatkit_app import services

    conversation(alice, "thr_untitled", [])
    Conversation.objects.create(id="thr_named", owner=alice, title="Named by Alice")

    filled = services.conversation_title_fill(
        owner=alice, conversation_id="thr_untitled", title="From the model"
    )
    stored = Conversation.objects.get(pk="thr_untitled")
    assert filled is not None
    assert (filled.title, filled.updated_at, filled.metadata, filled.owner_id) == (
        stored.title,
        stored.updated_at,
        stored.metadata,
        stored.owner_id,
    )
    assert stored.title == "From the model"
    # The user's own title, and someone else's conversation, stay as they are.
    assert (
        services.conversation_title_fill(
            owner=alice, conversation_id="thr_named", title="From the model"
        )
        is None
    )
    assert Conversation.objects.get(pk="thr_named").title == "Named by Alice"
    assert (
        services.conversation_title_fill(owner=bob, conversation_id="thr_untitled", title="Bob's")
        is None
    )
    assert Conversation.objects.get(pk="thr_untitled").title == "From the model"


def test_usage_rows_written_together_each_get_their_own_key(alice):
    from chatkit_app import services
    from chatkit_app.models import ModelUsage

    conversation(alice, "thr_a", [])
    call = {"message_id": "", "provider": "openai", "purpose": "response", "latency_ms": 5}
    rows = services.usages_record(
        user=alice,
        thread_id="thr_a",
        calls=[
            {**call, "model": "first", "input_tokens": 1, "output_tokens": 2},
            {**call, "model": "second", "input_tokens": 3, "output_tokens": 4},
        ],
    )

    stored = {usage.pk: usage for usage in ModelUsage.objects.all()}
    assert [stored[row.pk].model for row in rows] == ["first", "second"]
    assert [stored[row.pk].output_tokens for row in rows] == [2, 4]
    assert all(stored[row.pk].conversation_id == "thr_a" for row in rows)


def test_statements_for_shapes_a_client_chooses_are_kept_only_up_to_a_bound(alice):
    from chatkit_app.statements import MAX_COMPILED

    conversation(alice, "thr_a", [f"item {n}" for n in range(5)])
    newest = CompiledQuery(
        lambda limit, conversation_id: (
            Message.objects.filter(conversation_id=conversation_id)
            .order_by("-sequence")
            .values_list("text", flat=True)[:limit]
        )
    )
    for limit in range(1, MAX_COMPILED * 2):
        assert len(newest("thr_a", shape=(limit,))) == min(limit, 5)
    assert len(newest._compiled) <= MAX_COMPILED
    assert newest("thr_a", shape=(2,)) == ["item 4", "item 3"]


# --- prepared on PostgreSQL ---------------------------------------------------------------

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's"
)


def prepared_statements() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return {row[0] for row in cursor.fetchall()}


def two_turns(user) -> list[dict]:
    api = ApiClient(user)
    thread_id, events = api.start("Hello there")
    return events + api(add_message(thread_id, "And again")).events()


@postgresql_only
def test_on_postgresql_a_turns_statements_are_prepared_and_the_orms_own_queries_are_not(alice):
    events = two_turns(alice)
    assert [e for e in events if e["type"] == "thread.item.done"]
    assert not [e for e in events if e["type"] == "error"]

    prepared = prepared_statements()
    # The token with its user, the new thread, the new item with its
    # sequence number, the reply run's row: each planned once on this
    # connection, and run prepared from then on.
    for start in (
        'SELECT "chatkit_app_apitoken"',
        'INSERT INTO "chatkit_app_conversation"',
        "WITH claimed AS (UPDATE",
        'INSERT INTO "chatkit_app_replyrun"',
    ):
        assert any(sql.startswith(start) for sql in prepared), (start, prepared)
    # Server-side binding: the values travel apart from the SQL.
    assert all("Hello there" not in sql for sql in prepared)

    for _ in range(6):
        list(Conversation.objects.filter(owner=alice, title__startswith="no such title"))
    assert not any("no such title" in sql or "LIKE" in sql for sql in prepared_statements())


@postgresql_only
def test_with_prepared_statements_turned_off_a_turn_prepares_nothing(alice, monkeypatch):
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "prepared_statements", False)
    before = prepared_statements()
    events = two_turns(alice)
    assert [e for e in events if e["type"] == "thread.item.done"]
    assert not [e for e in events if e["type"] == "error"]
    assert prepared_statements() == before
