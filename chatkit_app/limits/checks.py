"""
System checks of the usage limits (registered when ``ChatkitAppConfig.ready``
imports this module): limits that are not negative, a notice share between
0 and 1, prices shaped ``[input, output]``, and a price for every model a
monthly cost limit would otherwise count as free.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from ..conf import chatkit_settings
from ..responders.providers import current_provider
from .policy import KINDS


def _is_price(value: object) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(n, int | float) and not isinstance(n, bool) and n >= 0 for n in value)
    )


@register(Tags.compatibility)
def check_usage_limits(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    for spec in KINDS.values():
        value = getattr(chatkit_settings, f"LIMIT_{spec.setting}")
        if isinstance(value, int | float) and value < 0:
            problems.append(
                Error(
                    f"CHATKIT_LIMIT_{spec.setting} must be 0 (no limit) or more.",
                    id="chatkit.E020",
                )
            )
    share = chatkit_settings.LIMIT_NOTICE_AT
    if isinstance(share, int | float) and not 0 < share <= 1:
        problems.append(
            Error("CHATKIT_LIMIT_NOTICE_AT must be above 0 and at most 1.", id="chatkit.E021")
        )
    prices = chatkit_settings.MODEL_PRICES
    if not isinstance(prices, dict):
        return problems  # chatkit.E001 says so
    for model, price in prices.items():
        if not _is_price(price):
            problems.append(
                Error(
                    f"CHATKIT_MODEL_PRICES[{model!r}] must be [input, output] per million "
                    f"tokens, got {price!r}.",
                    id="chatkit.E022",
                )
            )
    if chatkit_settings.LIMIT_COST_PER_MONTH:
        try:
            provider = current_provider()
        except ImproperlyConfigured:
            return problems  # chatkit.E003 says so
        unpriced = sorted({*provider.models, provider.title_model} - set(prices) - {"offline", ""})
        if unpriced:
            problems.append(
                Warning(
                    "CHATKIT_LIMIT_COST_PER_MONTH is set, but these models have no price, "
                    f"so their use costs nothing against it: {', '.join(unpriced)}.",
                    hint='Add them to CHATKIT_MODEL_PRICES, {"model": [input, output]}.',
                    id="chatkit.W020",
                )
            )
    return problems
