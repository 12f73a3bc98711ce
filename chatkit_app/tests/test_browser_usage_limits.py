"""Usage limits as a user sees them in the built-in client: a notice when
most of the day's messages are used, and the message past the limit
refused in the chat with when the limit resets, leaving no trace in the
conversation (a headless Chromium, a live daphne server, the fake provider)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from chatkit_app.models import Message, UserLimits

from .browser import browser as browser
from .browser import chat_ready, last_reply, screenshot, send
from .browser import open_page as open_page
from .conftest import fake_provider_env
from .live_daphne import start_daphne

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, fake_provider_server):
    env = {**fake_provider_env(fake_provider_server, "responses"), "CHATKIT_GENERATE_TITLES": "0"}
    with start_daphne(env) as live:
        yield live


def test_the_user_is_told_near_and_at_the_daily_limit(server, open_page, alice, fake_provider):
    UserLimits.objects.create(user=alice, turns_per_day=2)
    fake_provider.reply("First answer.")
    fake_provider.reply("Second answer.")
    page = open_page(server, user=alice)
    chat_ready(page)

    send(page, "Hello")
    expect(last_reply(page)).to_contain_text("First answer.")
    send(page, "Again")
    expect(last_reply(page)).to_contain_text("Second answer.")
    # The second of two is past 80%: the user is told it was the last one.
    notice = page.locator(".ck-alert--warning")
    expect(notice).to_contain_text(
        "You have used today's 2 messages; the limit resets at 00:00 UTC."
    )
    notice.locator(".ck-dismiss").click()

    send(page, "One more?")
    alert = page.locator(".ck-alert--error")
    expect(alert).to_contain_text(
        "You have used today's 2 messages; the limit resets at 00:00 UTC."
    )
    expect(alert.get_by_role("button", name="Try again")).to_have_count(0)
    # The refused message is not in the conversation: it is back in the
    # composer, to send once the limit resets.
    expect(page.locator(".ck-item--user_message")).to_have_count(2)
    expect(page.locator(".ck-input")).to_have_value("One more?")
    screenshot(page, "usage-limit-reached", docs="usage-limit")
    assert list(Message.objects.filter(role="user").values_list("text", flat=True)) == [
        "Hello",
        "Again",
    ]

    # What the page shows after a reload is what was stored.
    page.reload()
    chat_ready(page)
    expect(page.locator(".ck-bubble", has_text="Second answer.")).to_have_count(1)
    expect(page.locator(".ck-bubble", has_text="One more?")).to_have_count(0)
