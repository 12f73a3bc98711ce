"""
What a model call used, added to the user's token and cost budgets: a
receiver of the core's ``usage_recorded`` signal (connected by importing
this module in ``ChatkitAppConfig.ready``). Titles count as well as
answers, and a reply stopped halfway counts what it used so far.
"""

from __future__ import annotations

from math import ceil
from typing import Any

from django.dispatch import receiver

from ..conf import chatkit_settings
from ..models import ModelUsage
from ..signals import usage_recorded
from . import counters, periods
from .policy import Kind, request_limits


def cost_units(model: str, input_tokens: int, output_tokens: int) -> int:
    """The cost of a call in millionths (prices are per million tokens); a
    model without a price costs nothing (``chatkit_check`` warns of it)."""
    price = chatkit_settings.MODEL_PRICES.get(model)
    if not price:
        return 0
    return ceil(input_tokens * float(price[0]) + output_tokens * float(price[1]))


@receiver(usage_recorded, dispatch_uid="chatkit_limits_count_usage")
def count_usage(sender: type[ModelUsage], usage: ModelUsage, **kwargs: Any) -> None:
    limits = request_limits(usage.user)
    now = periods.now()
    if Kind.TOKENS in limits:
        counters.add(usage.user_id, Kind.TOKENS, usage.total_tokens, now)
    if Kind.COST in limits:
        units = cost_units(usage.model, usage.input_tokens, usage.output_tokens)
        counters.add(usage.user_id, Kind.COST, units, now)
