"""One writer at a time, and several files replaced as one, even under SIGKILL.

Two mechanisms, shared by every command that writes the registry (``add``, ``promote``,
``rollback``, ``render``):

* :func:`lock`: a lock file created with ``O_CREAT | O_EXCL`` that holds the writer's pid and
  command. A lock whose process is gone (killed, crashed) is taken over; a live holder makes
  the next writer wait up to ``MODELREG_LOCK_WAIT`` seconds (default 30), then fail with a
  message naming the holder. :func:`registry_lock` is the registry-wide lock
  (``.modelreg.lock`` at the root); ``add`` also keeps a per-model lock while it measures.
* :func:`replace_all`: every new file (or directory) is written completely beside its target
  first; then a journal listing the renames is committed with one ``os.replace``; then the
  renames run and the journal is removed. Killed before the journal exists, nothing changed;
  killed after, :func:`recover` (run by the next writer taking the lock, and by
  :func:`modelreg.registry.discover` when no writer is alive) finishes the renames. Like a
  database's roll-forward journal: the registry is seen in the old state or the new one.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from modelreg.errors import ModelregError

LOCK_FILE = ".modelreg.lock"
JOURNAL_FILE = ".modelreg.journal"
#: How long a writer waits for another one (seconds); the registry lock is held briefly.
DEFAULT_WAIT = 30.0


def _wait_seconds() -> float:
    try:
        return float(os.environ.get("MODELREG_LOCK_WAIT", DEFAULT_WAIT))
    except ValueError:
        raise ModelregError("MODELREG_LOCK_WAIT is not a number of seconds") from None


def holder(path: Path) -> tuple[int, str] | None:
    """The pid and command written in a lock file, or None (absent or unreadable)."""
    try:
        pid_text, _, what = path.read_text(encoding="utf-8").partition(" ")
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    return (pid, what.strip()) if pid > 0 else None


def alive(pid: int) -> bool:
    """Whether a process with this pid exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


@contextmanager
def lock(path: Path, what: str, *, busy: str, wait: float | None = None) -> Iterator[None]:
    """Hold the lock file ``path`` for ``what`` (e.g. ``modelreg add``).

    ``busy`` is the message when another live process holds it (``{pid}`` is replaced by its
    pid). A lock left by a dead process is removed and taken.
    """
    deadline = time.monotonic() + (_wait_seconds() if wait is None else wait)
    while True:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            found = holder(path)
            if found is not None and alive(found[0]):
                if time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                raise ModelregError(busy.format(pid=found[0])) from None
            if found is None and _young(path):
                time.sleep(0.01)  # being written by its creator right now
                continue
            path.unlink(missing_ok=True)  # left by a process that died
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()} {what}\n")
        break
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _young(path: Path) -> bool:
    try:
        return time.time() - path.stat().st_mtime < 1.0
    except OSError:
        return False


@contextmanager
def registry_lock(root: Path, what: str) -> Iterator[None]:
    """The registry-wide writer lock; finishes an interrupted write before yielding."""
    path = root / LOCK_FILE
    busy = (
        "another modelreg command (pid {pid}) is writing this registry; try again when it "
        f"ends, or delete {path} if that process is not modelreg"
    )
    with lock(path, what, busy=busy):
        recover(root)
        yield


def temp_beside(target: Path) -> Path:
    """Where the new content of ``target`` is written before it replaces ``target``."""
    return target.with_name(f".{target.name}.modelreg-new")


def write_temp(target: Path, data: bytes | str) -> Path:
    """Write ``data`` completely (and durably) beside ``target``; the temp path."""
    tmp = temp_beside(target)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with tmp.open("wb") as fh:
        fh.write(raw)
        fh.flush()
        os.fsync(fh.fileno())
    return tmp


def replace_all(root: Path, moves: Mapping[Path, Path], remove: Iterable[Path] = ()) -> None:
    """Rename every ``source`` onto its ``target`` and delete ``remove``, as one change.

    Sources must be complete already (files from :func:`write_temp`, or directories
    assembled beside their target). A directory target must not exist.
    """
    entries = [[os.fspath(s), os.fspath(t)] for s, t in moves.items()]
    removals = [os.fspath(p) for p in remove]
    if not entries and not removals:
        return
    journal = root / JOURNAL_FILE
    pending = journal.with_name(JOURNAL_FILE + ".new")
    with pending.open("w", encoding="utf-8") as fh:
        json.dump({"pid": os.getpid(), "moves": entries, "remove": removals}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    pending.replace(journal)  # the commit point
    _fsync_dir(root)
    _apply(entries, removals)
    journal.unlink()


def write_all(root: Path, files: Mapping[Path, bytes | str], remove: Iterable[Path] = ()) -> None:
    """Write several files (and delete some) as one change: all new, or all old."""
    replace_all(root, {write_temp(path, data): path for path, data in files.items()}, remove)


def _apply(entries: list[list[str]], removals: list[str]) -> None:
    for source, target in entries:
        if os.path.lexists(source):
            Path(source).replace(target)
    for path in removals:
        Path(path).unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory; the rename is still atomic
    finally:
        os.close(fd)


def recover(root: Path) -> bool:
    """Finish a write that was interrupted after its commit point; True if there was one.

    Only when no live process holds the registry lock other than this one: a journal whose
    writer is still running is its writer's business.
    """
    journal = root / JOURNAL_FILE
    if not journal.is_file():
        return False
    found = holder(root / LOCK_FILE)
    if found is not None and found[0] != os.getpid() and alive(found[0]):
        return False
    try:
        doc = json.loads(journal.read_text(encoding="utf-8"))
        entries = [[str(s), str(t)] for s, t in doc["moves"]]
        removals = [str(p) for p in doc.get("remove", [])]
    except (OSError, ValueError, KeyError, TypeError):
        raise ModelregError(
            f"{journal} is unreadable: an interrupted modelreg write left it; check "
            "`git status` and delete it"
        ) from None
    resolved = root.resolve()
    for name in [*(n for pair in entries for n in pair), *removals]:
        if not Path(name).resolve().is_relative_to(resolved):
            raise ModelregError(f"{journal} names {name}, outside the registry; delete it")
    _apply(entries, removals)
    journal.unlink(missing_ok=True)
    return True


def discard(path: Path) -> None:
    """Remove a temp file or staging directory (a write that did not reach its commit)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
