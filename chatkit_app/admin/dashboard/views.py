"""
The dashboard page: the period form, the period's totals, a chart per
figure per day and tables by model and by assistant. Every bar, total and
table row links to the admin list of the rows it counts (the thumbs-down
feedback of that day, the failed calls of a model…), for staff who may see
that list; for others it is a figure without a link.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from ...conf import chatkit_settings
from ...models import Conversation, Feedback, Message, ModelUsage
from ..records import ModelUsageAdmin
from .charts import Bar, Chart, Segment, bar_chart
from .periods import PeriodForm, day_start
from .selectors import Dashboard, Figures, dashboard

if TYPE_CHECKING:
    from django.contrib.admin import AdminSite

# The usage list sorted by latency, slowest first (``o`` counts columns
# from 1, after the action checkbox).
SLOWEST_FIRST = f"-{ModelUsageAdmin.list_display.index('latency_ms') + 1}"


def dashboard_view(site: AdminSite, request: HttpRequest) -> HttpResponse:
    """For staff who may view conversations (``admin_view`` has already
    sent everyone else to the sign-in page)."""
    if not (
        request.user.has_perm("chatkit_app.view_conversation")
        or request.user.has_perm("chatkit_app.change_conversation")
    ):
        raise PermissionDenied
    form = PeriodForm(request.GET or None)
    context: dict[str, Any] = {
        **site.each_context(request),
        "title": "Dashboard",
        "form": form,
    }
    if request.GET and not form.is_valid():
        return TemplateResponse(request, "admin/chatkit_app/dashboard.html", context, status=400)
    if not request.GET:
        form = PeriodForm({"period": "7d"})
        form.is_valid()
        context["form"] = form
    period = form.chosen()
    board = dashboard(
        start=period.start,
        end=period.end,
        days=period.days,
        prices=chatkit_settings.MODEL_PRICES,
    )
    links = Links(request, period.first, period.last)
    context.update(
        period=period,
        board=board,
        totals=totals(board, links),
        charts=charts(board, links),
        by_model=rows(board.by_model, links, "model"),
        by_assistant=rows(board.by_assistant, links, "assistant"),
        search_url=links.changelist(Message) if links.can_view(Message) else "",
        search_range=links.range(period.first, period.last),
    )
    return TemplateResponse(request, "admin/chatkit_app/dashboard.html", context)


class Links:
    """URLs of the admin lists behind the figures, filtered by day."""

    def __init__(self, request: HttpRequest, first: date, last: date) -> None:
        self.user = request.user
        self.first, self.last = first, last
        # A 30-day page has a thousand links: each permission, list URL and
        # day's range is worked out once.
        self._can_view: dict[type[models.Model], bool] = {}
        self._changelists: dict[type[models.Model], str] = {}
        self._ranges: dict[date | None, dict[str, str]] = {}

    def can_view(self, model: type[models.Model]) -> bool:
        if model not in self._can_view:
            opts = model._meta
            self._can_view[model] = any(
                self.user.has_perm(f"{opts.app_label}.{action}_{opts.model_name}")
                for action in ("view", "change")
            )
        return self._can_view[model]

    def changelist(self, model: type[models.Model]) -> str:
        if model not in self._changelists:
            opts = model._meta
            self._changelists[model] = reverse(
                f"admin:{opts.app_label}_{opts.model_name}_changelist"
            )
        return self._changelists[model]

    @staticmethod
    def range(first: date, last: date) -> dict[str, str]:
        # As the admin's own date filter writes them: aware datetimes.
        return {
            "created_at__gte": str(day_start(first)),
            "created_at__lt": str(day_start(last + timedelta(days=1))),
        }

    def to(self, model: type[models.Model], day: date | None = None, **params: str) -> str:
        """The list of ``model``'s rows of ``day`` (or of the period)."""
        if not self.can_view(model):
            return ""
        if day not in self._ranges:
            self._ranges[day] = self.range(day, day) if day else self.range(self.first, self.last)
        return f"{self.changelist(model)}?{urlencode({**self._ranges[day], **params})}"


def counted(n: int, noun: str) -> str:
    """``1 conversation``, ``2 conversations``."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def milliseconds(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f} ms"


def money(value: float) -> str:
    return f"{value:,.4f}"


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def totals(board: Dashboard, links: Links) -> list[dict[str, str]]:
    total = board.total
    cost = money(total.cost) + (" + unpriced" if total.unpriced else "")
    return [
        {
            "label": "Conversations",
            "value": f"{total.conversations:,}",
            "href": links.to(Conversation),
        },
        {"label": "Messages", "value": f"{total.messages:,}", "href": links.to(Message)},
        {"label": "Active users", "value": f"{total.active_users:,}", "href": links.to(ModelUsage)},
        {"label": "Tokens", "value": f"{total.tokens:,}", "href": links.to(ModelUsage)},
        {"label": "Cost", "value": cost, "href": links.to(ModelUsage)},
        {
            "label": "Latency p50 / p95",
            "value": f"{milliseconds(total.latency['p50'])} / {milliseconds(total.latency['p95'])}",
            "href": links.to(ModelUsage, purpose="response", o=SLOWEST_FIRST),
        },
        {
            "label": "Provider errors",
            "value": f"{percent(total.error_rate)} ({total.errors:,} of {total.calls:,})",
            "href": links.to(ModelUsage, failed="yes"),
        },
        {
            "label": "Feedback up / down",
            "value": f"{total.positive:,} / {total.negative:,} "
            f"({percent(total.positive_ratio)} up)",
            "href": links.to(Feedback),
        },
    ]


def charts(board: Dashboard, links: Links) -> list[Chart]:
    days = list(board.days.items())

    def label(day: date) -> str:
        return day.strftime("%m-%d")

    def single(title: str, name: str, model: type[models.Model], noun: str) -> Chart:
        return bar_chart(
            title=title,
            summary=counted(getattr(board.total, name), noun),
            bars=[
                Bar(
                    label(day),
                    [
                        Segment(
                            getattr(f, name),
                            "ck-bar",
                            f"{day}: {counted(getattr(f, name), noun)}",
                            links.to(model, day),
                        )
                    ],
                )
                for day, f in days
            ],
        )

    def latency(title: str, name: str) -> Chart:
        def parts(day: date, figures: Figures) -> list[Segment]:
            values = getattr(figures, name)
            href = links.to(ModelUsage, day, purpose="response", o=SLOWEST_FIRST)
            return [
                Segment(
                    values[p] or 0, f"ck-bar-{p}", f"{day}: {p} {milliseconds(values[p])}", href
                )
                for p in ("p95", "p50")
            ]

        overall = getattr(board.total, name)
        return bar_chart(
            title=title,
            summary=f"p50 {milliseconds(overall['p50'])}, p95 {milliseconds(overall['p95'])}",
            bars=[Bar(label(day), parts(day, f)) for day, f in days],
            stacked=False,
            legend=[("ck-bar-p50", "p50"), ("ck-bar-p95", "p95")],
            number=lambda value: f"{value:,.0f} ms",
        )

    total = board.total
    drawn = [
        single("Conversations started", "conversations", Conversation, "conversation"),
        single("Messages", "messages", Message, "message"),
        single("Active users", "active_users", ModelUsage, "user"),
        bar_chart(
            title="Model calls",
            summary=f"{counted(total.calls, 'call')}, {percent(total.error_rate)} provider errors",
            bars=[
                Bar(
                    label(day),
                    [
                        Segment(
                            f.calls - f.errors,
                            "ck-bar",
                            f"{day}: {f.calls - f.errors:,} succeeded",
                            links.to(ModelUsage, day, failed="no"),
                        ),
                        Segment(
                            f.errors,
                            "ck-bar-bad",
                            f"{day}: {f.errors:,} failed ({percent(f.error_rate)})",
                            links.to(ModelUsage, day, failed="yes"),
                        ),
                    ],
                )
                for day, f in days
            ],
            legend=[("ck-bar", "succeeded"), ("ck-bar-bad", "failed")],
        ),
        bar_chart(
            title="Tokens",
            summary=f"{total.input_tokens:,} in, {total.output_tokens:,} out; "
            f"cost {money(total.cost)}",
            bars=[
                Bar(
                    label(day),
                    [
                        Segment(
                            f.input_tokens,
                            "ck-bar",
                            f"{day}: {f.input_tokens:,} input tokens, cost {money(f.cost)}",
                            links.to(ModelUsage, day),
                        ),
                        Segment(
                            f.output_tokens,
                            "ck-bar-alt",
                            f"{day}: {f.output_tokens:,} output tokens, cost {money(f.cost)}",
                            links.to(ModelUsage, day),
                        ),
                    ],
                )
                for day, f in days
            ],
            legend=[("ck-bar", "input"), ("ck-bar-alt", "output")],
        ),
        latency("Answer latency (to the end)", "latency"),
        latency("Time to first words", "first_token"),
        bar_chart(
            title="Feedback",
            summary=f"{total.positive:,} up, {total.negative:,} down "
            f"({percent(total.positive_ratio)} up)",
            bars=[
                Bar(
                    label(day),
                    [
                        Segment(
                            f.positive,
                            "ck-bar-good",
                            f"{day}: {f.positive:,} thumbs up",
                            links.to(Feedback, day, kind__exact="positive"),
                        ),
                        Segment(
                            f.negative,
                            "ck-bar-bad",
                            f"{day}: {f.negative:,} thumbs down",
                            links.to(Feedback, day, kind__exact="negative"),
                        ),
                    ],
                )
                for day, f in days
            ],
            legend=[("ck-bar-good", "thumbs up"), ("ck-bar-bad", "thumbs down")],
        ),
    ]
    return drawn


def rows(groups: dict[str, Figures], links: Links, parameter: str) -> list[dict[str, Any]]:
    """A table row per model or assistant, each figure linked to its calls."""
    return [
        {
            "name": name or "(none: titles, transcription)",
            "href": links.to(ModelUsage, **{f"{parameter}__exact": name}),
            "failed_href": links.to(ModelUsage, failed="yes", **{f"{parameter}__exact": name}),
            "figures": figures,
            "cost": money(figures.cost) + (" + ?" if figures.unpriced else ""),
            "error_rate": percent(figures.error_rate),
            "latency": {p: milliseconds(v) for p, v in figures.latency.items()},
            "first_token": {p: milliseconds(v) for p, v in figures.first_token.items()},
            "positive_ratio": percent(figures.positive_ratio),
        }
        for name, figures in groups.items()
    ]
