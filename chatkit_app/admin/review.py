"""
The review pages of the admin (issue 19): the review queue
(``/admin/review/``), annotating an answer (from the queue or a
conversation's transcript), and flagging a conversation (the button on its
page, and the list's actions).

Who may do what, checked on every request (a view-only staff member sees
the queue, the flags and the annotations, and gets a 403 for any write):

- see the queue: view (or change) conversations;
- annotate: add annotations (change annotations, to edit one's own again);
- flag and unflag: change conversations.

The queue's rows and filters are ``review.selectors``; the writes are
``services.conversation_flag`` / ``conversation_unflag`` /
``annotation_save``, logged in the admin log.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme

from .. import services
from ..models import Annotation, Conversation, Message
from ..review.selectors import (
    NOT_ANNOTATED,
    SOURCE_LABELS,
    Cursor,
    QueueFilters,
    queue_page,
    review_labels,
)
from .dashboard.periods import day_start
from .options import ReadOnlyAdmin, admin_link, conversation_label

if TYPE_CHECKING:
    from django.contrib.admin import AdminSite

QUEUE_PAGE_SIZE = 50
_ONE_DAY = timedelta(days=1)


def can_review(user: Any) -> bool:
    return user.has_perm("chatkit_app.view_conversation") or user.has_perm(
        "chatkit_app.change_conversation"
    )


def can_annotate(user: Any) -> bool:
    return user.has_perm("chatkit_app.add_annotation")


def can_flag(user: Any) -> bool:
    return user.has_perm("chatkit_app.change_conversation")


# --- the queue -------------------------------------------------------------------


class QueueFilterForm(forms.Form):
    source = forms.ChoiceField(required=False)
    assistant = forms.CharField(required=False, max_length=64)
    model = forms.CharField(required=False, max_length=100)
    label = forms.ChoiceField(required=False)
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    q = forms.CharField(required=False, max_length=200, label="Search")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["source"].choices = [("", "All sources"), *SOURCE_LABELS.items()]
        self.fields["label"].choices = [
            ("", "Any label"),
            (NOT_ANNOTATED, "Not annotated"),
            *((label, label) for label in review_labels()),
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            raise forms.ValidationError("The start date is after the end date.")
        return data

    def filters(self) -> QueueFilters:
        data = self.cleaned_data
        end = data.get("end")
        return QueueFilters(
            source=data.get("source") or "",
            assistant=(data.get("assistant") or "").strip(),
            model=(data.get("model") or "").strip(),
            label=data.get("label") or "",
            start=day_start(data["start"]) if data.get("start") else None,
            # The end date is included: up to the next midnight.
            end=day_start(end) + _ONE_DAY if end else None,
            search=(data.get("q") or "").strip(),
        )


def queue_view(site: AdminSite, request: HttpRequest) -> HttpResponse:
    if not can_review(request.user):
        raise PermissionDenied
    form = QueueFilterForm(request.GET)
    context: dict[str, Any] = {
        **site.each_context(request),
        "title": "Review queue",
        "form": form,
        "labels": review_labels(),
        "can_annotate": can_annotate(request.user),
    }
    cursor = None
    if request.GET.get("after"):
        cursor = Cursor.decode(request.GET["after"])
        if cursor is None:
            form.is_valid()
            context["error"] = "This page link is not valid: start again from the first page."
            return TemplateResponse(
                request, "admin/chatkit_app/review/queue.html", context, status=400
            )
    if not form.is_valid():
        return TemplateResponse(request, "admin/chatkit_app/review/queue.html", context, status=400)
    page = queue_page(filters=form.filters(), cursor=cursor, page_size=QUEUE_PAGE_SIZE)
    query = {k: v for k, v in request.GET.items() if k != "after" and v}
    next_url = (
        "?" + urlencode({**query, "after": page.next_cursor.encode()}) if page.next_cursor else ""
    )
    for entry in page.entries:
        entry.annotate_url = (
            reverse("admin:review_annotate", args=[quote(entry.answer_id)])
            if entry.answer is not None and entry.answer.type == "assistant_message"
            else ""
        )
        entry.mine = next((a for a in entry.annotations if a.author_id == request.user.pk), None)
    context.update(
        page=page,
        next_url=next_url,
        first_url="?" + urlencode(query) if cursor else "",
        here=request.get_full_path(),
    )
    return TemplateResponse(request, "admin/chatkit_app/review/queue.html", context)


# --- annotating an answer --------------------------------------------------------


class AnnotationForm(forms.Form):
    label = forms.ChoiceField()
    note = forms.CharField(required=False, max_length=10_000, widget=forms.Textarea)
    corrected_text = forms.CharField(
        required=False, max_length=100_000, widget=forms.Textarea, label="Corrected answer"
    )

    def __init__(self, *args: Any, current: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        labels = review_labels()
        # A label since removed from the settings stays valid on the
        # annotation that has it.
        if current and current not in labels:
            labels.append(current)
        self.fields["label"].choices = [(label, label) for label in labels]


def _back(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def annotate_view(site: AdminSite, request: HttpRequest, answer_id: str) -> HttpResponse:
    """Add or change the signed-in staff member's annotation of an answer
    (``delete`` in the form removes it), then back to where they were."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not can_review(request.user):
        raise PermissionDenied
    answer = get_object_or_404(Message, pk=unquote(answer_id))
    if answer.type != "assistant_message":
        return HttpResponseBadRequest("Only assistant answers can be annotated.")
    mine = Annotation.objects.filter(answer=answer, author=request.user).first()
    needed = "chatkit_app.add_annotation" if mine is None else "chatkit_app.change_annotation"
    if not request.user.has_perm(needed) or (
        "delete" in request.POST and not request.user.has_perm("chatkit_app.delete_annotation")
    ):
        raise PermissionDenied
    conversation = answer.conversation
    fallback = (
        reverse("admin:chatkit_app_conversation_change", args=[quote(conversation.pk)])
        + f"#item-{answer.pk}"
    )
    if "delete" in request.POST:
        if services.annotation_delete(answer=answer, author=request.user):
            _log(request, conversation, f"Removed the annotation of {answer.pk}.")
            messages.success(request, "Annotation removed.")
        return HttpResponseRedirect(_back(request, fallback))
    form = AnnotationForm(request.POST, current=mine.label if mine else "")
    if not form.is_valid():
        problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        return HttpResponseBadRequest(f"The annotation was not saved: {problems}")
    annotation = services.annotation_save(
        answer=answer,
        author=request.user,
        label=form.cleaned_data["label"],
        note=form.cleaned_data["note"],
        corrected_text=form.cleaned_data["corrected_text"],
    )
    _log(request, conversation, f"Annotated {answer.pk}: {annotation.label}.")
    messages.success(request, f"Annotation saved: {annotation.label}.")
    return HttpResponseRedirect(_back(request, fallback))


def _log(request: HttpRequest, conversation: Conversation, message: str) -> None:
    """In the conversation's history, as the admin's own changes are."""
    LogEntry.objects.log_actions(
        user_id=request.user.pk,
        queryset=[conversation],
        action_flag=CHANGE,
        change_message=message,
        single_object=True,
    )


def review_site_urls(site: AdminSite) -> list:
    """The queue and the annotate view, on the admin site (``apps.py``)."""
    return [
        path(
            "review/",
            site.admin_view(lambda request: queue_view(site, request)),
            name="review",
        ),
        path(
            "review/annotate/<path:answer_id>/",
            site.admin_view(lambda request, answer_id: annotate_view(site, request, answer_id)),
            name="review_annotate",
        ),
    ]


class FlaggedFilter(admin.SimpleListFilter):
    """The conversation list's flagged ones (the partial index of 0005)."""

    title = "review flag"
    parameter_name = "flagged"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Flagged"), ("no", "Not flagged")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(flagged_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(flagged_at__isnull=True)
        return queryset


class AnnotationAdmin(ReadOnlyAdmin):
    """Every annotation, by label: read here, written from the queue and
    the transcript (where the answer is in front of the reviewer)."""

    list_display = ("label", "answer_link", "conversation_link", "author", "updated_at")
    list_filter = ("label", ("updated_at", admin.DateFieldListFilter))
    search_fields = ("note", "corrected_text")
    search_id_fields = ("answer_id", "conversation_id")
    list_select_related = ("author", "conversation")
    raw_id_fields = ("answer", "conversation", "author")
    date_hierarchy = "updated_at"

    @admin.display(description="answer", ordering="answer_id")
    def answer_link(self, annotation: Annotation) -> str:
        url = reverse(
            "admin:chatkit_app_conversation_change", args=[quote(annotation.conversation_id)]
        )
        return format_html(
            '<a href="{}#item-{}">{}</a>', url, annotation.answer_id, annotation.answer_id
        )

    @admin.display(description="conversation", ordering="conversation_id")
    def conversation_link(self, annotation: Annotation) -> str:
        return admin_link(annotation.conversation, conversation_label(annotation.conversation))


# --- flagging a conversation ----------------------------------------------------


class FlagActions:
    """Mixin of ``ConversationAdmin``: flag and unflag the selection (the
    list's actions), and the ``flag/`` view that the button on a
    conversation's page posts to."""

    @admin.action(description="Flag selected conversations for review")
    def flag(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        reason = request.POST.get("reason", "")
        note = request.POST.get("note", "")
        count = 0
        for conversation in queryset.iterator(chunk_size=500):
            services.conversation_flag(
                conversation=conversation, by=request.user, reason=reason, note=note
            )
            self.log_change(request, conversation, _flag_note(reason))
            count += 1
        self.message_user(request, f"{count} conversation(s) flagged for review.")

    @admin.action(description="Clear the review flag of selected conversations")
    def unflag(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        count = 0
        for conversation in queryset.filter(flagged_at__isnull=False).iterator(chunk_size=500):
            services.conversation_unflag(conversation=conversation, by=request.user)
            self.log_change(request, conversation, "Flag cleared.")
            count += 1
        self.message_user(request, f"{count} conversation(s) unflagged.")

    flag.allowed_permissions = unflag.allowed_permissions = ("change",)

    def flag_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        conversation = get_object_or_404(Conversation, pk=unquote(object_id))
        if not can_flag(request.user):
            raise PermissionDenied
        page = reverse("admin:chatkit_app_conversation_change", args=[quote(conversation.pk)])
        if request.POST.get("unflag"):
            services.conversation_unflag(conversation=conversation, by=request.user)
            self.log_change(request, conversation, "Flag cleared.")  # type: ignore[attr-defined]
            messages.success(request, "Flag cleared.")
        else:
            reason = request.POST.get("reason", "")
            services.conversation_flag(
                conversation=conversation,
                by=request.user,
                reason=reason,
                note=request.POST.get("note", "")[:10_000],
            )
            self.log_change(request, conversation, _flag_note(reason))  # type: ignore[attr-defined]
            messages.success(request, "Flagged for review.")
        return HttpResponseRedirect(_back(request, page))

    def flag_urls(self) -> list:
        admin_site = self.admin_site  # type: ignore[attr-defined]
        return [
            path(
                "<path:object_id>/flag/",
                admin_site.admin_view(self.flag_view),
                name="chatkit_app_conversation_flag",
            )
        ]


def _flag_note(reason: str) -> str:
    reason = reason.strip()
    return f"Flagged for review: {reason}" if reason else "Flagged for review."
