"""A small layer over the git command line: clear errors, few subprocesses, machine formats.

modelreg reads git the way a script should: plumbing commands with ``-z`` or NUL-separated
formats, never porcelain meant for people, and a constant number of calls for a whole
registry — all tags in one ``git for-each-ref``, all tree and blob ids in one
``git cat-file --batch-check`` — so checks stay fast with thousands of tags and versions.
Everything a user can get wrong (no git, not a repository, a shallow clone without tags, a
detached HEAD) becomes a :class:`GitError` whose message says how to fix it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from modelreg.errors import ModelregError

#: Fields of one tag, NUL-separated; each record ends with NUL and the newline git adds.
_TAG_FORMAT = "%00".join(
    (
        "%(refname)",
        "%(objecttype)",
        "%(objectname)",
        "%(*objectname)",
        "%(*objecttype)",
        "%(creatordate:short)",
        "%(contents)",
    )
)
_TAG_FIELDS = 7


class GitError(ModelregError):
    """git is missing, the directory is no repository, or a git command failed."""


@dataclass(frozen=True)
class Tag:
    """One tag as ``git for-each-ref`` sees it."""

    name: str
    #: True for a tag object (``git tag -a``), False for a lightweight tag.
    annotated: bool
    #: The tag object's id (annotated) or the tagged object's id (lightweight).
    object: str
    #: The commit the tag finally points at, or None when it tags a tree or blob.
    commit: str | None
    #: Creation date (``YYYY-MM-DD``): the tagger's for annotated tags, the commit's otherwise.
    date: str
    #: The full tag message ('' for a lightweight tag).
    message: str

    @property
    def subject(self) -> str:
        """The first line of the message."""
        return self.message.split("\n", 1)[0]

    def trailer(self, key: str) -> str | None:
        """The value of a ``Key: value`` line of the message (the last one wins), or None."""
        found = None
        wanted = key.lower() + ":"
        for line in self.message.splitlines():
            if line.lower().startswith(wanted):
                found = line[len(wanted) :].strip()
        return found


@dataclass(frozen=True)
class TreeEntry:
    """One entry of ``git ls-tree``."""

    mode: str
    type: str
    oid: str


def git_executable() -> str:
    """The git program, or a :class:`GitError` saying how to get it."""
    found = shutil.which("git")
    if found is None:
        raise GitError(
            "git is not installed or not on PATH; modelreg needs git for release tags "
            "(install it: https://git-scm.com/downloads)"
        )
    return found


def _env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # Never block on a credential prompt, never take the index lock for a read (other
    # processes, such as an editor's git integration, may be committing at the same time).
    env.update({"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"})
    if extra:
        env.update(extra)
    return env


@dataclass(frozen=True)
class Repo:
    """A git work tree rooted at ``root`` (the top level, resolved)."""

    root: Path
    shallow: bool

    # -- running git -------------------------------------------------------------------

    def run_bytes(
        self,
        *args: str,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        ok: Sequence[int] = (0,),
    ) -> bytes:
        """Run ``git args`` in the work tree and return stdout; a failure is a GitError."""
        cmd = [git_executable(), "-C", str(self.root), *args]
        try:
            done = subprocess.run(cmd, input=stdin, capture_output=True, env=_env(env), check=False)
        except OSError as exc:
            raise GitError(f"cannot run git: {exc.strerror}") from None
        if done.returncode not in ok:
            message = done.stderr.decode("utf-8", "replace").strip() or f"exit {done.returncode}"
            raise GitError(f"`git {' '.join(args)}` failed: {message}")
        return done.stdout

    def run(
        self, *args: str, stdin: str | None = None, env: Mapping[str, str] | None = None
    ) -> str:
        """Like :meth:`run_bytes`, with text in and out."""
        data = self.run_bytes(*args, stdin=None if stdin is None else stdin.encode(), env=env)
        return data.decode("utf-8", "surrogateescape")

    def relpath(self, path: Path) -> str:
        """``path`` as git names it: relative to the top level, forward slashes."""
        return path.resolve().relative_to(self.root).as_posix()

    # -- refs --------------------------------------------------------------------------

    def head(self) -> str | None:
        """The commit at HEAD, or None on an unborn branch (a repository with no commit)."""
        out = self.run_bytes("rev-parse", "-q", "--verify", "HEAD^{commit}", ok=(0, 1))
        return out.decode().strip() or None

    def branch(self) -> str | None:
        """The checked-out branch (``main``), or None when HEAD is detached."""
        out = self.run_bytes("symbolic-ref", "-q", "--short", "HEAD", ok=(0, 1))
        return out.decode().strip() or None

    def resolve(self, rev: str) -> str | None:
        """The commit ``rev`` names, or None when there is no such commit."""
        out = self.run_bytes("rev-parse", "-q", "--verify", f"{rev}^{{commit}}", ok=(0, 1))
        return out.decode().strip() or None

    def tags(self, *, messages: bool = True) -> dict[str, Tag]:
        """Every tag, read with one ``git for-each-ref`` (fast with tens of thousands).

        ``messages=False`` leaves every message empty: reading 10,000 tag messages is most of
        the cost, and listing needs none of them.
        """
        fmt = _TAG_FORMAT if messages else _TAG_FORMAT.removesuffix("%(contents)")
        out = self.run("for-each-ref", f"--format={fmt}%00", "refs/tags")
        tags: dict[str, Tag] = {}
        for record in out.split("\0\n"):
            if not record:
                continue
            fields = record.split("\0")
            if len(fields) < _TAG_FIELDS:
                raise GitError(f"unexpected `git for-each-ref` output: {record[:200]!r}")
            ref, otype, oid, peeled, peeled_type, date = fields[:6]
            message = "\0".join(fields[6:])
            name = ref.removeprefix("refs/tags/")
            annotated = otype == "tag"
            if annotated:
                commit = peeled if peeled_type == "commit" else None
            else:
                commit = oid if otype == "commit" else None
            tags[name] = Tag(name, annotated, oid, commit, date, message if annotated else "")
        return tags

    # -- objects -----------------------------------------------------------------------

    def object_ids(self, specs: Iterable[str]) -> dict[str, tuple[str, str, int] | None]:
        """``rev:path`` (or ``:path`` for the index) → (oid, type, size), None when absent.

        One ``git cat-file --batch-check`` for any number of specs.
        """
        wanted = list(dict.fromkeys(specs))
        if not wanted:
            return {}
        if any("\n" in s for s in wanted):
            raise GitError("a path with a newline cannot be looked up")
        out = self.run("cat-file", "--batch-check", stdin="".join(s + "\n" for s in wanted))
        lines = out.splitlines()
        if len(lines) != len(wanted):
            raise GitError("`git cat-file --batch-check` answered a different number of lines")
        result: dict[str, tuple[str, str, int] | None] = {}
        for spec, line in zip(wanted, lines, strict=True):
            parts = line.split(" ")
            if len(parts) == 3 and parts[1] in ("blob", "tree", "commit", "tag"):
                result[spec] = (parts[0], parts[1], int(parts[2]))
            else:  # "<spec> missing" or "<spec> ambiguous"
                result[spec] = None
        return result

    def blobs(self, oids: Iterable[str]) -> dict[str, bytes]:
        """The contents of some (small) blobs, with one ``git cat-file --batch``."""
        wanted = list(dict.fromkeys(oids))
        if not wanted:
            return {}
        out = self.run_bytes(
            "cat-file", "--batch", stdin="".join(o + "\n" for o in wanted).encode()
        )
        result: dict[str, bytes] = {}
        pos = 0
        for oid in wanted:
            end = out.index(b"\n", pos)
            header = out[pos:end].decode().split(" ")
            pos = end + 1
            if len(header) != 3:
                continue  # missing
            size = int(header[2])
            result[oid] = out[pos : pos + size]
            pos += size + 1  # the content is followed by a newline
        return result

    def ls_tree(self, rev: str, path: str) -> dict[str, TreeEntry]:
        """Files under ``path`` at ``rev``, recursively: git path → entry."""
        out = self.run("ls-tree", "-r", "-z", "--full-tree", rev, "--", path)
        entries: dict[str, TreeEntry] = {}
        for record in out.split("\0"):
            if not record:
                continue
            meta, _tab, name = record.partition("\t")
            mode, otype, oid = meta.split(" ")
            entries[name] = TreeEntry(mode, otype, oid)
        return entries

    # -- work tree ---------------------------------------------------------------------

    def changed_paths(self, *pathspecs: str) -> set[str]:
        """Paths that differ between HEAD and the index or the work tree, or are untracked."""
        out = self.run(
            "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames", "--",
            *pathspecs,
        )  # fmt: skip
        return {record[3:] for record in out.split("\0") if len(record) > 3}

    def check_attr(self, attribute: str, paths: Sequence[str]) -> dict[str, str]:
        """The value of one attribute (``filter``) for many paths, with one ``git check-attr``."""
        if not paths:
            return {}
        out = self.run(
            "check-attr", "-z", "--stdin", attribute, stdin="".join(p + "\0" for p in paths)
        )
        fields = out.split("\0")
        return {fields[i]: fields[i + 2] for i in range(0, len(fields) - 2, 3)}

    def last_commit(self, *paths: str) -> str | None:
        """The last commit that changed any of ``paths`` (None when none did)."""
        out = self.run("log", "-1", "--format=%H", "--", *paths)
        return out.strip() or None


def open_repo(path: Path) -> Repo:
    """The repository whose work tree holds ``path``, or a GitError saying what is wrong."""
    git = git_executable()
    probe = path if path.is_dir() else path.parent
    try:
        done = subprocess.run(
            [git, "-C", str(probe), "rev-parse", "--show-toplevel", "--is-shallow-repository"],
            capture_output=True,
            env=_env(),
            check=False,
        )
    except OSError as exc:
        raise GitError(f"cannot run git: {exc.strerror}") from None
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip()
        if "not a git repository" in reason:
            raise GitError(
                f"{probe} is not inside a git repository; releases are git tags, so the "
                "registry must be a git clone (`git init` or `git clone` it)"
            )
        raise GitError(f"git cannot read {probe}: {reason}")
    lines = done.stdout.decode().splitlines()
    if len(lines) < 2 or not lines[0]:
        raise GitError(f"{probe} is inside a git directory but not in a work tree")
    return Repo(Path(lines[0]).resolve(), lines[1] == "true")
