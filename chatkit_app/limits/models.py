"""
The usage limits' rows: per-user and per-group overrides of the
CHATKIT_LIMIT_* settings (``UserLimits``, ``GroupLimits``, edited in the
admin) and the shared counters of what each user used (``UsageCounter``).
Registered through ``chatkit_app.models``, which imports them.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models


class UsageLimitsBase(models.Model):
    """Limits that replace the CHATKIT_LIMIT_* settings for a user or a group.

    Empty inherits (the user's groups, then the settings); 0 means no limit.
    Enforced by ``chatkit_app/limits/``."""

    requests_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Requests to /chatkit per minute. Empty: inherit; 0: none."
    )
    turns_per_day = models.PositiveIntegerField(
        null=True, blank=True, help_text="Messages answered per day (UTC). Empty: inherit; 0: none."
    )
    tokens_per_day = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Model tokens per day (UTC). Empty: inherit; 0: none."
    )
    cost_per_month = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Cost per calendar month, priced by CHATKIT_MODEL_PRICES. "
        "Empty: inherit; 0: none.",
    )
    exempt = models.BooleanField(default=False, help_text="No limits at all.")

    class Meta:
        abstract = True


class UserLimits(UsageLimitsBase):
    """One user's own limits; they win over their groups' and the settings."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chatkit_limits"
    )

    class Meta:
        verbose_name = "usage limits"
        verbose_name_plural = "usage limits"

    def __str__(self) -> str:
        return f"Limits of {self.user}"


class GroupLimits(UsageLimitsBase):
    """Limits for a group's members; a member of several gets the most generous."""

    group = models.OneToOneField(
        "auth.Group", on_delete=models.CASCADE, related_name="chatkit_limits"
    )

    class Meta:
        verbose_name = "usage limits"
        verbose_name_plural = "usage limits"

    def __str__(self) -> str:
        return f"Limits of group {self.group}"


class UsageCounter(models.Model):
    """What one user used of one limit in its current period (a minute, a
    UTC day, a calendar month), shared by every server process.

    One row per user and kind: a write in a new period starts it again from
    zero (``period_start`` moves on), so there is nothing to prune. Updated
    only with conditional ``UPDATE``s, which the database applies one at a
    time per row."""

    class Kind(models.TextChoices):
        REQUESTS = "requests", "Requests per minute"
        TURNS = "turns", "Messages per day"
        TOKENS = "tokens", "Tokens per day"
        COST = "cost", "Cost per month"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chatkit_usage_counters"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    period_start = models.DateTimeField()
    # Cost in millionths of the currency of CHATKIT_MODEL_PRICES.
    used = models.PositiveBigIntegerField(default=0)
    # A turn in flight holds a token or cost budget until it ends (or this
    # time passes, should its process die), so concurrent turns cannot
    # overspend it.
    busy_until = models.DateTimeField(null=True, blank=True)
    # The user was told they are near this limit, in this period.
    notified = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user", "kind"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "kind"], name="chatkit_usage_counter_user_kind"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.kind}: {self.used}"
