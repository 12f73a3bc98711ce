"""
Each user's usage against their limits, as staff read it: on the user's
admin page, the usage counters' admin page and in ``chatkit_stats``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser

from ..models import UsageCounter
from . import periods
from .counters import used_now
from .periods import MONTH
from .policy import KINDS, format_amount, limits_for


@dataclass(frozen=True)
class UsageLine:
    kind: str
    label: str
    used: int
    limit: int | None
    resets: datetime

    @property
    def share(self) -> float | None:
        return self.used / self.limit if self.limit else None

    def text(self) -> str:
        """``"40 / 50 (80%)"``; a use without a limit is just the amount."""
        used = format_amount(self.kind, self.used)
        if not self.limit:
            return f"{used} (no limit)"
        return f"{used} / {format_amount(self.kind, self.limit)} ({self.share:.0%})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "used": format_amount(self.kind, self.used),
            "limit": format_amount(self.kind, self.limit) if self.limit else None,
            "share": round(self.share, 3) if self.share is not None else None,
            "resets": self.resets.isoformat(),
        }


def usage_lines(
    counters: list[UsageCounter], limits: dict[str, int], now: datetime
) -> list[UsageLine]:
    """One line per kind that is limited or counted, in the kinds' order."""
    by_kind = {counter.kind: counter for counter in counters}
    return [
        UsageLine(
            kind=kind,
            label=UsageCounter.Kind(kind).label,
            used=used_now(by_kind.get(kind), now),
            limit=limits.get(kind),
            resets=spec.period.next_start(now),
        )
        for kind, spec in KINDS.items()
        if kind in limits or kind in by_kind
    ]


def user_usage(user: AbstractBaseUser) -> list[UsageLine]:
    """The user's usage in the current periods against the limits that apply."""
    counters = list(UsageCounter.objects.filter(user=user))
    return usage_lines(counters, limits_for(user), periods.now())


def users_near_limits(*, top: int) -> list[dict[str, Any]]:
    """Users with a limited use in the current periods, the closest to a
    limit first: ``{"user", "usage": [UsageLine.as_dict()...], "share"}``."""
    now = periods.now()
    by_user: dict[int, list[UsageCounter]] = {}
    users: dict[int, AbstractBaseUser] = {}
    # Every current period (minute, day, month) starts in this month.
    counters = UsageCounter.objects.select_related("user").filter(
        used__gt=0, period_start__gte=MONTH.start(now)
    )
    for counter in counters:
        if used_now(counter, now):
            by_user.setdefault(counter.user_id, []).append(counter)
            users[counter.user_id] = counter.user
    rows = []
    for user_id, found in by_user.items():
        lines = [line for line in usage_lines(found, limits_for(users[user_id]), now) if line.limit]
        if lines:
            rows.append(
                {
                    "user": users[user_id].get_username(),
                    "share": max(line.share or 0 for line in lines),
                    "usage": [line.as_dict() for line in lines],
                }
            )
    rows.sort(key=lambda row: (-row["share"], row["user"]))
    return rows[:top]
