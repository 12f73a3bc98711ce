"""
Bar charts drawn on the server as SVG: the template (``dashboard.html``)
writes out rectangles whose places are computed here, each inside a link to
the admin list behind it. No script and no inline style (the site's
Content-Security-Policy allows neither): colours come from classes in
``static/chatkit/admin.css``, and each bar's figure is its ``<title>`` (the
browser's tooltip, and what a screen reader reads).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.utils.html import format_html

WIDTH = 640
HEIGHT = 170
LEFT = 52  # room for the scale's labels
BOTTOM = 20  # room for the days
TOP = 8
#: At most this many day labels under a chart.
DAY_LABELS = 8


@dataclass(frozen=True)
class Segment:
    """One part of a bar: ``value`` drawn in class ``css``, linking to ``href``."""

    value: float
    css: str
    title: str
    href: str = ""


@dataclass(frozen=True)
class Bar:
    label: str
    segments: Sequence[Segment]


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str
    href: str

    @property
    def svg(self) -> str:
        """The rectangle (in its link), written here rather than by the
        template: a 30-day page has a thousand of them, and the template
        language would localise each number of each one."""
        rect = format_html(
            '<rect class="{}" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>',
            self.css,
            _number(self.x),
            _number(self.y),
            _number(self.width),
            _number(self.height),
            self.title,
        )
        return format_html('<a href="{}">{}</a>', self.href, rect) if self.href else rect


def _number(value: float) -> str:
    # As the template wrote them: "12", "12.5" (rounded to hundredths already).
    return f"{value:g}" if abs(value) < 1e6 else f"{value:.2f}"


@dataclass
class Chart:
    title: str
    summary: str
    rects: list[Rect] = field(default_factory=list)
    #: (x, text) of the day labels.
    labels: list[tuple[float, str]] = field(default_factory=list)
    #: (y, text) of the scale: zero and the top.
    scale: list[tuple[float, str]] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    baseline: float = HEIGHT - BOTTOM
    left: int = LEFT

    @property
    def empty(self) -> bool:
        return not self.rects


def bar_chart(
    *,
    title: str,
    summary: str,
    bars: Sequence[Bar],
    stacked: bool = True,
    legend: Sequence[tuple[str, str]] = (),
    number: Callable[[float], str] = lambda value: f"{value:,.0f}",
) -> Chart:
    """One bar per entry of ``bars``, left to right. ``stacked``: segments
    on top of each other (parts of a whole); otherwise each from the
    baseline, the tallest behind (p95 behind p50)."""
    chart = Chart(title=title, summary=summary, legend=list(legend))
    plot_height = HEIGHT - BOTTOM - TOP
    tops = [
        sum(s.value for s in bar.segments)
        if stacked
        else max((s.value for s in bar.segments), default=0)
        for bar in bars
    ]
    top = nice_ceiling(max(tops, default=0))
    chart.scale = [(chart.baseline, number(0)), (TOP, number(top))]
    if not bars:
        return chart
    slot = (WIDTH - LEFT) / len(bars)
    width = max(slot * 0.8, 1.0)
    every = math.ceil(len(bars) / DAY_LABELS)
    for index, bar in enumerate(bars):
        x = LEFT + index * slot + (slot - width) / 2
        if index % every == 0:
            chart.labels.append((x + width / 2, bar.label))
        if not top:
            continue
        base = chart.baseline
        segments = bar.segments if stacked else sorted(bar.segments, key=lambda s: -s.value)
        for segment in segments:
            if segment.value <= 0:
                continue
            # A value too small to see still gets a pixel to click.
            height = max(segment.value / top * plot_height, 1.0)
            y = (base if stacked else chart.baseline) - height
            chart.rects.append(
                Rect(
                    x=round(x, 2),
                    y=round(y, 2),
                    width=round(width, 2),
                    height=round(height, 2),
                    css=segment.css,
                    title=segment.title,
                    href=segment.href,
                )
            )
            if stacked:
                base = y
    return chart


def nice_ceiling(value: float) -> float:
    """The scale's top: 1, 2 or 5 times a power of ten, at least ``value``."""
    if value <= 0:
        return 0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power  # pragma: no cover (the loop always returns)
