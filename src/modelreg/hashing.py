"""Streaming file hashes in bounded memory."""

from __future__ import annotations

import hashlib
from pathlib import Path

#: 1 MiB reads: large enough to amortise syscalls, small enough to stay in cache.
CHUNK = 1 << 20


def sha256_file(path: Path) -> tuple[str, int]:
    """The hex sha256 and byte count of ``path``, read in fixed-size chunks."""
    digest = hashlib.sha256()
    size = 0
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with path.open("rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            digest.update(view[:n])
            size += n
    return digest.hexdigest(), size
