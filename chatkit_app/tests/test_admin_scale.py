"""The admin at scale: the same few queries whatever the table size, no
full-table COUNT on PostgreSQL, and text search served by the trigram
(titles) and full-text (items) indexes.

Timings are measured by ``benchmarks/admin_scale.py``, not here.
"""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.db import connection
from django.db.models import Count
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from chatkit_app.admin.paginator import EstimatedCountPaginator
from chatkit_app.models import Conversation, Feedback, Message, ModelUsage

from .seed_conversations import bulk_conversations, full_conversation

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL planner features"
)

PAGES = {
    "conversations": "/admin/chatkit_app/conversation/",
    "conversations by status": "/admin/chatkit_app/conversation/?status__exact=active",
    "conversations by owner": "/admin/chatkit_app/conversation/?owner=alice",
    "conversations searched": "/admin/chatkit_app/conversation/?q=hello+1",
    "conversations in a month": "/admin/chatkit_app/conversation/?updated_at__year=2026",
    "conversation page": f"/admin/chatkit_app/conversation/{quote('thr_big00000')}/change/",
    "conversation delete page": f"/admin/chatkit_app/conversation/{quote('thr_big00000')}/delete/",
    "items": "/admin/chatkit_app/message/",
    "items searched": "/admin/chatkit_app/message/?q=hello",
    "item page": f"/admin/chatkit_app/message/{quote('msg_thr_big00000_1')}/change/",
    "feedback": "/admin/chatkit_app/feedback/",
    "usage": "/admin/chatkit_app/modelusage/",
    "dashboard": "/admin/dashboard/?period=30d",
}


def queries_per_page(client) -> dict[str, int]:
    counts = {}
    for name, url in PAGES.items():
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200, name
        counts[name] = len(captured)
    return counts


def seed_activity(owner, conversation_ids: list[str]) -> None:
    """Feedback and usage rows beside the items, as real traffic leaves."""
    first_items = Message.objects.filter(conversation_id__in=conversation_ids, sequence=1)
    Feedback.objects.bulk_create(
        Feedback(message=m, conversation_id=m.conversation_id, user=owner, kind="positive")
        for m in first_items
    )
    ModelUsage.objects.bulk_create(
        ModelUsage(conversation_id=c, user=owner, model="gpt-4.1-mini", message_id=f"msg_{c}_1")
        for c in conversation_ids
    )


def test_pages_make_the_same_few_queries_with_a_large_table(client, alice, charlie):
    client.force_login(charlie)
    few = bulk_conversations(alice, conversations=3, items_each=2, prefix="big")
    seed_activity(alice, few)
    full_conversation(alice)
    queries_per_page(client)  # once, so Django's content-type cache is warm
    small = queries_per_page(client)

    # Thousands of items over many conversations; the first one longer than
    # a transcript page.
    many = bulk_conversations(alice, conversations=400, items_each=12, prefix="more")
    Message.objects.bulk_create(
        Message(
            id=f"msg_thr_big00000_{seq}",
            conversation_id="thr_big00000",
            sequence=seq,
            type="assistant_message",
            role="assistant",
            text=f"hello {seq}",
            data={"type": "assistant_message", "id": f"msg_thr_big00000_{seq}"},
        )
        for seq in range(3, 400)
    )
    seed_activity(alice, many)
    assert Message.objects.count() > 5000
    large = queries_per_page(client)

    assert large == small
    dashboard = large.pop("dashboard")
    assert max(large.values()) <= 9, large
    # Session and user, then the figures (percentiles: four grouped queries
    # on PostgreSQL, one of the values on SQLite).
    assert dashboard <= 13


def test_the_list_counts_the_items_of_the_rows_shown_in_one_query(client, alice, charlie):
    client.force_login(charlie)
    bulk_conversations(alice, conversations=80, items_each=3)

    with CaptureQueriesContext(connection) as captured:
        response = client.get("/admin/chatkit_app/conversation/")

    rows = response.context["cl"].result_list
    assert len(rows) == 50
    assert {row.message_count for row in rows} == {3}
    on_messages = [q["sql"] for q in captured if 'FROM "chatkit_app_message"' in q["sql"]]
    # One query, for the 50 conversations shown: not one per row, and not a
    # GROUP BY over every message in the table.
    assert len(on_messages) == 1
    assert on_messages[0].count("'thr_bulk") == 50


def test_on_sqlite_the_count_is_always_exact(alice):
    if connection.vendor == "postgresql":
        pytest.skip("SQLite behaviour")
    bulk_conversations(alice, conversations=5, items_each=1)
    paginator = EstimatedCountPaginator(Conversation.objects.all(), 50)
    assert paginator.count == 5
    assert not paginator.estimated


@postgresql_only
def test_unfiltered_lists_use_the_planner_estimate_instead_of_count(
    client, alice, charlie, monkeypatch
):
    monkeypatch.setattr(EstimatedCountPaginator, "exact_below", 1000)
    client.force_login(charlie)
    bulk_conversations(alice, conversations=1200, items_each=2)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE chatkit_app_conversation")
        cursor.execute("ANALYZE chatkit_app_message")

    for url, shown in [
        ("/admin/chatkit_app/conversation/", "about</span> 1200 conversations"),
        ("/admin/chatkit_app/message/", "about</span> 2400 messages"),
    ]:
        with CaptureQueriesContext(connection) as captured:
            html = client.get(url).content.decode()
        counts = [q["sql"] for q in captured if "COUNT(*)" in q["sql"]]
        assert counts == [], url
        assert any("reltuples" in q["sql"] for q in captured)
        assert shown in html

    # Filtered: an exact count, and no "about".
    with CaptureQueriesContext(connection) as captured:
        html = client.get("/admin/chatkit_app/conversation/?status__exact=active").content.decode()
    assert any("COUNT(*)" in q["sql"] for q in captured)
    assert "about</span>" not in html
    assert "1200 conversations" in html


@postgresql_only
def test_a_filtered_list_beyond_the_exact_count_shows_the_planners_estimate(
    client, alice, charlie, monkeypatch
):
    """Counting every user message (half of all items) reads them all for
    one number: the count stops after ``count_filtered_up_to`` rows and the
    list says "about" the planner's estimate, never fewer than it counted."""
    monkeypatch.setattr(EstimatedCountPaginator, "count_filtered_up_to", 100)
    client.force_login(charlie)
    bulk_conversations(alice, conversations=300, items_each=2)
    Conversation.objects.filter(pk__in=["thr_bulk00000", "thr_bulk00001"]).update(status="closed")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE chatkit_app_conversation")

    with CaptureQueriesContext(connection) as captured:
        html = client.get("/admin/chatkit_app/conversation/?status__exact=active").content.decode()
    counts = [q["sql"] for q in captured if "COUNT(*)" in q["sql"]]
    assert counts
    assert all("LIMIT 101" in sql for sql in counts), counts
    shown = re.search(r"about</span> (\d+) conversations", html)
    assert shown, html
    assert 101 <= int(shown[1]) <= 400

    # Few enough: exact, as before.
    html = client.get("/admin/chatkit_app/conversation/?status__exact=closed").content.decode()
    assert "about</span>" not in html
    assert "2 conversations" in html


@postgresql_only
def test_the_usage_lists_failed_filter_reads_an_index_of_the_failed_calls(alice):
    seed_activity(alice, bulk_conversations(alice, conversations=20, items_each=1))
    ModelUsage.objects.filter(conversation_id="thr_bulk00003").update(error="rate_limit")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE chatkit_app_modelusage")
    failed = ModelUsage.objects.filter(ModelUsage.failed())

    plan = explain(failed.order_by("-created_at")[:50])

    assert "chatkit_usage_errors" in plan, plan
    assert [row.conversation_id for row in failed] == ["thr_bulk00003"]


@postgresql_only
def test_small_tables_are_counted_exactly_even_on_postgresql(alice):
    bulk_conversations(alice, conversations=5, items_each=1)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE chatkit_app_conversation")
    paginator = EstimatedCountPaginator(Conversation.objects.all(), 50)
    assert paginator.count == 5
    assert not paginator.estimated


def explain(queryset) -> str:
    with connection.cursor() as cursor:
        # A few thousand rows fit in a page or two, where a sequential scan
        # is cheapest; at scale the planner picks the indexes by itself (see
        # benchmarks/admin_scale.py). Here: prove the indexes match the
        # queries at all.
        cursor.execute("SET LOCAL enable_seqscan = off")
        try:
            return queryset.explain()
        finally:
            cursor.execute("SET LOCAL enable_seqscan = on")


def searched(model, term: str, user):
    model_admin = admin.site._registry[model]
    request = RequestFactory().get("/", {"q": term})
    request.user = user
    queryset, _ = model_admin.get_search_results(request, model_admin.get_queryset(request), term)
    return queryset


@postgresql_only
def test_conversation_search_uses_the_trigram_full_text_and_key_indexes(alice, charlie):
    bulk_conversations(alice, conversations=50, items_each=20)

    plan = explain(searched(Conversation, "printer fire", charlie))

    assert "chatkit_message_text_fts" in plan, plan
    assert "chatkit_conv_title_trgm" in plan, plan
    assert "Seq Scan on chatkit_app_message" not in plan, plan


@postgresql_only
def test_item_search_uses_the_full_text_and_key_indexes(alice, charlie):
    bulk_conversations(alice, conversations=50, items_each=20)

    plan = explain(searched(Message, "printer", charlie))

    assert "chatkit_message_text_fts" in plan, plan
    assert "Seq Scan on chatkit_app_message" not in plan, plan


@postgresql_only
def test_item_counts_read_only_the_index_entries_of_the_rows_shown(alice):
    ids = bulk_conversations(alice, conversations=50, items_each=20)
    from chatkit_app.selectors import conversation_item_counts

    counts = conversation_item_counts(conversation_ids=ids[:5])
    assert counts == dict.fromkeys(ids[:5], 20)
    plan = explain(
        Message.objects.filter(conversation_id__in=ids[:5])
        .order_by()
        .values_list("conversation_id")
        .annotate(n=Count("id"))
    )
    assert "Seq Scan on chatkit_app_message" not in plan, plan


def test_each_rows_select_box_is_the_one_django_renders(client, alice, charlie):
    """The select box is written directly (not through the form renderer's
    templates, a third of a long list's rendering), with the same name,
    value, class and label: the actions and their JavaScript still work."""
    conversation = Conversation.objects.create(
        id='thr_a&b"<c>', owner=alice, title='Tom & "Jerry" <script>'
    )
    model_admin = admin.site._registry[Conversation]
    expected = admin.ModelAdmin.action_checkbox(model_admin, conversation)
    assert model_admin.action_checkbox(conversation) == expected

    client.force_login(charlie)
    response = client.get("/admin/chatkit_app/conversation/")
    assert expected in response.content.decode()
    response = client.post(
        "/admin/chatkit_app/conversation/",
        {"action": "lock", "_selected_action": [conversation.pk], "index": 0},
    )
    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.status == "locked"
