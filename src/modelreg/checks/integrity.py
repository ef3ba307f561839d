"""Artifact integrity (MR2xx): the bytes, or their Git LFS pointer, equal the metadata.

Every artifact byte is read through the registry's :mod:`~modelreg.treefs`: an artifact or
external data file that is a symlink (or lies under one) is an MR006 finding, never a read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from modelreg.checks import VersionContext, check
from modelreg.findings import Finding
from modelreg.git.lfs import (
    MAX_POINTER_BYTES,
    PointerError,
    looks_like_pointer,
    parse_pointer,
    read_head,
)
from modelreg.hashing import sha256_stream
from modelreg.rules import rule
from modelreg.treefs import Refused, symlink_finding
from modelreg.types import Artifact, FileEntry


def lfs_pull_command(rel_path: str) -> str:
    """The exact command that fetches one file's LFS object."""
    return f'git lfs pull --include="{rel_path}"'


def safe_child(base: Path, relative: str) -> tuple[Path | None, str]:
    """``base/relative`` if it stays inside ``base`` lexically, else a reason.

    Symlinks are the tree's business: every read goes through ``registry.tree``, which refuses
    a link anywhere on the path (MR006).
    """
    pure = PurePosixPath(relative)
    if pure.is_absolute() or "\\" in relative:
        return None, "is absolute"
    if ".." in pure.parts:
        return None, "contains `..`"
    return base.joinpath(*pure.parts), ""


def local_artifact(ctx: VersionContext) -> Path | None:
    """The artifact file when its bytes are here to read; None when integrity says why not.

    Deep checks call this first: a missing, unsafe or not-pulled artifact is already a
    finding of :func:`artifact_integrity` (MR203, MR206, MR204).
    """
    tree = ctx.registry.tree
    path, _reason = safe_child(ctx.version.dir, ctx.metadata["artifact"]["path"])
    if path is None or not tree.is_file(path):
        return None  # a symlink is not a file here: MR006 says so
    try:
        return None if looks_like_pointer(read_head(path, tree=tree)) else path
    except (OSError, Refused):
        return None


@check("version", rules=("MR006", "MR201", "MR202", "MR203", "MR204", "MR205", "MR206", "MR901"))
def artifact_integrity(ctx: VersionContext) -> Iterator[Finding]:
    """sha256 and size of model.onnx and of each declared data file (or their LFS pointers).

    ``--fast`` reads no artifact bytes: it compares sizes, and the oid and size of pointers.
    """
    artifact = ctx.metadata["artifact"]
    files: list[tuple[tuple[str | int, ...], Artifact | FileEntry]] = [(("artifact",), artifact)]
    files += [
        (("artifact", "external_data", i), entry)
        for i, entry in enumerate(artifact.get("external_data", []))
    ]
    for field_path, entry in files:
        yield from _check_file(ctx, field_path, entry)


def _check_file(
    ctx: VersionContext, field_path: tuple[str | int, ...], entry: Artifact | FileEntry
) -> Iterator[Finding]:
    declared_sha, declared_size = entry["sha256"], entry["size"]
    field = ".".join(str(p) for p in field_path)
    line, col = ctx.position(*field_path, "path")
    path, reason = safe_child(ctx.version.dir, entry["path"])
    if path is None:
        yield rule("MR206").finding(
            ctx.metadata_rel, f"{field}.path `{entry['path']}` {reason}", line, col
        )
        return
    rel = ctx.registry.rel(path)
    tree = ctx.registry.tree
    what = "artifact" if len(field_path) == 1 else "external data file"
    where = f"{ctx.metadata_rel}:{line}"
    try:
        with tree.open_binary(path) as fh:
            st = os.fstat(fh.fileno())
            head = fh.read(MAX_POINTER_BYTES + 1)
            # Hashed from the same descriptor: the bytes judged are the bytes examined.
            skip = ctx.options.fast or looks_like_pointer(head) or st.st_nlink > 1
            digest = None if skip else sha256_stream(fh, head)[0]
    except Refused as exc:
        if exc.kind == "symlink":
            yield symlink_finding(exc.rel, exc.link)
        else:
            yield rule("MR203").finding(rel, f"{what} named in {where} is not a regular file")
        return
    except (FileNotFoundError, NotADirectoryError):
        yield rule("MR203").finding(rel, f"{what} named in {where} does not exist")
        return
    except OSError as exc:
        yield rule("MR901").finding(rel, f"integrity not checked: cannot read: {exc.strerror}")
        return
    if st.st_nlink > 1:
        yield rule("MR206").finding(
            rel, f"has {st.st_nlink} hard links; it must be a file of its own"
        )
        return
    if looks_like_pointer(head):
        yield from _check_pointer(ctx, rel, head, declared_sha, declared_size)
        return
    if st.st_size != declared_size:
        yield rule("MR202").finding(
            rel, f"size is {st.st_size} bytes; {ctx.metadata_rel} says {declared_size}"
        )
    if digest is None:
        return  # --fast never reads artifact bytes; the deep run hashes them
    actual = digest
    if actual != declared_sha:
        yield rule("MR201").finding(
            rel,
            f"sha256 is {actual}; {ctx.metadata_rel} says {declared_sha}. The file changed "
            "after its metadata was written: restore it, or add a new version",
        )


def _check_pointer(
    ctx: VersionContext, rel: str, head: bytes, declared_sha: str, declared_size: int
) -> Iterator[Finding]:
    try:
        pointer = parse_pointer(head)
    except PointerError as exc:
        yield rule("MR205").finding(rel, f"malformed Git LFS pointer: {exc}")
        return
    if pointer.oid != declared_sha:
        yield rule("MR201").finding(
            rel,
            f"LFS pointer oid is sha256:{pointer.oid}; {ctx.metadata_rel} says {declared_sha}",
        )
    if pointer.size != declared_size:
        yield rule("MR202").finding(
            rel, f"LFS pointer size is {pointer.size}; {ctx.metadata_rel} says {declared_size}"
        )
    if not ctx.options.fast:
        yield rule("MR204").finding(
            rel,
            "is a Git LFS pointer: the object is not pulled, so its bytes were not checked; "
            f"run: {lfs_pull_command(rel)}  (or validate with --fast)",
        )
