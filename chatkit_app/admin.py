"""
Django admin for conversations and everything around them, built for tables
with millions of rows.

What keeps it fast (see README, "Admin at scale"): no full ``COUNT(*)`` on
unfiltered lists (``EstimatedCountPaginator``), ``list_select_related``,
filters that never list every distinct value (``admin_filters``), message
counts as a per-row correlated subquery computed only for the page shown,
message-text search through ``EXISTS`` served by a trigram index on
PostgreSQL, and a transcript paged by sequence instead of inlines.

Conversation data is changed only through ``services`` (status, deletion
with attachment files), and every change lands in the admin log. Messages,
feedback, usage and attachments are records of what happened: read-only.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.admin.utils import quote, unquote
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, JsonResponse, StreamingHttpResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import Truncator, capfirst, smart_split, unescape_string_literal

from . import selectors, services
from .admin_filters import (
    HasErrorFilter,
    ItemTypeFilter,
    LastActivityFilter,
    ModelNameFilter,
    OwnerFilter,
    ProviderFilter,
    RoleFilter,
    TokenStateFilter,
    UserFilter,
)
from .admin_live import live_urls
from .admin_paginator import EstimatedCountPaginator
from .models import ApiToken, Attachment, Conversation, Feedback, Message, ModelUsage
from .tokens import token_revoke
from .transcript import conversation_markdown, describe_item, pretty_json, record_json_line


class LargeTableAdmin(admin.ModelAdmin):
    """Defaults for a table that may hold millions of rows."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    # Facet counts run one COUNT per filter choice over the whole table.
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50


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


# --- conversations ----------------------------------------------------------------


class StatusActionForm(ActionForm):
    """The action bar, plus the reason the chat shows for a lock or close."""

    reason = forms.CharField(
        required=False,
        max_length=255,
        label="Reason",
        help_text="Shown to the user in the chat when locking or closing.",
    )


class ConversationChangeList(ChangeList):
    """The conversation list, with each row's item count.

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


@admin.register(Conversation)
class ConversationAdmin(LargeTableAdmin):
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
        "or a phrase anywhere in the conversation's messages."
    )
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)
    actions = ("lock", "unlock", "close", "export_jsonl", "export_markdown")
    action_form = StatusActionForm
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "id",
                    "title",
                    "owner_link",
                    ("status", "status_reason"),
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
        "message_count",
        "created_at",
        "updated_at",
        "metadata_json",
        "allowed_image_domains",
    )
    # Items per transcript page on the conversation page.
    transcript_page_size = 100

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conversation]:
        return super().get_queryset(request).select_related("owner")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Conversations are started in the chat (or loaded by chatkit_import).
        return False

    def get_changelist(self, request: HttpRequest, **kwargs: Any):
        return ConversationChangeList

    def get_urls(self):
        # The live pages: watch a conversation, recent activity (admin_live.py).
        return [*live_urls(self), *super().get_urls()]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """A conversation matches if its title has every word, its owner's
        username contains the term, its id is the term, or any of its items
        contains the term as a phrase.

        Written out rather than left to ``search_fields``: each part is a
        query an index serves (the trigram indexes of migration 0002 for
        title and message text, since PostgreSQL compiles ``icontains`` to
        ``UPPER(col) LIKE``; the primary and owner keys for the rest), and
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
        ids = (
            conversations.filter(title)
            .values("pk")
            .union(
                conversations.filter(owner__in=owners.values("pk")).values("pk"),
                conversations.filter(pk=term).values("pk"),
                Message.objects.order_by().filter(text__icontains=term).values("conversation_id"),
            )
        )
        return queryset.filter(pk__in=ids), False

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
            context["transcript"] = self.transcript(request, obj)
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
        return super().render_change_form(request, context, add, change, form_url, obj)

    def transcript(self, request: HttpRequest, conversation: Conversation) -> dict[str, Any]:
        try:
            after = int(request.GET["after"])
        except (KeyError, ValueError):
            after = None
        self.message_count(conversation)  # for the header, before the fields ask
        page = selectors.conversation_transcript(
            conversation_id=conversation.pk, after_sequence=after, limit=self.transcript_page_size
        )
        can_view = {
            model: request.user.has_perm(f"chatkit_app.view_{model}")
            for model in ("message", "attachment")
        }
        entries = []
        for message in page.messages:
            view = describe_item(message.data if isinstance(message.data, dict) else {})
            entries.append(
                {
                    "message": message,
                    "view": view,
                    "json_url": reverse("admin:chatkit_app_message_json", args=[quote(message.pk)])
                    if can_view["message"]
                    else "",
                    "feedback": page.feedback.get(message.pk, []),
                    "usage": page.usage.get(message.pk, []),
                    "attachments": [
                        {
                            **attachment,
                            "row": page.attachments.get(attachment["id"]),
                            "url": reverse(
                                "admin:chatkit_app_attachment_change",
                                args=[quote(attachment["id"])],
                            )
                            if can_view["attachment"] and attachment["id"] in page.attachments
                            else "",
                        }
                        for attachment in view.attachments
                    ],
                    "indent": [(depth * 1.25, line) for depth, line in view.outline],
                    "inline_image": view.image_url.startswith("data:image/"),
                }
            )
        return {
            "entries": entries,
            "first": after is None,
            "next_after": page.messages[-1].sequence if page.has_more else None,
            "totals": selectors.conversation_usage_totals(conversation_id=conversation.pk),
        }

    # --- actions

    @admin.action(description="Lock selected conversations (read-only for their owner)")
    def lock(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        self._set_status(request, queryset, Conversation.Status.LOCKED)

    @admin.action(description="Reopen selected conversations (unlock)")
    def unlock(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        self._set_status(request, queryset, Conversation.Status.ACTIVE)

    @admin.action(description="Close selected conversations")
    def close(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        self._set_status(request, queryset, Conversation.Status.CLOSED)

    lock.allowed_permissions = unlock.allowed_permissions = close.allowed_permissions = ("change",)

    def _set_status(self, request: HttpRequest, queryset: QuerySet, status: str) -> None:
        reason = "" if status == Conversation.Status.ACTIVE else request.POST.get("reason", "")
        reason = reason.strip()[:255]
        changed = 0
        for conversation in queryset.iterator(chunk_size=500):
            if (conversation.status, conversation.status_reason) == (status, reason):
                continue
            services.conversation_set_status(
                conversation=conversation, status=status, reason=reason
            )
            note = f"Status set to {status}" + (f": {reason}" if reason else ".")
            self.log_change(request, conversation, note)
            changed += 1
        label = Conversation.Status(status).label.lower()
        self.message_user(
            request,
            f"{changed} conversation(s) now {label}."
            if changed
            else f"Nothing to change: the selected conversations were already {label}.",
            messages.SUCCESS if changed else messages.INFO,
        )

    @admin.action(description="Export selected as JSON lines", permissions=["view"])
    def export_jsonl(self, request: HttpRequest, queryset: QuerySet) -> StreamingHttpResponse:
        return self._export(queryset, "application/x-ndjson", "jsonl", record_json_line)

    @admin.action(description="Export selected as Markdown", permissions=["view"])
    def export_markdown(self, request: HttpRequest, queryset: QuerySet) -> StreamingHttpResponse:
        return self._export(
            queryset,
            "text/markdown; charset=utf-8",
            "md",
            lambda r: conversation_markdown(r) + "\n",
        )

    def _export(self, queryset: QuerySet, content_type: str, extension: str, render) -> Any:
        # Plain queryset (no annotations or joins) for the exporter's keyset.
        selected = Conversation.objects.filter(pk__in=queryset.values("pk"))
        records = selectors.conversation_export(queryset=selected)
        response = StreamingHttpResponse((render(r) for r in records), content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="conversations.{extension}"'
        return response

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


# --- items, feedback, usage, attachments: read-only records ---------------------


@admin.register(Message)
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
    search_fields = ("text",)
    search_id_fields = ("pk", "conversation_id")
    search_help_text = "Text anywhere in the item, or an exact item or conversation id."
    # Newest first, served by the created_at index.
    ordering = ("-created_at",)
    list_select_related = ("conversation",)
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


@admin.register(Feedback)
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


@admin.register(ModelUsage)
class ModelUsageAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "user",
        "provider",
        "model",
        "purpose",
        "input_tokens",
        "output_tokens",
        "latency_ms",
        "error",
        "conversation_link",
    )
    list_filter = (
        ProviderFilter,
        ModelNameFilter,
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


@admin.register(Attachment)
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


# --- API tokens: made only by `manage.py chatkit_token` ------------------------------


@admin.register(ApiToken)
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
