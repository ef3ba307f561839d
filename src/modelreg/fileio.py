"""Comparing generated files with what is on disk, and generated blocks in hand-written files.

One implementation for every generator (``modelreg render``, ``scripts/gen_docs.py``,
``scripts/gen_hooks.py``): a file is read leniently and a stale file is shown as a unified
diff. Writing goes through :mod:`modelreg.storage`.
"""

from __future__ import annotations

import difflib
from pathlib import Path


def read_text(path: Path) -> str | None:
    """The file's text (undecodable bytes replaced), or None when there is no such file."""
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def unified_diff(rel: str, old: str | None, new: str | None) -> list[str]:
    """A unified diff from ``old`` (None: absent) to ``new`` (None: removed), line-terminated."""
    lines = difflib.unified_diff(
        (old or "").splitlines(keepends=True),
        (new or "").splitlines(keepends=True),
        fromfile=f"a/{rel}" if old is not None else "/dev/null",
        tofile=f"b/{rel}" if new is not None else "/dev/null",
    )
    return [line if line.endswith("\n") else line + "\n" for line in lines]


def with_block(current: str, begin: str, end: str, body: str, heading: str) -> str:
    """``current`` with the text between the ``begin`` and ``end`` marker lines replaced by
    ``body``; appended under ``## heading`` when the markers are not there yet."""
    section = f"{begin}\n\n{body}\n{end}"
    start, stop = current.find(begin), current.find(end)
    if start != -1 and stop > start:
        return current[:start] + section + current[stop + len(end) :]
    return current.rstrip("\n") + f"\n\n## {heading}\n\n" + section + "\n"
