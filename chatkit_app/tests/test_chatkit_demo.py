"""``manage.py chatkit_demo``: a demo user and conversations worth looking at."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command
from django.test import RequestFactory

from chatkit_app.models import Conversation, Feedback, Message, ModelUsage

from .chatkit_client import add_message, post_chatkit

pytestmark = pytest.mark.django_db


def demo(*args: str) -> str:
    out = StringIO()
    call_command("chatkit_demo", *args, stdout=out)
    return out.getvalue()


def test_it_refuses_to_run_with_debug_off_unless_forced(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off"):
        demo()
    assert not get_user_model().objects.exists()


def test_it_creates_the_demo_user_and_realistic_conversations(settings):
    settings.DEBUG = True

    out = demo()

    assert "Created demo user: sign in as 'demo' with password 'demo'." in out
    assert "Created 3 demo conversations (0 already there)." in out
    # A sign-in always has a request (django-axes counts failures by address).
    user = authenticate(RequestFactory().post("/accounts/login/"), username="demo", password="demo")
    assert user is not None
    assert user.is_staff
    assert Conversation.objects.filter(owner=user).count() == 3
    types = set(Message.objects.values_list("type", flat=True))
    assert {"user_message", "assistant_message", "client_tool_call", "widget", "workflow"} <= types
    assert Feedback.objects.filter(kind="negative").exists()
    assert ModelUsage.objects.filter(user=user).count() == 4


def test_its_conversations_load_in_the_chat(settings):
    settings.DEBUG = True
    demo()
    user = get_user_model().objects.get(username="demo")

    threads = post_chatkit({"type": "threads.list", "params": {"limit": 10}}, login=user).json()
    assert {t["title"] for t in threads["data"]} == {
        "Weekend weather in Lisbon",
        "Vegetarian dinner for six",
        "Refund for order 1042",
    }
    items = post_chatkit(
        {"type": "items.list", "params": {"thread_id": "thr_demo_weather", "order": "asc"}},
        login=user,
    ).json()["data"]
    assert [item["type"] for item in items] == [
        "user_message",
        "client_tool_call",
        "widget",
        "assistant_message",
        "end_of_turn",
    ]
    assert items[1]["name"] == "get_weather"
    assert items[2]["widget"]["type"] == "Card"

    # The refund thread was handed to a person: the chat refuses new messages.
    refused = post_chatkit(add_message("thr_demo_refund", "any news?"), login=user)
    assert refused.status_code == 409


def test_running_it_again_changes_nothing(settings):
    settings.DEBUG = True
    demo()
    counts = (Conversation.objects.count(), Message.objects.count(), ModelUsage.objects.count())

    out = demo()

    assert "Found demo user" in out
    assert "Created 0 demo conversations (3 already there)." in out
    assert (
        Conversation.objects.count(),
        Message.objects.count(),
        ModelUsage.objects.count(),
    ) == counts


def test_the_admin_shows_its_tool_calls_and_widgets(settings, client):
    settings.DEBUG = True
    demo()
    client.force_login(get_user_model().objects.get(username="demo"))

    html = client.get(
        f"/admin/chatkit_app/conversation/{quote('thr_demo_weather')}/change/"
    ).content.decode()

    assert "<code>get_weather</code>" in html
    assert "Title: Lisbon this weekend" in html
    assert "Button: Remind me on Saturday morning" in html
    assert "IPMA forecast (https://www.ipma.pt/en/)" in html


def test_it_can_make_only_the_user(settings):
    settings.DEBUG = True
    demo("--no-conversations")
    assert get_user_model().objects.filter(username="demo").exists()
    assert not Conversation.objects.exists()
