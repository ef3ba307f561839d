"""The only writer of a registry: one writer at a time, several files replaced as one change.

The contract, which every command that changes a registry follows (``add``, ``promote``,
``rollback``, ``render``, ``release``, ``overlays``, ``init``):

* **State lives in the git directory, never in the work tree.** The lock and the write journal
  are ``<git dir>/modelreg/lock`` and ``<git dir>/modelreg/journal``, where the git dir is
  ``git rev-parse --git-dir`` run in the registry root (``.git`` in a normal clone, which is
  also ``--git-common-dir``; a linked work tree has its own, so a journal is never replayed in
  another work tree). A pull request cannot put a file there. A ``.modelreg.journal`` or
  ``.modelreg.lock`` in the work tree (where modelreg 0.x kept them) is ignored and reported
  as MR005 by ``validate``. A registry that is not inside a git repository is not written at
  all (:class:`StorageError` says to run ``git init``); only ``init``, which creates the
  repository, writes without the lock.
* **The lock is an OS lock** (:func:`registry_lock`): ``fcntl.flock`` on the lock file, so the
  kernel releases it when its holder dies, however it dies. Nothing is ever taken over or
  deleted: two waiters cannot both break a stale lock, and a finishing writer cannot remove a
  lock that another holds. A busy lock makes the next writer poll for ``MODELREG_LOCK_WAIT``
  seconds (default 30), then fail naming the pid and command written in the file. ``add``'s
  per-model lock (:func:`model_lock`) is the same mechanism. The lock is re-entrant within a
  process (a command may call a helper that also takes it).
* **Several files change as one** (:func:`replace_all`, :func:`write_all`): every new file (or
  directory) is written completely beside its target as a hidden temporary; then a journal
  listing the renames (paths relative to the root) is committed with one ``os.replace``; then
  the renames run and the journal is removed. Killed before the commit, nothing changed;
  killed after, the next writer finishes the renames when it takes the lock (roll-forward, as
  a database journal). Only a writer holding the lock replays a journal; reading a registry
  (``validate``, ``list``, ``plan``, ...) never does.
* **A journal is verified before anything moves**: every path must be relative, stay inside
  the root, have no component ``.git`` (nor be, hold or lie in the git dir), pass through no
  symlink; a rename's source must be a hidden temporary in its target's directory. Renames and
  removals act on the entry itself and never follow a symlink. A journal that fails any of this
  is an error asking the user to delete it: it is never executed, not even in part.
* :func:`write_atomic` replaces one file by one rename (generators, ``init``, the merge
  driver); it needs no journal and no lock.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO

from modelreg import config
from modelreg.config import Settings
from modelreg.errors import ModelregError

#: The directory under the git dir that holds modelreg's state.
STATE_DIR = "modelreg"
LOCK_FILE = "lock"
JOURNAL_FILE = "journal"
#: Where modelreg 0.x kept its state, in the work tree; now ignored and reported (MR005).
LEGACY_STATE_FILES = (".modelreg.lock", ".modelreg.journal", ".modelreg.journal.new")
#: How long a writer waits for another one (seconds); the registry lock is held briefly.
DEFAULT_WAIT = Settings.lock_wait_s
#: The journal format this module writes and accepts.
JOURNAL_VERSION = 1
_POLL = 0.05

#: Lock files this process holds, with their nesting depth (flock is per open file, so a
#: second flock from the same process would wait for itself).
_HELD: dict[Path, int] = {}
#: Git directories by resolved registry root (one git call per root and process).
_GIT_DIRS: dict[Path, tuple[Path, Path]] = {}


class StorageError(ModelregError):
    """The registry cannot be written: no git repository, a busy lock, a journal refused."""


# -- where the state lives -----------------------------------------------------------------


def git_dir(root: Path) -> Path:
    """The registry's git directory (resolved), or a StorageError saying to ``git init``."""
    return _git_dirs(root)[0]


def _git_dirs(root: Path) -> tuple[Path, Path]:
    """(``--git-dir``, ``--git-common-dir``) of ``root``, resolved; asked of git once."""
    from modelreg.git.repo import git_executable

    root = root.resolve()
    if root in _GIT_DIRS:
        return _GIT_DIRS[root]
    try:
        done = subprocess.run(
            [git_executable(), "-C", str(root), "rev-parse", "--git-dir", "--git-common-dir"],
            capture_output=True,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"},
            check=False,
        )
    except OSError as exc:
        raise StorageError(f"cannot run git: {exc.strerror}") from None
    lines = done.stdout.decode("utf-8", "surrogateescape").splitlines()
    if done.returncode != 0 or len(lines) != 2:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise StorageError(
            f"{root} is not inside a git repository ({reason[0] if reason else 'git failed'}); "
            "modelreg writes a registry only inside one, because its lock and write journal "
            "live in the git directory: run `git init` there first"
        )
    # Both are relative to the directory git ran in (or absolute).
    found = ((root / lines[0]).resolve(), (root / lines[1]).resolve())
    _GIT_DIRS[root] = found
    return found


def state_dir(root: Path) -> Path:
    """``<git dir>/modelreg``, created when missing."""
    directory = git_dir(root) / STATE_DIR
    directory.mkdir(exist_ok=True)
    return directory


# -- the lock -------------------------------------------------------------------------------


def _wait_seconds(settings: Settings | None = None) -> float:
    """``MODELREG_LOCK_WAIT`` (:mod:`modelreg.config`), DEFAULT_WAIT when unset."""
    return config.or_env(settings).valid("lock_wait_s").lock_wait_s


def holder(path: Path) -> tuple[int, str] | None:
    """The pid and command written in a lock file, or None (absent, empty or unreadable).

    Only a hint for messages: whether the lock is held is the kernel's answer, not the file's.
    """
    try:
        pid_text, _, what = path.read_text(encoding="utf-8").partition(" ")
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    return (pid, what.strip()) if pid > 0 else None


@contextmanager
def lock(path: Path, what: str, *, busy: str, wait: float | None = None) -> Iterator[None]:
    """Hold ``fcntl.flock`` on ``path`` for ``what`` (e.g. ``modelreg add``).

    Waits up to ``wait`` seconds (default ``MODELREG_LOCK_WAIT``), then raises StorageError
    with ``busy``, where ``{holder}`` becomes e.g. ``pid 41: modelreg render``. The file is
    never deleted; it is emptied while still locked, so it never names a finished writer.
    """
    key = path.resolve()
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    deadline = time.monotonic() + (_wait_seconds() if wait is None else wait)
    fh = _open_lock(key)
    try:
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise StorageError(f"cannot lock {key}: {exc.strerror}") from None
            if time.monotonic() >= deadline:
                found = holder(key)
                who = f"pid {found[0]}: {found[1]}" if found else "pid unknown"
                raise StorageError(busy.format(holder=who))
            time.sleep(_POLL)
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()} {what}\n")
        fh.flush()
        _HELD[key] = 1
        try:
            yield
        finally:
            del _HELD[key]
            fh.seek(0)
            fh.truncate()  # still locked: nobody else's pid can be in the file yet
    finally:
        fh.close()  # releases the flock


def _open_lock(path: Path) -> IO[str]:
    try:
        # No O_TRUNC: the holder's pid must stay readable for the message of a waiter.
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise StorageError(f"cannot open the lock file {path}: {exc.strerror}") from None
    return os.fdopen(fd, "r+", encoding="utf-8")


@contextmanager
def registry_lock(root: Path, what: str, settings: Settings | None = None) -> Iterator[None]:
    """The registry-wide writer lock; finishes an interrupted write before yielding.

    A busy lock is waited for ``settings.lock_wait_s`` seconds (``MODELREG_LOCK_WAIT``)."""
    path = state_dir(root) / LOCK_FILE
    busy = (
        "another modelreg command ({holder}) is writing this registry; try again when it "
        "ends (waited MODELREG_LOCK_WAIT seconds)"
    )
    outermost = path.resolve() not in _HELD
    # Nested (this process holds it already): nothing to wait for, no setting to read.
    with lock(path, what, busy=busy, wait=_wait_seconds(settings) if outermost else 0.0):
        if outermost:
            recover(root)
        yield


@contextmanager
def model_lock(root: Path, model: str, what: str) -> Iterator[None]:
    """``add``'s lock on one model: a second ``add`` of that model fails at once."""
    if not model or "/" in model or model in (".", ".."):
        raise StorageError(f"`{model}` is not a model name")
    busy = "another `modelreg add` ({holder}) is adding a version of this model; wait for it"
    with lock(state_dir(root) / f"add-{model}.lock", what, busy=busy, wait=0):
        yield


def held(root: Path) -> bool:
    """Whether this process holds the registry lock of ``root``."""
    return (git_dir(root) / STATE_DIR / LOCK_FILE).resolve() in _HELD


# -- writing --------------------------------------------------------------------------------


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


def temp_beside(target: Path) -> Path:
    """Where the new content of ``target`` is written before it replaces ``target``."""
    return target.with_name(f".{target.name}.modelreg-new")


def write_temp(target: Path, data: bytes | str) -> Path:
    """Write ``data`` completely (and durably) beside ``target``; the temp path.

    A file already at the temporary's name (left by a killed writer, or committed by a pull
    request, maybe as a symlink into ``.git``) is removed, never written through.
    """
    tmp = temp_beside(target)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        if tmp.is_dir() and not tmp.is_symlink():
            raise StorageError(f"{tmp} is a directory in the way of modelreg's temporary file")
        tmp.unlink(missing_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(tmp, flags, 0o644)
    except OSError as exc:
        raise StorageError(f"cannot write {tmp}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(raw)
        fh.flush()
        os.fsync(fh.fileno())
    return tmp


def replace_all(root: Path, moves: Mapping[Path, Path], remove: Iterable[Path] = ()) -> None:
    """Rename every ``source`` onto its ``target`` and delete ``remove``, as one change.

    Needs the registry lock. Sources must be complete already (files from
    :func:`write_temp`, or directories assembled beside their target), hidden, and in their
    target's directory; a directory target must not exist; ``remove`` lists files.
    """
    if not held(root):
        raise StorageError(f"internal error: a write to {root} without the registry lock")
    base = root.resolve()
    entries = [[_rel(root, s), _rel(root, t)] for s, t in moves.items()]
    removals = [_rel(root, p) for p in remove]
    if not entries and not removals:
        return
    doc = {
        "version": JOURNAL_VERSION,
        "root": os.fspath(base),
        "pid": os.getpid(),
        "moves": entries,
        "remove": removals,
    }
    checked = _verified(base, doc, "this write")
    for source, target in checked[0]:
        # Refused before the commit point: a journal whose rename cannot run would fail again
        # at every replay.
        if source.is_dir() and os.path.lexists(target):
            raise StorageError(f"{target} exists already; nothing was written")
    for path in checked[1]:
        if path.is_dir() and not path.is_symlink():
            raise StorageError(f"internal error: {path} is a directory; only files are removed")
    state = state_dir(root)
    journal = state / JOURNAL_FILE
    pending = state / (JOURNAL_FILE + ".new")
    with pending.open("w", encoding="utf-8") as fh:
        json.dump(doc, fh)
        fh.flush()
        os.fsync(fh.fileno())
    pending.replace(journal)  # the commit point
    _fsync_dir(state)
    _apply(*checked, journal)
    journal.unlink()
    _fsync_dir(state)


def write_all(root: Path, files: Mapping[Path, bytes | str], remove: Iterable[Path] = ()) -> None:
    """Write several files (and delete some) as one change: all new, or all old."""
    base, forbidden = root.resolve(), _git_dirs(root)
    for path in files:  # before any temporary is written beside a target
        _checked(base, _rel(root, path), forbidden, lambda why: StorageError(f"this write {why}"))
    replace_all(root, {write_temp(path, data): path for path, data in files.items()}, remove)


def write_tree(root: Path, directory: Path, files: Mapping[str, str]) -> None:
    """Make ``directory`` hold ``files`` (flat names), under the registry lock, as one change.

    A new directory is assembled beside it and renamed in; in an existing one the files are
    replaced and the other regular files removed (subdirectories are left alone).
    """
    with registry_lock(root, "modelreg overlays"):
        if directory.is_dir() and not directory.is_symlink():
            extra = [
                p
                for p in directory.iterdir()
                if p.name not in files and not p.name.startswith(".") and p.is_file()
            ]
            write_all(root, {directory / name: text for name, text in files.items()}, extra)
            return
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = staging_dir(directory.parent, f".{directory.name}.")
        try:
            for name, text in files.items():
                (staging / name).write_text(text, encoding="utf-8")
            replace_all(root, {staging: directory})
        except BaseException:
            discard(staging)
            raise


def replace_directory(target: Path, files: Mapping[str, bytes]) -> None:
    """Replace ``target`` with a directory holding exactly ``files``, all at once.

    The new tree is assembled in a staging directory beside ``target``; then the two are
    exchanged in one ``renameat2(RENAME_EXCHANGE)`` (Linux), so a reader sees the old site or
    the new one, never neither; elsewhere the old site is renamed aside and the new one in. The
    old one is removed last. A failure before the exchange leaves the old site untouched and no
    staging directory behind.
    """
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise StorageError(f"{target} exists and is not a directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(target.parent, f".{target.name}.new-")
    old: Path | None = None
    try:
        _write_files(staging, files)
        if not target.exists():
            staging.rename(target)
        elif _exchange(staging, target):
            old = staging  # now holds the previous site
        else:
            old = staging_dir(target.parent, f".{target.name}.old-")
            old.rmdir()
            target.rename(old)
            staging.rename(target)
    except BaseException:
        discard(staging)
        if old is not None and not target.exists():
            old.rename(target)
            old = None
        raise
    if old is not None:
        discard(old)


def _write_files(directory: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` into the new, empty ``directory`` (thousands: one mkdir per directory)."""
    made: set[Path] = {directory}
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for rel, raw in files.items():
        parts = PurePosixPath(rel).parts
        if not parts or PurePosixPath(rel).is_absolute() or ".." in parts:
            raise StorageError(f"{rel!r} is not a path inside the directory")
        path = directory / rel
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        with os.fdopen(os.open(path, flags, 0o644), "wb") as fh:
            fh.write(raw)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories atomically (Linux ``renameat2``); False where that is unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):  # no such symbol (old glibc, musl): plain renames
        return False
    at_fdcwd, rename_exchange = -100, 2  # <fcntl.h> AT_FDCWD, <linux/fs.h> RENAME_EXCHANGE
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    done = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if done == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (38, 22, 95):  # ENOSYS, EINVAL, EOPNOTSUPP: the file system cannot exchange
        return False
    raise OSError(errno, os.strerror(errno), os.fspath(b))


def staging_dir(parent: Path, prefix: str) -> Path:
    """A new directory in ``parent`` to assemble a tree in before it is renamed into place.

    It gets a normal directory's mode (0777 less the umask, 0755 by default): ``mkdtemp``
    makes it 0700, and a renamed directory keeps its mode, so a version or overlay would be
    unreadable to the group.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    mask = os.umask(0)  # the only way to read the umask; set back at once
    os.umask(mask)
    path.chmod(0o777 & ~mask)
    return path


def discard(path: Path) -> None:
    """Remove a temp file or staging directory (a write that did not reach its commit)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _rel(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        raise StorageError(f"internal error: {path} is outside the registry {root}") from None


def _apply(moves: list[tuple[Path, Path]], removals: list[Path], journal: Path) -> None:
    """Run the renames and removals; each is skipped when already done (replay is safe)."""
    try:
        for source, target in moves:
            if os.path.lexists(source):
                source.replace(target)
        for path in removals:
            if os.path.lexists(path) and not (path.is_dir() and not path.is_symlink()):
                path.unlink()
    except OSError as exc:
        raise StorageError(
            f"cannot finish the write recorded in {journal}: {exc}; fix the cause and run the "
            "command again (it finishes the write first)"
        ) from None


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


# -- recovery -------------------------------------------------------------------------------


def recover(root: Path) -> bool:
    """Finish a write interrupted after its commit point; True if there was one.

    Needs the registry lock (so no writer is running). The whole journal is verified before
    anything moves; a journal that fails is an error, never executed.
    """
    if not held(root):
        raise StorageError(f"internal error: recovery of {root} without the registry lock")
    state = git_dir(root) / STATE_DIR
    (state / (JOURNAL_FILE + ".new")).unlink(missing_ok=True)  # never committed: void
    journal = state / JOURNAL_FILE
    if not journal.is_file() and not journal.is_symlink():
        return False
    fix = f"modelreg never runs a journal it cannot verify: delete it (rm {journal})"
    if journal.is_symlink():
        raise StorageError(f"{journal} is a symlink, not a modelreg journal; {fix}")
    try:
        doc = json.loads(journal.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise StorageError(f"{journal} is unreadable; {fix} and check `git status`") from None
    base = root.resolve()
    moves, removals = _verified(base, doc, str(journal), fix=fix)
    _apply(moves, removals, journal)
    journal.unlink()
    _fsync_dir(state)
    return True


def _verified(
    root: Path, doc: object, where: str, *, fix: str = ""
) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """The journal's renames and removals as paths, each checked; StorageError otherwise."""
    suffix = f"; {fix}" if fix else ""

    def refuse(reason: str) -> StorageError:
        return StorageError(f"{where} {reason}{suffix}")

    if not isinstance(doc, dict) or doc.get("version") != JOURNAL_VERSION:
        raise refuse(f"is not a version {JOURNAL_VERSION} modelreg journal")
    if doc.get("root") != os.fspath(root):
        raise refuse(f"was written for the registry at {doc.get('root')!r}, not {root}")
    raw_moves, raw_removals = doc.get("moves"), doc.get("remove")
    if not isinstance(raw_moves, list) or not isinstance(raw_removals, list):
        raise refuse("has no list of moves and removals")
    forbidden = _git_dirs(root)
    moves: list[tuple[Path, Path]] = []
    for pair in raw_moves:
        if not (isinstance(pair, list) and len(pair) == 2):
            raise refuse(f"has a move that is not a [source, target] pair: {pair!r}")
        source, target = (_checked(root, name, forbidden, refuse) for name in pair)
        if source.parent != target.parent or not source.name.startswith("."):
            raise refuse(
                f"moves {pair[0]!r} onto {pair[1]!r}: a source must be a hidden temporary "
                "beside its target"
            )
        if source.is_symlink():
            raise refuse(f"moves {pair[0]!r}, a symlink")
        moves.append((source, target))
    removals = [_checked(root, name, forbidden, refuse) for name in raw_removals]
    return moves, removals


def _checked(
    root: Path, name: object, git_dirs: tuple[Path, Path], refuse: Callable[[str], StorageError]
) -> Path:
    """``root/name`` when ``name`` is a safe relative path inside the work tree."""
    if not isinstance(name, str) or not name or "\0" in name:
        raise refuse(f"names {name!r}, not a relative path")
    parts = name.split("/")
    if PurePosixPath(name).is_absolute() or any(p in ("", ".", "..") for p in parts):
        raise refuse(f"names {name!r}: only plain relative paths inside the registry are allowed")
    if any(p.casefold() == ".git" for p in parts):
        raise refuse(f"names {name!r}, inside .git: modelreg never writes the git directory")
    here = root
    for part in parts[:-1]:
        here = here / part
        if here.is_symlink():
            raise refuse(f"names {name!r}, whose directory {here} is a symlink")
    path = root.joinpath(*parts)
    real = path.parent.resolve() / path.name
    if not real.is_relative_to(root) or real == root:
        raise refuse(f"names {name!r}, outside the registry {root}")
    for git in git_dirs:
        if real == git or real.is_relative_to(git) or git.is_relative_to(real):
            raise refuse(f"names {name!r}, in the git directory {git}")
    return path
