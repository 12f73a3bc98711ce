"""
Which model provider answers, read from settings.

Two wire formats are supported: OpenAI's Responses API, and the Chat
Completions API that Gemini, OpenRouter, Ollama, vLLM and most others speak
at a base URL. With no key configured the offline development responder
answers instead, so a fresh checkout works without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from ..conf import chatkit_settings

GEMINI_BASE_URL = "https://generativelanguage.googleapis.com/v1beta/openai/"
DEFAULT_MODELS = {"openai": "gpt-4.1-mini", "gemini": "gemini-2.5-flash"}
DEFAULT_TRANSCRIPTION_MODELS = {"openai": "gpt-4o-mini-transcribe", "gemini": "gemini-2.5-flash"}
PROVIDERS = ("openai", "gemini", "openai-compatible", "offline")

WireFormat = Literal["responses", "chat_completions", "offline"]


@dataclass(frozen=True)
class Provider:
    """The provider a request goes to, fully resolved."""

    name: str
    wire: WireFormat
    api_key: str
    base_url: str | None
    model: str
    models: tuple[str, ...]
    title_model: str
    timeout: float
    max_retries: int

    @property
    def offline(self) -> bool:
        return self.wire == "offline"


def provider_name() -> str:
    """The configured provider, or the one the keys present point to."""
    name = chatkit_settings.PROVIDER.strip().lower()
    if name:
        if name not in PROVIDERS:
            raise ImproperlyConfigured(
                f"CHATKIT_PROVIDER must be one of {', '.join(PROVIDERS)}, not {name!r}."
            )
        return name
    if settings.OPENAI_API_KEY:
        return "openai"
    if settings.GEMINI_API_KEY:
        return "gemini"
    if chatkit_settings.API_KEY and chatkit_settings.BASE_URL:
        return "openai-compatible"
    return "offline"


def current_provider() -> Provider:
    """Resolve the provider from settings (cheap; read on every request so
    that settings changes, e.g. in tests, take effect at once)."""
    name = provider_name()
    api_key = chatkit_settings.API_KEY or {
        "openai": settings.OPENAI_API_KEY,
        "gemini": settings.GEMINI_API_KEY,
        "openai-compatible": settings.OPENAI_API_KEY,
    }.get(name, "")
    base_url = chatkit_settings.BASE_URL or (GEMINI_BASE_URL if name == "gemini" else None)
    model = chatkit_settings.MODEL or DEFAULT_MODELS.get(name, "")
    if name == "offline":
        model = "offline"
    models = tuple(chatkit_settings.MODELS) or ((model,) if model else ())
    if model and model not in models:
        models = (model, *models)
    wire: WireFormat = {"openai": "responses", "offline": "offline"}.get(name, "chat_completions")  # type: ignore[assignment]
    return Provider(
        name=name,
        wire=wire,
        api_key=api_key,
        base_url=base_url,
        model=model,
        models=models,
        title_model=chatkit_settings.TITLE_MODEL or model,
        timeout=float(chatkit_settings.REQUEST_TIMEOUT),
        max_retries=int(chatkit_settings.MAX_RETRIES),
    )


def available_models() -> list[str]:
    """The models users may choose in the composer, default first."""
    return list(current_provider().models)


def allowed_model(requested: str | None) -> str:
    """The model to answer with: the user's choice if it is allowed, else the default.

    Raises ``ModelNotAllowed`` for a model outside ``CHATKIT_MODELS``.
    """
    from ..request_errors import ModelNotAllowed

    provider = current_provider()
    if not requested:
        return provider.model
    if requested not in provider.models:
        raise ModelNotAllowed(requested, list(provider.models))
    return requested
