"""The admin's date hierarchy on tables of millions of rows
(``admin/options.py``, ``RangeDatesQuerySet``): the same links as Django's,
from the first and last rows instead of a ``DISTINCT`` over every row."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chatkit_app.models import Conversation, ModelUsage

pytestmark = pytest.mark.django_db

USAGE = "/admin/chatkit_app/modelusage/"
CONVERSATIONS = "/admin/chatkit_app/conversation/"


@pytest.fixture
def staff(client, charlie):
    client.force_login(charlie)
    return client


def calls(user, *moments: datetime) -> None:
    for moment in moments:
        ModelUsage.objects.create(user=user, model="gpt-a", created_at=moment)


def choices(response) -> list[str]:
    from django.contrib.admin.templatetags.admin_list import date_hierarchy

    return [choice["title"] for choice in date_hierarchy(response.context["cl"])["choices"]]


def test_the_usage_lists_months_days_and_years_are_linked_without_reading_every_row(staff, alice):
    calls(alice, datetime(2026, 9, 30, 23, tzinfo=UTC), datetime(2026, 11, 2, 8, tzinfo=UTC))
    with CaptureQueriesContext(connection) as captured:
        page = staff.get(USAGE)
    assert page.status_code == 200
    assert not [q for q in captured if "DISTINCT" in q["sql"]]
    # Every month from the first call's to the last's.
    assert choices(page) == ["September 2026", "October 2026", "November 2026"]
    november = staff.get(USAGE, {"created_at__year": 2026, "created_at__month": 11})
    assert choices(november) == ["November 2"]
    calls(alice, datetime(2028, 1, 5, tzinfo=UTC))
    assert choices(staff.get(USAGE)) == ["2026", "2027", "2028"]
    assert [row.created_at.year for row in staff.get(USAGE).context["cl"].result_list] == [
        2028,
        2026,
        2026,
    ]


def test_the_conversation_lists_months_are_linked_without_reading_every_row(staff, alice):
    """The conversation list has its own changelist (item counts per row):
    its date hierarchy too comes from the first and last rows."""
    for thread_id, moment in [
        ("thr_sep", datetime(2026, 9, 30, 23, tzinfo=UTC)),
        ("thr_nov", datetime(2026, 11, 2, 8, tzinfo=UTC)),
    ]:
        Conversation.objects.create(id=thread_id, owner=alice)
        Conversation.objects.filter(pk=thread_id).update(updated_at=moment)
    with CaptureQueriesContext(connection) as captured:
        page = staff.get(CONVERSATIONS)
    assert page.status_code == 200
    assert not [q for q in captured if "DISTINCT" in q["sql"]]
    assert choices(page) == ["September 2026", "October 2026", "November 2026"]
    assert [row.pk for row in page.context["cl"].result_list] == ["thr_nov", "thr_sep"]
