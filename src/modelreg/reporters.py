"""One place that turns findings into text, JSON or GitHub workflow commands.

Data goes to stdout, the summary to stderr. Colour only on a terminal, honouring
``NO_COLOR`` and ``FORCE_COLOR``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import TextIO

from modelreg.findings import Finding, Severity
from modelreg.rules import BY_ID

REPORT_VERSION = 1
OUTPUT_FORMATS = ("text", "json", "github")


def use_colour(stream: TextIO) -> bool:
    """Colour on a TTY, unless NO_COLOR; FORCE_COLOR wins over both."""
    if os.environ.get("FORCE_COLOR"):
        return True
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def status(findings: Sequence[Finding]) -> str:
    """``fail`` when any finding is an error."""
    return "fail" if any(f.severity is Severity.ERROR for f in findings) else "pass"


def to_json(findings: Sequence[Finding]) -> dict[str, object]:
    """The versioned JSON report (schemas/report.schema.json)."""
    return {
        "version": REPORT_VERSION,
        "status": status(findings),
        "findings": [
            {
                "path": f.path,
                "line": f.line,
                "column": f.column,
                "rule": f.rule,
                "severity": f.severity.value,
                "message": f.message,
            }
            for f in findings
        ],
    }


def format_text(finding: Finding, colour: bool = False) -> str:
    """``path:line:col: MR201 message`` (warnings and notes say so)."""
    severity = finding.severity
    label = finding.rule if severity is Severity.ERROR else f"{finding.rule} ({severity.value})"
    if colour:
        tint = {Severity.ERROR: "\033[31m", Severity.WARNING: "\033[33m"}.get(severity, "\033[36m")
        return f"\033[1m{finding.location}\033[0m: {tint}{label}\033[0m {finding.message}"
    return f"{finding.location}: {label} {finding.message}"


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def format_github(finding: Finding) -> str:
    """A GitHub Actions workflow command that annotates the file and line."""
    kind = {Severity.ERROR: "error", Severity.WARNING: "warning"}.get(finding.severity, "notice")
    props = [f"file={_escape_property(finding.path)}"]
    if finding.line is not None:
        props.append(f"line={finding.line}")
    if finding.column is not None:
        props.append(f"col={finding.column}")
    rule = BY_ID.get(finding.rule)
    title = f"{finding.rule} {rule.name}" if rule else finding.rule
    props.append(f"title={_escape_property(title)}")
    return f"::{kind} {','.join(props)}::{_escape_data(finding.message)}"


def summary(findings: Sequence[Finding], checked: str) -> str:
    """One line for stderr: what was checked and what was found."""
    errors = sum(f.severity is Severity.ERROR for f in findings)
    warnings = sum(f.severity is Severity.WARNING for f in findings)
    notes = len(findings) - errors - warnings
    if not errors and not warnings:
        tail = f" ({notes} note{'s' * (notes != 1)})" if notes else ""
        return f"modelreg: {checked}: all checks passed{tail}"
    parts = []
    if errors:
        parts.append(f"{errors} error{'s' * (errors != 1)}")
    if warnings:
        parts.append(f"{warnings} warning{'s' * (warnings != 1)}")
    if notes:
        parts.append(f"{notes} note{'s' * (notes != 1)}")
    return f"modelreg: {checked}: {', '.join(parts)}"


def report(findings: Sequence[Finding], fmt: str, out: TextIO, err: TextIO, checked: str) -> None:
    """Write findings in ``fmt`` to ``out`` and the summary to ``err``."""
    if fmt == "json":
        out.write(json.dumps(to_json(findings), indent=2) + "\n")
    elif fmt == "github":
        for f in findings:
            out.write(format_github(f) + "\n")
    else:
        colour = use_colour(out)
        for f in findings:
            out.write(format_text(f, colour) + "\n")
    err.write(summary(findings, checked) + "\n")
