"""
System checks (``manage.py check``) for the ChatKit settings.

They run at start-up and in ``check --deploy``, so a misconfigured
deployment says what is wrong before the first request fails.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, Tags, register

from .conf import DEFAULTS, chatkit_settings


@register(Tags.compatibility)
def check_setting_types(app_configs: Any, **kwargs: Any) -> list[Error]:
    """Every CHATKIT_* setting has the type of its default."""
    errors = []
    for name, default in DEFAULTS.items():
        value = getattr(chatkit_settings, name)
        expected: type | tuple[type, ...] = type(default)
        if isinstance(default, float):
            expected = (int, float)
        elif isinstance(default, list | tuple):
            expected = (list, tuple)
        if default is not None and not isinstance(value, expected):
            errors.append(
                Error(
                    f"CHATKIT_{name} must be {type(default).__name__}, got {type(value).__name__}.",
                    id="chatkit.E001",
                )
            )
    for name in ("MAX_REQUEST_BYTES", "MAX_PAGE_SIZE"):
        value = getattr(chatkit_settings, name)
        if isinstance(value, int) and value <= 0:
            errors.append(Error(f"CHATKIT_{name} must be positive.", id="chatkit.E002"))
    return errors


@register(Tags.compatibility)
def check_model_provider(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """A production site needs a model provider; development may run offline."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    from .providers import current_provider

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
        from .instructions import prompt_file_path

        path = prompt_file_path(chatkit_settings.SYSTEM_PROMPT_FILE)
        if not path.is_file():
            problems.append(
                Error(f"CHATKIT_SYSTEM_PROMPT_FILE {path} does not exist.", id="chatkit.E007")
            )
    return problems


@register(Tags.compatibility)
def check_chat_page(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """A mistake in CHATKIT_UI fails ``check`` at start-up, not the first page view."""
    from django.core.exceptions import ImproperlyConfigured

    from .ui import ui_settings

    try:
        ui_settings()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="chatkit.E008")]
    return []
