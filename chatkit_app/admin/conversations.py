"""
The conversation admin: the list (item counts for the page shown only, a
search whose every part an index serves), a conversation's page (read-only
fields, status buttons, the transcript) and deletion with attachment files.

What keeps it fast on millions of rows (see README, "Admin at scale"):
``LargeTableAdmin``'s defaults (``options``), filters that never list every
distinct value (``filters``), and a transcript paged by sequence
(``transcript``). Status changes and exports are the list's actions
(``conversation_actions``); the live pages are ``live``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import SEARCH_VAR
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import capfirst

from .. import search, selectors, services
from ..models import Attachment, Conversation, Feedback, Message
from ..transcript import pretty_json
from .conversation_actions import ExportActions, StatusActions
from .filters import LastActivityFilter, OwnerFilter
from .live import live_urls
from .options import (
    LargeTableAdmin,
    RangeDatesChangeList,
    admin_link,
    conversation_label,
    search_words,
)
from .paginator import SearchPaginator
from .review import FlagActions, FlaggedFilter, can_flag
from .transcript import transcript_context


class ConversationChangeList(RangeDatesChangeList):
    """The conversation list, with each row's item count, and its date
    hierarchy from the first and last rows (``RangeDatesChangeList``).

    Counted after pagination, for the page's rows only, in one grouped
    query over their index entries. A ``Count("messages")`` annotation would
    GROUP BY every message in the table; even a correlated subquery in the
    SELECT list is evaluated for every row an OFFSET skips, and inflates the
    plan's cost estimate enough to trigger PostgreSQL's JIT (hundreds of ms).
    """

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        rows = list(self.result_list)
        counts = selectors.conversation_item_counts(conversation_ids=[row.pk for row in rows])
        for row in rows:
            row.message_count = counts.get(row.pk, 0)
        self.result_list = rows


class ConversationSearchPaginator(SearchPaginator):
    """A conversation search counts up to 200 on its first page ("more
    than 200"; later pages count further, see ``SearchPaginator``): for a
    common word each one counted is a look at its items.

    The count and the page are one walk: the matches' ids in the list's
    order, from the page's first row up to the cap. They count (every row
    before exists, or the page's first would not), and the page's rows are
    then read by those ids. Counting and then paging with an ``OFFSET``
    would look at the items of every conversation before the page twice
    (page 10 of a common word: 1,200 conversations' items instead of 700).
    """

    count_at_most = 200

    def __init__(self, *args: Any, page: int = 1, **kwargs: Any) -> None:
        super().__init__(*args, page=page, **kwargs)
        self.first_row = (max(page, 1) - 1) * int(self.per_page)
        #: The ids the count walked, from ``first_row`` on (None: not walked).
        self.walked: list | None = None

    def count_up_to(self, queryset: QuerySet, at_most: int) -> int:
        if self.first_row > at_most:
            return super().count_up_to(queryset, at_most)
        ids = list(queryset.values_list("pk", flat=True)[self.first_row : at_most + 1])
        if not ids:
            # Past the last match (an old link): how many there are.
            return super().count_up_to(queryset, at_most)
        self.walked = ids
        return self.first_row + len(ids)

    def page(self, number: Any):
        number = self.validate_number(number)
        if self.walked is None or (number - 1) * self.per_page != self.first_row:
            return super().page(number)
        ids = self.walked[: int(self.per_page)]
        # By id alone: the ids came from the searched list already.
        rows = self.object_list.model._default_manager.filter(pk__in=ids)
        rows.query.select_related = self.object_list.query.select_related
        by_id = {row.pk: row for row in rows}
        return self._get_page([by_id[pk] for pk in ids if pk in by_id], number, self)


class ConversationAdmin(StatusActions, FlagActions, ExportActions, LargeTableAdmin):
    #: Above this many matches among the newest ``10 * common_at`` items
    #: (``search.count_recent_matches``), a search finds conversations newest
    #: first, each by its own items (see get_search_results).
    common_at = 200
    list_display = (
        "title_or_id",
        "owner_link",
        "status",
        "message_count",
        "last_activity",
        "created_at",
    )
    list_filter = (
        "status",
        FlaggedFilter,
        OwnerFilter,
        ("updated_at", LastActivityFilter),
        ("created_at", admin.DateFieldListFilter),
    )
    # Last activity: the store bumps updated_at on every item, and it is
    # indexed, so the list, the hierarchy and its min/max all use the index.
    date_hierarchy = "updated_at"
    ordering = ("-updated_at",)
    # Searched by get_search_results (title, owner, id, message text).
    search_fields = ("title",)
    search_help_text = (
        "Title (every word), owner's username, conversation id, "
        'or words in its items ("a phrase", -not, prefix*).'
    )
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)
    actions = ("lock", "unlock", "close", "flag", "unflag", "export_jsonl", "export_markdown")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "id",
                    "title",
                    "owner_link",
                    ("status", "status_reason"),
                    "flag_summary",
                    "message_count",
                    ("created_at", "updated_at"),
                )
            },
        ),
        (
            "Metadata",
            {"fields": ("metadata_json", "allowed_image_domains"), "classes": ("collapse",)},
        ),
    )
    readonly_fields = (
        "id",
        "title",
        "owner_link",
        "status",
        "status_reason",
        "flag_summary",
        "message_count",
        "created_at",
        "updated_at",
        "metadata_json",
        "allowed_image_domains",
    )
    # Items per transcript page on the conversation page.
    transcript_page_size = 100

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conversation]:
        return super().get_queryset(request).select_related("owner", "flagged_by")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Conversations are started in the chat (or loaded by chatkit_import).
        return False

    def get_changelist(self, request: HttpRequest, **kwargs: Any):
        return ConversationChangeList

    def get_urls(self):
        # The live pages: watch a conversation, recent activity (live.py);
        # the flag button's view (review.py).
        return [*live_urls(self), *self.flag_urls(), *super().get_urls()]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """A conversation matches if its title has every word, its owner's
        username contains the term, its id is the term, or any of its items
        matches the term as a full-text search (``chatkit_app.search``:
        words, "phrases", -word, prefix*).

        Written out rather than left to ``search_fields``: each part is a
        query an index serves (the trigram index of migration 0002 for the
        title, since PostgreSQL compiles ``icontains`` to ``UPPER(col)
        LIKE``; the full-text index of 0003 for items; the primary and
        owner keys for the rest), and
        the parts are combined as a UNION of ids. OR'd conditions on one row
        would make PostgreSQL test every conversation (and cost the plan so
        high that its JIT compiler adds hundreds of milliseconds); a join on
        messages would need DISTINCT.
        """
        term = search_term.strip()
        if not term:
            return queryset, False
        User = get_user_model()
        title = Q()
        for word in search_words(term):
            title &= Q(title__icontains=word)
        owners = User.objects.filter(**{f"{User.USERNAME_FIELD}__icontains": term})
        conversations = Conversation.objects.order_by()
        others = (
            conversations.filter(title)
            .values("pk")
            .union(
                conversations.filter(owner__in=owners.values("pk")).values("pk"),
                conversations.filter(pk=term).values("pk"),
            )
        )
        items = search.message_search(queryset=Message.objects.order_by(), term=term)
        if search.count_recent_matches(items, at_most=self.common_at) <= self.common_at:
            ids = others.union(search.conversations_with_matches(term=term))
            return queryset.filter(pk__in=ids), False
        # A term in many recent items (a common word): the union would read
        # every matching item for its conversation before the first page.
        # Instead each conversation, newest first, is asked whether one of
        # its own items matches (its items through the (conversation,
        # sequence) index), which stops after a page; the count stops at the
        # paginator's cap. Judged by the recent items, not all: a term in
        # many old items only would make that walk read most conversations
        # before finding a page, where the union reads just the matches.
        # ``sequence <= item_sequence`` holds for every item (the last number
        # handed out); comparing with the outer row keeps PostgreSQL from
        # hashing the whole subquery instead, which is the slow plan again.
        own_items = Message.objects.filter(
            conversation_id=OuterRef("pk"), sequence__lte=OuterRef("item_sequence")
        )
        matches = Exists(search.message_search(queryset=own_items, term=term))
        return queryset.filter(Q(pk__in=others) | matches), False

    def get_paginator(self, request: HttpRequest, queryset: QuerySet, *args: Any, **kwargs: Any):
        if request.GET.get(SEARCH_VAR, "").strip():
            page = ConversationSearchPaginator.page_of(request)
            return ConversationSearchPaginator(queryset, *args, page=page, **kwargs)
        return super().get_paginator(request, queryset, *args, **kwargs)

    # --- columns and fields

    @admin.display(description="title", ordering="title")
    def title_or_id(self, conversation: Conversation) -> str:
        return conversation_label(conversation)

    @admin.display(description="owner", ordering="owner__username")
    def owner_link(self, conversation: Conversation) -> str:
        # To the owner's other conversations, which is what staff want next.
        url = reverse("admin:chatkit_app_conversation_changelist")
        username = conversation.owner.get_username()
        return format_html('<a href="{}?owner={}">{}</a>', url, username, username)

    @admin.display(description="items")
    def message_count(self, conversation: Conversation) -> int:
        # Set for the whole page by ConversationChangeList; counted on its
        # own on the conversation page.
        count = getattr(conversation, "message_count", None)
        if count is None:
            count = selectors.conversation_item_counts(conversation_ids=[conversation.pk])
            count = conversation.message_count = count.get(conversation.pk, 0)
        return count

    @admin.display(description="last activity", ordering="updated_at")
    def last_activity(self, conversation: Conversation):
        return conversation.updated_at

    @admin.display(description="review flag")
    def flag_summary(self, conversation: Conversation) -> str:
        if conversation.flagged_at is None:
            return "—"
        by = conversation.flagged_by.get_username() if conversation.flagged_by else "someone"
        text = f"Flagged by {by} on {conversation.flagged_at:%Y-%m-%d %H:%M}"
        if conversation.flag_reason:
            text += f": {conversation.flag_reason}"
        if conversation.flag_note:
            return format_html("{}<br><em>{}</em>", text, conversation.flag_note)
        return text

    @admin.display(description="metadata")
    def metadata_json(self, conversation: Conversation) -> str:
        return format_html("<pre>{}</pre>", pretty_json(conversation.metadata))

    # --- the page: read-only fields and the transcript

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ):
        # Nothing on the page is edited through the form; status changes go
        # through the actions (the buttons at the top), which log them.
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Conversation | None = None,
    ):
        if obj is not None:
            self.message_count(obj)  # for the header, before the fields ask
            context["transcript"] = transcript_context(
                request, obj, page_size=self.transcript_page_size
            )
            context["status_actions"] = (
                [
                    (name, label)
                    for name, label, status in (
                        ("lock", "Lock", Conversation.Status.LOCKED),
                        ("close", "Close", Conversation.Status.CLOSED),
                        ("unlock", "Reopen", Conversation.Status.ACTIVE),
                    )
                    if obj.status != status
                ]
                if self.has_change_permission(request, obj)
                else []
            )
            context["can_flag"] = can_flag(request.user)
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- deletion: Django's confirmation page, our delete (files included)

    def get_deleted_objects(self, objs, request: HttpRequest):
        """Counts instead of Django's list of every related row: a
        conversation may have millions of items, and the page must render."""
        conversations = Conversation.objects.filter(pk__in=[obj.pk for obj in objs])
        counts = selectors.conversations_contents_count(queryset=conversations)
        related = {
            Message: counts["items"],
            Attachment: counts["attachments"],
            Feedback: Feedback.objects.filter(conversation__in=conversations).count(),
        }
        model_count = {Conversation._meta.verbose_name_plural: counts["conversations"]}
        perms_needed = set()
        for model, count in related.items():
            if not count:
                continue
            model_count[model._meta.verbose_name_plural] = count
            # The model permission, as Django's own check asks: the
            # attachment admin refuses deletes of single attachments, which
            # would leave their files behind, not deletes with a conversation.
            codename = f"{model._meta.app_label}.delete_{model._meta.model_name}"
            if not request.user.has_perm(codename):
                perms_needed.add(model._meta.verbose_name)
        listed = [
            format_html(
                "{}: {}", capfirst(Conversation._meta.verbose_name), admin_link(obj, str(obj))
            )
            for obj in objs
        ]
        return listed, model_count, perms_needed, []

    def delete_model(self, request: HttpRequest, obj: Conversation) -> None:
        services.conversations_delete(queryset=Conversation.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        services.conversations_delete(
            queryset=Conversation.objects.filter(pk__in=queryset.values("pk"))
        )
