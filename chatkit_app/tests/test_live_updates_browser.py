"""The admin's live pages in a real headless Chromium against a live daphne
server: staff see a conversation and the site's activity change without
reloading, text stays text, and a dropped connection loses nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from django.contrib.sessions.models import Session
from playwright.sync_api import expect

from chatkit_app.models import Message

from .browser import browser as browser
from .browser import open_page as open_page
from .browser import screenshot
from .chatkit_client import add_message, create_thread, post_live
from .conftest import fake_provider_env
from .live_daphne import start_daphne, token_client

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, fake_provider_server):
    # Replies come from the fake provider, which a test can hold half way to
    # watch a reply being written (a reply a second long could end before a
    # loaded machine's page had seen it in progress); open sockets re-check
    # their watcher every second.
    env = {
        **fake_provider_env(fake_provider_server, "responses"),
        "CHATKIT_GENERATE_TITLES": "0",
        "CHATKIT_LIVE_RECHECK_INTERVAL": "1",
    }
    with start_daphne(env) as live:
        yield live


@pytest.fixture
def alice_api(server, alice, fake_provider) -> Iterator[httpx.Client]:
    with token_client(server, alice) as client:
        yield client


def watch_page(open_page, server, user, thread_id: str):
    page = open_page(
        server,
        user=user,
        path=f"/admin/chatkit_app/conversation/{thread_id.replace('_', '_5F')}/watch/",
    )
    expect(page.locator(".ck-live-status")).to_have_attribute("data-state", "live")
    return page


def shown_texts(page) -> list[str]:
    return page.locator(".ck-live-item .ck-live-text").all_inner_texts()


def stored_texts(thread_id: str) -> list[str]:
    return list(
        Message.objects.filter(conversation_id=thread_id)
        .order_by("sequence")
        .values_list("text", flat=True)
    )


def test_staff_watch_a_reply_being_written_without_reloading(
    server, open_page, alice_api, charlie, fake_provider
):
    thread_id = post_live(alice_api, create_thread("Hello"))[0]["thread"]["id"]
    page = watch_page(open_page, server, charlie, thread_id)
    items = page.locator(".ck-live-item")
    expect(items).to_have_count(2)
    expect(page.locator('[data-field="owner"]')).to_have_text("alice")

    hostile = '<img src=x onerror="window.__pwned = 1"> **not bold**'
    # Words come in for a while, then the reply waits until the page has
    # shown it being written.
    hold = fake_provider.reply_held(
        f"You said {hostile} " + " ".join(f"w{n}" for n in range(40)),
        after_words=30,
        chunk_delay=0.05,
    )
    with alice_api.stream(
        "POST", "/chatkit", content=json.dumps(add_message(thread_id, hostile))
    ) as response:
        assert response.status_code == 200
        # The question, then the reply while it is being written.
        expect(items.nth(2).locator(".ck-live-text")).to_have_text(hostile)
        writing = page.locator(".ck-live-item.ck-live-in-progress")
        expect(writing).to_have_count(1)
        expect(writing.locator(".ck-live-text")).not_to_have_text("")
        expect(writing.locator("header")).to_contain_text("writing…")
        screenshot(page, "live-watch-writing")
        hold.release()
        response.read()

    expect(page.locator(".ck-live-item.ck-live-in-progress")).to_have_count(0)
    expect(items).to_have_count(4)
    expect(items.nth(3).locator("header")).to_contain_text("#4")
    assert shown_texts(page) == stored_texts(thread_id)
    # Text, never markup: no image element, no script ran.
    assert page.locator(".ck-live-items img").count() == 0
    assert page.evaluate("window.__pwned") is None
    screenshot(page, "live-watch-done")


def test_the_words_written_before_the_model_pauses_reach_the_watch_page_during_the_pause(
    server, open_page, alice_api, charlie, fake_provider
):
    thread_id = post_live(alice_api, create_thread("Hello"))[0]["thread"]["id"]
    page = watch_page(open_page, server, charlie, thread_id)
    expect(page.locator(".ck-live-item")).to_have_count(2)

    # Three words at once, then the model thinks (until released).
    hold = fake_provider.reply_held("alpha beta gamma delta epsilon", after_words=3)
    with alice_api.stream(
        "POST", "/chatkit", content=json.dumps(add_message(thread_id, "Go on"))
    ) as response:
        writing = page.locator(".ck-live-item.ck-live-in-progress .ck-live-text")
        expect(writing).to_contain_text("alpha beta gamma")
        hold.release()
        response.read()
    expect(page.locator(".ck-live-item.ck-live-in-progress")).to_have_count(0)
    assert shown_texts(page) == stored_texts(thread_id)


def test_a_watcher_that_loses_its_connection_catches_up_without_repeats(
    server, open_page, alice_api, charlie, fake_provider
):
    thread_id = post_live(alice_api, create_thread("First"))[0]["thread"]["id"]
    page = watch_page(open_page, server, charlie, thread_id)
    expect(page.locator(".ck-live-item")).to_have_count(2)

    # Away while a whole exchange happens.
    page.evaluate("window.chatkitLive.stop()")
    post_live(alice_api, add_message(thread_id, "Second"))
    page.evaluate("window.chatkitLive.start()")
    expect(page.locator(".ck-live-status")).to_have_attribute("data-state", "live")
    expect(page.locator(".ck-live-item")).to_have_count(4)
    assert shown_texts(page) == stored_texts(thread_id)

    # The connection drops in the middle of a reply (held there until the
    # page has seen it drop): the page reconnects by itself (with backoff)
    # and ends with every item exactly once.
    hold = fake_provider.reply_held("one two three four five six", after_words=3)
    with alice_api.stream(
        "POST", "/chatkit", content=json.dumps(add_message(thread_id, "Third"))
    ) as response:
        expect(page.locator(".ck-live-item.ck-live-in-progress")).to_have_count(1)
        page.evaluate("window.chatkitLive.ws.close()")
        expect(page.locator(".ck-live-status")).to_have_attribute("data-state", "waiting")
        hold.release()
        response.read()
    expect(page.locator(".ck-live-status")).to_have_attribute("data-state", "live")
    expect(page.locator(".ck-live-item.ck-live-in-progress")).to_have_count(0, timeout=15_000)
    expect(page.locator(".ck-live-item")).to_have_count(6)
    assert shown_texts(page) == stored_texts(thread_id)


def test_the_page_stops_retrying_and_says_why_when_the_session_ends(
    server, open_page, alice_api, charlie
):
    thread_id = post_live(alice_api, create_thread("Hello"))[0]["thread"]["id"]
    page = watch_page(open_page, server, charlie, thread_id)
    Session.objects.all().delete()
    page.evaluate("window.chatkitLive.ws.close()")
    status = page.locator(".ck-live-status")
    expect(status).to_have_attribute("data-state", "refused", timeout=15_000)
    expect(status).to_contain_text("Your session has ended")


def test_signing_out_in_another_tab_closes_the_watch_page_and_says_why(
    server, open_page, alice_api, charlie
):
    """Nothing forces the socket closed here: the server notices the session
    is gone on its own timer, and the page stops instead of reconnecting."""
    thread_id = post_live(alice_api, create_thread("Hello"))[0]["thread"]["id"]
    page = watch_page(open_page, server, charlie, thread_id)
    other_tab = page.context.new_page()
    other_tab.goto("/")
    other_tab.get_by_role("button", name="Sign out").click()
    other_tab.wait_for_url("**/accounts/login/**")
    status = page.locator(".ck-live-status")
    expect(status).to_have_attribute("data-state", "refused", timeout=10_000)
    expect(status).to_contain_text("Your session has ended")
    # A message sent now is not shown to the signed-out page.
    post_live(alice_api, add_message(thread_id, "After sign-out"))
    page.wait_for_timeout(1500)
    assert "After sign-out" not in shown_texts(page)


def test_staff_see_recent_activity_as_it_happens(server, open_page, alice_api, charlie):
    page = open_page(server, user=charlie, path="/admin/chatkit_app/conversation/activity/")
    expect(page.locator(".ck-live-status")).to_have_attribute("data-state", "live")
    entries = page.locator(".ck-live-entry")
    before = entries.count()

    events = post_live(alice_api, create_thread("Where is my parcel?"))
    thread_id = events[0]["thread"]["id"]
    reply_id = next(
        event["item"]["id"]
        for event in events
        if event["type"] == "thread.item.done" and event["item"]["type"] == "assistant_message"
    )
    feedback = {
        "type": "items.feedback",
        "params": {"thread_id": thread_id, "item_ids": [reply_id], "kind": "negative"},
    }
    alice_api.post("/chatkit", content=json.dumps(feedback)).raise_for_status()

    expect(entries).to_have_count(before + 2)
    # Newest first.
    expect(entries.nth(0)).to_contain_text("alice gave 👎 negative feedback")
    expect(entries.nth(1)).to_contain_text("alice started a conversation")
    screenshot(page, "live-activity")
    entries.nth(1).get_by_role("link", name="watch live").click()
    expect(page.locator(".ck-live-status")).to_have_attribute("data-state", "live")
    expect(page.locator(".ck-live-item")).to_have_count(2)
    screenshot(page, "live-activity-to-watch")
