"""
API tokens: listed and revoked here, made only by ``manage.py chatkit_token``
(a token is shown once, when made).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from ..models import ApiToken
from ..tokens import token_revoke
from .filters import TokenStateFilter, UserFilter
from .options import LargeTableAdmin


class ApiTokenAdmin(LargeTableAdmin):
    list_display = ("prefix_display", "name", "user", "state", "created_at", "last_used_at")
    list_filter = (TokenStateFilter, UserFilter, ("created_at", admin.DateFieldListFilter))
    search_fields = ("prefix", "name", "user__username")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    fields = ("prefix_display", "name", "user", "state", "created_at", "last_used_at", "revoked_at")
    readonly_fields = (
        "prefix_display",
        "user",
        "state",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    actions = ("revoke",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A token is shown once, when made; `manage.py chatkit_token USER`
        # is the one place that does it.
        return False

    @admin.display(description="token")
    def prefix_display(self, token: ApiToken) -> str:
        return f"{token.prefix}…"

    @admin.display(description="state", ordering="revoked_at")
    def state(self, token: ApiToken) -> str:
        return "revoked" if token.revoked_at else "active"

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        active = list(queryset.filter(revoked_at__isnull=True))
        for token in active:
            self.log_change(request, token, "Revoked.")
        count = token_revoke(queryset=ApiToken.objects.filter(pk__in=[t.pk for t in active]))
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)
