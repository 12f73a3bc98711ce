"""Every kind of page under its Content-Security-Policy, in a real headless
Chromium against live daphne servers: the page works and the browser reports
no violation (``securitypolicyviolation`` events, from an init script, and
console messages), while markup injected into a page is refused, so these
checks can fail.

Two servers: one with the built-in client only (``script_url`` empty: the
strictest policy, no inline style and no third-party origin), where the
whole tour runs, and one with the official component configured (OpenAI's
CDN origin allowed), whose script the browser answers with a stub.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import expect

from chatkit_app.models import Conversation
from tasks.models import Task

from .browser import CDN, chat_ready, last_reply, screenshot, send
from .browser import browser as browser
from .browser import open_page as open_page
from .conftest import PASSWORD
from .live_daphne import LiveDaphne, start_daphne
from .seed_conversations import full_conversation

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

# Recorded before any of the page's own scripts run.
LISTEN = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push({
    directive: event.violatedDirective,
    blocked: event.blockedURI,
    sample: event.sample,
    source: event.sourceFile,
  });
}, true);
"""
STUB = """
class StubChatKit extends HTMLElement {
  setOptions(options) { this.textContent = "Official component: " + options.startScreen.greeting; }
}
customElements.define("openai-chatkit", StubChatKit);
"""
CSP_CONSOLE = re.compile(r"Content.Security.Policy|Refused to", re.IGNORECASE)


@pytest.fixture(scope="module")
def strict(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[LiveDaphne]:
    env = {
        "CHATKIT_UI": json.dumps(
            {"script_url": "", "attachments": True, "entities": True, "commands": True}
        ),
        "CHATKIT_DEV_RESPONDER_DELAY": "0",
        "CHATKIT_TEST_MEDIA_ROOT": str(tmp_path_factory.mktemp("media")),
        # The browser's address comes from X-Forwarded-For, so the lockout
        # test locks a made-up address, not every test's 127.0.0.1.
        "TRUSTED_PROXY_COUNT": "1",
        "AXES_FAILURE_LIMIT": "2",
    }
    with start_daphne(env) as live:
        yield live


@pytest.fixture(scope="module")
def official(django_db_setup, django_db_blocker) -> Iterator[LiveDaphne]:
    with start_daphne({"CHATKIT_DEV_RESPONDER_DELAY": "0"}) as live:
        yield live


class Watched:
    """A page with its CSP reports: violation events and console messages."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.console: list[str] = []
        page.on("console", lambda message: self.console.append(message.text))

    def goto(self, path: str) -> dict[str, list[str]]:
        """Open ``path``; the policy its response carried, by directive."""
        response = self.page.goto(path)
        assert response is not None, path
        assert response.ok, path
        header = response.headers.get("content-security-policy")
        assert header, f"{path} sent no Content-Security-Policy"
        return {
            name: sources
            for name, *sources in (part.split() for part in header.split(";") if part.strip())
        }

    def violations(self) -> list[Any]:
        reported = self.page.evaluate("window.__cspViolations || []")
        return reported + [text for text in self.console if CSP_CONSOLE.search(text)]

    def assert_clean(self, where: str) -> None:
        assert self.violations() == [], f"CSP violations on {where}"


def watched(open_page, server: LiveDaphne, user: Any = None, address: str = "") -> Watched:
    page = open_page(server, user=user, path=None)
    page.context.add_init_script(LISTEN)
    if address:
        page.context.set_extra_http_headers({"X-Forwarded-For": address})
    return Watched(page)


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 40), "teal").save(out, format="PNG")
    return out.getvalue()


def test_signing_in_and_chatting_with_the_built_in_client_break_no_rule(strict, open_page, alice):
    tab = watched(open_page, strict, address="203.0.113.1")
    directives = tab.goto("/accounts/login/")
    assert directives["style-src"] == ["'self'"]
    assert not any("openai" in source for sources in directives.values() for source in sources)
    page = tab.page
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")  # form-action 'self', then the redirect
    chat_ready(page)
    expect(page).to_have_url(f"{strict.url}/")

    # An image previewed from a blob: URL, uploaded, sent, and answered.
    page.locator(".ck-file-input").set_input_files(
        [{"name": "tile.png", "mimeType": "image/png", "buffer": png()}]
    )
    expect(page.locator(".ck-chip")).to_have_class(re.compile(r"\bis-ready\b"))
    send(page, "Hello under a strict policy")
    expect(last_reply(page)).to_contain_text("Hello under a strict policy")
    expect(page.locator(".ck-item--user_message img").last).to_be_visible()
    screenshot(page, "csp-strict-chat")
    tab.assert_clean("the chat page with the built-in client")


def test_the_tasks_page_and_every_demo_layout_break_no_rule(strict, open_page, settings, alice):
    tab = watched(open_page, strict, user=alice)
    tab.goto("/tasks/")
    chat_ready(tab.page)
    tab.page.get_by_placeholder("What needs doing?").fill("Water the plants")
    tab.page.get_by_role("button", name="Add").click()
    expect(tab.page.get_by_test_id("open-tasks")).to_contain_text("Water the plants")
    assert Task.objects.filter(title="Water the plants").exists()
    # The composer's menus: "@" (the tag search) and "/" (commands).
    box = tab.page.get_by_role("combobox", name="Message")
    box.press_sequentially("@Water")
    expect(tab.page.get_by_role("listbox", name="Tags")).to_contain_text("Water the plants")
    box.press("Enter")
    expect(tab.page.locator(".ck-tags .ck-tag")).to_have_text(["Water the plants"])
    box.fill("")
    box.press_sequentially("/")
    expect(tab.page.get_by_role("listbox", name="Commands")).to_contain_text("Tasks")
    box.press("Escape")
    tab.assert_clean("the tasks page")

    # Every kind of item in the built-in client: a question's form, tags,
    # a client tool call, widgets, a generated image. (Seeded without live
    # events, as in the admin test below.)
    settings.CHATKIT_LIVE_UPDATES = False
    full_conversation(alice)
    # Its images are on example.org, which the policy refuses: with the
    # thread's allowed_image_domains the client does not even ask for them.
    Conversation.objects.filter(pk="thr_full").update(allowed_image_domains=[])
    tab.goto("/threads/thr_full")
    chat_ready(tab.page)
    expect(tab.page.locator(".ck-item--structured_input")).to_be_visible()
    expect(tab.page.locator(".ck-item--user_message .ck-tag").first).to_be_visible()
    tab.assert_clean("a conversation with every kind of item")

    for layout in ("full", "sidebar"):
        tab.goto(f"/demo/?layout={layout}")
        chat_ready(tab.page)
        tab.assert_clean(f"the {layout} demo")
    tab.goto("/demo/?layout=modal")
    tab.page.get_by_role("button", name="Ask the assistant").click()
    chat_ready(tab.page)
    send(tab.page, "From the dialog")
    expect(last_reply(tab.page)).to_contain_text("From the dialog")
    tab.assert_clean("the modal demo")


def test_the_admin_pages_break_no_rule(strict, open_page, settings, alice, charlie):
    # Seeded here, where no server watches (publishing from inside Playwright's
    # event loop would only log errors).
    settings.CHATKIT_LIVE_UPDATES = False
    full_conversation(alice)
    tab = watched(open_page, strict, address="203.0.113.2")
    tab.goto("/admin/login/")
    tab.page.fill("#id_username", "charlie")
    tab.page.fill("#id_password", PASSWORD)
    tab.page.click("input[type=submit]")
    expect(tab.page.locator("#site-name")).to_be_visible()
    tab.assert_clean("the admin sign-in and index")

    tab.goto("/admin/chatkit_app/conversation/")
    expect(tab.page.locator("#result_list")).to_contain_text("Groceries and weather")
    # The typed filter's layout comes from admin.css now, not a style attribute.
    filter_input = tab.page.locator(".ck-filter-input").first
    assert filter_input.evaluate("e => getComputedStyle(e).marginLeft") != "0px"
    tab.assert_clean("the conversation list")

    tab.goto("/admin/chatkit_app/conversation/thr_5Ffull/change/")
    outline = tab.page.locator('.ck-outline li[data-level="1"]').first
    expect(outline).to_be_visible()
    assert outline.evaluate("e => getComputedStyle(e).marginLeft") != "0px"
    expect(tab.page.locator(".ck-item").first).to_have_css("border-left-width", "4px")
    screenshot(tab.page, "csp-strict-transcript", full_page=True, docs="admin-transcript")
    tab.assert_clean("a conversation's transcript")

    tab.goto("/admin/chatkit_app/conversation/thr_5Ffull/watch/")
    expect(tab.page.locator(".ck-live-status")).to_have_attribute("data-state", "live")
    expect(tab.page.locator(".ck-live-item").first).to_be_visible()
    screenshot(tab.page, "csp-strict-watch", docs="admin-watch")
    tab.assert_clean("the watch page (websocket)")

    tab.goto("/admin/chatkit_app/conversation/activity/")
    expect(tab.page.locator(".ck-live-status")).to_have_attribute("data-state", "live")
    tab.assert_clean("the activity page (websocket)")

    tab.goto("/admin/dashboard/?period=30d")
    bars = tab.page.locator(".ck-chart svg a rect")
    expect(bars.first).to_be_visible()
    # Colours come from admin.css (a class), not a style attribute.
    assert bars.first.evaluate("e => getComputedStyle(e).fill") not in ("", "rgb(0, 0, 0)")
    screenshot(tab.page, "csp-strict-dashboard", full_page=True, docs="admin-dashboard")
    tab.assert_clean("the dashboard")
    # A bar is a link to the list behind it.
    tab.page.locator(".ck-chart svg a:has(rect.ck-bar-good)").first.click()
    expect(tab.page.locator("#result_list")).to_be_visible()
    assert "/admin/chatkit_app/feedback/" in tab.page.url
    tab.assert_clean("a dashboard bar's list")

    tab.goto("/admin/axes/accessattempt/")
    expect(tab.page.locator("#changelist")).to_be_visible()
    tab.assert_clean("the access attempts list")


def test_the_lockout_page_breaks_no_rule(strict, open_page, alice):
    tab = watched(open_page, strict, address="203.0.113.3")
    for _ in range(2):
        tab.goto("/accounts/login/")
        tab.page.fill("#id_username", "alice")
        tab.page.fill("#id_password", "wrong password")
        with tab.page.expect_response(re.compile(r"/accounts/login/$")) as answer:
            tab.page.click("button[type=submit]")
    assert answer.value.status == 429
    assert answer.value.headers.get("content-security-policy")
    expect(tab.page.get_by_role("heading")).to_have_text("Too many sign-in attempts")
    expect(tab.page.get_by_role("alert")).to_contain_text("Try again in 15 minutes")
    screenshot(tab.page, "csp-lockout-page")
    tab.assert_clean("the lockout page")


def test_markup_injected_into_a_page_is_refused(strict, open_page, alice):
    """The checks above can fail: an inline script and style slipped into the
    HTML (as an injection bug would) and a third-party script are blocked and
    reported."""
    tab = watched(open_page, strict, user=alice)

    def inject(route):
        response = route.fetch()
        body = response.text().replace(
            "</body>",
            "<script>window.__injected = true</script>"
            "<style>body { outline: 9px solid red }</style></body>",
        )
        route.fulfill(response=response, body=body)

    tab.page.route(f"{strict.url}/", inject)
    tab.goto("/")
    chat_ready(tab.page)
    tab.page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.src = "https://cdn.platform.openai.com/deployments/chatkit/chatkit.js";
          document.head.append(script);
        }"""
    )
    expect(tab.page.locator("body")).to_be_visible()
    tab.page.wait_for_function("() => window.__cspViolations.length >= 3")
    assert tab.page.evaluate("window.__injected") is None
    assert tab.page.evaluate("getComputedStyle(document.body).outlineStyle") == "none"
    reported = {
        (violation["directive"], violation["blocked"])
        for violation in tab.page.evaluate("window.__cspViolations")
    }
    assert ("script-src-elem", "inline") in reported
    assert ("style-src-elem", "inline") in reported
    assert (
        "script-src-elem",
        "https://cdn.platform.openai.com/deployments/chatkit/chatkit.js",
    ) in reported
    assert tab.violations(), "the checks of the other tests see these"


def test_the_official_component_from_its_cdn_breaks_no_rule(official, open_page, alice):
    tab = watched(open_page, official, user=alice)
    tab.page.context.unroute(CDN)
    tab.page.context.route(
        CDN, lambda route: route.fulfill(status=200, content_type="text/javascript", body=STUB)
    )
    directives = tab.goto("/")
    for directive in ("script-src", "frame-src", "connect-src", "img-src", "style-src"):
        assert "https://cdn.platform.openai.com" in directives[directive], directive
    assert "'unsafe-inline'" not in directives["script-src"]
    expect(tab.page.locator("[data-chatkit-mount]")).to_have_attribute(
        "data-chatkit-mode", "official"
    )
    expect(tab.page.locator("openai-chatkit")).to_contain_text("Official component:")
    tab.assert_clean("the chat page with the official component")

    # Its sibling, the built-in client when the CDN is out of reach.
    tab.page.context.unroute(CDN)
    tab.page.context.route(CDN, lambda route: route.abort())
    tab.goto("/demo/?layout=full")
    chat_ready(tab.page)
    send(tab.page, "The CDN is down")
    expect(last_reply(tab.page)).to_contain_text("The CDN is down")
    tab.assert_clean("the fallback to the built-in client")
