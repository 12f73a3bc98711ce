"""
Voice input: the composer's dictation sends audio, we return its text.

The clip is checked before any provider sees it (size, type, and duration
read from the audio itself with PyAV, since browsers' MediaRecorder WebM
files carry no duration header). OpenAI and most compatible providers take
it at ``/audio/transcriptions``; Gemini's compatible API has no such
endpoint, so it gets the audio as an ``input_audio`` part of a chat message.
"""

from __future__ import annotations

import base64
import io
import logging
import time

import av
from asgiref.sync import sync_to_async
from chatkit.types import AudioInput, TranscriptionResult

from .. import services
from ..conf import chatkit_settings
from ..context import RequestContext
from ..db import db_call
from ..request_errors import ChatKitRequestError
from .model_clients import openai_client
from .provider_errors import describe_failure
from .providers import DEFAULT_TRANSCRIPTION_MODELS, Provider, current_provider

logger = logging.getLogger(__name__)

# What browsers record (webm, ogg, mp4) plus common uploads.
AUDIO_FORMATS = {
    "audio/webm": "webm",
    "audio/ogg": "ogg",
    "audio/mp4": "mp4",
    "audio/mpeg": "mp3",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
}
GEMINI_TRANSCRIBE_PROMPT = (
    "Transcribe this audio exactly. Reply with the transcription only, no commentary."
)


def audio_duration(data: bytes) -> float:
    """Seconds of audio in ``data``, from its packets' timestamps."""
    try:
        with av.open(io.BytesIO(data)) as container:
            if not container.streams.audio:
                raise ChatKitRequestError("The recording has no audio.", code="invalid_audio")
            stream = container.streams.audio[0]
            end = 0.0
            for packet in container.demux(stream):
                if packet.pts is not None and packet.time_base is not None:
                    end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
            return end
    except av.error.FFmpegError as exc:
        raise ChatKitRequestError(
            "The recording could not be read as audio.", code="invalid_audio"
        ) from exc


async def check_audio(audio: AudioInput) -> str:
    """Refuse clips that are too big, too long or not audio; return the format."""
    limit = chatkit_settings.TRANSCRIPTION_MAX_BYTES
    if len(audio.data) > limit:
        raise ChatKitRequestError(
            f"The recording is too large ({len(audio.data)} bytes; the limit is {limit}).",
            status=413,
            code="audio_too_large",
        )
    audio_format = AUDIO_FORMATS.get(audio.media_type.lower())
    if audio_format is None:
        raise ChatKitRequestError(
            f"Recordings of type {audio.media_type!r} are not supported.",
            status=415,
            code="unsupported_audio_type",
        )
    seconds = await sync_to_async(audio_duration, thread_sensitive=False)(audio.data)
    if seconds > chatkit_settings.TRANSCRIPTION_MAX_SECONDS:
        raise ChatKitRequestError(
            f"The recording is too long ({seconds:.0f} s; the limit is "
            f"{chatkit_settings.TRANSCRIPTION_MAX_SECONDS} s).",
            status=413,
            code="audio_too_long",
        )
    return audio_format


def transcription_model(provider: Provider) -> str:
    return (
        chatkit_settings.TRANSCRIPTION_MODEL
        or DEFAULT_TRANSCRIPTION_MODELS.get(provider.name)
        or DEFAULT_TRANSCRIPTION_MODELS["openai"]
    )


async def transcribe(audio: AudioInput, context: RequestContext) -> TranscriptionResult:
    provider = current_provider()
    if provider.offline:
        raise ChatKitRequestError(
            "Voice input needs a model provider; none is configured.",
            status=501,
            code="not_supported",
        )
    audio_format = await check_audio(audio)
    model = transcription_model(provider)
    client = openai_client(provider)
    started = time.monotonic()
    tokens = (0, 0)
    try:
        if provider.name == "gemini":
            completion = await client.chat.completions.create(
                model=model,
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": GEMINI_TRANSCRIBE_PROMPT},
                            {
                                "type": "input_audio",
                                "input_audio": {
                                    "data": base64.b64encode(audio.data).decode(),
                                    "format": audio_format,
                                },
                            },
                        ],
                    }
                ],
            )
            text = completion.choices[0].message.content or ""
            if completion.usage:
                tokens = (completion.usage.prompt_tokens, completion.usage.completion_tokens)
        else:
            result = await client.audio.transcriptions.create(
                model=model,
                file=(f"speech.{audio_format}", audio.data, audio.media_type),
            )
            text = result.text
            usage = getattr(result, "usage", None)
            if usage is not None and getattr(usage, "input_tokens", None) is not None:
                tokens = (usage.input_tokens, usage.output_tokens)
    except Exception as exc:
        failure = describe_failure(exc)
        logger.warning(
            "Transcription failed (%s) for user %s: %r", failure.kind, context.user.pk, exc
        )
        await _record(context, provider, model, started, (0, 0), failure.kind)
        raise ChatKitRequestError(failure.message, status=502, code="provider_error") from exc
    await _record(context, provider, model, started, tokens, "")
    return TranscriptionResult(text=text.strip())


async def _record(
    context: RequestContext,
    provider: Provider,
    model: str,
    started: float,
    tokens: tuple[int, int],
    error: str,
) -> None:
    await db_call(services.usage_record)(
        user=context.user,
        thread_id="",
        message_id="",
        provider=provider.name,
        model=model,
        purpose="transcription",
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        latency_ms=int((time.monotonic() - started) * 1000),
        error=error,
    )
