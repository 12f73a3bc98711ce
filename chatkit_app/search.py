"""
Full-text search of thread items, for staff: the conversation and item
lists of the admin search through here, and so does every list the
dashboard links to.

The syntax is the one people know from search engines (PostgreSQL's
``websearch_to_tsquery``): words must all appear, ``"a quoted phrase"``
appears as written, ``-word`` must not appear, ``this or that`` needs
either; a word ending in ``*`` matches every word it begins (``invoi*``
finds "invoice" and "invoicing").

On PostgreSQL the words are looked up in a GIN index on
``to_tsvector('simple', text)`` (migration 0003), and matches are ranked by
``ts_rank``: a search of a common word over a million items reads the
index, not every row, which a ``LIKE '%word%'`` (even with a trigram index)
cannot do. The ``simple`` configuration lowercases words without stemming
them or dropping stop words: chats are in any language, and staff searching
for "the printer" mean those words. The index expression and
``message_document`` must stay the same for the index to be used.

On SQLite the same searches go to an FTS5 table, ``chatkit_message_fts``
(migration 0005: an external-content index of the items' text, kept by
triggers, with the ``unicode61`` tokenizer lowercasing words and keeping
accents as ``simple`` does), ranked by ``bm25``. A search made only of
exclusions (``-word``), which FTS5 cannot express, and a SQLite without
FTS5, fall back to ``icontains`` on every word, every match ranked the
same: right, but a scan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVectorField
from django.db import connections
from django.db.models import F, FloatField, Func, Q, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.utils.text import smart_split, unescape_string_literal

from .models import Message
from .search_index import FTS_TABLE

#: The text search configuration of the index (migration 0003).
SEARCH_CONFIG = "simple"
#: Name of the rank annotation ``message_search`` adds (higher is better).
RANK = "search_rank"

_WORD = re.compile(r"\w+")


class MessageDocument(Func):
    """``to_tsvector('simple', text)``: the expression the GIN index holds."""

    function = "to_tsvector"
    template = f"%(function)s('{SEARCH_CONFIG}'::regconfig, %(expressions)s)"
    output_field = SearchVectorField()


def message_document() -> MessageDocument:
    return MessageDocument(F("text"))


@dataclass
class ParsedSearch:
    """A search split into what each database can look up."""

    #: Words and quoted phrases that must appear (quotes removed).
    required: list[str] = field(default_factory=list)
    #: Words and phrases that must not appear (``-word``).
    excluded: list[str] = field(default_factory=list)
    #: Words typed with a trailing ``*``, without it.
    prefixes: list[str] = field(default_factory=list)
    #: The rest, as typed, for ``websearch_to_tsquery`` (which ignores ``*``).
    websearch: str = ""


def parse(term: str) -> ParsedSearch:
    parsed = ParsedSearch()
    rest = []
    for bit in smart_split(term.strip()):
        negated = bit.startswith("-") and len(bit) > 1
        body = bit[1:] if negated else bit
        if body[0] in "\"'" and body[0] == body[-1] and len(body) > 1:
            phrase = unescape_string_literal(body)
            (parsed.excluded if negated else parsed.required).append(phrase)
            rest.append(bit)
        elif body.endswith("*") and not negated and _WORD.search(body):
            parsed.prefixes.append(body.rstrip("*"))
        else:
            if body.lower() != "or":
                (parsed.excluded if negated else parsed.required).append(body)
            rest.append(bit)
    parsed.websearch = " ".join(rest)
    return parsed


def _tsquery(parsed: ParsedSearch) -> SearchQuery | None:
    query = None
    if parsed.websearch:
        query = SearchQuery(parsed.websearch, config=SEARCH_CONFIG, search_type="websearch")
    for prefix in parsed.prefixes:
        # A raw tsquery is built from word characters only, so nothing
        # typed can be read as tsquery syntax.
        words = _WORD.findall(prefix)
        raw = " & ".join([*words[:-1], f"{words[-1]}:*"])
        part = SearchQuery(raw, config=SEARCH_CONFIG, search_type="raw")
        query = part if query is None else query & part
    return query


def message_search(*, queryset: QuerySet[Message], term: str) -> QuerySet[Message]:
    """The items of ``queryset`` that match ``term``, annotated with their
    rank as ``search_rank`` (order by ``-search_rank`` for the best first).

    ``queryset`` says what may be seen: pass an owner's items to search
    only theirs. An empty search matches nothing.
    """
    parsed = parse(term)
    if connections[queryset.db].vendor == "postgresql":
        query = _tsquery(parsed)
        if query is None:
            return queryset.none()
        document = message_document()
        return (
            queryset.alias(search_document=document)
            .filter(search_document=query)
            .annotate(**{RANK: SearchRank(document, query)})
        )
    if connections[queryset.db].vendor == "sqlite" and has_fts5(queryset.db):
        match = fts5_query(term)
        if match == "":
            return queryset.none()
        if match is not None:
            return queryset.filter(
                pk__in=RawSQL(f"SELECT id FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s", [match])
            ).annotate(
                **{
                    # bm25 is lower for a better match. The outer table is
                    # named: only the selected list ranks, never a subquery.
                    RANK: RawSQL(
                        f"SELECT -rank FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s "
                        f'AND rowid = "{Message._meta.db_table}".rowid',
                        [match],
                        output_field=FloatField(),
                    )
                }
            )
    words = parsed.required + parsed.prefixes
    if not words and not parsed.excluded:
        return queryset.none()
    condition = Q()
    for word in words:
        condition &= Q(text__icontains=word)
    for word in parsed.excluded:
        condition &= ~Q(text__icontains=word)
    return queryset.filter(condition).annotate(**{RANK: Value(0.0, output_field=FloatField())})


# --- SQLite's FTS5


def has_fts5(using: str = "default") -> bool:
    """Whether the database has the items' FTS5 table (asked once per
    connection: SQLite built without FTS5 has none)."""
    conn = connections[using]
    known = getattr(conn, "_chatkit_fts5", None)
    if known is None or known[0] is not conn.connection:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1 FROM sqlite_master WHERE name = %s", [FTS_TABLE])
            known = (conn.connection, cursor.fetchone() is not None)
        conn._chatkit_fts5 = known
    return known[1]


def _fts5_string(text: str) -> str:
    # An FTS5 string: everything inside is a word or a phrase, never syntax.
    return '"' + text.replace('"', '""') + '"'


def fts5_query(term: str) -> str | None:
    """``term`` as an FTS5 query with the meaning ``websearch_to_tsquery``
    gives it: words and phrases all required, ``or`` between two of them
    either (binding less than the implicit and: ``a b or c`` is ``(a b) or
    c``), ``-word`` excluded, ``word*`` a prefix. ``""`` when there is
    nothing to look for; None when a part is only exclusions, which FTS5
    cannot express (``-word`` alone)."""
    groups: list[tuple[list[str], list[str]]] = [([], [])]
    pending_or = False
    for bit in smart_split(term.strip()):
        negated = bit.startswith("-") and len(bit) > 1
        body = bit[1:] if negated else bit
        if body.lower() == "or" and not negated:
            pending_or = bool(groups[-1][0] or groups[-1][1])
            continue
        prefix = False
        if body[0] in "\"'" and body[0] == body[-1] and len(body) > 1:
            body = unescape_string_literal(body)
        elif body.endswith("*") and not negated:
            prefix, body = True, body.rstrip("*")
        words = _WORD.findall(body)
        if not words:
            continue
        if prefix:
            part = " AND ".join([*map(_fts5_string, words[:-1]), _fts5_string(words[-1]) + "*"])
        else:
            part = _fts5_string(" ".join(words))
        if pending_or:
            groups.append(([], []))
            pending_or = False
        groups[-1][1 if negated else 0].append(part)
    parts = []
    for required, excluded in groups:
        if not required and not excluded:
            continue
        if not required:
            return None
        part = " AND ".join(required)
        if excluded:
            part = f"({part}) NOT ({' OR '.join(excluded)})"
        parts.append(f"({part})")
    return " OR ".join(parts)


#: How many of the newest items ``count_matches`` reads first, per match
#: it counts up to: a word in at least one item in this many is counted
#: from the newest items alone.
RECENT_WINDOW_PER_MATCH = 10


def count_matches(matches: QuerySet[Message], *, at_most: int) -> int:
    """How many items ``matches`` (a ``message_search`` result, perhaps
    filtered further) holds, counted up to ``at_most + 1``: a result above
    ``at_most`` means "more than ``at_most``".

    On PostgreSQL the count must stay cheap for a common word and a rare
    one alike, and no single plan does both. Looking a word up in the GIN
    index collects every match (125,000 for a word in one item in eight of
    a million) before the first can be counted; walking the items newest
    first and testing each stops early for a common word but reads the
    whole table for a rare one, and the planner's estimate of which it is
    can be far off (a prefix ``word:*`` is estimated at 2% of the rows
    without enough statistics; its cost model takes a GIN lookup of a
    common word for cheap). So one statement counts in two steps whose
    cost is bounded either way: first among the newest
    ``RECENT_WINDOW_PER_MATCH * at_most`` items only (``recent_matches``);
    only if those hold ``at_most`` or fewer matches, over all items, which
    the GIN index answers quickly because the word is not common among
    recent items (PostgreSQL runs a subquery in a ``CASE`` branch only if
    that branch is taken).
    """
    rows = matches.order_by().values("pk")
    if connections[rows.db].vendor != "postgresql":
        return rows[: at_most + 1].count()
    recent, recent_params = _recent_sql(rows, at_most=at_most)
    every, params = rows[: at_most + 1].query.sql_with_params()
    with connections[rows.db].cursor() as cursor:
        cursor.execute(
            f"WITH recent AS ({recent}) SELECT CASE WHEN recent.n > %s THEN recent.n "
            f"ELSE (SELECT COUNT(*) FROM ({every}) every_match) END FROM recent",
            [*recent_params, at_most, *params],
        )
        return cursor.fetchone()[0]


def count_recent_matches(matches: QuerySet[Message], *, at_most: int) -> int:
    """How many of the newest ``RECENT_WINDOW_PER_MATCH * at_most`` items
    are in ``matches``, counted up to ``at_most + 1``: more than
    ``at_most`` means the term is common among recent items, so that
    walking the items newest first finds a page of matches soon. Reads
    that many items at most, whatever the term."""
    rows = matches.order_by().values("pk")
    if connections[rows.db].vendor != "postgresql":
        window = RECENT_WINDOW_PER_MATCH * at_most
        newest = Message.objects.using(rows.db).order_by("-created_at", "-pk").values("pk")
        return rows.filter(pk__in=newest[:window])[: at_most + 1].count()
    sql, params = _recent_sql(rows, at_most=at_most)
    with connections[rows.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _recent_sql(rows: QuerySet[Message], *, at_most: int) -> tuple[str, list]:
    """``SELECT COUNT(*) AS n`` of ``rows`` among the newest items, up to
    ``at_most + 1``. The item table in ``rows``' query is replaced by its
    newest rows under the table's own name, so every condition applies as
    written; a condition outside a subquery with a ``LIMIT`` cannot be
    moved into it, so PostgreSQL walks the ``created_at`` index for those
    rows and tests each, never the GIN index."""
    connection = connections[rows.db]
    table = connection.ops.quote_name(Message._meta.db_table)
    sql, params = rows[: at_most + 1].query.sql_with_params()
    head, found, tail = sql.partition(f" FROM {table}")
    if not found or "%s" in head:
        raise ValueError("not a query of the item table")
    newest = (
        f"(SELECT * FROM {table} ORDER BY {connection.ops.quote_name('created_at')} DESC "
        f"LIMIT %s) {table}"
    )
    window = RECENT_WINDOW_PER_MATCH * at_most
    return (
        f"SELECT COUNT(*) AS n FROM ({head} FROM {newest}{tail}) recent_match",
        [window, *params],
    )


def conversations_with_matches(*, term: str, queryset: QuerySet[Message] | None = None):
    """The ids of the conversations with an item matching ``term``, as a
    subquery (``Conversation.objects.filter(pk__in=…)``)."""
    items = Message.objects.all() if queryset is None else queryset
    return message_search(queryset=items.order_by(), term=term).values("conversation_id")
