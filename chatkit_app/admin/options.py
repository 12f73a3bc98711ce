"""
What every ChatKit model admin shares: defaults for tables of millions of
rows (``LargeTableAdmin``: no ``COUNT(*)`` on unfiltered lists, no facet
counts), exact id search beside text search, read-only records, and links
between the admin pages.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import quote
from django.contrib.admin.views.main import ChangeList
from django.db.models import Max, Min, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator, smart_split, unescape_string_literal
from django.utils.translation import gettext as _

from ..models import Conversation
from .paginator import EstimatedCountPaginator


class RangeDatesQuerySet(QuerySet):
    """A queryset whose ``dates`` and ``datetimes`` (what the admin's
    ``date_hierarchy`` links are made of) are every year, month or day from
    its first row's to its last's: two ends of the date's index, where
    Django's ``SELECT DISTINCT date_trunc(…)`` reads every row (half a
    second for 500,000 model calls). A period without rows has a link too,
    to an empty list."""

    def dates(self, field_name: str, kind: str, order: str = "ASC") -> list:  # type: ignore[override]
        return self._periods(field_name, kind, order, aware=False, tzinfo=None)

    def datetimes(  # type: ignore[override]
        self, field_name: str, kind: str, order: str = "ASC", tzinfo: Any = None
    ) -> list:
        return self._periods(field_name, kind, order, aware=True, tzinfo=tzinfo)

    def _periods(self, field_name: str, kind: str, order: str, *, aware: bool, tzinfo: Any):
        ends = self.order_by().aggregate(first=Min(field_name), last=Max(field_name))
        if ends["first"] is None:
            return []
        first, last = ends["first"], ends["last"]
        if aware:
            first, last = timezone.localtime(first, tzinfo), timezone.localtime(last, tzinfo)
        day, periods = date(first.year, 1, 1), []
        if kind != "year":
            day = date(first.year, first.month, 1 if kind == "month" else first.day)
        end = last.date() if isinstance(last, datetime) else last
        while day <= end:
            periods.append(day)
            if kind == "year":
                day = date(day.year + 1, 1, 1)
            elif kind == "month":
                day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
            else:
                day += timedelta(days=1)
        if aware:
            periods = [timezone.make_aware(datetime.combine(p, time.min), tzinfo) for p in periods]
        return periods if order == "ASC" else periods[::-1]


class RangeDatesChangeList(ChangeList):
    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet:
        queryset = super().get_queryset(request, exclude_parameters)._chain()
        queryset.__class__ = RangeDatesQuerySet
        return queryset


class LargeTableAdmin(admin.ModelAdmin):
    """Defaults for a table that may hold millions of rows."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    # Facet counts run one COUNT per filter choice over the whole table.
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        # The date hierarchy from the first and last rows, not every row.
        return RangeDatesChangeList

    def action_checkbox(self, obj: Any) -> str:
        # The same HTML as Django's, written directly: Django renders a
        # CheckboxInput through the form renderer's templates for every row,
        # a third of a 50-row list's rendering time.
        label = format_html(_("Select this object for an action - {}"), str(obj))
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            ACTION_CHECKBOX_NAME,
            str(obj.pk),
            label,
        )


class IdSearchMixin:
    """``search_fields`` for words, plus ``search_id_fields`` matched exactly.

    Django's ``=field`` search compiles to ``UPPER(field) = UPPER(term)``,
    which no index serves: OR'd with a text search, it turns a trigram
    index lookup into a scan of every row. An exact match uses the primary
    or foreign key index, and PostgreSQL ORs the bitmaps of all of them.
    """

    search_id_fields: tuple[str, ...] = ()

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        matches, may_have_duplicates = super().get_search_results(  # type: ignore[misc]
            request, queryset, search_term
        )
        term = search_term.strip()
        if not term or not self.search_id_fields:
            return matches, may_have_duplicates
        by_id = Q()
        for name in self.search_id_fields:
            by_id |= Q(**{name: term})
        return matches | queryset.filter(by_id), may_have_duplicates


class ReadOnlyAdmin(IdSearchMixin, LargeTableAdmin):
    """Records of what happened: viewable and deletable, never edited here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def admin_link(obj: Any, text: Any = None) -> str:
    """A link to ``obj``'s admin page (or just the text, for a missing row)."""
    if obj is None:
        return "—"
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)])
    return format_html('<a href="{}">{}</a>', url, text if text is not None else obj)


def search_words(term: str) -> list[str]:
    """Words of a search, quoted phrases kept whole (as Django's admin does)."""
    words = []
    for bit in smart_split(term):
        if bit[0] in "\"'" and bit[0] == bit[-1] and len(bit) > 1:
            bit = unescape_string_literal(bit)
        words.append(bit)
    return words


def conversation_label(conversation: Conversation) -> str:
    return Truncator(conversation.title).chars(60) if conversation.title else conversation.pk
