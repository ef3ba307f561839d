"""Streaming file hashes in bounded memory."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from modelreg.treefs import Tree

#: 1 MiB reads: large enough to amortise syscalls, small enough to stay in cache.
CHUNK = 1 << 20


def sha256_file(path: Path, *, tree: Tree | None = None) -> tuple[str, int]:
    """The hex sha256 and byte count of ``path``, read in fixed-size chunks.

    With ``tree`` (a registry's), the file is opened through :mod:`modelreg.treefs`: a symlink
    anywhere on its path raises :class:`~modelreg.treefs.Refused` instead of being followed.
    Without it (a file the user named on the command line), the path is opened as given.
    """
    with tree.open_binary(path) if tree is not None else path.open("rb", buffering=0) as fh:
        return sha256_stream(fh)


def sha256_stream(fh: io.RawIOBase, prefix: bytes = b"") -> tuple[str, int]:
    """The hex sha256 and byte count of ``prefix`` (bytes already read from ``fh``) and what
    is left to read in ``fh`` (unbuffered is best)."""
    digest = hashlib.sha256(prefix)
    size = len(prefix)
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while n := fh.readinto(buf):
        digest.update(view[:n])
        size += n
    return digest.hexdigest(), size
