"""
Real-browser fixtures: Debian's headless Chromium driven by Playwright's sync
API, against a live daphne server (see live_daphne.py).

Test modules re-export the fixtures they use (``from .browser import browser
as browser``). Without ``/usr/bin/chromium`` the browser tests skip, except
under ``CI=true``, where a missing browser is a failure: CI must run them.

OpenAI's CDN is blocked in every page by default, so the page falls back to
the built-in client at once (as on an offline machine) whether or not the
machine running the tests can reach the internet.

Pages run under the site's Content-Security-Policy, which refuses ``eval``:
give ``page.wait_for_function`` an arrow function (``"() => …"``), since a
bare expression is polled through ``eval`` inside the page and fails there.

The README's pictures are taken by the tests too (``screenshot(…, docs=…)``),
so they show the product as it is: ``CHATKIT_TEST_UPDATE_SCREENSHOTS=1
scripts/test -m browser`` rewrites them in ``docs/screenshots/`` (small
PNGs); a normal run leaves the tree alone.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from .live_daphne import poll_until

CHROMIUM = os.environ.get("CHATKIT_TEST_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CDN = re.compile(r"^https://cdn\.platform\.openai\.com/")
SCREENSHOTS = Path(settings.BASE_DIR) / "test-output" / "screenshots"
DOCS_SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"
# The README's copies: this wide, in a palette of this many colours.
DOCS_WIDTH = 960
DOCS_COLOURS = 192
# Generous: CI machines run other suites at the same time. A passing test
# never waits this long; it only bounds how long a failing one takes.
TIMEOUT_MS = 15_000


def require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    message = f"{CHROMIUM} is not installed (apt-get install chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; under CI=true the browser tests must run.")
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module."""
    yield from launch_chromium()


# Chromium answers getUserMedia with a fake microphone (a beeping tone),
# without asking: for dictation tests.
FAKE_MICROPHONE = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


def launch_chromium(extra_args: list[str] | tuple[str, ...] = ()) -> Iterator[Any]:
    """Run Chromium for as long as the generator is not closed: the body of a
    module's ``browser`` fixture (override it to pass ``extra_args``)."""
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    # expect() has its own default (5 s), separate from the context's.
    expect.set_options(timeout=TIMEOUT_MS)

    # Playwright's sync API keeps an asyncio loop running on this thread, so
    # Django would refuse the tests' own ORM calls (fixtures, assertions) as
    # "async unsafe". They run strictly between browser calls, never
    # concurrently with it, so allow them for as long as the browser is up.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM, args=[*LAUNCH_ARGS, *extra_args]
            )
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def add_session(context: Any, base_url: str, user: Any) -> None:
    """Sign ``user`` in by giving the browser a session cookie."""
    client = Client()
    client.force_login(user)
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base_url}]
    )


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """``open_page(server, user=alice, path="/")``: a page in a fresh browser
    context (its own cookies and storage). The test fails if the page threw
    an uncaught JavaScript error."""
    opened: list[tuple[Any, list[str]]] = []

    def open_(
        server: Any,
        *,
        user: Any = None,
        path: str | None = "/",
        viewport: tuple[int, int] = (1280, 800),
        block_cdn: bool = True,
        color_scheme: str = "light",
    ) -> Any:
        context = browser.new_context(
            base_url=server.url,
            viewport={"width": viewport[0], "height": viewport[1]},
            color_scheme=color_scheme,
            # No transitions: screenshots show settled layouts, not mid-slide.
            reduced_motion="reduce",
        )
        context.set_default_timeout(TIMEOUT_MS)
        if block_cdn:
            context.route(CDN, lambda route: route.abort())
        if user is not None:
            add_session(context, server.url, user)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        opened.append((context, errors))
        if path is not None:
            page.goto(path)
        return page

    yield open_
    thrown = [error for _, errors in opened for error in errors]
    for context, _ in opened:
        context.close()
    assert not thrown, f"JavaScript errors on the page: {thrown}"


def updating_docs_screenshots() -> bool:
    return os.environ.get("CHATKIT_TEST_UPDATE_SCREENSHOTS", "") not in ("", "0")


def screenshot(page: Any, name: str, *, full_page: bool = False, docs: str = "") -> Path:
    """Save a screenshot under test-output/screenshots/ (look at them).

    ``docs``: this view is also the README's ``docs/screenshots/<docs>.png``,
    rewritten (the viewport, resized and reduced to a palette) only when
    CHATKIT_TEST_UPDATE_SCREENSHOTS is set."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    if docs and updating_docs_screenshots():
        save_docs_screenshot(page.screenshot(), DOCS_SCREENSHOTS / f"{docs}.png")
    return path


def save_docs_screenshot(png: bytes, path: Path) -> None:
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    if image.width > DOCS_WIDTH:
        height = round(image.height * DOCS_WIDTH / image.width)
        image = image.resize((DOCS_WIDTH, height), Image.Resampling.LANCZOS)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.quantize(colors=DOCS_COLOURS, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


# OpenAI's CDN is out of reach: a stand-in for <openai-chatkit> that keeps
# what the page gives it (options with their functions, composer values set),
# so a test can call the functions a real component would call.
OFFICIAL_STUB = """
class StubChatKit extends HTMLElement {
  setOptions(options) {
    window.__chatkitOptions = options;
    window.__composerValues = window.__composerValues || [];
    this.textContent = "Official component";
  }
  async setComposerValue(value) {
    window.__composerValues.push(value);
  }
}
customElements.define("openai-chatkit", StubChatKit);
"""


def official_stub_page(open_page: Callable[..., Any], server: Any, user: Any, path: str) -> Any:
    """``path`` with the official component (the stub above) mounted."""
    page = open_page(server, user=user, path=None, block_cdn=False)
    page.context.route(
        CDN,
        lambda route: route.fulfill(status=200, content_type="text/javascript", body=OFFICIAL_STUB),
    )
    page.goto(path)
    page.wait_for_selector("[data-chatkit-mode=official] openai-chatkit")
    return page


def chat_ready(page: Any) -> Any:
    """Wait until a panel has mounted the built-in client; returns its root."""
    page.wait_for_selector("[data-chatkit-mode=builtin] .ck-app")
    return page.locator(".ck-app").first


def send(page: Any, text: str) -> None:
    """Type ``text`` and press Enter, as a user would once the previous reply
    has finished: while a stream runs the composer shows Stop instead of Send
    and Enter sends nothing (a form the reply shows, such as a question, can
    be on screen before its stream has ended)."""
    from playwright.sync_api import expect

    composer = page.locator(".ck-composer").first
    expect(composer.locator(".ck-send")).to_be_visible()
    box = composer.locator(".ck-input")
    box.fill(text)
    box.press("Enter")


def last_reply(page: Any) -> Any:
    """The newest assistant message, once it has finished streaming."""
    page.wait_for_selector(".ck-item--assistant_message:not(.is-streaming) .ck-actions")
    return page.locator(".ck-item--assistant_message").last


def chatkit_request(kind: str) -> Callable[[Any], bool]:
    """A ``page.expect_request`` predicate: a request to ``/chatkit`` of
    type ``kind`` (``threads.create``, ``threads.add_client_tool_output``…)."""

    def matches(request: Any) -> bool:
        return request.url.endswith("/chatkit") and f'"{kind}"' in (request.post_data or "")

    return matches


def eventually(check: Callable[[], object], timeout: float = 5.0):
    """Poll ``check`` until it returns something truthy, and return its last
    result either way (the server writes after the browser has shown the
    result; the caller asserts)."""
    return poll_until(check, timeout)
