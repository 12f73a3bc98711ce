"""
Usage limits in the admin: each user's and group's overrides, edited inline
on their pages; the user's usage against their limits on the user's page;
and the usage counters, read-only, with each one's limit.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from ..limits import periods
from ..limits.counters import used_now
from ..limits.policy import format_amount, limits_for
from ..limits.selectors import user_usage
from ..models import GroupLimits, UsageCounter, UserLimits
from .filters import UserFilter
from .options import ReadOnlyAdmin

LIMIT_FIELDS = (
    "exempt",
    ("requests_per_minute", "turns_per_day"),
    ("tokens_per_day", "cost_per_month"),
)


class UserLimitsInline(admin.StackedInline):
    model = UserLimits
    fields = LIMIT_FIELDS
    max_num = 1
    verbose_name_plural = "usage limits (empty fields inherit the groups' and the settings')"


class GroupLimitsInline(admin.StackedInline):
    model = GroupLimits
    fields = LIMIT_FIELDS
    max_num = 1
    verbose_name_plural = "usage limits of the members (empty fields inherit the settings)"


def usage_table(user: Any) -> str:
    """The user's use of each limit this period, with links to the details."""
    query = urlencode({"user": user.get_username()})
    links = format_html(
        '<p><a href="{}?{}">Model calls</a> · <a href="{}?{}">Usage counters</a></p>',
        reverse("admin:chatkit_app_modelusage_changelist"),
        query,
        reverse("admin:chatkit_app_usagecounter_changelist"),
        query,
    )
    lines = user_usage(user)
    if not lines:
        return format_html("<p>No limits apply, and nothing is counted.</p>{}", links)
    rows = format_html_join(
        "",
        "<tr><th>{}</th><td>{}</td><td>resets {} UTC</td></tr>",
        ((line.label, line.text(), f"{line.resets:%Y-%m-%d %H:%M}") for line in lines),
    )
    return format_html('<table class="chatkit-usage">{}</table>{}', rows, links)


def with_limits(user_admin: type[admin.ModelAdmin]) -> type[admin.ModelAdmin]:
    """The site's user admin, with the limits inline and the usage shown."""

    class UserWithLimitsAdmin(user_admin):  # type: ignore[valid-type, misc]
        inlines = (*user_admin.inlines, UserLimitsInline)
        readonly_fields = (*user_admin.readonly_fields, "chatkit_usage")

        def get_fieldsets(self, request: HttpRequest, obj: Any = None):
            fieldsets = super().get_fieldsets(request, obj)
            if obj is None:
                return fieldsets
            return (*fieldsets, ("Usage this period", {"fields": ("chatkit_usage",)}))

        @admin.display(description="usage against limits")
        def chatkit_usage(self, user: Any) -> str:
            return usage_table(user)

    UserWithLimitsAdmin.__name__ = user_admin.__name__
    return UserWithLimitsAdmin


def with_group_limits(group_admin: type[admin.ModelAdmin]) -> type[admin.ModelAdmin]:
    class GroupWithLimitsAdmin(group_admin):  # type: ignore[valid-type, misc]
        inlines = (*group_admin.inlines, GroupLimitsInline)

    GroupWithLimitsAdmin.__name__ = group_admin.__name__
    return GroupWithLimitsAdmin


def register_inlines(site: admin.AdminSite) -> None:
    """Add the limits to whatever admin the site has for users and groups."""
    for model, extend in ((get_user_model(), with_limits), (Group, with_group_limits)):
        current = site._registry.get(model)
        if current is None:
            continue
        site.unregister(model)
        site.register(model, extend(type(current)))


class UsageCounterAdmin(ReadOnlyAdmin):
    """What each user used of each limit in its current period."""

    list_display = ("user", "kind", "used_now", "limit", "period_start", "held", "updated_at")
    list_filter = ("kind", UserFilter)
    search_fields = ("user__username",)
    list_select_related = ("user",)
    # The primary key's order: one counter row per user and limit is
    # written on every request, so no other index is kept up to date.
    ordering = ("-id",)
    raw_id_fields = ("user",)

    def get_queryset(self, request: HttpRequest):
        self._limits: dict[int, dict[str, int]] = {}
        return super().get_queryset(request)

    def _limit(self, counter: UsageCounter) -> int | None:
        # One lookup per user on the page, not per counter.
        limits = getattr(self, "_limits", {})
        if counter.user_id not in limits:
            limits[counter.user_id] = limits_for(counter.user)
        return limits[counter.user_id].get(counter.kind)

    @admin.display(description="used this period")
    def used_now(self, counter: UsageCounter) -> str:
        return format_amount(counter.kind, used_now(counter, periods.now()))

    @admin.display(description="limit")
    def limit(self, counter: UsageCounter) -> str:
        limit = self._limit(counter)
        if not limit:
            return "none"
        used = used_now(counter, periods.now())
        return f"{format_amount(counter.kind, limit)} ({used / limit:.0%} used)"

    @admin.display(description="reply in flight", boolean=True)
    def held(self, counter: UsageCounter) -> bool:
        return counter.busy_until is not None and counter.busy_until > periods.now()
