"""
The periods limits are counted in, all in UTC: a minute, a day, a calendar
month. Each knows when it started and when the next one starts, and says
when a limit resets in words a user reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.utils import timezone


@dataclass(frozen=True)
class Period:
    name: str

    def start(self, now: datetime) -> datetime:
        now = now.astimezone(UTC)
        if self.name == "minute":
            return now.replace(second=0, microsecond=0)
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return day if self.name == "day" else day.replace(day=1)

    def next_start(self, now: datetime) -> datetime:
        start = self.start(now)
        if self.name == "minute":
            return start + timedelta(minutes=1)
        if self.name == "day":
            return start + timedelta(days=1)
        return (start + timedelta(days=32)).replace(day=1)

    def seconds_left(self, now: datetime) -> int:
        """Whole seconds until the next period, at least 1 (for Retry-After)."""
        return max(1, int((self.next_start(now) - now).total_seconds() + 0.999))

    def resets(self, now: datetime) -> str:
        """When the limit resets, as the end of a sentence."""
        if self.name == "minute":
            seconds = self.seconds_left(now)
            return f"try again in {seconds} second{'s' if seconds != 1 else ''}"
        if self.name == "day":
            return "the limit resets at 00:00 UTC"
        return f"the limit resets on {self.next_start(now):%-d %B} at 00:00 UTC"


MINUTE, DAY, MONTH = Period("minute"), Period("day"), Period("month")


def now() -> datetime:
    return timezone.now()
