"""Voice input (``input.transcribe``): limits checked before the provider is
called, OpenAI's transcription endpoint or Gemini's audio input, clear errors."""

from __future__ import annotations

import base64

import pytest

from chatkit_app.models import ModelUsage
from chatkit_app.tokens import token_create

from .audio import tone
from .chatkit_client import post_chatkit

pytestmark = pytest.mark.django_db


@pytest.fixture
def transcribe(alice):
    _, raw = token_create(user=alice)

    def send(data: bytes, mime_type: str = "audio/webm;codecs=opus"):
        body = {
            "type": "input.transcribe",
            "params": {"audio_base64": base64.b64encode(data).decode(), "mime_type": mime_type},
        }
        return post_chatkit(body, HTTP_AUTHORIZATION=f"Bearer {raw}")

    return send


@pytest.fixture
def openai_provider(settings, fake_provider):
    settings.CHATKIT_PROVIDER = "openai"
    settings.CHATKIT_API_KEY = fake_provider.api_key
    settings.CHATKIT_BASE_URL = fake_provider.base_url
    settings.CHATKIT_MAX_RETRIES = 0
    return fake_provider


@pytest.mark.parametrize(
    ("container", "mime"),
    [("webm", "audio/webm;codecs=opus"), ("ogg", "audio/ogg"), ("mp4", "audio/mp4")],
)
def test_dictation_returns_the_providers_transcript(openai_provider, transcribe, container, mime):
    openai_provider.transcript = "add milk to my list"
    response = transcribe(tone(container, 2), mime)
    assert response.status_code == 200
    assert response.json() == {"text": "add milk to my list"}

    request = openai_provider.requests[-1]
    assert request.path == "/v1/audio/transcriptions"
    assert request.body["model"] == "gpt-4o-mini-transcribe"
    assert request.body["file"]["content_type"] == mime.split(";")[0]
    assert request.body["file"]["filename"] == f"speech.{container}"
    assert ModelUsage.objects.get().purpose == "transcription"


def test_gemini_gets_the_audio_as_chat_input(settings, fake_provider, transcribe):
    settings.CHATKIT_PROVIDER = "gemini"
    settings.CHATKIT_API_KEY = fake_provider.api_key
    settings.CHATKIT_BASE_URL = fake_provider.base_url
    fake_provider.transcript = "hola"
    clip = tone("ogg", 1)

    assert transcribe(clip, "audio/ogg").json() == {"text": "hola"}
    request = fake_provider.requests[-1]
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == "gemini-2.5-flash"
    audio_part = request.body["messages"][0]["content"][1]
    assert audio_part["input_audio"] == {"data": base64.b64encode(clip).decode(), "format": "ogg"}


def test_a_clip_over_the_size_limit_is_413_and_never_sent(openai_provider, transcribe, settings):
    settings.CHATKIT_TRANSCRIPTION_MAX_BYTES = 1000
    response = transcribe(tone("webm", 2))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "audio_too_large"
    assert openai_provider.requests == []


def test_a_clip_over_the_duration_limit_is_413_and_never_sent(
    openai_provider, transcribe, settings
):
    settings.CHATKIT_TRANSCRIPTION_MAX_SECONDS = 2
    response = transcribe(tone("webm", 4))
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "audio_too_long"
    assert "4 s" in error["message"]
    assert openai_provider.requests == []


def test_a_non_audio_type_is_415(openai_provider, transcribe):
    response = transcribe(b"GIF89a....", "image/gif")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_audio_type"


def test_bytes_that_are_not_audio_are_400(openai_provider, transcribe):
    response = transcribe(b"\x1a\x45\xdf\xa3 definitely not a webm file" * 10)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_audio"
    assert openai_provider.requests == []


def test_base64_that_does_not_decode_is_400(openai_provider, alice):
    _, raw = token_create(user=alice)
    body = {
        "type": "input.transcribe",
        "params": {"audio_base64": "@@@not base64@@@", "mime_type": "audio/webm"},
    }
    response = post_chatkit(body, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 400


def test_a_provider_failure_is_a_readable_502(openai_provider, transcribe):
    openai_provider.fail(500, "stack trace with secrets", for_non_streaming=True)
    response = transcribe(tone("webm", 1))
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "provider_error"
    assert "internal error" in error["message"]
    assert "secrets" not in error["message"]
    assert ModelUsage.objects.get().error == "server_error"


def test_without_a_provider_dictation_is_501(settings, transcribe):
    settings.OPENAI_API_KEY = settings.GEMINI_API_KEY = ""
    response = transcribe(tone("webm", 1))
    assert response.status_code == 501
    assert "model provider" in response.json()["error"]["message"]
