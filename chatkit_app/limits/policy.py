"""
Which limits apply to a user: the CHATKIT_LIMIT_* settings, replaced field by
field by the user's groups' overrides (the most generous of them) and then
by the user's own (``UserLimits``, ``GroupLimits``, edited in the admin).

A limit of 0 is no limit. Staff and superusers have none unless
CHATKIT_LIMITS_APPLY_TO_STAFF; ``exempt`` on a user's or one of their
groups' overrides lifts every limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Value

from ..conf import chatkit_settings
from ..models import GroupLimits, UsageCounter, UserLimits
from .periods import DAY, MINUTE, MONTH, Period

Kind = UsageCounter.Kind

#: Cost is counted in millionths of the price list's currency unit.
COST_UNIT = 1_000_000


@dataclass(frozen=True)
class LimitKind:
    kind: str
    setting: str
    period: Period
    #: A turn holds the budget while it runs (see ``UsageCounter.busy_until``):
    #: what a turn costs is only known when it ends.
    budget: bool

    @property
    def field(self) -> str:
        return self.setting.lower()


KINDS: dict[str, LimitKind] = {
    Kind.REQUESTS: LimitKind(Kind.REQUESTS, "REQUESTS_PER_MINUTE", MINUTE, budget=False),
    Kind.TURNS: LimitKind(Kind.TURNS, "TURNS_PER_DAY", DAY, budget=False),
    Kind.TOKENS: LimitKind(Kind.TOKENS, "TOKENS_PER_DAY", DAY, budget=True),
    Kind.COST: LimitKind(Kind.COST, "COST_PER_MONTH", MONTH, budget=True),
}


def to_units(kind: str, value: float | Decimal | int) -> int:
    """A limit as counted: cost in millionths, the others as they are."""
    if kind == Kind.COST:
        return int(Decimal(str(value)) * COST_UNIT)
    return int(value)


def most_generous(values: list[int]) -> int:
    return 0 if 0 in values else max(values)


def limits_for(user: AbstractBaseUser) -> dict[str, int]:
    """``{kind: limit}`` for each limit that applies to ``user`` (none: {})."""
    if not getattr(user, "is_authenticated", False):
        return {}
    if (user.is_staff or user.is_superuser) and not chatkit_settings.LIMITS_APPLY_TO_STAFF:
        return {}
    fields = ["exempt", *(spec.field for spec in KINDS.values())]
    # The user's own overrides and their groups', in one query.
    rows = list(
        UserLimits.objects.filter(user=user)
        .values(*fields, own=Value(True))
        .union(GroupLimits.objects.filter(group__user=user).values(*fields, own=Value(False)))
    )
    if any(row["exempt"] for row in rows):
        return {}
    own = next((row for row in rows if row["own"]), {})
    groups = [row for row in rows if not row["own"]]
    limits = {}
    for kind, spec in KINDS.items():
        value = to_units(kind, getattr(chatkit_settings, f"LIMIT_{spec.setting}"))
        from_groups = [to_units(kind, g[spec.field]) for g in groups if g[spec.field] is not None]
        if from_groups:
            value = most_generous(from_groups)
        if own.get(spec.field) is not None:
            value = to_units(kind, own[spec.field])
        if value > 0:
            limits[kind] = value
    return limits


def request_limits(user: AbstractBaseUser) -> dict[str, int]:
    """``limits_for(user)``, read once per user object. The user a request
    authenticated lives as long as the request: the gate and the usage
    counted when its model calls end share one query."""
    cached = user.__dict__.get("_chatkit_limits")
    if cached is None:
        cached = user.__dict__["_chatkit_limits"] = limits_for(user)
    return cached


def format_amount(kind: str, units: int) -> str:
    """A limit or a use of it as a user reads it."""
    if kind == Kind.COST:
        return f"{Decimal(units) / COST_UNIT:,.2f}"
    return f"{units:,}"
