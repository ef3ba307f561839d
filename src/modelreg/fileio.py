"""Writing generated files safely and comparing them with what is on disk.

One implementation for every generator (``modelreg render``, ``scripts/gen_docs.py``,
``scripts/gen_hooks.py``, the overlay writer): a file is replaced in one rename or not at all,
and a stale file is shown as a unified diff.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, text: str, *, mode: int | None = None) -> None:
    """Replace ``path`` with ``text`` via a temporary file in the same directory.

    The file keeps its permissions, or gets ``mode`` when given (0644 for a new file).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))
        Path(tmp).chmod(mode)
        Path(tmp).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise


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
