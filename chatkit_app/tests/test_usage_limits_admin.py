"""Staff and usage limits: a user's and a group's overrides edited on their
admin pages, each user's usage against their limits on the user page and
the usage counters page, and in ``chatkit_stats``."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from chatkit_app.models import GroupLimits, UserLimits

from .chatkit_client import ApiClient, create_thread
from .usage_limits import answered
from .usage_limits import answers as answers
from .usage_limits import clock as clock

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, charlie):
    client.force_login(charlie)
    return client


def use_turns(user, n: int) -> None:
    client = ApiClient(user)
    for i in range(n):
        assert answered(client(create_thread(f"message {i}")).events())


def user_form(user, **inline: str) -> dict[str, str]:
    """The user change form as the admin posts it, with the limits inline."""
    return {
        "username": user.username,
        "email": user.email,
        "first_name": "",
        "last_name": "",
        "is_active": "on",
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": "2026-12-01",
        "date_joined_1": "10:00:00",
        "chatkit_limits-TOTAL_FORMS": "1",
        "chatkit_limits-INITIAL_FORMS": "0",
        "chatkit_limits-MIN_NUM_FORMS": "0",
        "chatkit_limits-MAX_NUM_FORMS": "1",
        **{f"chatkit_limits-0-{name}": value for name, value in inline.items()},
    }


def test_the_user_page_shows_usage_against_limits(staff, alice, answers, settings, clock):
    settings.CHATKIT_LIMIT_TURNS_PER_DAY = 5
    settings.CHATKIT_LIMIT_TOKENS_PER_DAY = 1000
    use_turns(alice, 2)
    html = staff.get(f"/admin/auth/user/{alice.pk}/change/").content.decode()
    assert "Usage this period" in html
    assert "<th>Messages per day</th><td>2 / 5 (40%)</td>" in html
    assert "<th>Tokens per day</th><td>36 / 1,000 (4%)</td>" in html
    assert "resets 2026-12-16 00:00 UTC" in html
    assert 'href="/admin/chatkit_app/usagecounter/?user=alice"' in html
    assert 'href="/admin/chatkit_app/modelusage/?user=alice"' in html


def test_staff_set_a_users_limits_on_the_user_page(staff, alice, answers, settings, clock):
    settings.CHATKIT_LIMIT_TURNS_PER_DAY = 1
    response = staff.post(
        f"/admin/auth/user/{alice.pk}/change/",
        user_form(alice, turns_per_day="3", cost_per_month="2.50"),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    limits = UserLimits.objects.get(user=alice)
    assert (limits.turns_per_day, str(limits.cost_per_month), limits.tokens_per_day) == (
        3,
        "2.5000",
        None,
    )
    use_turns(alice, 3)
    html = staff.get(f"/admin/auth/user/{alice.pk}/change/").content.decode()
    assert "<th>Messages per day</th><td>3 / 3 (100%)</td>" in html


def test_staff_set_a_groups_limits_on_the_group_page(staff, alice, answers, settings, clock):
    group = Group.objects.create(name="trial")
    response = staff.post(
        f"/admin/auth/group/{group.pk}/change/",
        {
            "name": "trial",
            "chatkit_limits-TOTAL_FORMS": "1",
            "chatkit_limits-INITIAL_FORMS": "0",
            "chatkit_limits-MIN_NUM_FORMS": "0",
            "chatkit_limits-MAX_NUM_FORMS": "1",
            "chatkit_limits-0-turns_per_day": "1",
        },
    )
    assert response.status_code == 302
    assert GroupLimits.objects.get(group=group).turns_per_day == 1
    alice.groups.add(group)
    use_turns(alice, 1)
    refused = ApiClient(alice)(create_thread("one more")).events()
    assert "today's 1 messages" in refused[0]["message"]


def test_the_usage_counters_page_shows_each_limit(staff, alice, bob, answers, settings, clock):
    settings.CHATKIT_LIMIT_TURNS_PER_DAY = 4
    use_turns(alice, 1)
    use_turns(bob, 2)
    response = staff.get("/admin/chatkit_app/usagecounter/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Messages per day" in html
    assert "4 (25% used)" in html
    assert "4 (50% used)" in html
    alices = staff.get("/admin/chatkit_app/usagecounter/", {"user": "alice"})
    assert [str(c.user) for c in alices.context["cl"].result_list] == ["alice"]
    assert staff.get("/admin/chatkit_app/usagecounter/add/").status_code == 403


def test_chatkit_stats_lists_users_by_how_close_they_are_to_a_limit(
    alice,
    bob,
    answers,
    settings,
    clock,
):
    settings.CHATKIT_LIMIT_TURNS_PER_DAY = 4
    use_turns(alice, 3)
    use_turns(bob, 1)
    out = StringIO()
    call_command("chatkit_stats", stdout=out)
    text = out.getvalue()
    assert "Usage against limits" in text
    lines = [line.split() for line in text.splitlines() if "Messages per day" in line]
    assert [line[0] for line in lines] == ["alice", "bob"]
    assert lines[0][-3:] == ["3", "4", "75%"]

    out = StringIO()
    call_command("chatkit_stats", "--json", stdout=out)
    near = json.loads(out.getvalue())["users_near_limits"]
    assert near[0]["user"] == "alice"
    assert near[0]["usage"][0]["limit"] == "4"
