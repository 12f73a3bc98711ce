"""
System checks of the reply runs' settings (registered when
``ChatkitAppConfig.ready`` imports this module): a disconnect mode the
server understands, limits that are not negative, a heartbeat that beats.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, Tags, register

from ..conf import chatkit_settings

DISCONNECT_MODES = ("cancel", "continue")


@register(Tags.compatibility)
def check_runs(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    if str(chatkit_settings.DISCONNECT).strip().lower() not in DISCONNECT_MODES:
        problems.append(
            Error(
                f"CHATKIT_DISCONNECT is {chatkit_settings.DISCONNECT!r}: use cancel or continue.",
                id="chatkit.E060",
            )
        )
    for name in ("MAX_BACKGROUND_RUNS", "MAX_RUN_SECONDS"):
        value = getattr(chatkit_settings, name)
        if not isinstance(value, int | float) or value < 0:
            problems.append(
                Error(f"CHATKIT_{name} must be 0 (none/no limit) or more.", id="chatkit.E061")
            )
    beat = chatkit_settings.RUN_HEARTBEAT_SECONDS
    if not isinstance(beat, int | float) or beat <= 0:
        problems.append(
            Error("CHATKIT_RUN_HEARTBEAT_SECONDS must be more than 0.", id="chatkit.E062")
        )
    return problems
