"""The admin's live pages: links to them, who may open them, and what they
tell the page's script (where to connect)."""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest
from chatkit.types import ThreadMetadata
from django.contrib.auth.models import Permission
from django.test import Client

from chatkit_app import services

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def live_config(response) -> dict:
    match = re.search(
        r'<script id="ck-live-config" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert match, "the page carries no live configuration"
    return json.loads(match.group(1))


@pytest.fixture
def conversation(alice):
    return services.conversation_save(
        owner=alice,
        thread=ThreadMetadata(id="thr_live", title="Refund <question>", created_at=datetime.now()),
    )


def test_the_conversation_page_links_to_its_live_view(charlie, conversation):
    page = signed_in(charlie).get(f"/admin/chatkit_app/conversation/{conversation.pk}/change/")
    assert page.status_code == 200
    assert 'href="/admin/chatkit_app/conversation/thr_5Flive/watch/"' in page.content.decode()


def test_the_conversation_list_links_to_recent_activity(charlie):
    page = signed_in(charlie).get("/admin/chatkit_app/conversation/")
    assert 'href="/admin/chatkit_app/conversation/activity/"' in page.content.decode()


def test_the_watch_page_says_where_to_connect(charlie, conversation):
    page = signed_in(charlie).get("/admin/chatkit_app/conversation/thr_5Flive/watch/")
    assert page.status_code == 200
    config = live_config(page)
    assert config["socketPath"] == "/ws/chatkit/conversations/thr_live/"
    assert config["conversation"]["owner"] == "alice"
    body = page.content.decode()
    # The title is escaped wherever it appears.
    assert "Refund <question>" not in body
    assert "Watching: Refund &lt;question&gt;" in body
    assert "chatkit/live/watch.js" in body


def test_the_activity_page_says_where_to_connect(charlie):
    page = signed_in(charlie).get("/admin/chatkit_app/conversation/activity/")
    assert page.status_code == 200
    assert live_config(page) == {"kind": "activity", "socketPath": "/ws/chatkit/activity/"}


def test_a_missing_conversation_has_no_watch_page(charlie):
    assert (
        signed_in(charlie).get("/admin/chatkit_app/conversation/thr_nope/watch/").status_code == 404
    )


@pytest.mark.parametrize("path", ["thr_5Flive/watch/", "activity/"])
def test_people_who_are_not_staff_are_sent_to_sign_in(alice, conversation, path):
    page = signed_in(alice).get(f"/admin/chatkit_app/conversation/{path}")
    assert page.status_code == 302
    assert page["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("path", ["thr_5Flive/watch/", "activity/"])
def test_staff_without_permission_to_view_conversations_are_refused(bob, conversation, path):
    bob.is_staff = True
    bob.save()
    assert signed_in(bob).get(f"/admin/chatkit_app/conversation/{path}").status_code == 403
    bob.user_permissions.add(Permission.objects.get(codename="view_conversation"))
    assert signed_in(bob).get(f"/admin/chatkit_app/conversation/{path}").status_code == 200
