"""System check of the chat page: ``CHATKIT_UI`` is read and checked at start-up."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, Tags, register
from django.core.exceptions import ImproperlyConfigured

from .options import ui_settings


@register(Tags.compatibility)
def check_chat_page(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """A mistake in CHATKIT_UI fails ``check`` at start-up, not the first page view."""
    try:
        ui_settings()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="chatkit.E008")]
    return []
