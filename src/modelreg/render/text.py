"""Number formats, trend bars and Markdown tables shared by the generated pages.

Escaping of registry values lives in :mod:`modelreg.escape`.

Formats (documented on the pages, tested exactly):

* metrics are fractions in the metadata and percentages on the page, with one decimal and a
  second one only where the metadata has it: ``0.958`` → ``95.8%``, ``0.9495`` → ``94.95%``;
  differences between versions are percentage points: ``+1.3% accuracy``;
* latency in milliseconds with three significant digits (at most), trailing zeros dropped:
  ``42`` → ``42ms``, ``0.41234`` → ``0.412ms``; differences the same way: ``-3ms latency``;
* rounding is half-up on the decimal text of the value, never on a binary float.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

from modelreg import escape

#: Width of the longest trend bar, in block characters.
BAR_WIDTH = 26
_EIGHTHS = ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")
_FULL = "█"


def trim(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _round(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def percent_number(fraction: Decimal) -> str:
    """``0.958`` → ``95.8``; at least one decimal, at most two."""
    value = _round(fraction * 100, 2)
    text = trim(value)
    return text if "." in text else f"{text}.0"


def percent(fraction: Decimal) -> str:
    """``0.958`` → ``95.8%``."""
    return f"{percent_number(fraction)}%"


def points(delta: Decimal) -> str:
    """A metric difference as signed percentage points: ``+1.3%``, ``-0.25%``, ``±0%``."""
    value = _round(delta * 100, 2)
    if value == 0:
        return "±0%"
    sign = "+" if value > 0 else "-"
    return f"{sign}{trim(abs(value))}%"


def _ms_places(value: Decimal) -> int:
    magnitude = abs(value)
    if magnitude >= 100:
        return 0
    if magnitude >= 10:
        return 1
    if magnitude >= 1:
        return 2
    return 3


def ms_number(value: Decimal) -> str:
    """Milliseconds with at most three significant digits: ``42``, ``1.23``, ``0.412``."""
    return trim(_round(value, _ms_places(value)))


def ms(value: Decimal) -> str:
    """``42ms``."""
    return f"{ms_number(value)}ms"


def ms_delta(delta: Decimal) -> str:
    """A signed latency difference: ``-3ms``, ``+0.05ms``, ``±0ms``."""
    rounded = _round(delta, _ms_places(delta))
    if rounded == 0:
        return "±0ms"
    sign = "+" if rounded > 0 else "-"
    return f"{sign}{trim(abs(rounded))}ms"


def bar(value: Decimal, largest: Decimal, width: int = BAR_WIDTH) -> str:
    """A bar proportional to ``value``: ``width`` blocks for ``largest``, in eighths."""
    if largest <= 0 or value <= 0:
        return ""
    eighths = int(_round(value / largest * width * 8, 0))
    return _FULL * (eighths // 8) + _EIGHTHS[eighths % 8]


def bars(rows: Sequence[tuple[str, str, Decimal | None]], missing: str) -> list[str]:
    """Aligned trend lines ``label: value bar``; rows without a value say ``missing``.

    The lines go into a fenced code block: labels are made one line so none closes it.
    """
    rows = [(escape.one_line(label), text, value) for label, text, value in rows]
    values = [v for _, _, v in rows if v is not None]
    largest = max(values, default=Decimal(0))
    label_width = max((len(label) for label, _, _ in rows), default=0)
    text_width = max((len(text) for _, text, v in rows if v is not None), default=0)
    lines = []
    for label, text, value in rows:
        head = f"{label}:".ljust(label_width + 1)
        if value is None:
            lines.append(f"{head} {missing}")
        else:
            lines.append(f"{head} {text.ljust(text_width)} {bar(value, largest)}".rstrip())
    return lines


# -- Markdown ------------------------------------------------------------------------------------


def table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A GFM table of cells already escaped for their content (escape.inline, escape.code).

    Here each cell is made one line with its pipes escaped, so no value adds a row or column.
    """
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines.extend("| " + " | ".join(escape.cell(c) for c in row) + " |" for row in rows)
    return lines
