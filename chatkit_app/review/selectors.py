"""
The review queue: answers that went wrong and conversations staff should
look at, newest first, from four sources:

- ``negative``: answers a user gave a thumbs down;
- ``failed``: answers whose model call failed (``ModelUsage.failed()``; a
  reply the user stopped did not fail);
- ``interrupted``: answers whose stream ended before they were finished
  (``Message.interrupted``: failed mid-way, or stopped);
- ``flagged``: conversations from ``conversations_flagged()``.

Fast at millions of rows without counting anything: each source is one
query that walks its own partial index (migration 0007) newest first and
stops after a page, filtered on the way; the page is the newest of those
few rows (merged here), and the next page starts after the last one shown
(a keyset cursor, never an OFFSET). An answer found by several sources on
one page is shown once, with every reason.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce

from .. import search
from ..conf import chatkit_settings
from ..models import Annotation, Conversation, Feedback, Handoff, Message, ModelUsage

#: The sources, in the order the queue breaks ties of the same time.
SOURCES = ("negative", "failed", "interrupted", "flagged")
SOURCE_LABELS = {
    "negative": "Thumbs down",
    "failed": "Failed",
    "interrupted": "Interrupted",
    "flagged": "Flagged",
}
#: The ``label`` filter's value for answers nobody has annotated yet.
NOT_ANNOTATED = "-"
#: At most this many waiting handoffs are listed (the oldest wait longest).
HANDOFFS_LISTED = 1_000


def review_labels() -> list[str]:
    """The labels staff may give an answer (``CHATKIT_REVIEW_LABELS``)."""
    return [str(label) for label in chatkit_settings.REVIEW_LABELS if str(label).strip()]


def conversations_flagged() -> QuerySet[Conversation]:
    """The conversations the queue's ``flagged`` source lists, annotated
    with ``flagged_on`` (when each entered the queue; the queue orders and
    pages by it): flagged by staff, or waiting for the person their user
    asked for (``handoff/``).

    Waiting handoffs are few (taking one over ends the wait), so their ids
    are read first: the condition stays an OR of two index lookups instead
    of a join over every conversation.
    """
    waiting = list(
        Handoff.objects.filter(state=Handoff.State.REQUESTED)
        .order_by("-requested_at")
        .values_list("conversation_id", flat=True)[:HANDOFFS_LISTED]
    )
    return Conversation.objects.filter(Q(flagged_at__isnull=False) | Q(pk__in=waiting)).annotate(
        flagged_on=Coalesce("flagged_at", "handoff__requested_at")
    )


@dataclass(frozen=True)
class QueueFilters:
    """What the queue is narrowed to; empty values filter nothing."""

    source: str = ""
    assistant: str = ""
    model: str = ""
    label: str = ""
    start: datetime | None = None
    end: datetime | None = None  # exclusive
    search: str = ""


@dataclass(frozen=True)
class Cursor:
    """The last entry of a page: the next page starts after it."""

    at: datetime
    source: str
    pk: str

    def encode(self) -> str:
        raw = json.dumps([self.at.isoformat(), self.source, self.pk])
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor | None:
        """None for anything that is not a cursor this module wrote."""
        try:
            padded = value + "=" * (-len(value) % 4)
            at, source, pk = json.loads(base64.urlsafe_b64decode(padded.encode()))
            moment = datetime.fromisoformat(at)
        except (ValueError, TypeError):
            return None
        if source not in SOURCES or not isinstance(pk, str) or moment.tzinfo is None:
            return None
        return cls(at=moment, source=source, pk=pk)


@dataclass
class QueueEntry:
    """One line of the queue: an answer (or a conversation, for flags and
    for failures before any word was written) and why it is there."""

    at: datetime
    source: str
    pk: str
    conversation_id: str
    answer_id: str = ""
    #: Every source that listed this answer on this page, newest first.
    sources: list[str] = field(default_factory=list)
    # Filled by ``queue_page`` for the page's entries only.
    conversation: Conversation | None = None
    answer: Message | None = None
    usage: ModelUsage | None = None
    annotations: list[Annotation] = field(default_factory=list)
    feedback: list[Feedback] = field(default_factory=list)
    # Set by the queue page: where the annotate form posts ("" when the
    # entry has no answer to annotate), and the viewer's own annotation.
    annotate_url: str = ""
    mine: Annotation | None = None

    @property
    def source_labels(self) -> list[str]:
        return [SOURCE_LABELS[source] for source in self.sources]


@dataclass
class QueuePage:
    entries: list[QueueEntry]
    #: Where the next page starts, or None on the last page.
    next_cursor: Cursor | None


# --- one query per source ---------------------------------------------------------
# Each returns (queryset, time field, pk field, conversation field, answer
# field), filtered by everything but time and cursor, which ``_newest``
# applies the same way to all.


def _answer_conditions(filters: QueueFilters, answer: str) -> Q:
    """Filters on the answer the row is about (``answer``: its id's field)."""
    condition = Q()
    if filters.assistant or filters.model:
        usage = ModelUsage.objects.filter(message_id=OuterRef(answer))
        if filters.assistant:
            usage = usage.filter(assistant=filters.assistant)
        if filters.model:
            usage = usage.filter(model=filters.model)
        condition &= Q(Exists(usage))
    return condition & _label_condition(filters, Q(answer_id=OuterRef(answer)))


def _label_condition(filters: QueueFilters, match: Q) -> Q:
    if not filters.label:
        return Q()
    if filters.label == NOT_ANNOTATED:
        return ~Q(Exists(Annotation.objects.filter(match)))
    return Q(Exists(Annotation.objects.filter(match, label=filters.label)))


def _search_condition(filters: QueueFilters, conversation: str) -> Q:
    if not filters.search:
        return Q()
    return Q(**{f"{conversation}__in": search.conversations_with_matches(term=filters.search)})


def _negative(filters: QueueFilters) -> tuple[QuerySet, str, str, str, str]:
    qs = Feedback.objects.filter(kind=Feedback.Kind.NEGATIVE).filter(
        _answer_conditions(filters, "message_id"), _search_condition(filters, "conversation_id")
    )
    return qs, "created_at", "pk", "conversation_id", "message_id"


def _failed(filters: QueueFilters) -> tuple[QuerySet, str, str, str, str]:
    # The same condition as the partial index chatkit_usage_failed.
    qs = ModelUsage.objects.filter(ModelUsage.failed(), purpose="response").filter(
        conversation__isnull=False
    )
    if filters.assistant:
        qs = qs.filter(assistant=filters.assistant)
    if filters.model:
        qs = qs.filter(model=filters.model)
    qs = qs.filter(
        _label_condition(filters, Q(answer_id=OuterRef("message_id"))),
        _search_condition(filters, "conversation_id"),
    )
    return qs, "created_at", "pk", "conversation_id", "message_id"


def _interrupted(filters: QueueFilters) -> tuple[QuerySet, str, str, str, str]:
    # The same condition as the partial index chatkit_message_interrupted.
    qs = Message.objects.filter(interrupted=True, role="assistant").filter(
        _answer_conditions(filters, "pk"), _search_condition(filters, "conversation_id")
    )
    return qs, "created_at", "pk", "conversation_id", "pk"


def _flagged(filters: QueueFilters) -> tuple[QuerySet, str, str, str, str]:
    qs = conversations_flagged()
    if filters.assistant or filters.model:
        usage = ModelUsage.objects.filter(conversation_id=OuterRef("pk"))
        if filters.assistant:
            usage = usage.filter(assistant=filters.assistant)
        if filters.model:
            usage = usage.filter(model=filters.model)
        qs = qs.filter(Exists(usage))
    qs = qs.filter(
        _label_condition(filters, Q(conversation_id=OuterRef("pk"))),
        _search_condition(filters, "pk"),
    )
    return qs, "flagged_on", "pk", "pk", ""


SOURCE_QUERIES: dict[str, Callable[[QueueFilters], tuple[QuerySet, str, str, str, str]]] = {
    "negative": _negative,
    "failed": _failed,
    "interrupted": _interrupted,
    "flagged": _flagged,
}


def _newest(
    source: str, filters: QueueFilters, cursor: Cursor | None, limit: int
) -> list[QueueEntry]:
    """The newest ``limit`` rows of one source after ``cursor``, in the
    queue's order: time descending, then the order of ``SOURCES``, then
    primary key descending."""
    qs, at, pk, conversation, answer = SOURCE_QUERIES[source](filters)
    if filters.start is not None:
        qs = qs.filter(**{f"{at}__gte": filters.start})
    if filters.end is not None:
        qs = qs.filter(**{f"{at}__lt": filters.end})
    if cursor is not None:
        mine, theirs = SOURCES.index(source), SOURCES.index(cursor.source)
        if mine < theirs:  # ties of the cursor's time came before it
            qs = qs.filter(**{f"{at}__lt": cursor.at})
        elif mine > theirs:  # ties of its time come after it
            qs = qs.filter(**{f"{at}__lte": cursor.at})
        else:
            # A range the index serves, then the tie on the cursor's time.
            key = _pk_value(source, cursor.pk)
            qs = qs.filter(**{f"{at}__lte": cursor.at}).exclude(
                **{at: cursor.at, f"{pk}__gte": key}
            )
    fields = [at, pk, conversation] + ([answer] if answer else [])
    rows = qs.order_by(f"-{at}", f"-{pk}").values_list(*fields)[:limit]
    return [
        QueueEntry(
            at=row[0],
            source=source,
            pk=str(row[1]),
            conversation_id=row[2],
            answer_id=(row[3] or "") if answer else "",
            sources=[source],
        )
        for row in rows
    ]


# Sources whose rows have integer primary keys (the others: SDK ids).
_INTEGER_KEYS = {"negative", "failed"}


def _pk_value(source: str, pk: str) -> int | str:
    if source in _INTEGER_KEYS:
        try:
            return int(pk)
        except ValueError:
            return 0
    return pk


def _order(entry: QueueEntry) -> tuple[Any, ...]:
    # Descending time and key, ascending source: sort ascending on this.
    return (
        _Reversed(entry.at),
        SOURCES.index(entry.source),
        _Reversed(_pk_value(entry.source, entry.pk)),
    )


class _Reversed:
    """Sorts its value in reverse (primary keys, newest first)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Reversed) -> bool:
        return self.value > other.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and self.value == other.value


def queue_page(
    *, filters: QueueFilters, cursor: Cursor | None = None, page_size: int = 50
) -> QueuePage:
    """A page of the queue after ``cursor``, with each entry's answer,
    conversation, usage, feedback and annotations loaded (a fixed number of
    queries whatever the page size)."""
    sources = [filters.source] if filters.source in SOURCES else list(SOURCES)
    candidates: list[QueueEntry] = []
    for source in sources:
        candidates.extend(_newest(source, filters, cursor, page_size + 1))
    candidates.sort(key=_order)
    has_more = len(candidates) > page_size
    shown = candidates[:page_size]
    next_cursor = (
        Cursor(at=shown[-1].at, source=shown[-1].source, pk=shown[-1].pk) if has_more else None
    )
    return QueuePage(entries=_load(_merge(shown)), next_cursor=next_cursor)


def _merge(entries: Iterable[QueueEntry]) -> list[QueueEntry]:
    """One entry per answer: the newest, with the reasons of the others."""
    merged: list[QueueEntry] = []
    by_answer: dict[str, QueueEntry] = {}
    for entry in entries:
        first = by_answer.get(entry.answer_id) if entry.answer_id else None
        if first is None:
            merged.append(entry)
            if entry.answer_id:
                by_answer[entry.answer_id] = entry
        elif entry.source not in first.sources:
            first.sources.append(entry.source)
    return merged


def _load(entries: list[QueueEntry]) -> list[QueueEntry]:
    conversation_ids = {entry.conversation_id for entry in entries}
    answer_ids = {entry.answer_id for entry in entries if entry.answer_id}
    conversations = Conversation.objects.select_related("owner", "flagged_by", "handoff").in_bulk(
        conversation_ids
    )
    answers = Message.objects.in_bulk(answer_ids)
    usage: dict[str, ModelUsage] = {}
    for row in ModelUsage.objects.filter(message_id__in=answer_ids).order_by("created_at", "id"):
        usage[row.message_id] = row  # the latest call that wrote it
    annotations: dict[str, list[Annotation]] = {}
    for annotation in Annotation.objects.filter(answer_id__in=answer_ids).select_related("author"):
        annotations.setdefault(annotation.answer_id, []).append(annotation)
    feedback: dict[str, list[Feedback]] = {}
    for row in Feedback.objects.filter(message_id__in=answer_ids).select_related("user"):
        feedback.setdefault(row.message_id, []).append(row)
    for entry in entries:
        entry.conversation = conversations.get(entry.conversation_id)
        entry.answer = answers.get(entry.answer_id)
        entry.usage = usage.get(entry.answer_id)
        entry.annotations = annotations.get(entry.answer_id, [])
        entry.feedback = feedback.get(entry.answer_id, [])
    return entries
