"""
The dashboard's period: today, the last 7 or 30 days, or dates staff pick,
as whole days of the site's time zone (``TIME_ZONE``), which is also how the
figures are split per day and how the admin's date filters read dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django import forms
from django.utils import timezone

CHOICES = (("today", "Today"), ("7d", "7 days"), ("30d", "30 days"), ("custom", "Custom"))
LENGTHS = {"today": 1, "7d": 7, "30d": 30}
#: The longest custom period, in days: a year of days still fits one chart.
MAX_DAYS = 366


@dataclass(frozen=True)
class Period:
    """Days ``first`` to ``last``, both included."""

    key: str
    first: date
    last: date

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    @property
    def start(self) -> datetime:
        return day_start(self.first)

    @property
    def end(self) -> datetime:
        """The first moment after the period."""
        return day_start(self.last + timedelta(days=1))

    @property
    def label(self) -> str:
        if self.first == self.last:
            return self.first.isoformat()
        return f"{self.first.isoformat()} – {self.last.isoformat()}"


def day_start(day: date) -> datetime:
    """Midnight starting ``day`` in the current time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


class PeriodForm(forms.Form):
    period = forms.ChoiceField(choices=CHOICES, required=False)
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict:
        data = super().clean()
        if not data.get("period") and (data.get("start") or data.get("end")):
            # Dates typed without choosing "Custom": that is what they meant.
            data["period"] = "custom"
        if data.get("period") != "custom":
            return data
        start, end = data.get("start"), data.get("end")
        if start is None or end is None:
            raise forms.ValidationError("A custom period needs a start and an end date.")
        if start > end:
            raise forms.ValidationError("The start date is after the end date.")
        if (end - start).days + 1 > MAX_DAYS:
            raise forms.ValidationError(f"A period is at most {MAX_DAYS} days.")
        return data

    def chosen(self, today: date | None = None) -> Period:
        """The chosen period (call after ``is_valid()``); 7 days by default."""
        today = today or timezone.localdate()
        key = self.cleaned_data.get("period") or "7d"
        if key == "custom":
            return Period(key, self.cleaned_data["start"], self.cleaned_data["end"])
        return Period(key, today - timedelta(days=LENGTHS[key] - 1), today)
