"""The one editor of ``model.yaml``'s lifecycle: comments, order and every other line kept.

``add`` lists a new version (:func:`add_entry`); ``promote`` sets statuses and support windows
(:func:`set_statuses`). Both edit lines in place, located by the YAML loader's positions or
by the block's indentation, because a YAML round trip would drop the comments and reorder the
keys of a file people write by hand.
"""

from __future__ import annotations

import re

from modelreg.errors import ModelregError
from modelreg.yamlload import load_bytes


def add_entry(text: str, display: str, version: str, status: str = "candidate") -> str | None:
    """``text`` with ``version: {status: STATUS}`` appended under ``lifecycle:``; None when
    the version is listed already."""
    lines = text.splitlines(keepends=True)
    if any(line.strip() in (f"{version}:", f'"{version}":') for line in lines):
        return None
    # `lifecycle: {}` (a card written before its first version) becomes a block.
    empty = re.compile(r"lifecycle:\s*(\{\s*\})?\s*(#.*)?")
    found = [(i, m) for i, line in enumerate(lines) if (m := empty.fullmatch(line.rstrip()))]
    if not found:
        raise ModelregError(f"{display}: no top-level `lifecycle:` block to add to")
    start, match = found[0]
    if match[1]:
        lines[start] = "lifecycle:" + (f"  {match[2]}" if match[2] else "") + "\n"
    end = start + 1
    while end < len(lines) and (lines[end].startswith((" ", "\t")) or not lines[end].strip()):
        end += 1
    entry = [f"  {version}:\n", f"    status: {status}\n"]
    return "".join(lines[:end] + entry + lines[end:])


def set_statuses(text: str, display: str, edits: dict[str, tuple[str, str | None]]) -> str:
    """Set ``status`` (and ``supported_until``; None removes it) of lifecycle entries.

    Edits lines in place so comments, order and the rest of model.yaml stay as they are.
    """
    doc = load_bytes(text.encode("utf-8"), display)
    if not doc.loaded or not isinstance(doc.data, dict):
        raise ModelregError(f"{display}: cannot be read; run `modelreg validate` first")
    lines = text.splitlines(keepends=True)
    lifecycle = doc.data.get("lifecycle") or {}
    # Bottom-up, so earlier line numbers stay valid while lines are inserted or removed.
    order = sorted(edits, key=lambda v: doc.key_position(("lifecycle", v))[0] or 0, reverse=True)
    for version in order:
        status, until = edits[version]
        entry = lifecycle.get(version)
        if not isinstance(entry, dict) or ("lifecycle", version, "status") not in doc.marks:
            raise ModelregError(f"{display}: lifecycle has no `{version}: status:` entry")
        line, col = doc.marks[("lifecycle", version, "status")]
        key_line, key_col = doc.key_marks[("lifecycle", version, "status")]
        until_mark = doc.marks.get(("lifecycle", version, "supported_until"))
        ops: list[tuple[int, str | None]] = []  # (0-based line, new text or None to delete)
        ops.append((line - 1, lines[line - 1][: col - 1] + status + "\n"))
        if until is not None and until_mark is not None:
            u_line, u_col = until_mark
            ops.append((u_line - 1, lines[u_line - 1][: u_col - 1] + until + "\n"))
        elif until is None and until_mark is not None:
            ops.append((until_mark[0] - 1, None))
        for index, new in sorted(ops, reverse=True):
            if new is None:
                del lines[index]
            else:
                lines[index] = new
        if until is not None and until_mark is None:
            indent = " " * (key_col - 1)
            lines.insert(key_line, f"{indent}supported_until: {until}\n")
    return "".join(lines)
