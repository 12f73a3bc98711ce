"""
The actions of the conversation list (and of the buttons on a
conversation's page, which post to them): lock, reopen and close, through
``services`` and logged in the admin log; and exports through ``archive``,
streamed so a large selection never sits in memory.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse

from .. import services
from ..archive.export import conversation_export
from ..archive.markdown import conversation_markdown
from ..archive.records import record_json_line
from ..models import Conversation


class StatusActionForm(ActionForm):
    """The action bar, plus the reason the chat shows for a lock or close."""

    reason = forms.CharField(
        required=False,
        max_length=255,
        label="Reason",
        help_text="Shown to the user in the chat when locking or closing.",
    )


class StatusActions:
    """Mixin of ``ConversationAdmin``: status changes, with the reason the
    chat shows the owner (``StatusActionForm``)."""

    action_form = StatusActionForm

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


class ExportActions:
    """Mixin of ``ConversationAdmin``: the selection as JSON lines or Markdown."""

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
        records = conversation_export(queryset=selected)
        response = StreamingHttpResponse((render(r) for r in records), content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="conversations.{extension}"'
        return response
