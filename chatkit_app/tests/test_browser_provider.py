"""The chat page with a model provider: the fake provider (a real local HTTP
server speaking OpenAI's Responses API) answers a live daphne server, and a
headless Chromium shows what a user sees: model output with markup rendered
as text, a provider failure explained readably with a way to try again, and
the model picker choosing the model that answers; and a conversation in
both themes (the README's pictures of the chat page)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
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
    env["CHATKIT_MODELS"] = "fake-model,fake-model-large"
    with start_daphne(env) as live:
        yield live


def test_a_model_reply_with_markup_renders_as_text(server, open_page, alice, fake_provider):
    fake_provider.reply(
        "Here you go:\n\n"
        "<script>window.__pwned = 1</script>\n\n"
        '<img src="x" onerror="window.__pwned = 2">\n\n'
        "- **bold** item\n- a [safe link](https://example.org/docs) and "
        "[a bad one](javascript:window.__pwned=3)\n\n"
        "```\n<b>code stays code</b>\n```",
        chunk_delay=0.005,
    )
    page = open_page(server, user=alice)
    chat_ready(page)
    expect(page.locator(".ck-offline")).to_have_count(0)
    send(page, "Show me some markup")
    reply = last_reply(page)
    bubble = reply.locator(".ck-bubble")

    expect(bubble.locator("p").nth(1)).to_have_text("<script>window.__pwned = 1</script>")
    expect(bubble.locator("p").nth(2)).to_have_text('<img src="x" onerror="window.__pwned = 2">')
    expect(bubble.locator("li strong")).to_have_text("bold")
    expect(bubble.locator("pre code")).to_have_text("<b>code stays code</b>")
    expect(bubble.locator("a")).to_have_count(1)
    expect(bubble.locator("a")).to_have_attribute("href", "https://example.org/docs")
    expect(bubble.locator("li").nth(1)).to_contain_text("a bad one")
    assert bubble.locator("script, img, b").count() == 0
    assert page.evaluate("window.__pwned") is None
    screenshot(page, "model-reply-markdown")

    page.reload()
    chat_ready(page)
    expect(page.locator(".ck-bubble pre code")).to_have_text("<b>code stays code</b>")
    assert page.locator(".ck-app script, .ck-app img").count() == 0
    assert page.evaluate("window.__pwned") is None


def test_a_provider_failure_is_shown_readably_and_can_be_retried(
    server, open_page, alice, fake_provider
):
    fake_provider.fail(500, "upstream exploded: secret-internal-id-123")
    page = open_page(server, user=alice)
    chat_ready(page)
    send(page, "Are you there?")

    alert = page.locator(".ck-alert--error")
    expect(alert).to_contain_text("The model provider had an internal error. Please try again.")
    expect(alert).not_to_contain_text("secret-internal-id-123")
    expect(page.locator(".ck-item--user_message .ck-bubble")).to_have_text(["Are you there?"])
    expect(page.locator(".ck-send")).to_be_visible()
    screenshot(page, "provider-error")

    fake_provider.reply("Yes, I am here now.")
    alert.get_by_role("button", name="Try again").click()
    expect(last_reply(page).locator(".ck-bubble")).to_have_text("Yes, I am here now.")
    expect(page.locator(".ck-alert--error")).to_have_count(0)
    expect(page.locator(".ck-item--user_message")).to_have_count(1)


def test_the_model_picker_chooses_the_model_that_answers(server, open_page, alice, fake_provider):
    page = open_page(server, user=alice)
    chat_ready(page)
    picker = page.get_by_role("combobox", name="Model")
    expect(picker.locator("option")).to_have_text(["fake-model", "fake-model-large"])
    picker.select_option("fake-model-large")
    fake_provider.reply("Answered by the large model.")
    send(page, "Which model are you?")
    expect(last_reply(page)).to_contain_text("Answered by the large model.")
    assert fake_provider.answer_requests()[-1].body["model"] == "fake-model-large"
    user_message = Message.objects.get(role="user", text="Which model are you?")
    assert user_message.data["inference_options"]["model"] == "fake-model-large"


def test_a_conversation_reads_well_in_the_light_and_the_dark_theme(
    server, open_page, alice, fake_provider
):
    earlier = timezone.now() - timedelta(days=2)
    for minutes, title in enumerate(["Fix the leaking tap", "Birthday gift ideas", "Learn Django"]):
        Conversation.objects.create(
            id=f"thr_earlier{minutes}",
            owner=alice,
            title=title,
            created_at=earlier + timedelta(minutes=minutes),
        )
    fake_provider.title = "A relaxed Saturday in Porto"
    fake_provider.reply(
        "Here is a plan for a **relaxed Saturday** in Porto:\n\n"
        "1. Breakfast at *Mercado do Bolhão*\n"
        "2. A walk along the Douro to the Dom Luís I bridge\n"
        "3. Port tasting in Vila Nova de Gaia\n\n"
        "Pack light, and check the [forecast](https://www.ipma.pt/en/) first:\n\n"
        "```\numbrella · water · comfortable shoes\n```",
        chunk_delay=0.002,
    )
    page = open_page(server, user=alice)
    app = chat_ready(page)
    send(page, "Plan a relaxed Saturday in Porto for me")
    bubble = last_reply(page).locator(".ck-bubble")
    expect(bubble.locator("ol li")).to_have_count(3)
    expect(bubble.locator("strong")).to_have_text("relaxed Saturday")
    expect(bubble.locator("pre code")).to_have_text("umbrella · water · comfortable shoes")
    expect(page.locator(".ck-title")).to_have_text("A relaxed Saturday in Porto")
    expect(page.locator(".ck-thread-open")).to_have_text(
        [
            "A relaxed Saturday in Porto",
            "Learn Django",
            "Birthday gift ideas",
            "Fix the leaking tap",
        ]
    )
    screenshot(page, "chat-light", docs="chat-light")

    page.get_by_role("button", name="Use dark theme").click()
    expect(app).to_have_attribute("data-color-scheme", "dark")
    # The conversation and the page around it are both dark.
    background = app.evaluate("e => getComputedStyle(e).backgroundColor")
    assert background == "rgb(22, 24, 27)"
    body = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert body != "rgb(255, 255, 255)"
    screenshot(page, "chat-dark", docs="chat-dark")
