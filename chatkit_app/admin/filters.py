"""
Admin list filters that stay cheap on tables with millions of rows.

Django's default filters for a foreign key or a plain text column list every
distinct value (all users; ``SELECT DISTINCT`` over all messages) on every
page load. These take typed input instead, or offer a fixed list of choices
known without asking the database.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, get_args

from chatkit.types import ThreadItem
from django.contrib import admin
from django.db.models import QuerySet
from django.http import QueryDict

from ..models import ModelUsage


class TextInputFilter(admin.SimpleListFilter):
    """A filter that is a text box: ``?<parameter_name>=<typed value>``
    matched exactly against ``lookup`` (an ORM path, served by an index)."""

    template = "admin/chatkit_app/text_input_filter.html"
    lookup = ""
    placeholder = ""

    def lookups(self, request, model_admin) -> Sequence[tuple[str, str]]:
        return ()

    def has_output(self) -> bool:
        return True

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        value = (self.value() or "").strip()
        return queryset.filter(**{self.lookup: value}) if value else queryset

    def choices(self, changelist) -> Iterator[dict[str, Any]]:
        # The other parameters of the current list go along as hidden fields,
        # so typing an owner keeps the status filter and the search.
        others = changelist.get_query_string(remove=[self.parameter_name, "p"])
        yield {
            "parameter_name": self.parameter_name,
            "value": self.value() or "",
            "placeholder": self.placeholder,
            "hidden": [
                (name, value)
                for name, values in QueryDict(others.lstrip("?")).lists()
                for value in values
            ],
            "clear_query_string": changelist.get_query_string(remove=[self.parameter_name]),
        }


class OwnerFilter(TextInputFilter):
    title = "owner"
    parameter_name = "owner"
    lookup = "owner__username"
    placeholder = "username"


class UserFilter(TextInputFilter):
    title = "user"
    parameter_name = "user"
    lookup = "user__username"
    placeholder = "username"


class ModelNameFilter(TextInputFilter):
    title = "model"
    parameter_name = "model"
    lookup = "model"
    placeholder = "e.g. gpt-4.1-mini"


class AssistantFilter(TextInputFilter):
    title = "assistant"
    parameter_name = "assistant"
    lookup = "assistant"
    placeholder = "e.g. tasks"


class ChoicesFilter(admin.SimpleListFilter):
    """Exact match on ``parameter_name`` against a fixed list of values."""

    values: Sequence[str] = ()

    def lookups(self, request, model_admin) -> list[tuple[str, str]]:
        return [(value, value.replace("_", " ")) for value in self.values]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(**{self.parameter_name: value}) if value else queryset


def _item_types() -> list[str]:
    union = get_args(ThreadItem)[0]
    return sorted(member.model_fields["type"].default for member in get_args(union))


class ItemTypeFilter(ChoicesFilter):
    title = "item type"
    parameter_name = "type"
    values = _item_types()


class RoleFilter(ChoicesFilter):
    title = "role"
    parameter_name = "role"
    values = ("user", "assistant", "person", "tool", "system")


class ProviderFilter(ChoicesFilter):
    title = "provider"
    parameter_name = "provider"

    def lookups(self, request, model_admin) -> list[tuple[str, str]]:
        from ..responders.providers import PROVIDERS

        self.values = PROVIDERS
        return super().lookups(request, model_admin)


class HasErrorFilter(admin.SimpleListFilter):
    title = "outcome"
    parameter_name = "failed"

    def lookups(self, request, model_admin) -> list[tuple[str, str]]:
        return [("no", "Succeeded"), ("yes", "Failed")]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(ModelUsage.failed())
        if self.value() == "no":
            return queryset.exclude(ModelUsage.failed())
        return queryset


class TokenStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin) -> list[tuple[str, str]]:
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


class LastActivityFilter(admin.DateFieldListFilter):
    """Today / past 7 days / … on ``updated_at``, which the store bumps on
    every item: when the conversation was last active."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.title = "last activity"
