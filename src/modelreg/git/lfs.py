"""Git LFS pointer files: recognise, parse and compare without the object.

A pointer (https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md) is a small text file::

    version https://git-lfs.github.com/spec/v1
    oid sha256:4d7a...
    size 12345

Its oid is the sha256 of the real bytes and its size their length, so metadata can be checked
against a clone made with ``GIT_LFS_SKIP_SMUDGE=1`` without downloading anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from modelreg.treefs import Tree

SPEC_LINE = b"version https://git-lfs.github.com/spec/v1"
#: The spec caps pointer files at 1024 bytes.
MAX_POINTER_BYTES = 1024

#: The ``.gitattributes`` lines of a registry that stores artifacts in Git LFS (what
#: ``modelreg init`` writes): ONNX files and the external tensor data they reference, under the
#: names the ONNX exporters use (``model.onnx.data``, ``model.onnx_data``, ``*.bin``).
LFS_ATTRIBUTES: tuple[str, ...] = (
    "*.onnx filter=lfs diff=lfs merge=lfs -text",
    "*.onnx.data filter=lfs diff=lfs merge=lfs -text",
    "*.onnx_data filter=lfs diff=lfs merge=lfs -text",
    "models/**/*.bin filter=lfs diff=lfs merge=lfs -text",
)

_KEY = re.compile(rb"^[a-z0-9.-]+$")
_OID = re.compile(r"^sha256:([0-9a-f]{64})$")


class PointerError(ValueError):
    """The file starts like a pointer but breaks the spec."""


@dataclass(frozen=True)
class Pointer:
    """A parsed pointer."""

    oid: str
    size: int


def looks_like_pointer(head: bytes) -> bool:
    """Whether the first bytes of a file are an LFS pointer's (cheap pre-check)."""
    return head.startswith(b"version https://git-lfs")


def read_head(path: Path, *, tree: Tree | None = None) -> bytes:
    """The first bytes of ``path``, enough to tell a pointer from an artifact.

    With ``tree`` (a registry's), read through :mod:`modelreg.treefs`: a symlink on the path
    raises :class:`~modelreg.treefs.Refused` instead of being followed.
    """
    if tree is not None:
        return tree.read_bytes(path, limit=MAX_POINTER_BYTES + 1)
    with path.open("rb") as fh:
        return fh.read(MAX_POINTER_BYTES + 1)


def parse_pointer(data: bytes) -> Pointer:
    """Parse pointer bytes; raise :class:`PointerError` saying what is wrong."""
    if len(data) > MAX_POINTER_BYTES:
        raise PointerError(f"pointer is larger than {MAX_POINTER_BYTES} bytes")
    if not data.endswith(b"\n"):
        raise PointerError("pointer must end with a newline")
    lines = data[:-1].split(b"\n")
    if lines[0] != SPEC_LINE:
        raise PointerError(f"first line must be `{SPEC_LINE.decode()}`")
    values: dict[str, str] = {}
    previous = b""
    for number, line in enumerate(lines[1:], start=2):
        key, sep, value = line.partition(b" ")
        if not sep or not _KEY.match(key) or not value:
            raise PointerError(f"line {number} is not `key value`")
        if key <= previous:
            raise PointerError(f"keys must be sorted and unique (line {number}: {key.decode()})")
        previous = key
        try:
            values[key.decode()] = value.decode("ascii")
        except UnicodeDecodeError:
            raise PointerError(f"line {number} is not ASCII") from None
    oid_text = values.get("oid")
    size_text = values.get("size")
    if oid_text is None or size_text is None:
        raise PointerError("pointer needs both `oid` and `size`")
    oid = _OID.match(oid_text)
    if not oid:
        raise PointerError("oid must be `sha256:` and 64 lowercase hex digits")
    if not size_text.isdigit() or (len(size_text) > 1 and size_text.startswith("0")):
        raise PointerError("size must be a non-negative decimal integer")
    return Pointer(oid.group(1), int(size_text))
