"""The official ``<openai-chatkit>`` component and the fallback to the
built-in client, in a real headless Chromium.

OpenAI's CDN is out of reach here, so the browser answers the CDN's URL with
a stub script that defines the element and records the options it is given;
the page itself is unchanged and loads the URL the settings name. That shows
every setting reaches the component. The same settings also reach the
built-in client, checked once the script fails or never arrives.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from .browser import CDN, chat_ready, last_reply, screenshot
from .browser import browser as browser
from .browser import open_page as open_page
from .live_daphne import start_daphne

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

UI = {
    "greeting": "Hello from the settings",
    "prompts": ["Track my order", {"label": "Refunds", "prompt": "How do refunds work?"}],
    "placeholder": "Ask Acme anything",
    "theme": {"color_scheme": "system", "accent": "#ff5500", "radius": "soft"},
    "attachments": True,
    "dictation": True,
    "feedback": False,
    "locale": "de-DE",
    "domain_key": "domain_pk_acme",
    "fallback_timeout": 1,
    "disclaimer": "Answers may be *wrong*.",
}

STUB = """
class StubChatKit extends HTMLElement {
  setOptions(options) {
    window.__chatkitOptions = options;
    this.textContent = "Official component: " + options.startScreen.greeting;
  }
}
customElements.define("openai-chatkit", StubChatKit);
"""


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    env = {
        "CHATKIT_UI": json.dumps(UI),
        "CHATKIT_MODELS": "gpt-a,gpt-b",
        "CHATKIT_DEV_RESPONDER_DELAY": "0",
    }
    with start_daphne(env) as live:
        yield live


def official_page(open_page, server, user, cdn_answer):
    """A page whose requests to OpenAI's CDN get ``cdn_answer(route)``."""
    page = open_page(server, user=user, path=None, block_cdn=False, color_scheme="dark")
    page.context.route(CDN, cdn_answer)
    return page


def serve_stub(route):
    route.fulfill(status=200, content_type="text/javascript", body=STUB)


def test_the_official_component_gets_every_option_from_the_settings(server, open_page, alice):
    page = official_page(open_page, server, alice, serve_stub)
    page.goto("/")
    mount = page.locator("[data-chatkit-mount]")
    expect(mount).to_have_attribute("data-chatkit-mode", "official")
    expect(page.locator("openai-chatkit")).to_have_text(
        "Official component: Hello from the settings"
    )
    expect(page.locator(".ck-app")).to_have_count(0)
    screenshot(page, "official-component-stub")

    options = page.evaluate(
        "() => ({...window.__chatkitOptions,"
        " api: {...window.__chatkitOptions.api, fetch: typeof window.__chatkitOptions.api.fetch}})"
    )
    assert options["api"] == {
        "url": "/chatkit",
        "domainKey": "domain_pk_acme",
        "uploadStrategy": {"type": "two_phase"},
        "fetch": "function",
    }
    assert options["startScreen"] == {
        "greeting": "Hello from the settings",
        "prompts": [
            {"label": "Track my order", "prompt": "Track my order"},
            {"label": "Refunds", "prompt": "How do refunds work?"},
        ],
    }
    # "system" resolves to the browser's preference (dark here).
    assert options["theme"]["colorScheme"] == "dark"
    assert options["theme"]["radius"] == "soft"
    assert options["theme"]["color"] == {"accent": {"primary": "#ff5500", "level": 1}}
    assert options["composer"]["placeholder"] == "Ask Acme anything"
    assert options["composer"]["attachments"] == {
        "enabled": True,
        "maxCount": 4,
        "maxSize": 10 * 1024 * 1024,
        "accept": {
            "image/png": [".png"],
            "image/jpeg": [".jpg", ".jpeg"],
            "image/gif": [".gif"],
            "image/webp": [".webp"],
            "application/pdf": [".pdf"],
            "text/plain": [".txt", ".text", ".log"],
            "text/markdown": [".md", ".markdown"],
            "text/csv": [".csv"],
            "application/json": [".json"],
        },
    }
    assert options["composer"]["dictation"] == {"enabled": True}
    # The tool picker offers the assistants other than the default one.
    assert options["composer"]["tools"] == [
        {
            "id": "tasks",
            "label": "Tasks",
            "icon": "check-circle",
            "placeholderOverride": "Manage your to-do list",
        }
    ]
    models = options["composer"]["models"]
    assert {"gpt-a", "gpt-b"} <= {model["id"] for model in models}
    assert sum(1 for model in models if model["default"]) == 1
    assert options["history"]["enabled"] is True
    assert options["threadItemActions"] == {"feedback": False, "retry": True}
    assert options["locale"] == "de-DE"
    assert options["disclaimer"] == {"text": "Answers may be *wrong*."}
    assert options["initialThread"] is None


def test_the_official_components_fetch_sends_csrf_and_locale(server, open_page, alice):
    page = official_page(open_page, server, alice, serve_stub)
    page.goto("/")
    expect(page.locator("[data-chatkit-mount]")).to_have_attribute("data-chatkit-mode", "official")
    with page.expect_request(re.compile(r"/chatkit$")) as sent:
        answer = page.evaluate(
            """async () => {
                const response = await window.__chatkitOptions.api.fetch("/chatkit", {
                  method: "POST",
                  headers: {"Content-Type": "application/json"},
                  body: JSON.stringify({type: "threads.list", params: {limit: 5}}),
                });
                return {status: response.status, body: await response.json()};
            }"""
        )
    assert answer == {"status": 200, "body": {"data": [], "has_more": False}}
    headers = sent.value.headers
    assert headers["x-csrftoken"]
    assert headers["x-chatkit-locale"] == "de-DE"


def test_the_official_component_drives_the_address_bar(server, open_page, alice):
    page = official_page(open_page, server, alice, serve_stub)
    page.goto("/")
    expect(page.locator("[data-chatkit-mount]")).to_have_attribute("data-chatkit-mode", "official")
    page.evaluate(
        """() => document.querySelector("openai-chatkit").dispatchEvent(
            new CustomEvent("chatkit.thread.change", {detail: {threadId: "thr_abc"}}))"""
    )
    expect(page).to_have_url(f"{server.url}/threads/thr_abc")


SEND = """async (toolChoice) => {
    const input = {
      content: [{type: "input_text", text: "hi"}], attachments: [], inference_options: {},
    };
    if (toolChoice) input.inference_options.tool_choice = {id: toolChoice};
    const response = await window.__chatkitOptions.api.fetch("/chatkit", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({type: "threads.create", params: {input}}),
    });
    await response.text();
    return response.status;
}"""


def test_a_panel_made_for_one_assistant_sends_the_official_components_messages_there(
    server, open_page, alice
):
    page = official_page(open_page, server, alice, serve_stub)
    page.goto("/tasks/")  # {% chatkit_panel assistant="tasks" %}
    expect(page.locator("[data-chatkit-mount]")).to_have_attribute("data-chatkit-mode", "official")
    tools = page.evaluate("() => window.__chatkitOptions.composer.tools")
    # The picker offers the other assistants: here, the default one.
    assert [tool["id"] for tool in tools] == ["assistant"]

    def sent_tool_choice(picked):
        with page.expect_request(re.compile(r"/chatkit$")) as sent:
            assert page.evaluate(SEND, picked) == 200
        options = json.loads(sent.value.post_data)["params"]["input"]["inference_options"]
        return options.get("tool_choice")

    assert sent_tool_choice(None) == {"id": "tasks"}
    assert sent_tool_choice("assistant") == {"id": "assistant"}


def hang(route):
    """Never answer: a network that swallows the request."""


def empty_script(route):
    route.fulfill(status=200, content_type="text/javascript", body="/* not ChatKit */")


@pytest.mark.parametrize(
    "cdn_answer", [hang, empty_script, lambda route: route.abort()], ids=["hangs", "empty", "fails"]
)
def test_the_built_in_client_takes_over_when_the_script_does_not_arrive(
    server, open_page, alice, cdn_answer
):
    page = official_page(open_page, server, alice, cdn_answer)
    # A script that never arrives holds up the window's load event, not the page.
    page.goto("/", wait_until="domcontentloaded")
    chat_ready(page)
    expect(page.locator("[data-chatkit-mount]")).to_have_attribute("data-chatkit-mode", "builtin")
    expect(page.locator("openai-chatkit")).to_have_count(0)


def test_the_built_in_client_follows_the_same_settings(server, open_page, alice):
    page = official_page(open_page, server, alice, lambda route: route.abort())
    page.goto("/")
    app = chat_ready(page)
    expect(page.locator(".ck-greeting")).to_have_text("Hello from the settings")
    expect(page.locator(".ck-prompt")).to_have_text(["Track my order", "Refunds"])
    expect(page.locator(".ck-input")).to_have_attribute("placeholder", "Ask Acme anything")
    expect(page.locator(".ck-disclaimer em")).to_have_text("wrong")
    expect(app).to_have_attribute("data-color-scheme", "dark")
    send_color = page.evaluate(
        "getComputedStyle(document.querySelector('.ck-send')).backgroundColor"
    )
    assert send_color == "rgb(255, 85, 0)"
    model = page.locator(".ck-model")
    assert {"gpt-a", "gpt-b"} <= set(model.locator("option").all_inner_texts())
    model.select_option("gpt-b")
    screenshot(page, "builtin-client-custom-settings")

    with page.expect_request(
        lambda request: (
            request.url.endswith("/chatkit") and "threads.create" in (request.post_data or "")
        )
    ) as sent:
        page.get_by_role("button", name="Refunds").click()
    body = json.loads(sent.value.post_data)
    assert body["params"]["input"]["inference_options"] == {"model": "gpt-b"}
    assert body["params"]["input"]["content"] == [
        {"type": "input_text", "text": "How do refunds work?"}
    ]
    assert sent.value.headers["x-chatkit-locale"] == "de-DE"

    reply = last_reply(page)
    expect(reply.get_by_role("button", name="Retry")).to_be_visible()
    expect(reply.get_by_role("button", name="Good response")).to_have_count(0)
