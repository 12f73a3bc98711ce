"""The review queue (``/admin/review/``), annotations and flags: the queue's
sources and filters on seeded rows, its keyset pages, annotating from the
queue and the transcript, who may do what (view-only staff see but get a
403 for any write), the flag in the live activity feed, and annotations
and flags through ``chatkit_export`` / ``chatkit_import``, Markdown and
the chat-format JSON lines (with and without corrections)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    InferenceOptions,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTextContent,
)
from django.contrib.admin.models import LogEntry
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from chatkit_app import services
from chatkit_app.handoff.services import handoff_request, handoff_take_over
from chatkit_app.live.catch_up import activity_since
from chatkit_app.models import Annotation, Conversation, Feedback, Handoff, Message, ModelUsage
from chatkit_app.review.selectors import Cursor, QueueFilters, queue_page

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db

QUEUE = "/admin/review/"


def at(day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def item(thread_id: str, n: int, role: str, text: str, when: datetime) -> Message:
    kind = f"{role}_message"
    part = "output_text" if role == "assistant" else "input_text"
    return Message.objects.create(
        id=f"{thread_id}_{n}",
        conversation_id=thread_id,
        sequence=n,
        type=kind,
        role=role,
        text=text,
        created_at=when,
        data={
            "id": f"{thread_id}_{n}",
            "thread_id": thread_id,
            "type": kind,
            "created_at": when.isoformat(),
            "content": [{"type": part, "text": text}],
        },
    )


def exchange(owner, thread_id: str, when: datetime, question: str, answer: str) -> Message:
    """A conversation of one question and its answer; returns the answer."""
    Conversation.objects.create(
        id=thread_id, owner=owner, title=f"About {question}", created_at=when, updated_at=when
    )
    item(thread_id, 1, "user", question, when)
    return item(thread_id, 2, "assistant", answer, when + timedelta(seconds=5))


def usage(answer: Message, model: str, assistant: str, error: str = "", **fields) -> ModelUsage:
    return ModelUsage.objects.create(
        user=answer.conversation.owner,
        conversation_id=answer.conversation_id,
        message_id=answer.pk,
        model=model,
        assistant=assistant,
        error=error,
        created_at=fields.pop("created_at", answer.created_at),
        **fields,
    )


@pytest.fixture
def seeded(alice, charlie):
    """One row per source, and rows of the same kinds that are not for review."""
    bad = exchange(alice, "thr_bad", at(1, 9), "tax rates", "Taxes are 99%.")
    usage(bad, "gpt-a", "assistant")
    Feedback.objects.create(
        message=bad, conversation_id="thr_bad", user=alice, kind="negative", created_at=at(1, 10)
    )
    good = exchange(alice, "thr_good", at(1, 11), "soup", "Here is a soup recipe.")
    usage(good, "gpt-a", "assistant")
    Feedback.objects.create(
        message=good, conversation_id="thr_good", user=alice, kind="positive", created_at=at(1, 12)
    )
    failed = exchange(alice, "thr_failed", at(2, 9), "weather", "The weath")
    Message.objects.filter(pk=failed.pk).update(interrupted=True)
    usage(failed, "gpt-b", "tasks", error="rate_limit", created_at=at(2, 10))
    stopped = exchange(alice, "thr_stopped", at(2, 11), "music", "Bach wrote")
    Message.objects.filter(pk=stopped.pk).update(interrupted=True, created_at=at(2, 12))
    usage(stopped, "gpt-a", "assistant", error=ModelUsage.STOPPED)
    # A call that failed before any word: no answer, the conversation only.
    Conversation.objects.create(id="thr_silent", owner=alice, created_at=at(3, 8))
    item("thr_silent", 1, "user", "travel plans", at(3, 8))
    ModelUsage.objects.create(
        user=alice,
        conversation_id="thr_silent",
        model="gpt-b",
        assistant="tasks",
        error="timeout",
        created_at=at(3, 9),
    )
    # A failed title is not a failed answer.
    ModelUsage.objects.create(
        user=alice,
        conversation_id="thr_good",
        model="gpt-mini",
        purpose="title",
        error="timeout",
        created_at=at(3, 10),
    )
    flagged = exchange(alice, "thr_flagged", at(3, 11), "python", "Use Python 2.")
    usage(flagged, "gpt-a", "assistant")
    services.conversation_flag(
        conversation=Conversation.objects.get(pk="thr_flagged"), by=charlie, reason="outdated"
    )
    Conversation.objects.filter(pk="thr_flagged").update(flagged_at=at(3, 12))


def keys(page) -> list[tuple[str, str]]:
    return [(entry.source, entry.answer_id or entry.conversation_id) for entry in page.entries]


def test_the_queue_lists_thumbs_down_failed_interrupted_and_flagged_newest_first(seeded):
    page = queue_page(filters=QueueFilters())
    assert keys(page) == [
        ("flagged", "thr_flagged"),
        ("failed", "thr_silent"),
        ("interrupted", "thr_stopped_2"),
        ("failed", "thr_failed_2"),
        ("negative", "thr_bad_2"),
    ]
    # The failed answer is interrupted too: shown once, with both reasons.
    failed = page.entries[3]
    assert failed.sources == ["failed", "interrupted"]
    assert failed.usage.error == "rate_limit"
    assert failed.answer.text == "The weath"
    assert page.next_cursor is None


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (QueueFilters(source="negative"), ["thr_bad_2"]),
        (QueueFilters(source="failed"), ["thr_silent", "thr_failed_2"]),
        (QueueFilters(source="interrupted"), ["thr_stopped_2", "thr_failed_2"]),
        (QueueFilters(source="flagged"), ["thr_flagged"]),
        (
            QueueFilters(assistant="tasks"),
            ["thr_silent", "thr_failed_2"],
        ),
        (
            QueueFilters(model="gpt-a"),
            ["thr_flagged", "thr_stopped_2", "thr_bad_2"],
        ),
        (QueueFilters(model="gpt-a", assistant="tasks"), []),
        (
            QueueFilters(start=at(2, 0), end=at(3, 0)),
            ["thr_stopped_2", "thr_failed_2"],
        ),
        (QueueFilters(search="weather"), ["thr_failed_2"]),
        (QueueFilters(search="travel"), ["thr_silent"]),
        (QueueFilters(search='"Python 2"'), ["thr_flagged"]),
    ],
)
def test_each_filter_narrows_the_queue_to_what_it_names(seeded, filters, expected):
    page = queue_page(filters=filters)
    assert [entry.answer_id or entry.conversation_id for entry in page.entries] == expected


def test_the_label_filter_finds_annotated_answers_and_those_nobody_reviewed(seeded, charlie):
    bad = Message.objects.get(pk="thr_bad_2")
    services.annotation_save(answer=bad, author=charlie, label="wrong", note="99% is wrong")
    flagged_answer = Message.objects.get(pk="thr_flagged_2")
    services.annotation_save(answer=flagged_answer, author=charlie, label="off-topic")

    wrong = queue_page(filters=QueueFilters(label="wrong"))
    assert keys(wrong) == [("negative", "thr_bad_2")]
    assert wrong.entries[0].annotations[0].note == "99% is wrong"
    # A flagged conversation has the label when one of its answers has it.
    assert keys(queue_page(filters=QueueFilters(label="off-topic"))) == [("flagged", "thr_flagged")]
    assert keys(queue_page(filters=QueueFilters(label="-"))) == [
        ("failed", "thr_silent"),
        ("interrupted", "thr_stopped_2"),
        ("failed", "thr_failed_2"),
    ]


def test_pages_follow_one_another_without_gaps_or_repeats_even_on_equal_times(alice):
    Conversation.objects.create(id="thr_many", owner=alice, created_at=at(1))
    same_time = at(5)
    for n in range(1, 8):
        message = item("thr_many", n, "assistant", f"answer {n}", same_time)
        Message.objects.filter(pk=message.pk).update(interrupted=True)
        Feedback.objects.create(
            message=message,
            conversation_id="thr_many",
            user=alice,
            kind="negative",
            created_at=same_time,
        )
    whole = keys(queue_page(filters=QueueFilters(), page_size=100))
    assert len(whole) == 7  # one entry per answer: thumbs down and interrupted
    seen, cursor = [], None
    while True:
        page = queue_page(filters=QueueFilters(source="negative"), cursor=cursor, page_size=3)
        seen += keys(page)
        if page.next_cursor is None:
            break
        cursor = Cursor.decode(page.next_cursor.encode())
    assert seen == [("negative", f"thr_many_{n}") for n in range(7, 0, -1)]
    # Across sources too: every row once, whether an answer's other reason
    # is merged into its entry (same page) or comes on a later page.
    rows, cursor = [], None
    while True:
        page = queue_page(filters=QueueFilters(), cursor=cursor, page_size=4)
        rows += [(source, e.answer_id) for e in page.entries for source in e.sources]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(rows) == sorted(
        (source, f"thr_many_{n}") for n in range(1, 8) for source in ("negative", "interrupted")
    )


def ordinary_rows(owner, count: int) -> None:
    """Answers no source takes (not disliked, failed, interrupted or
    flagged), as nearly all are: beside them each source's partial index is
    the plan, as on a real site. With only the handful of seeded rows any
    index does, and the planner's pick varies with the statistics."""
    when = at(2)
    ids = [f"thr_plain_{n}" for n in range(count)]
    Conversation.objects.bulk_create(
        Conversation(id=thread_id, owner=owner, title="Plain", created_at=when, updated_at=when)
        for thread_id in ids
    )
    answers = Message.objects.bulk_create(
        Message(
            id=f"{thread_id}_2",
            conversation_id=thread_id,
            sequence=2,
            type="assistant_message",
            role="assistant",
            text="Fine.",
            created_at=when,
            data={"id": f"{thread_id}_2", "thread_id": thread_id, "type": "assistant_message"},
        )
        for thread_id in ids
    )
    ModelUsage.objects.bulk_create(
        ModelUsage(
            user=owner,
            conversation_id=answer.conversation_id,
            message_id=answer.pk,
            model="gpt-a",
            assistant="assistant",
            created_at=when,
        )
        for answer in answers
    )
    Feedback.objects.bulk_create(
        Feedback(
            message=answer,
            conversation_id=answer.conversation_id,
            user=owner,
            kind="positive",
            created_at=when,
        )
        for answer in answers
    )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner")
def test_each_source_walks_its_own_partial_index_newest_first(seeded, alice):
    from chatkit_app.review.selectors import SOURCE_QUERIES

    ordinary_rows(alice, 3000)

    indexes = {
        "negative": ("chatkit_feedback_kind_created", "chatkit_feedback_created"),
        "failed": ("chatkit_usage_failed",),
        "interrupted": ("chatkit_message_interrupted",),
        "flagged": ("chatkit_conv_flagged",),
    }
    with connection.cursor() as cursor:
        # The plan follows the tables' statistics: those of the rows seeded
        # here, not whatever autovacuum last saw of other tests' rows.
        tables = [model._meta.db_table for model in (Conversation, Message, Feedback, ModelUsage)]
        cursor.execute(f"ANALYZE {', '.join(tables)}, {Handoff._meta.db_table}")
    for source, names in indexes.items():
        queryset, at, pk, *_ = SOURCE_QUERIES[source](QueueFilters())
        with connection.cursor() as cursor:
            # A handful of rows would be scanned whatever the index: forbid it.
            cursor.execute("SET LOCAL enable_seqscan = off")
            plan = queryset.order_by(f"-{at}", f"-{pk}")[:51].explain()
        assert any(name in plan for name in names), (source, plan)


def test_the_queue_page_costs_the_same_queries_for_many_entries_as_for_few(
    client, charlie, seeded, alice
):
    client.force_login(charlie)
    client.get(QUEUE)  # sessions, content types: cached after the first page
    with CaptureQueriesContext(connection) as few:
        assert client.get(QUEUE).status_code == 200
    for n in range(20):
        answer = exchange(alice, f"thr_more{n}", at(4, 1, n), "more", f"more {n}")
        usage(answer, "gpt-a", "assistant")
        Feedback.objects.create(
            message=answer, conversation_id=answer.conversation_id, user=alice, kind="negative"
        )
    with CaptureQueriesContext(connection) as many:
        response = client.get(QUEUE)
    assert response.content.count(b'class="ck-review-entry') == 25
    assert len(many) == len(few)


def test_the_queue_page_shows_why_each_answer_is_there_and_pages_on(client, charlie, seeded):
    client.force_login(charlie)
    response = client.get(QUEUE)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Taxes are 99%." in html
    assert "Flagged by charlie: outdated" in html
    assert "The call failed before any answer was written." in html
    assert "error: rate_limit" in html
    assert "soup" not in html  # a thumbs up is not for review

    response = client.get(QUEUE, {"source": "failed"})
    assert response.content.count(b'class="ck-review-entry') == 2
    assert "Older" not in response.content.decode()


def test_the_queue_pages_on_with_an_older_link(client, charlie, seeded, monkeypatch):
    monkeypatch.setattr("chatkit_app.admin.review.QUEUE_PAGE_SIZE", 2)
    client.force_login(charlie)
    first = client.get(QUEUE, {"model": "gpt-a"})
    older = first.context["next_url"]
    assert "model=gpt-a" in older
    second = client.get(QUEUE + older)
    assert [e.answer_id or e.conversation_id for e in second.context["page"].entries] == [
        "thr_bad_2"
    ]
    assert second.context["next_url"] == ""


@pytest.mark.parametrize(
    "query",
    [
        {"after": "not-a-cursor"},
        {"source": "everything"},
        {"start": "yesterday"},
        {"start": "2026-11-03", "end": "2026-11-01"},
        {"label": "no-such-label"},
    ],
)
def test_a_bad_filter_or_page_link_is_a_400_that_says_why(client, charlie, seeded, query):
    client.force_login(charlie)
    response = client.get(QUEUE, query)
    assert response.status_code == 400
    assert b"errorlist" in response.content


# --- annotating -------------------------------------------------------------------


def annotate_url(answer_id: str) -> str:
    return reverse("admin:review_annotate", args=[quote(answer_id)])


def change_url(conversation_id: str) -> str:
    return reverse("admin:chatkit_app_conversation_change", args=[quote(conversation_id)])


def flag_url(conversation_id: str) -> str:
    return reverse("admin:chatkit_app_conversation_flag", args=[quote(conversation_id)])


def test_staff_annotate_an_answer_from_the_queue_and_see_it_there_and_in_the_transcript(
    client, charlie, seeded
):
    client.force_login(charlie)
    queue = client.get(QUEUE).content.decode()
    assert f'action="{annotate_url("thr_bad_2")}"' in queue

    response = client.post(
        annotate_url("thr_bad_2"),
        {
            "label": "wrong",
            "note": "Rates are 20%.",
            "corrected_text": "Most rates are 20%.",
            "next": QUEUE + "?source=negative",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == QUEUE + "?source=negative"
    annotation = Annotation.objects.get()
    assert (annotation.answer_id, annotation.author, annotation.label) == (
        "thr_bad_2",
        charlie,
        "wrong",
    )
    assert annotation.conversation_id == "thr_bad"

    queue = client.get(QUEUE, {"source": "negative"}).content.decode()
    assert "Rates are 20%." in queue
    assert "Most rates are 20%." in queue
    assert "Change my annotation" in queue

    page = client.get(change_url("thr_bad"))
    html = page.content.decode()
    assert 'data-label="wrong"' in html
    assert "Should have been:" in html
    assert "Most rates are 20%." in html
    # The annotate form sits outside the page's own form (no nested forms).
    assert html.index("</form></div>") < html.index('class="ck-annotate-form"')
    assert LogEntry.objects.filter(object_id="thr_bad").exists()


def test_annotating_again_changes_ones_own_annotation_and_others_keep_theirs(
    client, charlie, seeded
):
    other = get_user_model().objects.create_user(
        "dora", password=PASSWORD, is_staff=True, is_superuser=True
    )
    services.annotation_save(
        answer=Message.objects.get(pk="thr_bad_2"), author=other, label="unsafe"
    )
    client.force_login(charlie)
    client.post(annotate_url("thr_bad_2"), {"label": "wrong"})
    client.post(annotate_url("thr_bad_2"), {"label": "incomplete", "note": "second look"})
    rows = dict(Annotation.objects.values_list("author__username", "label"))
    assert rows == {"charlie": "incomplete", "dora": "unsafe"}

    client.post(annotate_url("thr_bad_2"), {"delete": "1"})
    assert list(Annotation.objects.values_list("author__username", flat=True)) == ["dora"]


def test_the_labels_come_from_the_settings(client, charlie, seeded, settings):
    settings.CHATKIT_REVIEW_LABELS = ["hallucination", "fine"]
    client.force_login(charlie)
    assert b'<option value="hallucination"' in client.get(QUEUE).content
    assert client.post(annotate_url("thr_bad_2"), {"label": "wrong"}).status_code == 400
    assert client.post(annotate_url("thr_bad_2"), {"label": "fine"}).status_code == 302


@pytest.mark.parametrize(
    ("answer", "data", "status", "says"),
    [
        ("thr_bad_2", {"label": "no-such-label"}, 400, b"label"),
        ("thr_bad_2", {}, 400, b"label"),
        ("thr_bad_1", {"label": "wrong"}, 400, b"Only assistant answers"),
        ("msg_missing", {"label": "wrong"}, 404, b""),
    ],
)
def test_annotating_something_that_cannot_be_annotated_says_so(
    client, charlie, seeded, answer, data, status, says
):
    client.force_login(charlie)
    response = client.post(annotate_url(answer), data)
    assert response.status_code == status
    assert says in response.content
    assert not Annotation.objects.exists()


def test_annotating_needs_a_post(client, charlie, seeded):
    client.force_login(charlie)
    assert client.get(annotate_url("thr_bad_2")).status_code == 405


# --- who may do what ---------------------------------------------------------------


@pytest.fixture
def viewer(client, db):
    """Staff who may view conversations and annotations, and change nothing."""
    user = get_user_model().objects.create_user("vera", password=PASSWORD, is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            codename__in=["view_conversation", "view_message", "view_annotation"]
        )
    )
    client.force_login(user)
    return user


def test_view_only_staff_see_the_queue_and_annotations_but_get_403_for_annotating(
    client, charlie, seeded, viewer
):
    services.annotation_save(
        answer=Message.objects.get(pk="thr_bad_2"), author=charlie, label="wrong", note="seen"
    )
    response = client.get(QUEUE)
    html = response.content.decode()
    assert response.status_code == 200
    assert "seen" in html
    assert 'data-label="wrong"' in html
    assert "ck-annotate-form" not in html
    page = client.get(change_url("thr_bad"))
    assert page.status_code == 200
    assert b'data-label="wrong"' in page.content
    assert b"ck-annotate-form" not in page.content
    assert b"ck-flag-form" not in page.content

    assert client.post(annotate_url("thr_bad_2"), {"label": "good"}).status_code == 403
    assert client.post(annotate_url("thr_failed_2"), {"label": "good"}).status_code == 403
    assert list(Annotation.objects.values_list("label", flat=True)) == ["wrong"]


def test_view_only_staff_get_403_for_flagging_and_the_list_action_flags_nothing(
    client, seeded, viewer
):
    flag = flag_url("thr_bad")
    assert client.post(flag, {"reason": "mine"}).status_code == 403
    assert client.post(flag_url("thr_flagged"), {"unflag": "1"}).status_code == 403
    client.post(
        reverse("admin:chatkit_app_conversation_changelist"),
        {"action": "flag", "_selected_action": ["thr_bad"], "index": 0},
    )
    assert not Conversation.objects.get(pk="thr_bad").flagged_at
    assert Conversation.objects.get(pk="thr_flagged").flagged_at


def test_staff_without_the_right_to_view_conversations_are_refused_the_queue(client, db):
    user = get_user_model().objects.create_user("ned", password=PASSWORD, is_staff=True)
    client.force_login(user)
    assert client.get(QUEUE).status_code == 403


def test_people_who_are_not_staff_are_sent_to_sign_in(client, alice):
    client.force_login(alice)
    response = client.get(QUEUE)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    response = client.post(annotate_url("thr_x"), {"label": "wrong"})
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


# --- flags ----------------------------------------------------------------------------


def test_the_flag_button_flags_and_clears_and_the_queue_follows(client, charlie, seeded):
    client.force_login(charlie)
    page = change_url("thr_good")
    assert b"Flag for review" in client.get(page).content
    response = client.post(
        flag_url("thr_good"),
        {"reason": "recipe is unsafe", "note": "raw eggs"},
    )
    assert response.status_code == 302
    assert response["Location"] == page
    conversation = Conversation.objects.get(pk="thr_good")
    assert (conversation.flagged_by, conversation.flag_reason, conversation.flag_note) == (
        charlie,
        "recipe is unsafe",
        "raw eggs",
    )
    html = client.get(page).content.decode()
    assert "Flagged by charlie" in html
    assert "raw eggs" in html
    assert "Clear flag" in html
    flagged = queue_page(filters=QueueFilters(source="flagged"))
    assert keys(flagged)[0] == ("flagged", "thr_good")

    client.post(flag_url("thr_good"), {"unflag": "1"})
    assert Conversation.objects.get(pk="thr_good").flagged_at is None
    assert keys(queue_page(filters=QueueFilters(source="flagged"))) == [("flagged", "thr_flagged")]


def test_a_user_asking_for_a_person_is_in_the_queue_until_someone_takes_over(
    client, alice, charlie, seeded
):
    handoff_request(owner=alice, conversation_id="thr_good", reason="the recipe is wrong")
    flagged = queue_page(filters=QueueFilters(source="flagged"))
    assert ("flagged", "thr_good") in keys(flagged)
    client.force_login(charlie)
    html = client.get(QUEUE, {"source": "flagged"}).content.decode()
    assert "asked for a person: the recipe is wrong" in html

    handoff_take_over(conversation=Conversation.objects.get(pk="thr_good"), staff=charlie)
    assert keys(queue_page(filters=QueueFilters(source="flagged"))) == [("flagged", "thr_flagged")]


def test_the_conversation_list_filters_flagged_ones_and_annotations_have_a_list(
    client, charlie, seeded
):
    services.annotation_save(
        answer=Message.objects.get(pk="thr_bad_2"), author=charlie, label="wrong", note="made up"
    )
    client.force_login(charlie)
    listed = client.get(reverse("admin:chatkit_app_conversation_changelist"), {"flagged": "yes"})
    assert [row.pk for row in listed.context["cl"].result_list] == ["thr_flagged"]
    annotations = client.get(reverse("admin:chatkit_app_annotation_changelist"), {"q": "made"})
    assert [row.answer_id for row in annotations.context["cl"].result_list] == ["thr_bad_2"]


def test_the_list_actions_flag_and_unflag_a_selection(client, charlie, seeded):
    client.force_login(charlie)
    changelist = reverse("admin:chatkit_app_conversation_changelist")
    client.post(
        changelist,
        {
            "action": "flag",
            "_selected_action": ["thr_bad", "thr_good"],
            "index": 0,
            "reason": "weekly check",
        },
    )
    assert set(
        Conversation.objects.filter(flag_reason="weekly check").values_list("pk", flat=True)
    ) == {"thr_bad", "thr_good"}
    client.post(
        changelist, {"action": "unflag", "_selected_action": ["thr_bad", "thr_flagged"], "index": 0}
    )
    assert list(
        Conversation.objects.filter(flagged_at__isnull=False).values_list("pk", flat=True)
    ) == ["thr_good"]


def test_a_flag_is_in_the_live_activity_feed(alice, charlie, django_capture_on_commit_callbacks):
    Conversation.objects.create(id="thr_live", owner=alice, title="Refund")
    sent = []
    from chatkit_app.live import publish

    original = publish._send_now
    publish._send_now = lambda group, event: sent.append((group, event))
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.conversation_flag(
                conversation=Conversation.objects.get(pk="thr_live"), by=charlie, reason="angry"
            )
        with django_capture_on_commit_callbacks(execute=True):
            services.conversation_unflag(
                conversation=Conversation.objects.get(pk="thr_live"), by=charlie
            )
    finally:
        publish._send_now = original
    assert len(sent) == 1
    group, event = sent[0]
    assert group == "chatkit.activity"
    assert (event["kind"], event["user"], event["title"], event["reason"]) == (
        "conversation.flagged",
        "charlie",
        "Refund",
        "angry",
    )
    assert event["conversation_url"] == change_url("thr_live")
    # A staff member who opens the feed later gets it from the backlog.
    services.conversation_flag(
        conversation=Conversation.objects.get(pk="thr_live"), by=charlie, reason="again"
    )
    backlog = [e for e in activity_since(since=None) if e["kind"] == "conversation.flagged"]
    assert [(e["conversation_id"], e["reason"]) for e in backlog] == [("thr_live", "again")]


# --- export and import ---------------------------------------------------------------


def chat(owner, thread_id: str, turns: list[tuple[str, str]]) -> list[str]:
    """A conversation of real SDK items saved as the store saves them."""
    now = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    services.conversation_save(
        owner=owner, thread=ThreadMetadata(id=thread_id, title=thread_id, created_at=now)
    )
    ids = []
    for n, (role, text) in enumerate(turns, 1):
        when = now + timedelta(seconds=n)
        item_id = f"msg_{thread_id}_{n}"
        if role == "user":
            thread_item = UserMessageItem(
                id=item_id,
                thread_id=thread_id,
                created_at=when,
                content=[UserMessageTextContent(text=text)],
                attachments=[],
                inference_options=InferenceOptions(),
            )
        else:
            thread_item = AssistantMessageItem(
                id=item_id,
                thread_id=thread_id,
                created_at=when,
                content=[AssistantMessageContent(text=text)],
            )
        services.message_upsert(owner=owner, conversation_id=thread_id, item=thread_item)
        ids.append(item_id)
    return ids


@pytest.fixture
def reviewed(alice, charlie):
    """Two conversations: one with a corrected answer, thumbs down and a
    flag; one with a plain annotation and a thumbs up."""
    first = chat(
        alice,
        "thr_tax",
        [("user", "Tax rate?"), ("assistant", "99%."), ("user", "Sure?"), ("assistant", "Yes.")],
    )
    services.annotation_save(
        answer=Message.objects.get(pk=first[1]),
        author=charlie,
        label="wrong",
        note="Made up.",
        corrected_text="It depends on your income; most pay 20%.",
    )
    services.feedback_record(
        owner=alice, conversation_id="thr_tax", item_ids=[first[1]], kind="negative"
    )
    services.conversation_flag(
        conversation=Conversation.objects.get(pk="thr_tax"),
        by=charlie,
        reason="wrong facts",
        note="check the others",
    )
    second = chat(alice, "thr_soup", [("user", "Soup?"), ("assistant", "Leek soup.")])
    services.annotation_save(answer=Message.objects.get(pk=second[1]), author=charlie, label="good")
    services.feedback_record(
        owner=alice, conversation_id="thr_soup", item_ids=[second[1]], kind="positive"
    )
    return first, second


def export(*args: str) -> str:
    out = StringIO()
    call_command("chatkit_export", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_annotations_and_flags_travel_with_the_conversation_through_export_and_import(
    reviewed, tmp_path
):
    first = export()
    record = json.loads(first.splitlines()[1])  # thr_tax, in id order
    assert record["id"] == "thr_tax"
    assert record["flag"]["flagged_by"] == "charlie"
    assert record["flag"]["reason"] == "wrong facts"
    assert [(a["item_id"], a["author"], a["label"]) for a in record["annotations"]] == [
        ("msg_thr_tax_2", "charlie", "wrong")
    ]
    before = list(
        Annotation.objects.order_by("answer_id").values_list(
            "answer_id", "conversation_id", "label", "note", "corrected_text", "created_at"
        )
    )

    Conversation.objects.all().delete()
    ModelUsage.objects.all().delete()
    get_user_model().objects.all().delete()
    path = tmp_path / "reviewed.jsonl"
    path.write_text(first)
    call_command("chatkit_import", str(path), stdout=StringIO(), stderr=StringIO())

    assert export() == first
    assert (
        list(
            Annotation.objects.order_by("answer_id").values_list(
                "answer_id", "conversation_id", "label", "note", "corrected_text", "created_at"
            )
        )
        == before
    )
    conversation = Conversation.objects.get(pk="thr_tax")
    assert conversation.flagged_by.username == "charlie"
    assert conversation.flag_note == "check the others"


def test_an_export_made_before_reviews_existed_still_imports(alice, tmp_path):
    chat(alice, "thr_old", [("user", "Hi"), ("assistant", "Hello.")])
    record = json.loads(export())
    del record["flag"], record["annotations"]
    Conversation.objects.all().delete()
    path = tmp_path / "old.jsonl"
    path.write_text(json.dumps(record) + "\n")
    call_command("chatkit_import", str(path), stdout=StringIO(), stderr=StringIO())
    conversation = Conversation.objects.get(pk="thr_old")
    assert conversation.flagged_at is None
    assert not conversation.annotations.exists()


def test_an_annotation_of_something_that_is_not_an_answer_of_the_thread_is_refused(
    reviewed, tmp_path
):
    record = json.loads(export("--user", "alice").splitlines()[1])
    record["annotations"][0]["item_id"] = "msg_thr_tax_1"  # the user's question
    Conversation.objects.all().delete()
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(record) + "\n")
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("chatkit_import", str(path), stdout=StringIO(), stderr=err)
    assert "not an answer of this thread" in err.getvalue()
    assert not Conversation.objects.exists()


def test_the_markdown_export_shows_the_flag_and_each_annotation_under_its_answer(reviewed):
    markdown = export("--format", "md", "--flagged")
    assert markdown.startswith("# thr_tax")
    assert "- **Flagged for review:** by charlie" in markdown
    assert "wrong facts" in markdown
    answer = markdown.index("99%.")
    annotation = markdown.index("> **Annotation by charlie: wrong**")
    assert answer < annotation < markdown.index("Sure?")
    assert "> It depends on your income; most pay 20%." in markdown


def chat_lines(*args: str) -> list[dict]:
    return [json.loads(line) for line in export("--format", "openai-jsonl", *args).splitlines()]


def test_openai_jsonl_writes_each_conversation_as_chat_messages(reviewed):
    lines = chat_lines()
    assert lines == [
        {
            "messages": [
                {"role": "user", "content": "Soup?"},
                {"role": "assistant", "content": "Leek soup."},
            ]
        },
        {
            "messages": [
                {"role": "user", "content": "Tax rate?"},
                {"role": "assistant", "content": "99%."},
                {"role": "user", "content": "Sure?"},
                {"role": "assistant", "content": "Yes."},
            ]
        },
    ]


def test_openai_jsonl_with_corrections_puts_the_staff_answer_in_place_of_the_original(reviewed):
    (tax,) = chat_lines("--use-corrections", "--label", "wrong")
    assert tax["messages"][1] == {
        "role": "assistant",
        "content": "It depends on your income; most pay 20%.",
    }
    assert tax["messages"][3] == {"role": "assistant", "content": "Yes."}


@pytest.mark.parametrize(
    ("args", "first_answers"),
    [
        (("--label", "good"), ["Leek soup."]),
        (("--label", "wrong"), ["99%."]),
        (("--label", "unsafe"), []),
        (("--feedback", "down"), ["99%."]),
        (("--feedback", "up"), ["Leek soup."]),
        (("--flagged",), ["99%."]),
    ],
)
def test_openai_jsonl_is_filtered_by_label_feedback_and_flag(reviewed, args, first_answers):
    assert [line["messages"][1]["content"] for line in chat_lines(*args)] == first_answers


def test_use_corrections_without_openai_jsonl_is_a_clear_error(db):
    with pytest.raises(CommandError, match="--use-corrections goes with --format openai-jsonl"):
        export("--use-corrections")
