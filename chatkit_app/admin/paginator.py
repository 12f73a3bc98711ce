"""
``EstimatedCountPaginator``: admin pagination without ``COUNT(*)`` on big tables.

Counting every row of a table with millions of messages takes PostgreSQL a
sequential scan on each changelist load. For an unfiltered list the planner's
own estimate (``pg_class.reltuples``, kept current by autovacuum's ANALYZE) is
as good for paging and costs one catalogue lookup. Filtered lists, small
tables and SQLite count exactly.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property


class EstimatedCountPaginator(Paginator):
    # Below this many rows an exact count is cheap, and the estimate (which
    # can be off by the rows changed since the last ANALYZE) is too rough to
    # show people.
    exact_below = 10_000

    # True once ``count`` came from the planner's estimate (the pagination
    # template then says "about N").
    estimated = False

    @cached_property
    def count(self) -> int:
        estimate = self.estimated_count()
        if estimate is not None:
            self.estimated = True
            return estimate
        return super().count

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
    """For search results: counts at most ``count_at_most`` matches.

    A common word is in a large share of all items: counting every match
    reads every one of those rows (a bitmap heap scan of most of the
    table), for a number nobody pages through. The count stops at the cap
    (``COUNT(*)`` over a ``LIMIT``), and the pagination says "more than".
    """

    count_at_most = 10_000

    # True once the matches reached the cap (the template says "more than").
    capped = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        counted = queryset.order_by()[: self.count_at_most + 1].count()
        if counted > self.count_at_most:
            self.capped = True
            return self.count_at_most
        return counted
