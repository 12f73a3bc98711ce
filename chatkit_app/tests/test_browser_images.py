"""A thread's ``allowed_image_domains`` (SDK thread metadata) in a real
headless Chromium against a live daphne: the built-in client loads images
(in replies' Markdown, widgets and generated images) only from the hosts it
names, shows the others as a link-less placeholder with their alt text, and
never requests them. A local image server stands for two outside hosts:
``localhost`` (allowed) and ``127.0.0.1`` (not), on its own port, both in
the page's ``img-src`` so only the thread's setting decides."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    GeneratedImage,
    GeneratedImageItem,
    ImageAttachment,
    InferenceOptions,
    UserMessageItem,
    UserMessageTextContent,
    WidgetItem,
)
from chatkit.widgets import Card, Image, Text
from PIL import Image as PILImage
from playwright.sync_api import expect

from chatkit_app import services
from chatkit_app.models import Conversation

from .browser import browser as browser
from .browser import chat_ready, screenshot
from .browser import open_page as open_page
from .live_daphne import start_daphne

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


class ImageHost:
    """A real HTTP server answering every path with a small PNG, recording the paths."""

    def __init__(self) -> None:
        out = io.BytesIO()
        PILImage.new("RGB", (40, 30), "orange").save(out, format="PNG")
        body = out.getvalue()
        self.paths: list[str] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                host.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def allowed(self, name: str) -> str:
        return f"http://localhost:{self.port}/{name}"

    def other(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"


@pytest.fixture(scope="module")
def images() -> Iterator[ImageHost]:
    host = ImageHost()
    yield host
    host.server.shutdown()
    host.server.server_close()


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, images):
    sources = [f"http://localhost:{images.port}", f"http://127.0.0.1:{images.port}"]
    env = {"CSP_EXTRA_SOURCES": json.dumps({"img-src": sources}), "CHATKIT_UI": "{}"}
    with start_daphne(env) as live:
        yield live


def thread_with_images(owner, images: ImageHost, thread_id: str, domains: list[str] | None):
    Conversation.objects.create(
        id=thread_id, owner=owner, title="Pictures", allowed_image_domains=domains
    )
    start = datetime.now() - timedelta(minutes=5)
    items = [
        UserMessageItem(
            id=f"{thread_id}_q",
            thread_id=thread_id,
            created_at=start,
            content=[UserMessageTextContent(text="Show me pictures")],
            attachments=[
                ImageAttachment(
                    id=f"atc_{thread_id}",
                    name="holiday.png",
                    mime_type="image/png",
                    preview_url=images.other("holiday.png"),
                )
            ],
            inference_options=InferenceOptions(),
        ),
        AssistantMessageItem(
            id=f"{thread_id}_a",
            thread_id=thread_id,
            created_at=start + timedelta(seconds=1),
            content=[
                AssistantMessageContent(
                    text=f"A kitten: ![a kitten]({images.allowed('kitten.png')})\n\n"
                    f"A tracker: ![a tracking pixel]({images.other('tracker.png')})"
                )
            ],
        ),
        WidgetItem(
            id=f"{thread_id}_w",
            thread_id=thread_id,
            created_at=start + timedelta(seconds=2),
            widget=Card(
                children=[
                    Text(value="Charts"),
                    Image(src=images.allowed("chart.png"), alt="a chart"),
                    Image(src=images.other("map.png"), alt="a map"),
                ]
            ),
        ),
        GeneratedImageItem(
            id=f"{thread_id}_g",
            thread_id=thread_id,
            created_at=start + timedelta(seconds=3),
            image=GeneratedImage(id="img_1", url=images.other("generated.png")),
        ),
    ]
    for item in items:
        services.message_upsert(owner=owner, conversation_id=thread_id, item=item)


def loaded(page, alt: str) -> bool:
    return page.locator(f'img[alt="{alt}"]').evaluate("img => img.complete && img.naturalWidth > 0")


def test_images_load_only_from_the_domains_the_thread_allows(server, open_page, alice, images):
    thread_with_images(alice, images, "thr_limited", ["localhost"])
    images.paths.clear()
    page = open_page(server, user=alice, path="/threads/thr_limited")
    chat_ready(page)
    reply = page.locator(".ck-item--assistant_message")
    expect(reply.locator('img[alt="a kitten"]')).to_be_visible()
    page.wait_for_function("() => document.querySelector('img[alt=\"a kitten\"]').naturalWidth > 0")
    assert loaded(page, "a kitten")
    expect(reply.get_by_role("img", name="Image not shown: a tracking pixel")).to_have_text(
        "Image not shown: a tracking pixel"
    )
    widget = page.locator(".ck-item--widget")
    expect(widget.locator('img[alt="a chart"]')).to_be_visible()
    expect(widget.get_by_role("img", name="Image not shown: a map")).to_be_visible()
    generated = page.locator(".ck-item--generated_image")
    expect(generated.get_by_role("img", name="Image not shown: Generated image")).to_be_visible()
    # An attachment whose preview is on another host shows as a file.
    expect(page.locator(".ck-attachment--file")).to_have_text("holiday.png")
    # The placeholders are not links, and the other host was never asked.
    assert page.locator(".ck-image-blocked a, a .ck-image-blocked").count() == 0
    page.wait_for_function("() => document.querySelector('img[alt=\"a chart\"]').naturalWidth > 0")
    assert sorted(images.paths) == ["/chart.png", "/kitten.png"]
    screenshot(page, "images-allowed-domains")


def test_a_thread_without_the_setting_loads_images_from_anywhere_the_policy_allows(
    server, open_page, alice, images
):
    thread_with_images(alice, images, "thr_open", None)
    images.paths.clear()
    page = open_page(server, user=alice, path="/threads/thr_open")
    chat_ready(page)
    for alt in (
        "a kitten",
        "a tracking pixel",
        "a chart",
        "a map",
        "Generated image",
        "holiday.png",
    ):
        expect(page.locator(f'img[alt="{alt}"]')).to_be_visible()
    expect(page.locator(".ck-image-blocked")).to_have_count(0)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.ck-app img')].every(i => i.naturalWidth > 0)"
    )
    assert sorted(images.paths) == [
        "/chart.png",
        "/generated.png",
        "/holiday.png",
        "/kitten.png",
        "/map.png",
        "/tracker.png",
    ]
