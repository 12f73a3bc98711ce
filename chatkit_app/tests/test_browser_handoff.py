"""Human handoff in real headless Chromium against a live daphne server and
the fake model provider: staff take a conversation over on the watch page
and reply; the user sees the person answering and their replies in the
built-in client without reloading, and the assistant (no model call
meanwhile) answers again once handed back."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from chatkit_app.models import Conversation, Message

from .browser import browser as browser
from .browser import chat_ready, last_reply, screenshot, send
from .browser import open_page as open_page
from .conftest import fake_provider_env
from .live_daphne import start_daphne

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, fake_provider_server):
    env = fake_provider_env(fake_provider_server, "responses")
    # Generous: on a busy machine a server takes half a minute to start.
    with start_daphne(env, timeout=90) as live:
        yield live


@pytest.fixture
def dana(db):
    name = {"first_name": "Dana", "last_name": "Scully"}
    return get_user_model().objects.create_user(
        "dana", password="x", is_staff=True, is_superuser=True, **name
    )


def watch_path(thread_id: str) -> str:
    return f"/admin/chatkit_app/conversation/{thread_id.replace('_', '_5F')}/watch/"


def test_staff_take_over_reply_live_and_hand_back_to_the_assistant(
    server, open_page, alice, dana, fake_provider
):
    fake_provider.reply("Hello! I am the assistant.")
    chat = open_page(server, user=alice)
    chat_ready(chat)
    send(chat, "My order never arrived")
    expect(last_reply(chat).locator(".ck-bubble")).to_have_text("Hello! I am the assistant.")
    thread_id = Conversation.objects.get(owner=alice).pk
    expect(chat.locator(".ck-app")).to_have_attribute("data-live-state", "live")

    watch = open_page(server, user=dana, path=watch_path(thread_id))
    expect(watch.locator(".ck-live-status")).to_have_attribute("data-state", "live")
    watch.get_by_role("button", name="Take over").click()
    state = watch.locator(".ck-handoff-state")
    expect(state).to_contain_text("You have taken this conversation over")

    banner = chat.locator(".ck-handoff-banner")
    expect(banner).to_have_text("Dana Scully from the team is answering in this conversation.")

    # The user writes: stored, shown to staff, no model call, a notice.
    calls = len(fake_provider.answer_requests())
    send(chat, "Is a real person there?")
    expect(chat.locator(".ck-alert")).to_contain_text("Dana Scully is answering")
    expect(watch.locator(".ck-live-item .ck-live-text").last).to_have_text(
        "Is a real person there?"
    )
    assert len(fake_provider.answer_requests()) == calls

    box = watch.get_by_label("Reply to the user as yourself")
    box.fill("Yes, I am Dana. Your parcel ships today.")
    watch.get_by_role("button", name="Send reply").click()

    person = chat.locator(".ck-item--person")
    expect(person).to_have_count(1)
    expect(person.locator(".ck-person-name")).to_have_text("Dana Scully")
    expect(person.locator(".ck-person")).to_contain_text("a person from the team")
    expect(person.locator(".ck-markdown p").last).to_have_text(
        "Yes, I am Dana. Your parcel ships today."
    )
    # The header is a badge, not markdown text repeated in the reply.
    expect(person.locator(".ck-bubble")).not_to_contain_text("**")
    staff_view = watch.locator(".ck-live-item.ck-role-person")
    expect(staff_view.locator("header")).to_contain_text(
        "Dana Scully (a person, not the assistant)"
    )
    expect(staff_view.locator(".ck-live-text")).to_have_text(
        "Yes, I am Dana. Your parcel ships today."
    )
    # No retry under a person's reply: it would replace them with the assistant.
    expect(person.locator(".ck-retry")).to_have_count(0)
    expect(box).to_have_value("")
    screenshot(chat, "handoff-chat", docs="handoff-chat")
    screenshot(watch, "handoff-watch", docs="handoff-watch")

    watch.get_by_role("button", name="Hand back to the assistant").click()
    expect(state).to_contain_text("Handed back to the assistant")
    expect(banner).to_have_text("The assistant is answering again.")

    fake_provider.reply("Glad Dana could help. Anything else?")
    send(chat, "Thanks!")
    expect(chat.locator(".ck-item--assistant_message .ck-bubble").last).to_have_text(
        "Glad Dana could help. Anything else?"
    )
    assert len(fake_provider.answer_requests()) == calls + 1
    # The model read what the person said.
    assert "Your parcel ships today." in str(fake_provider.answer_requests()[-1].body)

    # After a reload the person's reply is still theirs, and in its place.
    chat.reload()
    chat_ready(chat)
    expect(chat.locator(".ck-item--person .ck-person-name")).to_have_text("Dana Scully")
    roles = list(
        Message.objects.filter(conversation_id=thread_id)
        .exclude(role="system")
        .order_by("sequence")
        .values_list("role", flat=True)
    )
    assert roles == ["user", "assistant", "user", "person", "user", "assistant"]
