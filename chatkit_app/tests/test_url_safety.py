"""URLs written by models and users become links or images only when they
are http(s) or inline raster images: one rule (``transcript.safe_url``) for
the admin's transcript, the live watch page and the Markdown export."""

from __future__ import annotations

from datetime import datetime

import pytest
from chatkit.types import GeneratedImage, GeneratedImageItem, ThreadMetadata

from chatkit_app import services
from chatkit_app.archive.markdown import item_markdown
from chatkit_app.live.events import item_view
from chatkit_app.models import Message
from chatkit_app.transcript import describe_item, safe_url

pytestmark = pytest.mark.django_db

UNSAFE = [
    "javascript:alert(document.cookie)",
    "JAVASCRIPT:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "\x01javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "java\rscript:alert(1)",
    "javascript\x00:alert(1)",
    "\u00a0javascript:alert(1)",
    "https://example.org/a b",
    "https://example.org/\x7f",
    "data:text/html,<script>alert(1)</script>",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "data:image/svg+xml,<svg onload=alert(1)>",
    "data:,hello",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "//evil.example/x.png",
    "/relative/x.png",
    "https:evil.example",
    "https:/evil.example",
    "http://[::1",
    "",
    None,
    42,
]

UNSAFE_TEXT = [url for url in UNSAFE if isinstance(url, str) and url]

SAFE = [
    ("https://images.example.org/cat.png", "https://images.example.org/cat.png"),
    ("http://example.org/a?b=c#d", "http://example.org/a?b=c#d"),
    ("HTTPS://Example.org/X.png", "https://Example.org/X.png"),
    ("data:image/png;base64,iVBORw0KGgo=", "data:image/png;base64,iVBORw0KGgo="),
    ("DATA:IMAGE/JPEG;base64,/9j/", "data:image/JPEG;base64,/9j/"),
    ("data:image/webp;base64,UklGRg==", "data:image/webp;base64,UklGRg=="),
]


@pytest.mark.parametrize("url", UNSAFE)
def test_scripts_other_schemes_and_disguised_urls_are_not_safe(url):
    assert safe_url(url) == ""


@pytest.mark.parametrize(("url", "expected"), SAFE)
def test_http_and_inline_raster_images_are_safe(url, expected):
    assert safe_url(url) == expected


def generated_image(url: str) -> dict:
    item = GeneratedImageItem(
        id="msg_img",
        thread_id="thr_img",
        created_at=datetime.now(),
        image=GeneratedImage(id="img", url=url),
    )
    return item.model_dump(mode="json")


@pytest.fixture
def image_conversation(alice):
    """A conversation whose generated image points at ``url``."""

    def make(url: str) -> str:
        services.conversation_save(
            owner=alice, thread=ThreadMetadata(id="thr_img", created_at=datetime.now())
        )
        Message.objects.filter(pk="msg_img").delete()
        item = GeneratedImageItem.model_validate(generated_image(url))
        services.message_upsert(owner=alice, conversation_id="thr_img", item=item)
        return "/admin/chatkit_app/conversation/thr_5Fimg/change/"

    return make


@pytest.mark.parametrize(
    "url", ["javascript:alert(document.cookie)", "JAVASCRIPT:alert(1)", "java\tscript:alert(1)"]
)
def test_the_admin_transcript_never_links_a_script_url(client, charlie, image_conversation, url):
    client.force_login(charlie)
    html = client.get(image_conversation(url)).content.decode()
    transcript = html[html.index('aria-label="Transcript"') :]
    assert "<strong>Generated image</strong>" in transcript
    assert "script:" not in transcript.lower().replace("&quot;", '"')
    assert "not shown: its URL is not an http(s) or image link" in transcript


def test_the_admin_transcript_links_http_images_and_shows_inline_ones(
    client, charlie, image_conversation
):
    client.force_login(charlie)
    html = client.get(image_conversation("https://images.example.org/cat.png")).content.decode()
    assert 'href="https://images.example.org/cat.png"' in html
    html = client.get(image_conversation("data:image/png;base64,iVBORw0KGgo=")).content.decode()
    assert '<img src="data:image/png;base64,iVBORw0KGgo="' in html
    html = client.get(image_conversation("data:text/html,<b>x</b>")).content.decode()
    assert "data:text/html" not in html[html.index('aria-label="Transcript"') :]


@pytest.mark.parametrize("url", UNSAFE_TEXT)
def test_the_live_watch_page_gets_no_url_it_could_link(url):
    view = item_view(generated_image(url))
    assert view["image_url"] == ""
    assert view["inline_image"] is False


def test_the_live_watch_page_gets_http_images_and_hears_of_inline_ones():
    assert item_view(generated_image("https://x.example/a.png"))["image_url"] == (
        "https://x.example/a.png"
    )
    inline = item_view(generated_image("data:image/png;base64,AAAA"))
    assert (inline["image_url"], inline["inline_image"]) == ("", True)


@pytest.mark.parametrize("url", UNSAFE_TEXT)
def test_the_markdown_export_never_links_a_script_url(url):
    text = "\n".join(item_markdown(describe_item(generated_image(url))))
    assert "](" not in text
    assert "not shown" in text


def test_the_markdown_export_keeps_an_http_image_as_one_image():
    text = "\n".join(
        item_markdown(describe_item(generated_image("https://x.example/a)[x](javascript:alert(1)")))
    )
    assert "![generated image](https://x.example/a%29%5Bx%5D%28javascript:alert%281%29)" in text
    assert text.count("](") == 1
