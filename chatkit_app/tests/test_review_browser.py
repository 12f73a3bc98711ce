"""The review queue in a real headless Chromium against a live daphne
server: a thumbs down given in the chat puts the answer in the queue, staff
annotate it there with a correction, and a flag set on a conversation's
page appears in another staff member's live activity feed."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from django.contrib.admin.utils import quote
from playwright.sync_api import expect

from chatkit_app.models import Annotation, Conversation

from .browser import browser as browser
from .browser import open_page as open_page
from .browser import screenshot
from .chatkit_client import create_thread, post_live
from .live_daphne import start_daphne, token_client

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server(django_db_setup, django_db_blocker):
    # One server per test: both write the admin log, whose content type ids
    # the server caches, and the database is emptied (content types too)
    # between tests. Generous start-up time: CI machines run other suites too.
    with start_daphne({"CHATKIT_DEV_RESPONDER_DELAY": "0"}, timeout=90) as live:
        yield live


@pytest.fixture
def alice_api(server, alice) -> Iterator[httpx.Client]:
    with token_client(server, alice) as client:
        yield client


def answered(client: httpx.Client, question: str) -> tuple[str, str]:
    """A new thread with its answer: (thread id, answer id)."""
    events = post_live(client, create_thread(question))
    thread_id = events[0]["thread"]["id"]
    answer_id = next(
        event["item"]["id"]
        for event in events
        if event["type"] == "thread.item.done" and event["item"]["type"] == "assistant_message"
    )
    return thread_id, answer_id


def test_staff_annotate_a_thumbs_down_answer_from_the_queue(server, open_page, alice_api, charlie):
    thread_id, answer_id = answered(alice_api, "What is the capital of Australia?")
    feedback = {
        "type": "items.feedback",
        "params": {"thread_id": thread_id, "item_ids": [answer_id], "kind": "negative"},
    }
    alice_api.post("/chatkit", content=json.dumps(feedback)).raise_for_status()

    page = open_page(server, user=charlie, path="/admin/review/")
    entry = page.locator(f'.ck-review-entry[data-answer="{answer_id}"]')
    expect(entry).to_contain_text("Thumbs down")
    expect(entry).to_contain_text("offline development responder")
    entry.get_by_text("Annotate this answer").click()
    entry.get_by_label("Label").select_option("wrong")
    entry.get_by_label("Note").fill("It is Canberra, not Sydney.")
    entry.get_by_label("Corrected answer (optional)").fill("The capital is Canberra.")
    entry.get_by_role("button", name="Save annotation").click()

    entry = page.locator(f'.ck-review-entry[data-answer="{answer_id}"]')
    expect(page.locator(".messagelist")).to_contain_text("Annotation saved: wrong.")
    expect(entry.locator(".ck-annotation")).to_contain_text("wrong by charlie")
    expect(entry.locator(".ck-annotation")).to_contain_text("The capital is Canberra.")
    expect(entry.get_by_text("Change my annotation")).to_be_visible()
    screenshot(page, "admin-review-queue", docs="admin-review")
    annotation = Annotation.objects.get(answer_id=answer_id)
    assert (annotation.author, annotation.label, annotation.corrected_text) == (
        charlie,
        "wrong",
        "The capital is Canberra.",
    )

    # The same annotation beside the answer in the transcript.
    page.goto(f"/admin/chatkit_app/conversation/{quote(thread_id)}/change/")
    expect(page.locator(f"#item-{answer_id} .ck-annotation")).to_contain_text(
        "It is Canberra, not Sydney."
    )


def test_a_flag_set_on_the_conversation_page_appears_in_the_live_activity_feed(
    server, open_page, alice_api, charlie
):
    thread_id, _ = answered(alice_api, "My order never came")
    feed = open_page(server, user=charlie, path="/admin/chatkit_app/conversation/activity/")
    expect(feed.locator(".ck-live-status")).to_have_attribute("data-state", "live")

    page = open_page(
        server, user=charlie, path=f"/admin/chatkit_app/conversation/{quote(thread_id)}/change/"
    )
    page.get_by_label("flag reason").fill("angry customer")
    page.get_by_role("button", name="Flag for review").click()
    expect(page.get_by_role("button", name="Clear flag")).to_be_visible()

    expect(feed.locator(".ck-live-kind-conversation-flagged")).to_contain_text(
        "charlie flagged a conversation for review"
    )
    expect(feed.locator(".ck-live-kind-conversation-flagged")).to_contain_text("angry customer")
    assert Conversation.objects.get(pk=thread_id).flag_reason == "angry customer"
