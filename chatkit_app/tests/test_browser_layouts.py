"""The chat in each layout (full page, sidebar panel, modal dialog, embedded
block), the colour theme and small screens, in a real headless Chromium. Each
test saves screenshots under test-output/screenshots/."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .browser import browser as browser
from .browser import chat_ready, last_reply, screenshot, send
from .browser import open_page as open_page
from .live_daphne import start_daphne

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    with start_daphne({"CHATKIT_DEV_RESPONDER_DELAY": "0"}) as live:
        yield live


def test_the_sign_in_page(server, open_page, alice):
    page = open_page(server, path="/accounts/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "wrong")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username")
    screenshot(page, "sign-in-error")


def test_the_full_page_layout_and_its_dark_theme(server, open_page, alice):
    page = open_page(server, user=alice)
    app = chat_ready(page)
    screenshot(page, "layout-full-page-start")
    send(page, "Show me the **full page** layout")
    expect(last_reply(page)).to_contain_text("full page")
    expect(page.locator(".ck-history")).to_be_visible()
    screenshot(page, "layout-full-page")

    expect(app).to_have_attribute("data-color-scheme", "light")
    page.get_by_role("button", name="Use dark theme").click()
    expect(app).to_have_attribute("data-color-scheme", "dark")
    assert page.evaluate("getComputedStyle(document.querySelector('.ck-app')).colorScheme") == (
        "dark"
    )
    screenshot(page, "layout-full-page-dark")
    page.reload()
    expect(chat_ready(page)).to_have_attribute("data-color-scheme", "dark")
    page.get_by_role("button", name="Use light theme").click()
    expect(page.locator(".ck-app")).to_have_attribute("data-color-scheme", "light")


def test_the_sidebar_layout_sits_beside_the_page_and_folds_away(server, open_page, alice):
    page = open_page(server, user=alice, path="/demo/?layout=sidebar")
    chat_ready(page)
    aside = page.locator(".ck-sidebar")
    expect(aside).to_be_visible()
    box = aside.bounding_box()
    assert box["x"] + box["width"] == 1280
    assert box["height"] == 800
    # The page keeps its room: its content is not under the panel.
    article = page.locator("article.demo").bounding_box()
    assert article["x"] + article["width"] <= box["x"]

    send(page, "Hello from the sidebar")
    expect(last_reply(page)).to_contain_text("Hello from the sidebar")
    # Narrow: the history is a drawer behind the header's button.
    expect(page.locator(".ck-history")).to_be_hidden()
    page.get_by_role("button", name="Show conversations").click()
    expect(page.locator(".ck-thread-open")).to_have_text(["Hello from the sidebar"])
    screenshot(page, "layout-sidebar-history")
    page.get_by_role("button", name="Hide conversations").click()
    expect(page.locator(".ck-history")).to_be_hidden()
    screenshot(page, "layout-sidebar")

    page.get_by_role("button", name="Hide the chat").click()
    expect(aside).to_be_hidden()
    launcher = page.get_by_role("button", name="Assistant")
    expect(launcher).to_be_visible()
    screenshot(page, "layout-sidebar-folded")
    page.reload()
    expect(page.get_by_role("button", name="Assistant")).to_be_visible()
    page.get_by_role("button", name="Assistant").click()
    expect(page.locator(".ck-sidebar")).to_be_visible()
    expect(page.locator(".ck-item--user_message")).to_have_count(0)  # a new chat view


def test_the_modal_layout_opens_from_a_button(server, open_page, alice):
    page = open_page(server, user=alice, path="/demo/?layout=modal")
    # Nothing loads until the dialog opens.
    expect(page.locator(".ck-launcher")).to_be_visible()
    expect(page.locator(".ck-app")).to_have_count(0)
    screenshot(page, "layout-modal-closed")

    page.get_by_role("button", name="Ask the assistant").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    chat_ready(page)
    send(page, "Hello from the dialog")
    expect(last_reply(page)).to_contain_text("Hello from the dialog")
    screenshot(page, "layout-modal")

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.get_by_role("button", name="Ask the assistant").click()
    expect(page.locator(".ck-item--user_message .ck-bubble")).to_have_text(
        ["Hello from the dialog"]
    )
    page.get_by_role("button", name="Close the chat").click()
    expect(dialog).to_be_hidden()


def test_the_full_layout_embedded_in_a_page(server, open_page, alice):
    page = open_page(server, user=alice, path="/demo/?layout=full")
    chat_ready(page)
    box = page.locator(".demo-box .ck-frame").bounding_box()
    assert box["height"] == 560
    send(page, "Hello from the embedded chat")
    expect(last_reply(page)).to_contain_text("Hello from the embedded chat")
    screenshot(page, "layout-embedded-full", full_page=True)


def test_the_chat_page_on_a_phone(server, open_page, alice):
    page = open_page(server, user=alice, viewport=(390, 844))
    chat_ready(page)
    send(page, "Hello from a small screen")
    expect(last_reply(page)).to_contain_text("Hello from a small screen")
    expect(page.locator(".ck-history")).to_be_hidden()
    composer = page.locator(".ck-composer").bounding_box()
    assert composer["x"] >= 0
    assert composer["x"] + composer["width"] <= 390
    screenshot(page, "layout-full-page-phone")
    page.get_by_role("button", name="Show conversations").click()
    expect(page.locator(".ck-thread-open")).to_have_text(["Hello from a small screen"])
    screenshot(page, "layout-full-page-phone-history")
    page.get_by_role("button", name="New chat").last.click()
    expect(page.locator(".ck-start")).to_be_visible()


def test_no_page_asks_for_an_icon_that_is_missing(server, open_page, alice, charlie):
    missing: list[str] = []
    for user, path in ((None, "/accounts/login/"), (alice, "/"), (charlie, "/admin/")):
        page = open_page(server, user=user, path=None)
        page.on("response", lambda r: missing.append(r.url) if r.status >= 400 else None)
        page.goto(path)
        links = page.locator('link[rel="icon"]')
        expect(links).to_have_count(2)
        for href in links.evaluate_all("links => links.map(link => link.href)"):
            response = page.request.get(href)
            assert response.ok, href
            assert response.headers["content-type"].startswith("image/"), href
        # Browsers also ask for /favicon.ico itself, whatever the page links.
        response = page.request.get("/favicon.ico")
        assert response.ok
        assert response.headers["content-type"] in ("image/x-icon", "image/vnd.microsoft.icon")
        shown = page.evaluate(
            "() => new Promise((done) => { const img = new Image();"
            " img.onload = () => done(img.naturalWidth); img.onerror = () => done(0);"
            " img.src = document.querySelector('link[type=\"image/svg+xml\"]').href; })"
        )
        assert shown > 0, path
    assert missing == []
