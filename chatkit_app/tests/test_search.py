"""Full-text search of items (``chatkit_app.search``): phrases, prefixes,
exclusions and ranking, on both databases, through the selector and the
admin's item and conversation lists; and on PostgreSQL, that the search
reads the full-text index rather than every row."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from chatkit_app import search
from chatkit_app.admin.conversations import ConversationAdmin, ConversationSearchPaginator
from chatkit_app.admin.paginator import SearchPaginator
from chatkit_app.admin.records import MessageAdmin, MessageChangeList
from chatkit_app.models import Conversation, Message

from .seed_conversations import bulk_conversations

pytestmark = pytest.mark.django_db

ITEMS = "/admin/chatkit_app/message/"
CONVERSATIONS = "/admin/chatkit_app/conversation/"
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="ranking and the index are PostgreSQL's"
)

TEXTS = {
    "thr_a00000": [
        "The printer is on fire again",
        "Please send the invoice for November",
        "Invoicing runs on the first of the month",
    ],
    "thr_a00001": [
        "Fire drill at noon; the printer room is closed",
        "Weather: rain, then sun",
    ],
}


@pytest.fixture
def texts(alice, bob):
    bulk_conversations(alice, conversations=2, items_each=3, prefix="a")
    bulk_conversations(bob, conversations=1, items_each=1, prefix="b", text="bob's printer is fine")
    for thread_id, lines in TEXTS.items():
        for sequence, line in enumerate(lines, start=1):
            Message.objects.filter(conversation_id=thread_id, sequence=sequence).update(text=line)
    # thr_a00001's third item keeps its seeded "hello".


def found(term: str, queryset=None) -> set[str]:
    items = Message.objects.all() if queryset is None else queryset
    return set(search.message_search(queryset=items, term=term).values_list("text", flat=True))


def test_every_word_must_appear_in_any_order_and_case(texts):
    assert found("FIRE printer") == {
        "The printer is on fire again",
        "Fire drill at noon; the printer room is closed",
    }
    assert "bob's printer is fine 1" in found("printer")
    assert found("printer zebra") == set()


def test_a_quoted_phrase_matches_only_words_in_that_order(texts):
    assert found('"printer is on"') == {"The printer is on fire again"}
    assert found('"on printer"') == set()


def test_a_word_with_a_star_matches_every_word_it_begins(texts):
    assert found("invoic*") == {
        "Please send the invoice for November",
        "Invoicing runs on the first of the month",
    }
    # A word alone is a word, not a beginning (the icontains fallback aside).
    full_text = connection.vendor == "postgresql" or search.has_fts5()
    assert found("invoic") == (set() if full_text else found("invoic*"))


def test_a_minus_excludes_a_word(texts):
    assert found("printer -fire") == {"bob's printer is fine 1"}


def test_an_empty_or_punctuation_only_search_matches_nothing(texts):
    assert found("") == set()
    assert found("   ") == set()
    assert found("*") == set()


def test_the_search_sees_only_the_items_it_is_given(texts, alice):
    own = Message.objects.filter(conversation__owner=alice)
    assert "bob's printer is fine 1" not in found("printer", own)
    assert found("printer", own) == {
        "The printer is on fire again",
        "Fire drill at noon; the printer room is closed",
    }


def test_the_best_matches_rank_first(texts):
    Message.objects.filter(conversation_id="thr_a00001", sequence=3).update(
        text="fire fire fire: the fire alarm, the fire exit"
    )
    ranked = list(
        search.message_search(queryset=Message.objects.all(), term="fire")
        .order_by(f"-{search.RANK}")
        .values_list("text", flat=True)
    )
    assert ranked[0] == "fire fire fire: the fire alarm, the fire exit"
    assert len(ranked) == 3


@postgresql_only
def test_the_search_reads_the_full_text_index(texts):
    # Unordered: the items' default order joins their conversations, and on
    # a handful of rows the planner may then start from a conversation index.
    queryset = search.message_search(queryset=Message.objects.all(), term="printer").order_by()
    with connection.cursor() as cursor:
        # A handful of rows would be scanned whatever the index: forbid it.
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = queryset.explain()
    assert "chatkit_message_text_fts" in plan


# --- SQLite: FTS5

sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's FTS5 table")


@sqlite_only
def test_on_sqlite_the_search_reads_the_fts5_index(texts):
    assert search.has_fts5()
    plan = search.message_search(queryset=Message.objects.all(), term="printer").explain()
    assert "VIRTUAL TABLE INDEX" in plan
    # Words, not parts of words: "fir" is no word of "fire".
    assert found("fir") == set()


def test_or_needs_either_side_and_binds_less_than_and(texts):
    assert found("weather or invoice") == {
        "Weather: rain, then sun",
        "Please send the invoice for November",
    }
    # (drill noon) or (invoice november): a b or c d.
    assert found("drill noon or invoice november") == {
        "Fire drill at noon; the printer room is closed",
        "Please send the invoice for November",
    }
    assert found('"printer is on" or rain -sun') == {"The printer is on fire again"}


def test_a_search_follows_every_change_of_the_items(texts, alice):
    Message.objects.filter(conversation_id="thr_a00000", sequence=1).update(text="A quiet printer")
    assert found("fire printer") == {"Fire drill at noon; the printer room is closed"}
    assert found("quiet") == {"A quiet printer"}
    Conversation.objects.filter(pk="thr_a00001").delete()
    assert found("printer") == {"A quiet printer", "bob's printer is fine 1"}
    assert found("drill") == set()


def test_only_exclusions_and_odd_syntax_are_read_as_words_not_errors(texts):
    # FTS5 cannot say "everything without fire": the plain search does.
    assert "Weather: rain, then sun" in found("-fire")
    assert "The printer is on fire again" not in found("-fire")
    # Quotes, parentheses, colons, NEAR and column filters are words here.
    for term in ('"unbalanced', "(fire", "text:fire", "NEAR(fire printer)", "fire AND", "^fire"):
        assert "The printer is on fire again" in found(term) or found(term) == set(), term
    assert found('fire "" printer') == found("fire printer")


# --- the admin


@pytest.fixture
def staff(client, charlie):
    client.force_login(charlie)
    return client


def test_the_item_list_searches_everyones_items_best_first(staff, texts):
    Message.objects.filter(conversation_id="thr_a00001", sequence=3).update(
        text="printer printer printer"
    )
    response = staff.get(ITEMS, {"q": "printer"})
    rows = [row.text for row in response.context["cl"].result_list]
    assert set(rows) == {
        "The printer is on fire again",
        "Fire drill at noon; the printer room is closed",
        "bob's printer is fine 1",
        "printer printer printer",
    }
    if connection.vendor == "postgresql":
        assert rows[0] == "printer printer printer"
    # Sorting by a column still sorts by it.
    response = staff.get(ITEMS, {"q": "printer", "o": "1"})
    rows = [row.id for row in response.context["cl"].result_list]
    assert rows == sorted(rows)


def test_a_search_with_many_matches_lists_the_newest_first_and_counts_up_to_a_cap(
    staff, texts, monkeypatch
):
    monkeypatch.setattr(MessageChangeList, "rank_at_most", 2)
    monkeypatch.setattr(SearchPaginator, "count_at_most", 3)
    monkeypatch.setattr(SearchPaginator, "pages_ahead", 1)
    monkeypatch.setattr(MessageAdmin, "list_per_page", 1)
    Message.objects.filter(conversation_id="thr_a00001", sequence=3).update(
        text="printer printer printer"
    )
    response = staff.get(ITEMS, {"q": "printer"})
    cl = response.context["cl"]
    assert not cl.ranked
    rows = list(cl.result_list)
    newest = Message.objects.filter(text__icontains="printer").order_by("-created_at", "-pk")
    assert [row.pk for row in rows] == list(newest.values_list("pk", flat=True)[:1])
    assert "more than</span> 3 messages" in response.content.decode()
    # Few matches: ranked, and counted exactly.
    response = staff.get(ITEMS, {"q": "fire drill"})
    assert response.context["cl"].ranked
    assert "more than" not in response.content.decode()


def test_a_capped_search_count_reaches_further_as_staff_page_on(staff, texts, monkeypatch):
    # One item a page, a count covering the next page: four matches are
    # "more than 2" on page 1 and counted exactly from page 3.
    monkeypatch.setattr(MessageChangeList, "rank_at_most", 0)
    monkeypatch.setattr(SearchPaginator, "count_at_most", 1)
    monkeypatch.setattr(SearchPaginator, "pages_ahead", 1)
    monkeypatch.setattr(MessageAdmin, "list_per_page", 1)
    Message.objects.filter(conversation_id="thr_a00001", sequence=3).update(
        text="printer printer printer"
    )
    newest = list(
        Message.objects.filter(text__icontains="printer")
        .order_by("-created_at", "-pk")
        .values_list("pk", flat=True)
    )
    assert len(newest) == 4
    response = staff.get(ITEMS, {"q": "printer"})
    assert "more than</span> 2 messages" in response.content.decode()
    assert response.context["cl"].paginator.num_pages == 2
    response = staff.get(ITEMS, {"q": "printer", "p": "2"})
    assert "more than</span> 3 messages" in response.content.decode()
    assert [row.pk for row in response.context["cl"].result_list] == [newest[1]]
    response = staff.get(ITEMS, {"q": "printer", "p": "3"})
    page = response.content.decode()
    assert "more than" not in page
    assert "4 messages" in page
    assert [row.pk for row in response.context["cl"].result_list] == [newest[2]]
    response = staff.get(ITEMS, {"q": "printer", "p": "4"})
    assert [row.pk for row in response.context["cl"].result_list] == [newest[3]]


def test_counting_matches_finds_old_ones_and_stops_at_the_cap_on_recent_ones(texts, monkeypatch):
    # A window of two items per match counted: "hello" is in thr_a00001's
    # third item only, older than the rest; "printer" in four items.
    monkeypatch.setattr(search, "RECENT_WINDOW_PER_MATCH", 2)
    Message.objects.update(created_at=F("created_at") + timedelta(days=1))
    Message.objects.filter(conversation_id="thr_a00001", sequence=3).update(
        created_at=F("created_at") - timedelta(days=30)
    )
    items = Message.objects.all()

    def counted(term: str, at_most: int) -> int:
        return search.count_matches(
            search.message_search(queryset=items, term=term), at_most=at_most
        )

    assert counted("hello", at_most=1) == 1
    assert counted("printer", at_most=10) == 3
    assert counted("printer", at_most=2) == 3  # "more than 2"
    assert counted("zebra", at_most=2) == 0


def test_the_item_list_still_finds_an_item_or_a_conversation_by_id(staff, texts):
    response = staff.get(ITEMS, {"q": "thr_a00001"})
    assert {row.conversation_id for row in response.context["cl"].result_list} == {"thr_a00001"}
    assert len(response.context["cl"].result_list) == 3


def test_the_conversation_list_finds_conversations_by_their_items(staff, texts):
    def listed(term: str) -> set[str]:
        response = staff.get(CONVERSATIONS, {"q": term})
        assert response.status_code == 200
        return {row.pk for row in response.context["cl"].result_list}

    assert listed("printer") == {"thr_a00000", "thr_a00001", "thr_b00000"}
    assert listed('"printer is on"') == {"thr_a00000"}
    assert listed("invoic*") == {"thr_a00000"}
    assert listed("printer -fire") == {"thr_b00000"}


def test_a_word_in_many_items_finds_the_same_conversations_newest_first_counted_to_a_cap(
    staff, texts, monkeypatch
):
    def listed(term: str) -> tuple[list[str], object]:
        response = staff.get(CONVERSATIONS, {"q": term})
        assert response.status_code == 200
        return [row.pk for row in response.context["cl"].result_list], response

    few = {term: set(listed(term)[0]) for term in ("printer", "printer -fire", "hello", "bob")}
    # As if every term were in more items than a union should read.
    monkeypatch.setattr(ConversationAdmin, "common_at", 0)
    monkeypatch.setattr(ConversationSearchPaginator, "count_at_most", 2)
    for term, conversations in few.items():
        assert set(listed(term)[0]) == conversations, term
    # One a page, counted to the next page: three matches are "more than 2".
    monkeypatch.setattr(ConversationSearchPaginator, "pages_ahead", 1)
    monkeypatch.setattr(ConversationAdmin, "list_per_page", 1)
    rows, response = listed("printer")
    newest_first = Conversation.objects.filter(pk__in=few["printer"]).order_by("-updated_at")
    assert rows == list(newest_first.values_list("pk", flat=True)[:1])
    assert response.context["cl"].paginator.capped
    assert "more than</span> 2 conversations" in response.content.decode()


def test_every_page_of_a_conversation_search_lists_the_next_matches_in_order(
    staff, alice, texts, monkeypatch
):
    """The count and the page come from one walk of the matches (from the
    page's first row to the cap); each page still lists the next ones,
    newest first, with their owner, and the search runs once a page."""
    bulk_conversations(alice, conversations=7, items_each=2, prefix="many", text="a printer")
    monkeypatch.setattr(ConversationAdmin, "common_at", 0)
    monkeypatch.setattr(ConversationSearchPaginator, "count_at_most", 2)
    monkeypatch.setattr(ConversationSearchPaginator, "pages_ahead", 1)
    monkeypatch.setattr(ConversationAdmin, "list_per_page", 3)
    matches = list(
        Conversation.objects.filter(messages__text__icontains="printer")
        .distinct()
        .order_by("-updated_at", "-pk")
        .values_list("pk", flat=True)
    )
    assert len(matches) == 10

    shown = []
    for page, count in [(1, "more than</span> 6"), (2, "more than</span> 9"), (3, "10"), (4, "10")]:
        with CaptureQueriesContext(connection) as captured:
            response = staff.get(CONVERSATIONS, {"q": "printer", "p": str(page)})
        assert response.status_code == 200
        html = response.content.decode()
        assert f"{count} conversations" in html, page
        rows = response.context["cl"].result_list
        assert all(row.owner.username for row in rows)
        shown += [row.pk for row in rows]
        searched = [
            q["sql"]
            for q in captured
            if 'FROM "chatkit_app_conversation"' in q["sql"] and "printer" in q["sql"]
        ]
        assert len(searched) == 1, searched
    assert shown == matches

    # A page past the last match: Django's own error, as before.
    response = staff.get(CONVERSATIONS, {"q": "printer", "p": "9"})
    assert response.status_code == 302


def test_people_who_are_not_staff_cannot_search_the_admin(client, alice, texts):
    client.force_login(alice)
    response = client.get(ITEMS, {"q": "printer"})
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert Conversation.objects.count() == 3
