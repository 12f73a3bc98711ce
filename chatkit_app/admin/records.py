"""
Items, feedback, model usage and attachments: records of what happened,
viewable (and, with their conversation, deletable) but never edited here.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import quote, unquote
from django.contrib.admin.views.main import ORDER_VAR, SEARCH_VAR, ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet, prefetch_related_objects
from django.http import Http404, HttpRequest, JsonResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from .. import search
from ..models import Attachment, Feedback, Message, ModelUsage
from ..transcript import pretty_json
from .filters import (
    AssistantFilter,
    HasErrorFilter,
    ItemTypeFilter,
    ModelNameFilter,
    OwnerFilter,
    ProviderFilter,
    RoleFilter,
    UserFilter,
)
from .options import ReadOnlyAdmin, admin_link, conversation_label
from .paginator import SearchPaginator


class MessageChangeList(ChangeList):
    """The item list: a search lists the best matches first, unless a
    column was sorted, or the search matches more than ``rank_at_most``
    items: then the newest come first.

    Ranking reads and scores every match before the first page can be
    shown; a word in one item in eight of a million is 125,000 rows. Newest
    first, PostgreSQL walks the ``created_at`` index and stops after a page
    of matches. One count (``search.count_matches``, up to the paginator's
    cap, never below ``rank_at_most``) decides, and the paginator shows it.

    The page's conversations are read after pagination, by their ids,
    rather than joined: a join lets the planner hash every conversation
    when it overestimates the matches (160 ms for a rare prefix).
    """

    rank_at_most = 250
    #: Whether the shown search results are in rank order.
    ranked = False
    #: The search's count (up to the paginator's cap + 1), or None.
    match_count: int | None = None

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet:
        # The list is ordered before it is searched; the rank exists after.
        queryset = super().get_queryset(request, exclude_parameters)
        if self.query.strip():
            cap = max(self.rank_at_most, SearchPaginator.cap_for(self.page_num, self.list_per_page))
            self.match_count = search.count_matches(queryset, at_most=cap)
            # For the paginator (MessageAdmin.get_paginator), made next.
            request.chatkit_match_count = (cap, self.match_count)
            if ORDER_VAR not in self.params:
                self.ranked = self.match_count <= self.rank_at_most
                first = [f"-{search.RANK}"] if self.ranked else []
                queryset = queryset.order_by(*first, "-created_at", "-pk")
        return queryset

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        rows = list(self.result_list)
        prefetch_related_objects(rows, "conversation")
        self.result_list = rows


class MessageAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "conversation_link",
        "sequence",
        "type",
        "role",
        "short_text",
        "interrupted",
        "created_at",
    )
    list_filter = (
        ItemTypeFilter,
        RoleFilter,
        "interrupted",
        ("created_at", admin.DateFieldListFilter),
    )
    # Searched by get_search_results (full text, ranked), and exact ids.
    search_fields = ("text",)
    search_id_fields = ("pk", "conversation_id")
    search_help_text = (
        'Words of the item (all of them; "a phrase", -not, this or that, prefix*), '
        "or an exact item or conversation id. Best matches first."
    )
    # Newest first, served by the created_at index.
    ordering = ("-created_at",)
    # Loaded for the page by MessageChangeList, not joined.
    list_select_related = False
    raw_id_fields = ("conversation",)
    fields = (
        "id",
        "conversation_link",
        ("sequence", "type", "role"),
        "text",
        "interrupted",
        ("created_at", "updated_at"),
        "item_json",
    )
    # View-only pages show model fields read-only by themselves.
    readonly_fields = ("conversation_link", "item_json")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        if not search_term.strip():
            return queryset, False
        matches = search.message_search(queryset=queryset, term=search_term)
        by_id = Q()
        for name in self.search_id_fields:
            by_id |= Q(**{name: search_term.strip()})
        return matches | queryset.filter(by_id), False

    def get_changelist(self, request: HttpRequest, **kwargs: Any):
        return MessageChangeList

    def get_paginator(self, request: HttpRequest, queryset: QuerySet, *args: Any, **kwargs: Any):
        if request.GET.get(SEARCH_VAR, "").strip():
            # The changelist counted the matches already (to choose the order).
            cap, counted = getattr(request, "chatkit_match_count", (None, None))
            return SearchPaginator(
                queryset,
                *args,
                page=SearchPaginator.page_of(request),
                cap=cap,
                counted=counted,
                **kwargs,
            )
        return super().get_paginator(request, queryset, *args, **kwargs)

    def get_urls(self):
        return [
            path(
                "<str:object_id>/json/",
                self.admin_site.admin_view(self.json_view),
                name="chatkit_app_message_json",
            ),
            *super().get_urls(),
        ]

    def json_view(self, request: HttpRequest, object_id: str) -> JsonResponse:
        """The item exactly as stored: the SDK's own JSON."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        message = Message.objects.filter(pk=unquote(object_id)).only("data").first()
        if message is None:
            raise Http404("No such item.")
        return JsonResponse(
            message.data, safe=False, json_dumps_params={"indent": 2, "ensure_ascii": False}
        )

    @admin.display(description="conversation", ordering="conversation_id")
    def conversation_link(self, message: Message) -> str:
        return admin_link(message.conversation, conversation_label(message.conversation))

    @admin.display(description="text")
    def short_text(self, message: Message) -> str:
        return Truncator(message.text).chars(80)

    @admin.display(description="item JSON")
    def item_json(self, message: Message) -> str:
        url = reverse("admin:chatkit_app_message_json", args=[quote(message.pk)])
        return format_html(
            '<p><a href="{}">Raw JSON</a></p><pre>{}</pre>', url, pretty_json(message.data)
        )


class FeedbackAdmin(ReadOnlyAdmin):
    list_display = ("kind", "item_link", "conversation_link", "user", "created_at")
    list_filter = ("kind", UserFilter, ("created_at", admin.DateFieldListFilter))
    search_fields = ("user__username",)
    search_id_fields = ("message_id", "conversation_id")
    list_select_related = ("user", "conversation")
    raw_id_fields = ("message", "conversation", "user")
    date_hierarchy = "created_at"

    @admin.display(description="item", ordering="message_id")
    def item_link(self, feedback: Feedback) -> str:
        url = reverse("admin:chatkit_app_message_change", args=[quote(feedback.message_id)])
        return format_html('<a href="{}">{}</a>', url, feedback.message_id)

    @admin.display(description="conversation", ordering="conversation_id")
    def conversation_link(self, feedback: Feedback) -> str:
        return admin_link(feedback.conversation, conversation_label(feedback.conversation))


class ModelUsageAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "user",
        "provider",
        "model",
        "assistant",
        "purpose",
        "input_tokens",
        "output_tokens",
        "latency_ms",
        "first_token_ms",
        "error",
        "conversation_link",
    )
    list_filter = (
        ProviderFilter,
        ModelNameFilter,
        AssistantFilter,
        HasErrorFilter,
        UserFilter,
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = ("model", "user__username")
    search_id_fields = ("conversation_id", "message_id")
    list_select_related = ("user", "conversation")
    raw_id_fields = ("conversation", "user")
    date_hierarchy = "created_at"

    @admin.display(description="conversation", ordering="conversation_id")
    def conversation_link(self, usage: ModelUsage) -> str:
        if usage.conversation is None:
            return "— (deleted)"
        return admin_link(usage.conversation, conversation_label(usage.conversation))


class AttachmentAdmin(ReadOnlyAdmin):
    list_display = ("name", "kind", "mime_type", "size", "owner", "conversation_link", "created_at")
    list_filter = ("kind", OwnerFilter, ("created_at", admin.DateFieldListFilter))
    search_fields = ("name", "owner__username")
    search_id_fields = ("pk", "conversation_id")
    list_select_related = ("owner", "conversation")
    raw_id_fields = ("owner", "conversation")

    @admin.display(description="conversation", ordering="conversation_id")
    def conversation_link(self, attachment: Attachment) -> str:
        return admin_link(
            attachment.conversation,
            conversation_label(attachment.conversation) if attachment.conversation else None,
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleted with their conversation, which also removes the files.
        return False
