"""
System checks (``manage.py check``) for the ChatKit settings.

They run at start-up and in ``check --deploy``, so a misconfigured
deployment says what is wrong before the first request fails.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, Tags, register

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
