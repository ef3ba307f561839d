"""Findings: what every check yields, and what every reporter prints."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Severity(enum.Enum):
    """How bad a finding is: errors fail the run; warnings and notes are reported only.

    A note says what could not be judged here and why (e.g. latency measured on another
    machine), so silence is never mistaken for a check that passed.
    """

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True)
class Finding:
    """One problem at one place: ``path:line:col: RULE message``.

    ``path`` is relative to the registry root, with forward slashes. ``line`` and
    ``column`` are 1-based, or ``None`` when the problem has no position (a missing file).
    """

    path: str
    line: int | None
    column: int | None
    rule: str
    severity: Severity
    message: str

    @property
    def location(self) -> str:
        """``path:line:col`` as far as it is known."""
        if self.line is None:
            return self.path
        if self.column is None:
            return f"{self.path}:{self.line}"
        return f"{self.path}:{self.line}:{self.column}"

    def sort_key(self) -> tuple[str, int, int, str, str]:
        """Order by file, then position, then rule: the order a reader fixes things in."""
        return (self.path, self.line or 0, self.column or 0, self.rule, self.message)
