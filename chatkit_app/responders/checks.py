"""
System checks of the model runtime: a provider that can answer (a
production site must not fall back to the offline development responder by
accident), with its key and base URL, and a readable prompt file.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register
from django.core.exceptions import ImproperlyConfigured

from ..conf import chatkit_settings
from .instructions import prompt_file_path
from .providers import current_provider


@register(Tags.compatibility)
def check_model_provider(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """A production site needs a model provider; development may run offline."""
    try:
        provider = current_provider()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="chatkit.E003")]
    explicit_offline = chatkit_settings.PROVIDER.strip().lower() == "offline"
    if provider.offline and not settings.DEBUG and not explicit_offline:
        return [
            Error(
                "No model provider is configured, so the site would answer with the offline "
                "development responder.",
                hint="Set OPENAI_API_KEY or GEMINI_API_KEY (or CHATKIT_API_KEY with "
                "CHATKIT_BASE_URL), or CHATKIT_PROVIDER=offline to run without a model on purpose.",
                id="chatkit.E004",
            )
        ]
    problems: list[CheckMessage] = []
    if not provider.offline and not provider.api_key:
        problems.append(
            Error(
                f"CHATKIT_PROVIDER is {provider.name!r} but no API key is set.",
                hint="Set CHATKIT_API_KEY (or OPENAI_API_KEY / GEMINI_API_KEY).",
                id="chatkit.E005",
            )
        )
    if provider.name == "openai-compatible" and not provider.base_url:
        problems.append(
            Error(
                "CHATKIT_PROVIDER is 'openai-compatible' but CHATKIT_BASE_URL is not set.",
                id="chatkit.E006",
            )
        )
    if chatkit_settings.SYSTEM_PROMPT_FILE:
        path = prompt_file_path(chatkit_settings.SYSTEM_PROMPT_FILE)
        if not path.is_file():
            problems.append(
                Error(f"CHATKIT_SYSTEM_PROMPT_FILE {path} does not exist.", id="chatkit.E007")
            )
    return problems
