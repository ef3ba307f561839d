"""The one way modelreg reads a registry's files: never through a symlink, never out of the tree.

A pull request chooses every entry of the work tree, symlinks included, and git happily commits
a link to ``/etc``, to ``~/.ssh`` or to a valid-looking version directory beside the checkout.
So every read of a registry file (``models/``, ``overlays/``, ``clusters/``, vectors, evaluation
data, external data) goes through :class:`Tree`, whose contract is:

* A path is taken relative to the tree's root (an absolute path must lie under the root,
  lexically: ``..`` is folded first, and a path that then leaves the root is refused). The root
  itself is trusted: it is the directory the user pointed modelreg at.
* Every component below the root is examined without following it. If **any** component is a
  symlink, the read is refused with :class:`Refused` naming that component relative to the root
  (``models/bert/9.9.9``) and the link's text; the target is never opened, stat'ed or listed.
* Reads open each directory with ``O_DIRECTORY | O_NOFOLLOW`` relative to its parent's file
  descriptor and the file with ``O_NOFOLLOW``, then check that the opened file is the regular
  file that was examined: a symlink swapped in while modelreg runs fails the open instead of
  being followed.
* Where a regular file is wanted and the entry is something else (a directory, a FIFO, a
  device), the read is refused too (``kind="not-file"``); a directory wanted but a file found is
  ``kind="not-dir"``. A missing entry raises :class:`FileNotFoundError` as ``open`` would.
* Questions never raise for the leaf: :meth:`Tree.is_file` and :meth:`Tree.is_dir` are False for
  a symlink (anywhere on the path) and for a missing entry; :meth:`Tree.symlink_on` says which
  component is the link. :meth:`Tree.listdir` reports a symlinked entry as ``kind="symlink"``
  (with its text) and never follows it.

:class:`Refused` is a :class:`~modelreg.errors.ModelregError`; for a symlink its message is the
MR006 finding's (:func:`symlink_finding`), so a caller can report it as it stands.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from modelreg.errors import ModelregError
from modelreg.findings import Finding
from modelreg.rules import rule

RefusalKind = Literal["symlink", "outside", "not-file", "not-dir"]
EntryKind = Literal["file", "dir", "symlink", "other"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO swapped in after the check must not block the open; no effect on files.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


def printable(text: str) -> str:
    """``text`` with control characters escaped: a link's text is the attacker's to choose."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def symlink_message(rel: str, link: str | None) -> str:
    """The MR006 message for the symlink at ``rel`` (its text, never its target's content)."""
    to = f" (to {printable(link)})" if link is not None else ""
    return (
        f"{printable(rel)} is a symlink{to} — modelreg never follows symlinks in a registry: "
        "commit the file itself"
    )


def symlink_finding(rel: str, link: str | None) -> Finding:
    """The MR006 finding for the symlink at ``rel`` (relative to the registry root)."""
    return rule("MR006").finding(rel, symlink_message(rel, link))


class Refused(ModelregError):
    """A registry path modelreg will not read; ``rel`` is the offending path under the root."""

    def __init__(self, rel: str, kind: RefusalKind, link: str | None = None) -> None:
        self.rel = rel
        self.kind = kind
        self.link = link
        if kind == "symlink":
            message = symlink_message(rel, link)
        elif kind == "outside":
            message = f"{printable(rel)} is outside the registry; modelreg reads only inside it"
        elif kind == "not-file":
            message = f"{printable(rel)} is not a regular file"
        else:
            message = f"{printable(rel)} is not a directory"
        super().__init__(message)

    def finding(self) -> Finding:
        """The MR006 finding for a refused symlink (only meaningful for ``kind="symlink"``)."""
        return symlink_finding(self.rel, self.link)


@dataclass(frozen=True)
class Entry:
    """One entry of a directory, described without following it."""

    name: str
    path: Path
    rel: str
    kind: EntryKind
    #: The link's text, for ``kind="symlink"``.
    link: str | None = None


class Tree:
    """Reads under ``root`` that never follow a symlink (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        # Lexically absolute, not resolved: the root is trusted, and callers' paths are
        # compared with it component by component.
        self.root = Path(os.path.normpath(Path(root).absolute()))
        self._root = os.fspath(self.root)
        self._prefix = self._root if self._root.endswith(os.sep) else self._root + os.sep

    # -- paths ------------------------------------------------------------------------------

    def parts(self, path: Path | str) -> tuple[str, ...]:
        """The components of ``path`` below the root; :class:`Refused` when it leaves the root."""
        # String operations, not pathlib: this runs for every file a check reads.
        raw = os.fspath(path)
        full = os.path.normpath(raw if raw.startswith(os.sep) else self._prefix + raw)
        if full == self._root:
            return ()
        if not full.startswith(self._prefix):
            raise Refused(printable(raw), "outside")
        return tuple(full[len(self._prefix) :].split(os.sep))  # noqa: PTH206 - a str, not a Path

    def rel(self, path: Path | str) -> str:
        """``path`` relative to the root, with forward slashes (``.`` for the root)."""
        return "/".join(self.parts(path)) or "."

    # -- questions (never follow, never raise for the leaf) --------------------------------

    def _walk_lstat(self, parts: tuple[str, ...]) -> tuple[os.stat_result | None, int]:
        """lstat of each component in turn: (the last stat, the index where it stopped).

        Stops at the first symlink (its index), at a missing entry (stat None) or at a
        non-directory that has components below it (its index, stat of it).
        """
        current = self._prefix
        st: os.stat_result | None = None
        for i, name in enumerate(parts):
            current = f"{current}{name}"
            try:
                st = os.lstat(current)
            except (FileNotFoundError, NotADirectoryError):
                return None, i
            if stat.S_ISLNK(st.st_mode):
                return st, i
            if i < len(parts) - 1 and not stat.S_ISDIR(st.st_mode):
                return None, i
            current += os.sep
        return st, len(parts) - 1

    def symlink_on(self, path: Path | str) -> tuple[str, str] | None:
        """``(rel, link text)`` of the first symlink on ``path`` below the root, else None."""
        parts = self.parts(path)
        st, i = self._walk_lstat(parts)
        if st is None or not stat.S_ISLNK(st.st_mode):
            return None
        rel = "/".join(parts[: i + 1])
        return rel, self._readlink(self.root / rel)

    def lstat(self, path: Path | str) -> os.stat_result | None:
        """The entry's own stat (a symlink leaf is described, not followed); None if missing.

        :class:`Refused` when a component *above* the leaf is a symlink.
        """
        parts = self.parts(path)
        if not parts:
            return self.root.stat()
        st, i = self._walk_lstat(parts)
        if st is not None and stat.S_ISLNK(st.st_mode) and i < len(parts) - 1:
            rel = "/".join(parts[: i + 1])
            raise Refused(rel, "symlink", self._readlink(self.root / rel))
        return st if i == len(parts) - 1 else None

    def _kind_is(self, path: Path | str, test: int) -> bool:
        parts = self.parts(path)
        if not parts:
            return test == stat.S_IFDIR
        st, i = self._walk_lstat(parts)
        return st is not None and i == len(parts) - 1 and stat.S_IFMT(st.st_mode) == test

    def is_file(self, path: Path | str) -> bool:
        """A regular file reached through no symlink (False for a link, missing, or other)."""
        return self._kind_is(path, stat.S_IFREG)

    def is_dir(self, path: Path | str) -> bool:
        """A directory reached through no symlink (False for a link to a directory)."""
        return self._kind_is(path, stat.S_IFDIR)

    def exists(self, path: Path | str) -> bool:
        """Whether the entry exists, the leaf itself possibly a symlink (never followed)."""
        try:
            return self.lstat(path) is not None
        except Refused:
            return True

    # -- reads -------------------------------------------------------------------------------

    @staticmethod
    def _readlink(path: Path) -> str:
        try:
            return str(path.readlink())
        except OSError:
            return "?"

    def _open_fd(self, path: Path | str, want: Literal["file", "dir"]) -> int:
        """A file descriptor for ``path`` opened component by component without following."""
        parts = self.parts(path)
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            if not parts and want == "file":
                raise Refused(".", "not-file")
            for i, name in enumerate(parts):
                rel = "/".join(parts[: i + 1])
                last = i == len(parts) - 1
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    try:
                        link = os.readlink(name, dir_fd=fd)
                    except OSError:
                        link = "?"
                    raise Refused(rel, "symlink", link)
                if last and want == "file":
                    if not stat.S_ISREG(st.st_mode):
                        raise Refused(rel, "not-file")
                    flags = _FILE_FLAGS
                elif not stat.S_ISDIR(st.st_mode):
                    if last:
                        raise Refused(rel, "not-dir")
                    raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), rel)
                else:
                    flags = _DIR_FLAGS
                try:
                    child = os.open(name, flags, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.EMLINK):
                        raise Refused(rel, "symlink", "?") from None  # swapped in since the stat
                    raise
                os.close(fd)
                fd = child
                opened = os.fstat(fd)
                if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino):
                    raise Refused(rel, "symlink", "?")  # replaced between stat and open
            return fd
        except BaseException:
            os.close(fd)
            raise

    def open_binary(self, path: Path | str) -> io.FileIO:
        """The regular file at ``path`` opened for reading (unbuffered), never through a link.

        Use ``os.fstat(fh.fileno())`` for its size: it describes the file that was opened.
        """
        fd = self._open_fd(path, "file")
        # The read side of a regular file: O_NONBLOCK was only there for the open.
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb", buffering=0)

    def read_bytes(self, path: Path | str, *, limit: int | None = None) -> bytes:
        """The file's bytes; with ``limit``, at most that many (the caller checks the size)."""
        with self.open_binary(path) as fh:
            if limit is None:
                return _read_all(fh)
            return _read_upto(fh, limit)

    def read_text(self, path: Path | str, encoding: str = "utf-8") -> str:
        """The file's text."""
        return self.read_bytes(path).decode(encoding)

    def listdir(self, path: Path | str) -> list[Entry]:
        """The directory's entries sorted by name, each described without following it."""
        fd = self._open_fd(path, "dir")
        base = self.root.joinpath(*self.parts(path))
        prefix = self.rel(path)
        entries: list[Entry] = []
        try:
            with os.scandir(fd) as it:
                for item in it:
                    rel = item.name if prefix == "." else f"{prefix}/{item.name}"
                    kind: EntryKind
                    link = None
                    if item.is_symlink():
                        kind = "symlink"
                        with contextlib.suppress(OSError):
                            link = os.readlink(item.name, dir_fd=fd)
                    elif item.is_dir(follow_symlinks=False):
                        kind = "dir"
                    elif item.is_file(follow_symlinks=False):
                        kind = "file"
                    else:
                        kind = "other"
                    entries.append(Entry(item.name, base / item.name, rel, kind, link))
        finally:
            os.close(fd)
        return sorted(entries, key=lambda e: e.name)

    def walk(self, path: Path | str) -> Iterator[Entry]:
        """Every entry below the directory ``path``, depth first; symlinks are yielded, not
        entered."""
        for entry in self.listdir(path):
            yield entry
            if entry.kind == "dir":
                yield from self.walk(entry.path)

    def symlinks_under(self, path: Path | str) -> list[Entry]:
        """Every symlink at or below ``path`` (``path`` itself or one above it included)."""
        if found := self.symlink_on(path):
            rel, link = found
            return [Entry(rel.rsplit("/", 1)[-1], self.root / rel, rel, "symlink", link)]
        if not self.is_dir(path):
            return []
        return [e for e in self.walk(path) if e.kind == "symlink"]


def _read_all(fh: io.FileIO) -> bytes:
    chunks = []
    while chunk := fh.read(1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _read_upto(fh: io.FileIO, limit: int) -> bytes:
    chunks = []
    left = limit
    while left > 0 and (chunk := fh.read(min(left, 1 << 20))):
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def open_nofollow(path: Path) -> io.FileIO:
    """Open a file for reading refusing a symlink *leaf* (``O_NOFOLLOW``), for code that has
    no registry root (the isolated child, whose parent already checked the directories)."""
    try:
        fd = os.open(path, _FILE_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Refused(path.name, "symlink", Tree._readlink(path)) from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Refused(path.name, "not-file")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb", buffering=0)
