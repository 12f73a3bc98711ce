"""The chat page in a real headless Chromium against a live daphne server,
answered by the offline development responder: what a user does, and what
they see. The official component's CDN is blocked, so the page runs the
built-in client, as it does on an offline machine."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    InferenceOptions,
    UserMessageItem,
    UserMessageTextContent,
)
from django.utils import timezone
from playwright.sync_api import expect

from chatkit_app import services
from chatkit_app.models import Conversation, Feedback, Message
from chatkit_app.responders.dev import dev_reply_text

from .browser import browser as browser
from .browser import chat_ready, eventually, last_reply, screenshot, send
from .browser import open_page as open_page
from .conftest import PASSWORD
from .live_daphne import start_daphne

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    # Slow enough that a reply is still streaming when the test presses Stop.
    with start_daphne({"CHATKIT_DEV_RESPONDER_DELAY": "0.03"}) as live:
        yield live


def thread_id_of(page) -> str:
    expect(page).to_have_url(re.compile(r"/threads/thr_[0-9a-f]+$"))
    return page.url.rsplit("/", 1)[1]


def test_a_user_signs_in_and_sees_the_reply_stream_in_then_the_history(server, open_page, alice):
    page = open_page(server, path="/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")

    chat_ready(page)
    expect(page.locator(".ck-offline")).to_contain_text("offline development responder")
    expect(page.locator(".ck-greeting")).to_have_text("What can I help with today?")
    expect(page.locator(".ck-prompt")).to_have_text(["What can you do?", "Write a haiku"])
    expect(page.locator(".ck-input")).to_have_attribute("placeholder", "Message the assistant")

    send(page, "Tell me about Django channels please")
    streaming = page.locator(".ck-item--assistant_message.is-streaming .ck-bubble")
    page.wait_for_function(
        "() => document.querySelector('.ck-item--assistant_message.is-streaming .ck-bubble')"
        "?.textContent.length > 10"
    )
    partial = streaming.inner_text()
    expect(page.locator(".ck-stop")).to_be_visible()

    reply = last_reply(page)
    final = reply.locator(".ck-bubble").inner_text()
    assert final.startswith("[offline development responder]")
    assert "Tell me about Django channels please" in final
    assert 10 < len(partial) < len(final), "the reply arrives in pieces, shown as they come"
    expect(page.locator(".ck-send")).to_be_visible()
    expect(page.locator(".ck-stop")).to_be_hidden()

    thread_id = thread_id_of(page)
    expect(page.locator(".ck-thread-open")).to_have_text(["Tell me about Django channels please"])
    expect(page.locator(".ck-title")).to_have_text("Tell me about Django channels please")

    page.reload()
    chat_ready(page)
    expect(page.locator(".ck-item--user_message .ck-bubble")).to_have_text(
        ["Tell me about Django channels please"]
    )
    expect(page.locator(".ck-item--assistant_message .ck-bubble")).to_have_text([final])
    expect(page.locator(".ck-title")).to_have_text("Tell me about Django channels please")
    assert Conversation.objects.get(pk=thread_id).owner == alice


def test_a_start_screen_prompt_sends_itself(server, open_page, alice):
    page = open_page(server, user=alice)
    chat_ready(page)
    page.get_by_role("button", name="Write a haiku").click()
    expect(page.locator(".ck-item--user_message .ck-bubble")).to_have_text(
        ["Write a haiku about the sea."]
    )
    expect(last_reply(page)).to_contain_text("Write a haiku about the sea.")
    expect(page.locator(".ck-start")).to_be_hidden()


def test_a_second_thread_and_switching_between_them(server, open_page, alice):
    page = open_page(server, user=alice)
    chat_ready(page)
    send(page, "First topic apples")
    last_reply(page)
    first = thread_id_of(page)

    page.locator(".ck-new-thread").click()
    expect(page).to_have_url(f"{server.url}/")
    expect(page.locator(".ck-start")).to_be_visible()
    expect(page.locator(".ck-item")).to_have_count(0)
    send(page, "Second topic bananas")
    expect(last_reply(page)).to_contain_text("Second topic bananas")
    second = thread_id_of(page)
    assert first != second
    expect(page.locator(".ck-thread-open")).to_have_text(
        ["Second topic bananas", "First topic apples"]
    )

    page.locator(".ck-thread-open", has_text="First topic apples").click()
    expect(page).to_have_url(f"{server.url}/threads/{first}")
    expect(page.locator(".ck-item--user_message .ck-bubble")).to_have_text(["First topic apples"])
    expect(page.locator(".ck-title")).to_have_text("First topic apples")
    expect(page.locator(".ck-thread[aria-current=true]")).to_have_attribute("data-thread-id", first)

    page.go_back()
    expect(page.locator(".ck-item--user_message .ck-bubble")).to_have_text(["Second topic bananas"])


def test_stop_ends_the_reply_and_the_server_keeps_what_was_said(server, open_page, alice):
    page = open_page(server, user=alice)
    chat_ready(page)
    send(page, "Please take your time answering")
    page.wait_for_function(
        "() => document.querySelector('.ck-item--assistant_message.is-streaming .ck-bubble')"
        "?.textContent.length > 40"
    )
    page.locator(".ck-stop").click()

    expect(page.locator(".ck-stopped")).to_have_text("Stopped.")
    expect(page.locator(".ck-send")).to_be_visible()
    shown = page.locator(".ck-item--assistant_message .ck-bubble").inner_text()
    full = dev_reply_text("Please take your time answering")
    assert len(shown) < len(full)

    thread_id = thread_id_of(page)
    kept = eventually(
        lambda: Message.objects.filter(
            conversation_id=thread_id, type="assistant_message", interrupted=True
        ).first()
    )
    assert kept is not None, "the partial reply is stored, marked interrupted"
    assert full.startswith(kept.text)
    assert len(kept.text) < len(full)

    # The conversation goes on after a stop.
    send(page, "Now the next question")
    expect(last_reply(page)).to_contain_text("Now the next question")

    page.reload()
    chat_ready(page)
    replies = page.locator(".ck-item--assistant_message .ck-bubble")
    expect(replies).to_have_count(2)
    expect(replies.first).to_have_text(kept.text)


def test_thumbs_up_and_down_are_recorded(server, open_page, alice):
    page = open_page(server, user=alice)
    chat_ready(page)
    send(page, "Rate this answer")
    reply = last_reply(page)
    item_id = reply.get_attribute("data-item-id")

    up = reply.get_by_role("button", name="Good response")
    up.click()
    expect(up).to_have_attribute("aria-pressed", "true")
    expect(reply.locator(".ck-feedback-status")).to_have_text("Thanks for the feedback.")
    assert eventually(
        lambda: Feedback.objects.filter(message_id=item_id, user=alice, kind="positive").exists()
    )

    down = reply.get_by_role("button", name="Bad response")
    down.click()
    expect(down).to_have_attribute("aria-pressed", "true")
    expect(up).to_have_attribute("aria-pressed", "false")
    assert eventually(
        lambda: Feedback.objects.filter(message_id=item_id, user=alice, kind="negative").exists()
    )
    assert Feedback.objects.filter(message_id=item_id).count() == 1


def test_retry_replaces_the_reply(server, open_page, alice):
    page = open_page(server, user=alice)
    chat_ready(page)
    send(page, "Please take your time answering")
    first = page.locator(".ck-item--assistant_message").first
    retry = first.get_by_role("button", name="Retry")
    last_reply(page)
    expect(retry).to_be_enabled()
    send(page, "Answer me twice")
    page.wait_for_function(
        "() => document.querySelector('.ck-item--assistant_message.is-streaming .ck-bubble')"
        "?.textContent.length > 20"
    )
    # While the next reply streams, retrying the earlier one is off, not a
    # click that does nothing.
    expect(retry).to_be_disabled()
    last_reply(page)
    expect(retry).to_be_enabled()

    first_reply = first.get_attribute("data-item-id")
    retry.click()
    expect(page.locator(".ck-item--assistant_message")).to_have_count(1)
    expect(page.locator(".ck-item--assistant_message")).not_to_have_attribute(
        "data-item-id", first_reply
    )
    reply = last_reply(page)
    expect(reply).to_contain_text("Please take your time answering")
    expect(page.locator(".ck-item--user_message")).to_have_count(1)
    thread_id = thread_id_of(page)
    stored = list(
        Message.objects.filter(conversation_id=thread_id, type="assistant_message").values_list(
            "id", flat=True
        )
    )
    assert stored == [reply.get_attribute("data-item-id")]


def test_rename_and_delete_a_conversation(server, open_page, alice):
    page = open_page(server, user=alice)
    chat_ready(page)
    send(page, "Something to rename")
    last_reply(page)
    thread_id = thread_id_of(page)

    row = page.locator(f".ck-thread[data-thread-id={thread_id}]")
    row.get_by_role("button", name=re.compile("^Rename")).click()
    title = row.locator(".ck-rename-input")
    title.fill("   ")
    title.press("Enter")
    expect(row.locator(".ck-field-error")).to_have_text("A title cannot be empty.")

    # A title is text, never markup.
    title.fill("Holiday <img src=x onerror=window.__pwned=1> plans")
    title.press("Enter")
    expect(row.locator(".ck-thread-open")).to_have_text(
        "Holiday <img src=x onerror=window.__pwned=1> plans"
    )
    expect(page.locator(".ck-title")).to_have_text(
        "Holiday <img src=x onerror=window.__pwned=1> plans"
    )
    assert page.locator(".ck-app img").count() == 0
    assert page.evaluate("window.__pwned") is None
    assert eventually(
        lambda: Conversation.objects.get(pk=thread_id).title.startswith("Holiday <img")
    )

    row.get_by_role("button", name=re.compile("^Delete")).click()
    expect(row).to_contain_text("Delete “Holiday <img src=x onerror=window.__pwned=1> plans”?")
    row.get_by_role("button", name="Cancel").click()
    expect(row.locator(".ck-thread-open")).to_be_visible()
    row.get_by_role("button", name=re.compile("^Delete")).click()
    row.locator(".ck-confirm-delete").click()

    expect(page.locator(".ck-thread")).to_have_count(0)
    expect(page.locator(".ck-no-threads")).to_be_visible()
    expect(page.locator(".ck-start")).to_be_visible()
    expect(page).to_have_url(f"{server.url}/")
    assert eventually(lambda: not Conversation.objects.filter(pk=thread_id).exists())


def test_the_thread_list_pages_and_long_threads_load_earlier_messages(server, open_page, alice):
    start = timezone.now() - timedelta(days=1)
    for index in range(23):
        Conversation.objects.create(
            id=f"thr_{index:04d}",
            owner=alice,
            title=f"Topic {index:02d}",
            created_at=start + timedelta(minutes=index),
        )
    long_thread = "thr_0022"
    for index in range(45):
        created = datetime.now() - timedelta(minutes=60 - index)
        if index % 2 == 0:
            item = UserMessageItem(
                id=f"msg_{index:04d}",
                thread_id=long_thread,
                created_at=created,
                content=[UserMessageTextContent(text=f"Question {index}")],
                inference_options=InferenceOptions(),
            )
        else:
            item = AssistantMessageItem(
                id=f"msg_{index:04d}",
                thread_id=long_thread,
                created_at=created,
                content=[AssistantMessageContent(text=f"Answer {index}")],
            )
        services.message_upsert(owner=alice, conversation_id=long_thread, item=item)

    page = open_page(server, user=alice)
    chat_ready(page)
    rows = page.locator(".ck-thread")
    expect(rows).to_have_count(20)
    expect(rows.first).to_contain_text("Topic 22")
    page.locator(".ck-more-threads").click()
    expect(rows).to_have_count(23)
    expect(rows.last).to_contain_text("Topic 00")
    expect(page.locator(".ck-more-threads")).to_be_hidden()

    page.locator(".ck-thread-open", has_text="Topic 22").click()
    items = page.locator(".ck-item")
    expect(items).to_have_count(30)
    expect(items.last).to_contain_text("Question 44")
    page.locator(".ck-earlier").click()
    expect(items).to_have_count(45)
    expect(items.first).to_contain_text("Question 0")
    expect(page.locator(".ck-earlier")).to_be_hidden()


def test_a_locked_conversation_refuses_a_message_readably_and_keeps_it(server, open_page, alice):
    page = open_page(server, user=alice)
    chat_ready(page)
    send(page, "Before the lock")
    last_reply(page)
    thread_id = thread_id_of(page)
    services.conversation_set_status(
        conversation=Conversation.objects.get(pk=thread_id), status="locked", reason="under review"
    )

    send(page, "After the lock")
    alert = page.locator(".ck-alert--error")
    expect(alert).to_contain_text("This conversation is locked: under review")
    expect(page.locator(".ck-input")).to_have_value("After the lock")
    expect(page.locator(".ck-status-badge")).to_have_text("locked")
    expect(page.locator(".ck-input")).to_be_disabled()
    expect(page.locator(".ck-item--user_message")).to_have_count(1)
    assert not Message.objects.filter(conversation_id=thread_id, text="After the lock").exists()


def test_model_output_with_markup_is_shown_as_text(server, open_page, alice):
    """The offline responder repeats the message, so its reply carries the markup."""
    payload = (
        "Look <script>window.__pwned=1</script> and <img src=x onerror=window.__pwned=2> "
        "[evil](javascript:window.__pwned=3) [docs](https://example.org/docs) **bold**"
    )
    page = open_page(server, user=alice)
    chat_ready(page)
    send(page, payload)
    reply = last_reply(page)
    text = reply.locator(".ck-bubble").inner_text()
    assert "<script>window.__pwned=1</script>" in text
    assert "<img src=x onerror=window.__pwned=2>" in text
    assert reply.locator("script, img").count() == 0
    assert page.locator(".ck-app script, .ck-app img").count() == 0
    expect(reply.locator("strong")).to_have_text("bold")
    links = reply.locator("a")
    expect(links).to_have_count(1)
    expect(links).to_have_attribute("href", "https://example.org/docs")
    expect(links).to_have_attribute("rel", "noopener noreferrer nofollow")
    # The thread title (the message's first words) is text too.
    expect(page.locator(".ck-thread-open")).to_contain_text("<script>window.__pwned=1</script>")
    page.reload()
    chat_ready(page)
    expect(page.locator(".ck-item--assistant_message .ck-bubble")).to_contain_text(
        "<img src=x onerror=window.__pwned=2>"
    )
    assert page.evaluate("window.__pwned") is None


def test_a_thread_list_that_arrives_after_the_first_reply_keeps_the_new_conversation(
    server, open_page, alice
):
    Conversation.objects.create(id="thr_older", owner=alice, title="An older topic")
    held = []

    def hold_the_first_list(route):
        # The list is answered now but reaches the page only later: a slow
        # network, while the user already sends a message.
        if '"threads.list"' in (route.request.post_data or "") and not held:
            held.append((route, route.fetch()))
        else:
            route.continue_()

    page = open_page(server, user=alice, path=None)
    page.route("**/chatkit", hold_the_first_list)
    page.goto("/")
    chat_ready(page)
    send(page, "Plan the garden party")
    expect(last_reply(page).locator(".ck-bubble")).to_contain_text("Plan the garden party")
    rows = page.locator(".ck-thread-open")
    expect(rows).to_have_text(["Plan the garden party"])
    route, response = held[0]
    route.fulfill(response=response)
    # The page's list was read before the conversation existed: both show,
    # the new one first and still with its title.
    expect(rows).to_have_text(["Plan the garden party", "An older topic"])
    expect(page.locator(".ck-thread[aria-current=true]")).to_have_count(1)


def test_a_second_user_never_sees_the_first_users_threads(server, open_page, alice, bob):
    alices = open_page(server, user=alice)
    chat_ready(alices)
    send(alices, "Alice secret plan")
    last_reply(alices)
    thread_id = thread_id_of(alices)

    bobs = open_page(server, user=bob)
    chat_ready(bobs)
    expect(bobs.locator(".ck-no-threads")).to_be_visible()
    expect(bobs.locator(".ck-thread")).to_have_count(0)

    response = bobs.goto(f"/threads/{thread_id}")
    assert response.status == 404
    assert "Alice secret plan" not in bobs.content()
    expect(bobs.locator("h1")).to_have_text("Not found")

    bobs.goto("/")
    chat_ready(bobs)
    status = bobs.evaluate(
        """async (threadId) => {
            const token = document.cookie.match(/csrftoken=([^;]+)/)[1];
            const response = await fetch("/chatkit", {
              method: "POST",
              headers: {"Content-Type": "application/json", "X-CSRFToken": token},
              body: JSON.stringify({type: "threads.get_by_id", params: {thread_id: threadId}}),
            });
            return response.status;
        }""",
        thread_id,
    )
    assert status == 404
    screenshot(bobs, "chat-second-user-empty")
