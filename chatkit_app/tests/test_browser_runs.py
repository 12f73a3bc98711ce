"""The built-in client and replies that outlive the page, in a real headless
Chromium against a live daphne answered by the fake provider: a page
reloaded half way through a reply shows what was written and the rest as it
arrives, and what is stored is what the provider sent."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from chatkit_app.models import Message, ReplyRun

from .browser import browser as browser
from .browser import chat_ready, send
from .browser import open_page as open_page
from .conftest import fake_provider_env
from .live_daphne import start_daphne, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

STREAMING = ".ck-item--assistant_message.is-streaming .ck-bubble"


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, fake_provider_server):
    env = {**fake_provider_env(fake_provider_server, "responses"), "CHATKIT_GENERATE_TITLES": "0"}
    with start_daphne(env) as live:
        yield live


def test_a_page_reloaded_half_way_sees_the_rest_of_the_reply_arrive(
    server, open_page, alice, fake_provider
):
    text = " ".join(f"word{n}" for n in range(90))
    fake_provider.reply(text, chunk_delay=0.05)
    page = open_page(server, user=alice)
    chat_ready(page)
    send(page, "Tell me a long story")
    page.wait_for_function(f"() => document.querySelector('{STREAMING}')?.textContent.length > 40")
    expect(page).to_have_url(re.compile(r"/threads/thr_[0-9a-f]+$"))
    thread_id = page.url.rsplit("/", 1)[1]

    page.reload()
    chat_ready(page)
    # The reply is still being written: the list says so, the page follows it.
    expect(
        page.locator(f'.ck-thread[data-thread-id="{thread_id}"] .ck-thread-answering')
    ).to_be_visible()
    expect(page.locator(".ck-stop")).to_be_visible()
    bubble = page.locator(".ck-item--assistant_message .ck-bubble")
    expect(bubble).to_contain_text("word0 word1")
    shown_mid_way = bubble.inner_text()
    assert len(shown_mid_way) < len(text), "the rest is still to come"

    expect(bubble).to_have_text(text, timeout=30_000)
    expect(page.locator(".ck-send")).to_be_visible()
    expect(page.locator(".ck-thread-answering")).to_have_count(0)
    stored = wait_until(
        lambda: Message.objects.filter(conversation_id=thread_id, role="assistant").first()
    )
    assert stored.text == text
    assert stored.interrupted is False
    assert ReplyRun.objects.get(conversation_id=thread_id).status == "done"
    # Settled into the stored state: one reply, with its actions.
    expect(page.locator(".ck-item--assistant_message")).to_have_count(1)
    expect(page.locator(".ck-item--assistant_message .ck-actions")).to_be_visible()


def test_a_reply_that_ends_while_the_page_reopens_the_thread_is_shown_as_stored(
    server, open_page, alice, fake_provider
):
    # The page reads the thread while the reply is being written, and asks
    # to follow it only once it has ended (the server answers 204): the page
    # must still show the finished reply, not the thread as it first read it.
    text = " ".join(f"word{n}" for n in range(40))
    fake_provider.reply(text, chunk_delay=0.05)
    page = open_page(server, user=alice)
    chat_ready(page)
    send(page, "Tell me a story that ends while I reload")
    page.wait_for_function(f"() => document.querySelector('{STREAMING}')?.textContent.length > 20")
    expect(page).to_have_url(re.compile(r"/threads/thr_[0-9a-f]+$"))
    thread_id = page.url.rsplit("/", 1)[1]

    def after_the_run(route):
        wait_until(
            lambda: ReplyRun.objects.filter(conversation_id=thread_id, status="done").exists(),
            timeout=30,
        )
        route.continue_()

    page.route(f"**/chatkit/threads/{thread_id}/stream", after_the_run)
    page.reload()
    chat_ready(page)
    bubble = page.locator(".ck-item--assistant_message .ck-bubble")
    expect(bubble).to_have_text(text, timeout=30_000)
    expect(page.locator(".ck-item--assistant_message")).to_have_count(1)
    expect(page.locator(".ck-send")).to_be_visible()
    expect(page.locator(".ck-thread-answering")).to_have_count(0)
