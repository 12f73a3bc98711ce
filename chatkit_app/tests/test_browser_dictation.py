"""Dictation in the built-in client, in a real headless Chromium with its fake
microphone (a tone) against a live daphne and the fake model provider: record,
and the transcription lands in the composer; a refused clip or a provider
failure is explained inline."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from .browser import FAKE_MICROPHONE, chat_ready, launch_chromium, screenshot
from .browser import open_page as open_page
from .conftest import fake_provider_env
from .live_daphne import start_daphne

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

MAX_SECONDS = 3


@pytest.fixture(scope="module")
def browser():
    yield from launch_chromium(FAKE_MICROPHONE)


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, fake_provider_server):
    env = fake_provider_env(fake_provider_server, "responses")
    env["CHATKIT_UI"] = json.dumps({"dictation": True})
    env["CHATKIT_TRANSCRIPTION_MAX_SECONDS"] = str(MAX_SECONDS)
    with start_daphne(env) as live:
        yield live


def record(page, seconds: float = 1.2, screenshot_name: str = "") -> None:
    mic = page.get_by_role("button", name="Dictate")
    mic.click()
    stop = page.get_by_role("button", name="Stop dictating")
    expect(stop).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".ck-dictation-status")).to_contain_text("Listening")
    page.wait_for_timeout(seconds * 1000)
    if screenshot_name:
        screenshot(page, screenshot_name)
    stop.click()


def test_dictated_words_appear_in_the_composer(server, open_page, alice, fake_provider):
    fake_provider.transcript = "add milk to my shopping list"
    page = open_page(server, user=alice)
    chat_ready(page)
    composer = page.locator(".ck-input")
    composer.fill("Please")
    record(page, screenshot_name="dictation-recording")
    expect(composer).to_have_value("Please add milk to my shopping list")
    expect(page.get_by_role("button", name="Dictate")).to_have_attribute("aria-pressed", "false")
    expect(page.locator(".ck-dictation-status")).to_have_text("")
    expect(page.locator(".ck-alert--error")).to_have_count(0)

    [request] = [r for r in fake_provider.requests if "audio/transcriptions" in r.path]
    upload = request.body["file"]
    assert upload["content_type"] == "audio/webm"
    assert upload["bytes"] > 1000  # a real recording, not an empty clip
    # Nothing is sent until the user says so.
    expect(page.locator(".ck-item")).to_have_count(0)


def test_a_provider_failure_is_explained_and_the_text_kept(server, open_page, alice, fake_provider):
    fake_provider.fail(500, "upstream exploded", for_non_streaming=True)
    page = open_page(server, user=alice)
    chat_ready(page)
    page.locator(".ck-input").fill("Keep me")
    record(page, seconds=0.6)
    alert = page.locator(".ck-alert--error")
    expect(alert).to_contain_text("Could not transcribe the recording:")
    expect(alert).not_to_contain_text("upstream exploded")
    expect(page.locator(".ck-input")).to_have_value("Keep me")
    expect(page.get_by_role("button", name="Dictate")).to_be_enabled()
    screenshot(page, "dictation-error")


def test_a_recording_stops_by_itself_within_the_length_limit(
    server, open_page, alice, fake_provider
):
    fake_provider.transcript = "short and sweet"
    page = open_page(server, user=alice)
    chat_ready(page)
    page.get_by_role("button", name="Dictate").click()
    expect(page.locator(".ck-dictation-status")).to_contain_text("Listening")
    # Never stopped by hand: the clip ends before the server's limit, so it is accepted.
    expect(page.locator(".ck-input")).to_have_value("short and sweet")
    expect(page.locator(".ck-alert--error")).to_have_count(0)
