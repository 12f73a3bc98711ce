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
from typing import Any, TypeVar

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Exists, Model, OuterRef, QuerySet, Value

from ..conf import chatkit_settings
from ..models import GroupLimits, UsageCounter, UserLimits
from ..tokens import UserPreload
from .periods import DAY, MINUTE, MONTH, Period

Kind = UsageCounter.Kind

M = TypeVar("M", bound=Model)

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


#: The columns of an override row (``UserLimits``, ``GroupLimits``) a limit reads.
OVERRIDE_FIELDS = ("exempt", *(spec.field for spec in KINDS.values()))

#: Set by ``preload_limits`` on each user it reads: their own override row
#: (or None) and whether any group of theirs has one.
_PRELOADED = "_chatkit_limits_preloaded"
_GROUPS_HAVE_LIMITS = "_chatkit_groups_have_limits"


def _without_limits(user: AbstractBaseUser) -> bool:
    if not getattr(user, "is_authenticated", False):
        return True
    return (user.is_staff or user.is_superuser) and not chatkit_settings.LIMITS_APPLY_TO_STAFF


def limits_for(user: AbstractBaseUser) -> dict[str, int]:
    """``{kind: limit}`` for each limit that applies to ``user`` (none: {})."""
    if _without_limits(user):
        return {}
    # The user's own overrides and their groups', in one query.
    rows = list(
        UserLimits.objects.filter(user=user)
        .values(*OVERRIDE_FIELDS, own=Value(True))
        .union(
            GroupLimits.objects.filter(group__user=user).values(*OVERRIDE_FIELDS, own=Value(False))
        )
    )
    own = next((row for row in rows if row["own"]), None)
    return limits_from_overrides(own, [row for row in rows if not row["own"]])


def limits_from_overrides(
    own: dict[str, Any] | None, groups: list[dict[str, Any]]
) -> dict[str, int]:
    """The limits of a user with these override rows (``OVERRIDE_FIELDS``)."""
    if (own is not None and own["exempt"]) or any(row["exempt"] for row in groups):
        return {}
    own = own or {}
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


def preload_limits(queryset: QuerySet[M], user: str = "user") -> QuerySet[M]:
    """``queryset``, whose rows have a user at ``user``, reading in the same
    query what ``request_limits`` needs of that user: their own overrides
    (joined) and whether any of their groups has overrides (a subquery).

    A user with no group overrides, nearly everyone, then costs the limits
    no query of their own (bearer-token requests: ``TOKEN_PRELOAD``, which
    ``apps.py`` plugs into the token query). Call ``keep_preloaded_limits``
    on each user the query returns."""
    return queryset.select_related(f"{user}__chatkit_limits").annotate(
        **{_GROUPS_HAVE_LIMITS: Exists(GroupLimits.objects.filter(group__user=OuterRef(user)))}
    )


def keep_preloaded_limits(user: AbstractBaseUser, row: Model) -> None:
    """Keep for ``request_limits`` what ``preload_limits`` read with ``row``
    about ``user``; with group overrides, their query runs when needed."""
    if getattr(row, _GROUPS_HAVE_LIMITS):
        return
    try:
        own_row = user.chatkit_limits  # type: ignore[attr-defined]
    except UserLimits.DoesNotExist:
        own = None
    else:
        own = {name: getattr(own_row, name) for name in OVERRIDE_FIELDS}
    user.__dict__[_PRELOADED] = own


#: The limits read with a bearer token: the limiter, which every /chatkit
#: request meets, then has nothing to read for a user without group overrides.
TOKEN_PRELOAD = UserPreload(
    prepare=preload_limits, keep=lambda token: keep_preloaded_limits(token.user, token)
)


def request_limits(user: AbstractBaseUser) -> dict[str, int]:
    """``limits_for(user)``, read once per user object. The user a request
    authenticated lives as long as the request: the gate and the usage
    counted when its model calls end share one query (none, if it was
    preloaded with the user: ``preload_limits``)."""
    known = known_limits(user)
    if known is None:
        known = user.__dict__["_chatkit_limits"] = limits_for(user)
    return known


def known_limits(user: AbstractBaseUser) -> dict[str, int] | None:
    """``request_limits(user)`` if it needs no query (read before, preloaded,
    or no limits apply to such a user), else None. Safe on the event loop."""
    known = user.__dict__.get("_chatkit_limits")
    if known is None:
        if _without_limits(user):
            known = {}
        elif _PRELOADED in user.__dict__:
            known = limits_from_overrides(user.__dict__[_PRELOADED], [])
        else:
            return None
        user.__dict__["_chatkit_limits"] = known
    return known


def format_amount(kind: str, units: int) -> str:
    """A limit or a use of it as a user reads it."""
    if kind == Kind.COST:
        return f"{Decimal(units) / COST_UNIT:,.2f}"
    return f"{units:,}"
