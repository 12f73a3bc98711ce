"""The staff dashboard (``/admin/dashboard/``): its figures against ones
worked out by hand from seeded rows, a query count that does not grow with
the data or the period, links from every bar to the admin list of exactly
the rows it counts, the period form, and who may see it."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from chatkit_app.models import Feedback, Message, ModelUsage
from chatkit_app.rollups import PRECISION

from .seed_conversations import items_conversation as conversation

pytestmark = pytest.mark.django_db

URL = "/admin/dashboard/"
PERIOD = {"period": "custom", "start": "2026-11-01", "end": "2026-11-03"}
PRICES = {"gpt-a": [2.0, 8.0], "gpt-b": [1.0, 4.0]}


def latencies(p50: float, p95: float) -> dict:
    """Latency percentiles as the dashboard reports them: exact from the
    rows (SQLite), within the histogram's precision from the rollups
    (PostgreSQL; ``rollups.latency_bucket``)."""
    if connection.vendor == "postgresql":
        return {"p50": pytest.approx(p50, rel=PRECISION), "p95": pytest.approx(p95, rel=PRECISION)}
    return {"p50": pytest.approx(p50), "p95": pytest.approx(p95)}


def close_to(shown: float, exact: float) -> bool:
    """``shown``, a latency the page writes (to the millisecond), is
    ``exact`` within the dashboard's precision."""
    slack = exact * PRECISION if connection.vendor == "postgresql" else 0
    return abs(shown - exact) <= slack + 0.5


def at(day: int, hour: int = 12, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def usage(
    user,
    when,
    model,
    assistant="assistant",
    *,
    purpose="response",
    tokens=(0, 0),
    latency=0,
    first=None,
    error="",
    answer="",
):
    conversation_id = answer.rsplit("_", 1)[0] if answer else None
    return ModelUsage.objects.create(
        user=user,
        conversation_id=conversation_id,
        message_id=answer,
        model=model,
        assistant=assistant,
        purpose=purpose,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        latency_ms=latency,
        first_token_ms=first,
        error=error,
        created_at=when,
    )


def feedback(user, message_id: str, kind: str, when: datetime) -> Feedback:
    return Feedback.objects.create(
        user=user,
        message_id=message_id,
        conversation_id=message_id.rsplit("_", 1)[0],
        kind=kind,
        created_at=when,
    )


@pytest.fixture
def seeded(alice, bob, settings):
    """Three days, 2026-11-01 to 03 (the third empty), and rows just
    outside them on both sides, which no figure may count."""
    settings.CHATKIT_MODEL_PRICES = PRICES
    conversation("thr_c1", alice, at(1, 10), items=4)
    conversation("thr_c2", bob, at(1, 12), items=2)
    conversation("thr_c3", alice, at(2, 9), items=3)
    conversation("thr_before", bob, at(31, 23, 59, month=10), items=1)
    conversation("thr_after", bob, at(4, 0), items=1)
    # Day 1: two good answers, a failure, a title (no assistant's answer).
    usage(alice, at(1, 10), "gpt-a", tokens=(100, 50), latency=100, first=40, answer="thr_c1_2")
    usage(alice, at(1, 11), "gpt-a", tokens=(200, 100), latency=200, first=60, answer="thr_c1_4")
    usage(bob, at(1, 12), "gpt-b", "tasks", tokens=(300, 0), latency=5000, error="rate_limit")
    usage(alice, at(1, 10), "gpt-mini", "", purpose="title", tokens=(10, 5), latency=50)
    # Day 2: three good answers, one without a first-words time.
    usage(
        alice,
        at(2, 9),
        "gpt-b",
        "tasks",
        tokens=(1000, 500),
        latency=300,
        first=100,
        answer="thr_c3_2",
    )
    usage(alice, at(2, 10), "gpt-a", tokens=(400, 200), latency=400)
    usage(alice, at(2, 11), "gpt-a", tokens=(100, 100), latency=500, first=120)
    usage(bob, at(31, 23, 59, month=10), "gpt-a", tokens=(9, 9), latency=9999)
    usage(bob, at(4, 0), "gpt-a", tokens=(9, 9), latency=9999)
    feedback(alice, "thr_c1_2", "positive", at(1, 13))
    feedback(alice, "thr_c1_4", "negative", at(1, 14))
    feedback(alice, "thr_c3_2", "negative", at(2, 15))
    feedback(alice, "thr_c3_3", "positive", at(4, 1))


@pytest.fixture
def staff(client, charlie):
    client.force_login(charlie)
    return client


def board(client, **query):
    response = client.get(URL, {**PERIOD, **query})
    assert response.status_code == 200
    return response.context["board"]


def test_the_totals_are_what_the_rows_add_up_to(staff, seeded):
    total = board(staff).total
    assert (total.conversations, total.messages, total.active_users) == (3, 9, 2)
    assert (total.calls, total.errors) == (7, 1)
    assert total.error_rate == pytest.approx(1 / 7)
    assert (total.input_tokens, total.output_tokens) == (2110, 955)
    # gpt-a: (800 × 2 + 450 × 8) / 1e6; gpt-b: (1300 × 1 + 500 × 4) / 1e6.
    assert total.cost == pytest.approx(0.0052 + 0.0033)
    assert total.unpriced == {"gpt-mini"}
    # Good answers took 100, 200, 300, 400, 500 ms: p95 is 80% of the way
    # from the 4th to the 5th (percentile_cont's interpolation).
    assert total.latency == latencies(300, 480)
    # First words: 40, 60, 100, 120.
    assert total.first_token == latencies(80, 117)
    assert (total.positive, total.negative) == (1, 2)
    assert total.positive_ratio == pytest.approx(1 / 3)


def test_each_day_has_its_own_figures_and_an_empty_day_has_zeros(staff, seeded):
    days = board(staff).days
    first, second, third = (days[datetime(2026, 11, d).date()] for d in (1, 2, 3))
    assert (first.conversations, first.messages, first.active_users) == (2, 6, 2)
    assert (second.conversations, second.messages, second.active_users) == (1, 3, 1)
    assert (first.calls, first.errors, second.calls, second.errors) == (4, 1, 3, 0)
    assert first.latency == latencies(150, 195)
    assert second.latency == latencies(400, 490)
    assert (first.positive, first.negative, second.positive, second.negative) == (1, 1, 0, 1)
    assert (third.conversations, third.messages, third.calls, third.feedback) == (0, 0, 0, 0)
    assert third.latency == {"p50": None, "p95": None}


def test_the_figures_are_split_by_model_and_by_assistant(staff, seeded):
    result = board(staff)
    a, b, mini = (result.by_model[name] for name in ("gpt-a", "gpt-b", "gpt-mini"))
    assert (a.calls, a.errors, b.calls, b.errors, mini.calls) == (4, 0, 2, 1, 1)
    assert a.cost == pytest.approx(0.0052)
    assert mini.cost == 0
    assert mini.unpriced == {"gpt-mini"}
    assert a.latency == latencies(300, 485)
    assert b.latency == latencies(300, 300)
    assert mini.latency == {"p50": None, "p95": None}
    assert (a.positive, a.negative, b.positive, b.negative) == (1, 1, 0, 1)
    assert set(result.by_assistant) == {"", "assistant", "tasks"}
    assert result.by_assistant["tasks"].calls == 2
    assert result.by_assistant["tasks"].negative == 1
    assert result.by_assistant[""].calls == 1


def test_the_page_shows_the_figures(staff, seeded):
    html = staff.get(URL, PERIOD).content.decode()
    assert "2026-11-01 – 2026-11-03" in html
    shown = re.search(r"([\d,]+) ms / ([\d,]+) ms", html)
    assert shown
    p50, p95 = (int(n.replace(",", "")) for n in shown.groups())
    assert close_to(p50, 300)
    assert close_to(p95, 480)
    assert "14.3% (1 of 7)" in html
    assert "0.0085 + unpriced" in html
    assert "1 / 2 (33.3% up)" in html
    assert html.count("<svg") >= 8
    assert "gpt-mini" in html
    assert "(none: titles, transcription)" in html


def test_the_number_of_queries_does_not_grow_with_the_rows_or_the_days(staff, seeded, alice):
    def queries(query: dict) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert staff.get(URL, query).status_code == 200
        return len(captured)

    few = queries(PERIOD)
    for day in range(5, 28):
        conversation(f"thr_more{day}", alice, at(day), items=3)
        usage(alice, at(day), f"model-{day}", f"assistant-{day}", latency=day)
        feedback(alice, f"thr_more{day}_2", "positive", at(day))
    month = {"period": "custom", "start": "2026-10-01", "end": "2026-11-30"}
    assert queries(month) == few


# --- the links behind the figures


def rect_href(response, title: str) -> str:
    for chart in response.context["charts"]:
        for rect in chart.rects:
            if rect.title == title:
                return rect.href
    raise AssertionError(f"no bar titled {title!r}")


def listed(client, href: str) -> set:
    response = client.get(href)
    assert response.status_code == 200, href
    return {row.pk for row in response.context["cl"].result_list}


def test_each_bar_links_to_the_list_of_the_rows_it_counts(staff, seeded):
    page = staff.get(URL, PERIOD)
    negative = listed(staff, rect_href(page, "2026-11-01: 1 thumbs down"))
    assert negative == {Feedback.objects.get(message_id="thr_c1_4").pk}
    assert listed(staff, rect_href(page, "2026-11-02: 1 thumbs down")) == {
        Feedback.objects.get(message_id="thr_c3_2").pk
    }
    assert listed(staff, rect_href(page, "2026-11-01: 2 conversations")) == {"thr_c1", "thr_c2"}
    assert len(listed(staff, rect_href(page, "2026-11-01: 6 messages"))) == 6
    failed = listed(staff, rect_href(page, "2026-11-01: 1 failed (25.0%)"))
    assert failed == {ModelUsage.objects.get(error="rate_limit").pk}
    (title,) = [
        rect.title
        for chart in page.context["charts"]
        if chart.title.startswith("Answer latency")
        for rect in chart.rects
        if rect.title.startswith("2026-11-02: p95 ")
    ]
    assert close_to(float(re.sub(r"[^\d.]", "", title.split("p95 ")[1])), 490)
    slow = staff.get(rect_href(page, title))
    assert [row.latency_ms for row in slow.context["cl"].result_list] == [500, 400, 300]


def test_the_tables_link_to_each_models_and_assistants_calls(staff, seeded):
    page = staff.get(URL, PERIOD)
    by_model = {row["name"]: row for row in page.context["by_model"]}
    by_assistant = {row["name"]: row for row in page.context["by_assistant"]}
    gpt_b = set(ModelUsage.objects.filter(model="gpt-b").values_list("pk", flat=True))
    assert listed(staff, by_model["gpt-b"]["href"]) == gpt_b
    assert listed(staff, by_model["gpt-b"]["failed_href"]) == {
        ModelUsage.objects.get(error="rate_limit").pk
    }
    assert listed(staff, by_assistant["tasks"]["href"]) == gpt_b
    untitled = by_assistant["(none: titles, transcription)"]["href"]
    assert listed(staff, untitled) == {ModelUsage.objects.get(purpose="title").pk}


def test_the_search_box_searches_the_periods_messages(staff, seeded):
    Message.objects.filter(pk__in=["thr_c1_1", "thr_before_1"]).update(text="printer on fire")
    page = staff.get(URL, PERIOD)
    action = page.context["search_url"]
    assert listed(
        staff,
        action + "?" + urlsplit(rect_href(page, "2026-11-01: 6 messages")).query + "&q=printer",
    ) == {"thr_c1_1"}


# --- periods


def test_today_and_the_last_days_end_today(staff, alice):
    usage(alice, timezone.now(), "gpt-a", latency=10)
    assert board(staff, period="today", start="", end="").total.calls == 1
    week = staff.get(URL, {"period": "7d"})
    assert len(week.context["period"].days) == 7
    assert week.context["period"].last == timezone.localdate()
    assert len(staff.get(URL, {"period": "30d"}).context["board"].days) == 30
    assert staff.get(URL).context["period"].key == "7d"
    # Dates alone mean a custom period.
    dated = staff.get(URL, {"start": "2026-11-01", "end": "2026-11-03"}).context["period"]
    assert (dated.key, len(dated.days)) == ("custom", 3)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"period": "custom", "start": "2026-11-05", "end": "2026-11-01"}, "start date is after"),
        ({"period": "custom", "start": "2026-11-01"}, "needs a start and an end"),
        ({"period": "custom", "start": "2024-01-01", "end": "2026-01-01"}, "at most 366 days"),
        ({"period": "custom", "start": "2026-11-31", "end": "2026-12-01"}, "valid date"),
        ({"period": "decade"}, "valid choice"),
    ],
)
def test_a_bad_period_is_explained_not_a_crash(staff, query, message):
    response = staff.get(URL, query)
    assert response.status_code == 400
    assert message in response.content.decode()


# --- who may see it


def test_people_who_are_not_staff_are_sent_to_sign_in(client, alice):
    client.force_login(alice)
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_staff_who_may_only_view_see_the_dashboard_linked_to_what_they_may_see(client, seeded):
    viewer = get_user_model().objects.create_user("vera", is_staff=True)
    viewer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_conversation", "view_message"])
    )
    client.force_login(viewer)
    assert 'href="/admin/dashboard/"' in client.get("/admin/").content.decode()
    page = client.get(URL, PERIOD)
    assert page.status_code == 200
    assert page.context["board"].total.calls == 7
    assert rect_href(page, "2026-11-01: 2 conversations")
    # No link to lists they would be refused.
    assert rect_href(page, "2026-11-01: 1 thumbs down") == ""
    assert "/admin/chatkit_app/feedback/" not in page.content.decode()


def test_staff_without_the_right_to_view_conversations_are_refused(client, db):
    clerk = get_user_model().objects.create_user("clerk", is_staff=True)
    client.force_login(clerk)
    assert client.get(URL).status_code == 403
    assert 'href="/admin/dashboard/"' not in client.get("/admin/").content.decode()


def test_days_are_the_sites_time_zones_days(staff, alice, settings):
    settings.TIME_ZONE = "America/New_York"  # UTC-5 in November
    # 03:00 UTC on the 2nd is 22:00 on the 1st in New York.
    late = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)
    conversation("thr_late", alice, late, items=2)
    usage(alice, late, "gpt-a", latency=100)
    feedback(alice, "thr_late_2", "negative", late)
    result = board(staff, period="custom", start="2026-11-01", end="2026-11-02")
    first, second = (result.days[datetime(2026, 11, d).date()] for d in (1, 2))
    assert (first.conversations, first.messages, first.calls, first.negative) == (1, 2, 1, 1)
    assert (second.conversations, second.messages, second.calls, second.negative) == (0, 0, 0, 0)
    # The link of that day's bar finds the row too.
    page = staff.get(URL, {"period": "custom", "start": "2026-11-01", "end": "2026-11-02"})
    assert listed(staff, rect_href(page, "2026-11-01: 2 messages")) == {"thr_late_1", "thr_late_2"}


def test_the_form_shows_the_period_shown(staff, db):
    html = staff.get(URL, {"start": "2026-11-01", "end": "2026-11-03"}).content.decode()
    assert 'value="custom" checked' in html
    assert 'value="2026-11-01"' in html
    assert 'value="7d" checked' in staff.get(URL).content.decode()


def test_a_reply_the_user_stopped_is_a_call_but_not_a_failure(staff, seeded, alice):
    stopped = usage(alice, at(2, 12), "gpt-a", tokens=(10, 3), error=ModelUsage.STOPPED)
    total = board(staff).total
    assert (total.calls, total.errors) == (8, 1)
    assert (total.input_tokens, total.output_tokens) == (2120, 958)
    failed = listed(staff, reverse("admin:chatkit_app_modelusage_changelist") + "?failed=yes")
    assert failed == {ModelUsage.objects.get(error="rate_limit").pk}
    assert stopped.pk not in failed
