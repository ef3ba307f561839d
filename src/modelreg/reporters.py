"""One place that turns findings into text, JSON or GitHub workflow commands.

Data goes to stdout, the summary to stderr. Colour only on a terminal, honouring
``NO_COLOR`` and ``FORCE_COLOR``.

A finding's path and message quote the pull request (file names, YAML values), and the
GitHub runner reads every line a step prints, stdout and stderr, for workflow commands: a
line that starts with ``::`` after leading whitespace (``::stop-commands::``,
``::add-mask::``, ``::error::``) or that holds ``##[command]`` anywhere (the legacy form,
still parsed when the line is not a ``::`` command). So in every format one finding is one
line (:func:`printable` spells out line breaks and control characters, which also keeps
terminal escape sequences out of a reviewer's terminal); in ``--output github``, a workflow
command's properties and data are encoded as the runner decodes them (:func:`escape_data`,
:func:`escape_property`), every other line goes through :func:`log_line`, and values for
``$GITHUB_OUTPUT`` through :func:`github_output`.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Sequence
from typing import TextIO

from modelreg import config
from modelreg.config import Settings
from modelreg.findings import Finding, Severity
from modelreg.rules import BY_ID

REPORT_VERSION = 1
OUTPUT_FORMATS = ("text", "json", "github")
#: What each of :data:`OUTPUT_FORMATS` is (the help of ``--output`` where a command reports).
OUTPUT_HELP = "text (default), json (versioned report) or github (workflow annotations)"


def use_colour(stream: TextIO, settings: Settings | None = None) -> bool:
    """Colour on a TTY, unless NO_COLOR; FORCE_COLOR wins over both."""
    chosen = config.or_env(settings)
    if chosen.force_color:
        return True
    if chosen.no_color:
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


#: Line breaks (for a terminal, Python, a browser or the runner) and other control characters.
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r"}


def printable(text: str) -> str:
    """``text`` on one line: line breaks and control characters spelled ``\\n``, ``\\x1b``, ..."""
    return _UNPRINTABLE.sub(
        lambda m: _NAMED.get(m.group(), m.group().encode("unicode_escape").decode("ascii")), text
    )


def format_text(finding: Finding, colour: bool = False) -> str:
    """``path:line:col: MR201 message`` (warnings and notes say so), always one line."""
    severity = finding.severity
    label = finding.rule if severity is Severity.ERROR else f"{finding.rule} ({severity.value})"
    location, message = printable(finding.location), printable(finding.message)
    if colour:
        tint = {Severity.ERROR: "\033[31m", Severity.WARNING: "\033[33m"}.get(severity, "\033[36m")
        return f"\033[1m{location}\033[0m: {tint}{label}\033[0m {message}"
    return f"{location}: {label} {message}"


def escape_data(value: str) -> str:
    """A workflow command's data (after ``::``) as the runner decodes it."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """A workflow command's property value (``file=``, ``title=``) as the runner decodes it."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def log_line(text: str) -> str:
    """A line for a GitHub Actions log that the runner cannot read as a workflow command.

    Line breaks and controls are spelled out (one line), ``##[`` becomes ``#%23[`` (the legacy
    command form is found anywhere in a line), and a line that would start with ``::`` after
    whitespace gets a leading ``%`` so it does not.
    """
    line = printable(text).replace("##[", "#%23[")
    return "%" + line if line.lstrip().startswith("::") else line


def github_output(key: str, value: str) -> str:
    """One ``$GITHUB_OUTPUT`` entry: ``key=value``, or the delimiter form for a multi-line value.

    The delimiter is random per call (as actions/toolkit's ``setOutput`` does), so a value
    cannot end its entry early and add an output of its own.
    """
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key):
        raise ValueError(f"not an output name: {key!r}")
    if "\n" not in value and "\r" not in value:
        return f"{key}={value}\n"
    delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
    while delimiter in value:  # practically never; stay correct anyway
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
    return f"{key}<<{delimiter}\n{value}\n{delimiter}\n"


def format_github(finding: Finding) -> str:
    """A GitHub Actions workflow command that annotates the file and line."""
    kind = {Severity.ERROR: "error", Severity.WARNING: "warning"}.get(finding.severity, "notice")
    props = [f"file={escape_property(finding.path)}"]
    if finding.line is not None:
        props.append(f"line={finding.line}")
    if finding.column is not None:
        props.append(f"col={finding.column}")
    rule = BY_ID.get(finding.rule)
    title = f"{finding.rule} {rule.name}" if rule else finding.rule
    props.append(f"title={escape_property(title)}")
    return f"::{kind} {','.join(props)}::{escape_data(finding.message)}"


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


def report(  # noqa: PLR0917 - the findings, where they go and how: each one named
    findings: Sequence[Finding],
    fmt: str,
    out: TextIO,
    err: TextIO,
    checked: str,
    settings: Settings | None = None,
) -> None:
    """Write findings in ``fmt`` to ``out`` and the summary to ``err`` (``settings``: colour)."""
    if fmt == "json":
        out.write(json.dumps(to_json(findings), indent=2) + "\n")
    elif fmt == "github":
        for f in findings:
            out.write(format_github(f) + "\n")
    else:
        colour = use_colour(out, settings)
        for f in findings:
            out.write(format_text(f, colour) + "\n")
    line = summary(findings, checked)
    err.write((log_line(line) if fmt == "github" else printable(line)) + "\n")
