"""Attachments in the built-in client, in a real headless Chromium against a
live daphne: pick an image, see its preview, send it, see it in the sent
message and again after a reload; remove a file before sending (the server
forgets it); files the server refuses say why on their chip; the composer
holds no more files than a message may carry."""

from __future__ import annotations

import io
import json
import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from chatkit_app.models import Attachment, Message

from .browser import browser as browser
from .browser import chat_ready, eventually, last_reply, screenshot, send
from .browser import open_page as open_page
from .live_daphne import start_daphne

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

MAX_BYTES = 200_000
MAX_COUNT = 3


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, tmp_path_factory):
    env = {
        "CHATKIT_UI": json.dumps({"attachments": True}),
        "CHATKIT_TEST_MEDIA_ROOT": str(tmp_path_factory.mktemp("media")),
        "CHATKIT_ATTACHMENT_MAX_BYTES": str(MAX_BYTES),
        "CHATKIT_ATTACHMENT_MAX_COUNT": str(MAX_COUNT),
        "CHATKIT_DEV_RESPONDER_DELAY": "0",
    }
    with start_daphne(env) as live:
        yield live


def png(color: str = "orange", size: tuple[int, int] = (640, 400)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def file(name: str, mime_type: str, data: bytes) -> dict:
    return {"name": name, "mimeType": mime_type, "buffer": data}


def attach(page, *files: dict) -> None:
    page.locator(".ck-file-input").set_input_files(list(files))


def image_loaded(locator) -> bool:
    return locator.evaluate("image => image.complete && image.naturalWidth > 0")


def test_an_image_is_previewed_sent_and_still_there_after_a_reload(server, open_page, alice):
    page = open_page(server, user=alice)
    chat_ready(page)
    attach(page, file("sunset.png", "image/png", png()))

    chip = page.locator(".ck-chip")
    expect(chip).to_have_count(1)
    expect(chip).to_have_class(re.compile(r"\bis-ready\b"))
    expect(chip.locator(".ck-chip-name")).to_have_text("sunset.png")
    thumb = chip.locator("img.ck-chip-thumb")
    expect(thumb).to_have_attribute(
        "src", re.compile(r"/chatkit/attachments/atc_\w+/preview\?token=")
    )
    page.wait_for_function("() => document.querySelector('.ck-chip-thumb').naturalWidth > 0")
    screenshot(page, "attachments-chip-ready")

    send(page, "What colour is this sunset?")
    last_reply(page)
    sent = page.locator(".ck-item--user_message").last
    expect(sent.locator(".ck-bubble")).to_have_text("What colour is this sunset?")
    image = sent.locator("img.ck-attachment-image")
    expect(image).to_have_attribute("alt", "sunset.png")
    page.wait_for_function(
        "() => document.querySelector('.ck-item--user_message img.ck-attachment-image')"
        "?.naturalWidth > 0"
    )
    expect(page.locator(".ck-chip")).to_have_count(0)
    expect(page.locator(".ck-tray")).to_be_hidden()
    screenshot(page, "attachments-sent-image")

    stored = Attachment.objects.get(owner=alice, name="sunset.png")
    assert stored.conversation_id is not None
    message = Message.objects.get(conversation_id=stored.conversation_id, role="user")
    assert [a["id"] for a in message.data["attachments"]] == [stored.pk]

    page.reload()
    chat_ready(page)
    image = page.locator(".ck-item--user_message img.ck-attachment-image")
    expect(image).to_have_count(1)
    page.wait_for_function(
        "() => document.querySelector('.ck-item--user_message img.ck-attachment-image')"
        "?.naturalWidth > 0"
    )
    assert image_loaded(image)


def test_a_file_removed_before_sending_is_gone_from_the_server(server, open_page, alice):
    page = open_page(server, user=alice)
    chat_ready(page)
    attach(page, file("notes.txt", "text/plain", b"Remember the milk.\n"))
    chip = page.locator(".ck-chip")
    expect(chip).to_have_class(re.compile(r"\bis-ready\b"))
    expect(chip.locator(".ck-chip-icon svg")).to_have_count(1)  # a file: an icon, no preview
    attachment_id = chip.get_attribute("data-attachment-id")
    assert Attachment.objects.filter(pk=attachment_id, owner=alice).exists()

    page.get_by_role("button", name="Remove notes.txt").click()
    expect(page.locator(".ck-chip")).to_have_count(0)
    assert eventually(lambda: not Attachment.objects.filter(pk=attachment_id).exists())

    # Nothing is left to send with the next message.
    with page.expect_request(lambda request: "threads.create" in (request.post_data or "")) as sent:
        send(page, "Just text now")
    assert json.loads(sent.value.post_data)["params"]["input"]["attachments"] == []
    last_reply(page)
    expect(page.locator(".ck-item--user_message .ck-message-attachments")).to_have_count(0)


def test_files_the_server_refuses_say_why_on_their_chip(server, open_page, alice):
    page = open_page(server, user=alice)
    chat_ready(page)
    huge = png(size=(20, 20)) + b"\0" * MAX_BYTES
    attach(
        page,
        # Refused at attachments.create, before a byte is sent:
        file("huge.png", "image/png", huge),
        file("tool.exe", "application/x-msdownload", b"MZ\x90\x00" + b"\0" * 100),
        # Refused at the upload, by its content:
        file("fake.png", "image/png", b"this is not a picture at all"),
    )
    chips = page.locator(".ck-chip")
    expect(chips).to_have_count(3)
    expect(page.locator(".ck-chip.is-failed")).to_have_count(3)
    errors = page.locator(".ck-chip-error")
    expect(errors.nth(0)).to_contain_text(
        f"The file is too large ({len(huge)} bytes; the limit is {MAX_BYTES})"
    )
    expect(errors.nth(1)).to_contain_text("'application/x-msdownload' cannot be attached")
    expect(errors.nth(2)).to_contain_text("is not a type that can be attached")
    screenshot(page, "attachments-refused")
    assert not Attachment.objects.filter(owner=alice).exists()

    # Refused files are not sent; the send button is not held up by them.
    send(page, "Sending without them")
    last_reply(page)
    assert not Attachment.objects.filter(owner=alice).exists()
    expect(page.locator(".ck-chip")).to_have_count(0)


def test_the_composer_holds_no_more_files_than_a_message_may_carry(server, open_page, alice):
    page = open_page(server, user=alice)
    chat_ready(page)
    attach(page, *[file(f"photo{n}.png", "image/png", png()) for n in range(MAX_COUNT + 1)])
    expect(page.locator(".ck-chip")).to_have_count(MAX_COUNT)
    expect(page.locator(".ck-alert--error")).to_contain_text(
        f"A message can carry at most {MAX_COUNT} files."
    )
    expect(page.locator(".ck-chip.is-ready")).to_have_count(MAX_COUNT)
    assert Attachment.objects.filter(owner=alice).count() == MAX_COUNT


def test_a_dropped_file_is_attached(server, open_page, alice):
    page = open_page(server, user=alice)
    chat_ready(page)
    page.evaluate(
        """() => {
            const data = new DataTransfer();
            data.items.add(new File(["# Plan\\n\\nShip it."], "plan.md", {type: ""}));
            const composer = document.querySelector(".ck-composer");
            for (const type of ["dragover", "drop"]) {
                const init = {dataTransfer: data, bubbles: true, cancelable: true};
                composer.dispatchEvent(new DragEvent(type, init));
            }
        }"""
    )
    chip = page.locator(".ck-chip")
    expect(chip).to_have_class(re.compile(r"\bis-ready\b"))
    expect(chip.locator(".ck-chip-name")).to_have_text("plan.md")
    # The browser gives .md no type: the client declares the accepted one.
    assert Attachment.objects.get(owner=alice).mime_type == "text/markdown"


def test_a_narrow_sidebar_keeps_room_to_type_beside_the_attachment_tools(server, open_page, alice):
    page = open_page(server, user=alice, path="/demo/?layout=sidebar", viewport=(1024, 720))
    chat_ready(page)
    attach(page, file("a-rather-long-file-name-for-a-chip.png", "image/png", png()))
    expect(page.locator(".ck-chip.is-ready")).to_have_count(1)
    input_box = page.locator(".ck-input").bounding_box()
    assert input_box["width"] > 150
    chip_box = page.locator(".ck-chip").bounding_box()
    composer_box = page.locator(".ck-composer").bounding_box()
    assert chip_box["x"] + chip_box["width"] <= composer_box["x"] + composer_box["width"]
    screenshot(page, "attachments-sidebar")


def test_an_image_can_be_sent_without_words(server, open_page, alice):
    page = open_page(server, user=alice)
    chat_ready(page)
    attach(page, file("receipt.png", "image/png", png("white")))
    expect(page.locator(".ck-chip.is-ready")).to_have_count(1)
    page.get_by_role("button", name="Send").click()
    last_reply(page)
    sent = page.locator(".ck-item--user_message")
    expect(sent.locator(".ck-bubble")).to_have_count(0)
    expect(sent.locator("img.ck-attachment-image")).to_have_attribute("alt", "receipt.png")
    message = Message.objects.get(role="user", conversation__owner=alice)
    assert message.data["content"] == []
    assert len(message.data["attachments"]) == 1
