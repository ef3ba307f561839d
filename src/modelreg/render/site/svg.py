"""Trend charts as inline SVG: one metric across every version of one model.

Written by hand (no plotting library, no script): the chart is part of the page, so it shows
from ``file://``, without JavaScript and in print. Every point is a ``<g class="point">`` with
a ``<title>`` (``v1.1.0 accuracy 0.9495``) that browsers show on hover and that names the
exact metadata value; production and staging points carry those classes. Colours come from
the stylesheet (``site.css``), so both themes apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from modelreg import escape

WIDTH = 480
HEIGHT = 200
LEFT, RIGHT, TOP, BOTTOM = 72, 12, 14, 34


@dataclass(frozen=True)
class Point:
    """One version's value of the metric."""

    version: str
    value: Decimal
    text: str  # the exact metadata value
    classes: tuple[str, ...]  # "production", "staging", ...


def _num(value: float) -> str:
    """A coordinate with two decimals at most (the same text on every machine)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def chart(metric: str, label: str, points: Sequence[Point]) -> str:
    """``<svg id="trend-<metric>">``; an empty string when no version has the metric."""
    if not points:
        return ""
    ident = f"trend-{metric}"
    low = min(p.value for p in points)
    high = max(p.value for p in points)
    span = high - low or abs(high) or Decimal(1)
    low_axis, high_axis = low - span * Decimal("0.1"), high + span * Decimal("0.1")
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(points) - 1, 1)

    def x(i: int) -> float:
        return LEFT + (i * step if len(points) > 1 else plot_w / 2)

    def y(v: Decimal) -> float:
        return TOP + plot_h - float((v - low_axis) / (high_axis - low_axis)) * plot_h

    coords = [(x(i), y(p.value)) for i, p in enumerate(points)]
    first, last = points[0].version, points[-1].version
    parts = [
        f'<svg id="{ident}" class="trend" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'aria-labelledby="{ident}-title {ident}-desc" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{ident}-title">{escape.html(label)} by version</title>',
        f'<desc id="{ident}-desc">{len(points)} version{"s" * (len(points) != 1)} from '
        f"v{escape.html(first)} to v{escape.html(last)}; lowest {escape.html(_text(points, low))}, "
        f"highest {escape.html(_text(points, high))}. Every value is in the version table.</desc>",
        f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" '
        f'y2="{TOP + plot_h}"/>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}"/>',
        f'<text class="tick" x="{LEFT - 6}" y="{_num(y(high) + 4)}" text-anchor="end">'
        f"{escape.html(_text(points, high))}</text>",
        f'<text class="tick" x="{LEFT - 6}" y="{_num(y(low) + 4)}" text-anchor="end">'
        f"{escape.html(_text(points, low))}</text>",
    ]
    if len(points) > 1:
        line = " ".join(f"{_num(cx)},{_num(cy)}" for cx, cy in coords)
        parts.append(f'<polyline class="line" points="{line}"/>')
    every = max(1, len(points) // 8)  # at most ~8 version labels under the axis
    for i, (p, (cx, cy)) in enumerate(zip(points, coords, strict=True)):
        classes = " ".join(("point", *p.classes))
        parts.append(
            f'<g class="{classes}" data-version="{escape.html(p.version)}">'
            f'<circle cx="{_num(cx)}" cy="{_num(cy)}" r="{5 if p.classes else 3.5}"/>'
            f"<title>v{escape.html(p.version)} {escape.html(metric)} {escape.html(p.text)}"
            f"{''.join(f' ({c})' for c in p.classes)}</title></g>"
        )
        if i % every == 0 or i == len(points) - 1:
            anchor = "middle"
            if len(points) > 1 and i == 0:
                anchor = "start"
            elif len(points) > 1 and i == len(points) - 1:
                anchor = "end"
            parts.append(
                f'<text class="tick" x="{_num(cx)}" y="{HEIGHT - BOTTOM + 18}" '
                f'text-anchor="{anchor}">v{escape.html(p.version)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _text(points: Sequence[Point], value: Decimal) -> str:
    return next(p.text for p in points if p.value == value)
