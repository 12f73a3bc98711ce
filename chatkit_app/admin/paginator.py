"""
``EstimatedCountPaginator``: admin pagination without ``COUNT(*)`` on big tables.

Counting every row of a table with millions of messages takes PostgreSQL a
sequential scan on each changelist load. For an unfiltered list the planner's
own estimate (``pg_class.reltuples``, kept current by autovacuum's ANALYZE) is
as good for paging and costs one catalogue lookup. A filtered list is
counted exactly up to ``count_filtered_up_to`` rows: beyond that (half the
items are user messages: 500,000 rows read for the number), it shows the
planner's estimate of the filtered rows, never fewer than were counted.
Small tables and SQLite count exactly.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.admin.views.main import PAGE_VAR
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property


class EstimatedCountPaginator(Paginator):
    # Below this many rows an exact count is cheap, and the estimate (which
    # can be off by the rows changed since the last ANALYZE) is too rough to
    # show people.
    exact_below = 10_000

    # A filtered list is counted exactly up to this many rows (a ``COUNT``
    # over a ``LIMIT``, which stops there), then estimated.
    count_filtered_up_to = 10_000

    # True once ``count`` came from the planner's estimate (the pagination
    # template then says "about N").
    estimated = False

    @cached_property
    def count(self) -> int:
        estimate = self.estimated_count()
        if estimate is not None:
            self.estimated = True
            return estimate
        queryset = self.object_list
        if (
            not isinstance(queryset, QuerySet)
            or connections[queryset.db].vendor != "postgresql"
            or queryset.query.combinator
            or queryset.query.distinct
        ):
            return super().count
        bound = self.count_filtered_up_to
        rows = queryset.order_by().values("pk")
        counted = rows[: bound + 1].count()
        if counted <= bound:
            return counted
        self.estimated = True
        return max(counted, self.planned_rows(rows))

    @staticmethod
    def planned_rows(queryset: QuerySet) -> int:
        """The planner's estimate of ``queryset``'s rows (``EXPLAIN``: no
        row is read)."""
        sql, params = queryset.query.sql_with_params()
        with connections[queryset.db].cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
        if isinstance(plan, str):
            plan = json.loads(plan)
        return int(plan[0]["Plan"]["Plan Rows"])

    def estimated_count(self) -> int | None:
        """The planner's row estimate for an unfiltered queryset on
        PostgreSQL, or None where only an exact count will do."""
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return None
        connection = connections[queryset.db]
        query = queryset.query
        if (
            connection.vendor != "postgresql"
            or query.where
            or query.distinct
            or query.combinator
            or query.is_sliced
        ):
            return None
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                [connection.ops.quote_name(queryset.model._meta.db_table)],
            )
            row = cursor.fetchone()
        # -1: never analysed (PostgreSQL 14+); small: count it exactly.
        if row is None or row[0] < self.exact_below:
            return None
        return int(row[0])


class SearchPaginator(EstimatedCountPaginator):
    """For search results: counts at most ``cap`` matches.

    A common word is in a large share of all items: counting every match
    reads every one of those rows, for a number nobody pages through. The
    count stops at the cap (``COUNT(*)`` over a ``LIMIT``), and the
    pagination says "more than". The cap is ``count_at_most``, or more on a
    later page: enough to cover ``pages_ahead`` pages after the one shown,
    so every page stays reachable from the one before it while the first
    page (what staff look at) counts little.
    """

    count_at_most = 200
    pages_ahead = 4

    # True once the matches reached the cap (the template says "more than").
    capped = False

    def __init__(
        self,
        *args: Any,
        page: int = 1,
        cap: int | None = None,
        counted: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.cap = self.cap_for(page, self.per_page) if cap is None else cap
        #: The count, up to ``cap + 1``, when the caller already made it.
        self.counted = counted

    @classmethod
    def cap_for(cls, page: int, per_page: int) -> int:
        # At least one page ahead: a count of no more than the pages up to
        # this one would show no next page (and Django lists every row of a
        # search it believes fits on one page).
        ahead = max(cls.pages_ahead, 1)
        return max(cls.count_at_most, (max(page, 1) + ahead) * int(per_page))

    @classmethod
    def page_of(cls, request: HttpRequest) -> int:
        try:
            return int(request.GET.get(PAGE_VAR, 1))
        except ValueError:
            return 1

    @cached_property
    def count(self) -> int:
        counted = self.counted
        if counted is None:
            queryset = self.object_list
            if not isinstance(queryset, QuerySet):
                return super().count
            counted = self.count_up_to(queryset, self.cap)
        if counted > self.cap:
            self.capped = True
            return self.cap
        return counted

    def count_up_to(self, queryset: QuerySet, at_most: int) -> int:
        """``queryset``'s rows counted up to ``at_most + 1``."""
        return queryset.order_by().values("pk")[: at_most + 1].count()
