"""The one date a generated page depends on: "as of" for support windows.

A page that compared support windows with the wall clock would go stale at midnight and
``render --check`` would fail on a commit that was fine yesterday. The page is instead
rendered *as of the commit it belongs to*, so it is a pure function of the repository:

1. ``--today YYYY-MM-DD`` (tests, or to preview a future page);
2. ``SOURCE_DATE_EPOCH`` (the reproducible-builds convention), as a UTC date;
3. the committer date of ``HEAD`` (UTC), when the registry is in a git work tree;
4. otherwise the newest ``release_date`` in the registry.

The date itself is not printed (printing it would change the page on every commit day);
only the consequence is: a window that ended before it is marked expired. So the page
changes only when a window crosses that date, and then ``render --check`` asks for a
re-render in the next commit, which is exactly when the page should say "expired".
"""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

from modelreg import config
from modelreg.config import Settings
from modelreg.errors import UsageError


def parse_date(text: str) -> dt.date:
    """``YYYY-MM-DD`` for ``--today``."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--today {text!r}: expected a date as YYYY-MM-DD") from None


def _epoch_date(seconds: str) -> dt.date:
    return dt.datetime.fromtimestamp(int(seconds), tz=dt.UTC).date()


def commit_date(root: Path) -> dt.date | None:
    """The committer date of HEAD in UTC, or None outside a git work tree (or before commit 1)."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), "log", "-1", "--format=%ct", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:  # git not installed: behave as outside a work tree
        return None
    stamp = proc.stdout.strip()
    return _epoch_date(stamp) if proc.returncode == 0 and stamp.isdigit() else None


def reference_date(
    root: Path,
    override: dt.date | None,
    newest_release: str | None,
    settings: Settings | None = None,
) -> dt.date:
    """The "as of" date, by the precedence in this module's docstring."""
    if override is not None:
        return override
    epoch = config.or_env(settings).valid("source_date_epoch").source_date_epoch
    if epoch is not None:
        return _epoch_date(str(epoch))
    found = commit_date(root)
    if found is not None:
        return found
    if newest_release is not None:
        return dt.date.fromisoformat(newest_release)
    return dt.date(1970, 1, 1)
