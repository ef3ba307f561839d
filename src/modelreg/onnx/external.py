"""External data references, judged by modelreg before any library opens a data file.

An ONNX tensor may keep its bytes in another file (``data_location: EXTERNAL`` with
``location``, ``offset`` and ``length`` entries). onnx and onnxruntime resolve those
locations themselves, and older versions followed ``..``, absolute paths and symbolic links
out of the model's directory. So modelreg reads the references from the parsed protobuf
(no data loaded) and refuses, with its own code and whatever the installed onnx checks:

* a location that is empty, absolute, has a drive, uses ``\\``, contains ``..`` or NUL;
* a location that passes through a symbolic link in any component (judged by
  :mod:`modelreg.treefs` rooted at the model's directory, without following), is not a
  regular file, has more than one hard link (an alias of a file outside the directory), or
  resolves outside the model's directory;
* a negative offset or length, or ``offset + length`` past the end of the file (and, without a
  length, an offset past the end);
* more external tensors than ``MODELREG_MAX_EXTERNAL_TENSORS`` (default 1,000,000) or a data
  file larger than ``MODELREG_MAX_FILE_MB`` (default 65,536 MiB).

Only when :func:`problems` is empty may onnx's checker or an onnxruntime session see the file.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING

from modelreg import config
from modelreg.config import Settings
from modelreg.errors import ModelregError
from modelreg.treefs import Tree

if TYPE_CHECKING:
    from onnx import ModelProto, TensorProto


@dataclass(frozen=True)
class Limits:
    """Caps on what a model may reference; configurable by environment for huge models."""

    max_external_tensors: int
    max_file_bytes: int

    @classmethod
    def of(cls, settings: Settings | None = None) -> Limits:
        """The caps in force: ``MODELREG_MAX_EXTERNAL_TENSORS``, ``MODELREG_MAX_FILE_MB``
        (None: this process's environment, as a worker reads it; :mod:`modelreg.config`)."""
        chosen = config.or_env(settings).valid("max_external_tensors", "max_file_mb")
        return cls(chosen.max_external_tensors, chosen.max_file_mb * 1024 * 1024)


@dataclass(frozen=True)
class Reference:
    """One tensor's external data entry, as written in the protobuf."""

    tensor: str
    location: str | None
    offset: int | None
    length: int | None


class UnsafeExternalData(ModelregError):
    """External data references that modelreg refuses to let any library open."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.problems = problems
        more = f"; and {len(problems) - 3} more" if problems[3:] else ""
        shown = "; ".join(problems[:3]) + more
        super().__init__(f"{path}: unsafe external data: {shown}")


def references(model: ModelProto) -> list[Reference]:
    """Every tensor stored externally, anywhere in the model (subgraphs, functions too)."""
    from onnx import TensorProto

    from modelreg.onnx.facts import tensors

    found = []
    for tensor in tensors(model):
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        found.append(_reference(tensor))
    return found


def _reference(tensor: TensorProto) -> Reference:
    entries = {e.key: e.value for e in tensor.external_data}

    def number(key: str) -> int | None:
        raw = entries.get(key)
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError:
            return -1  # reported as invalid below, never used

    return Reference(tensor.name, entries.get("location"), number("offset"), number("length"))


def location_problem(location: str | None) -> str:
    """Why a location string is refused without looking at the disk ("" if it is not)."""
    if not location or "\x00" in location:
        return "is not a file name"
    if "\\" in location:
        return "uses `\\`; write `/`"
    if PurePosixPath(location).is_absolute() or PureWindowsPath(location).drive:
        return "is an absolute path; it must be relative to the model file"
    if ".." in PurePosixPath(location).parts:
        return "contains `..`; keep data files next to the model file"
    return ""


def resolve(base: Path, location: str) -> tuple[Path | None, str]:
    """The data file for ``location`` under ``base``, or why it is refused."""
    if reason := location_problem(location):
        return None, reason
    tree = Tree(base)
    current = base.joinpath(*PurePosixPath(location).parts)
    if link := tree.symlink_on(current):
        return None, f"passes through the symbolic link `{PurePosixPath(link[0]).name}`"
    try:
        st = tree.lstat(current)
    except OSError:
        st = None
    if st is None:
        return None, "names a file that does not exist"
    if not stat.S_ISREG(st.st_mode):
        return None, "is not a regular file"
    if st.st_nlink > 1:
        return None, f"is a file with {st.st_nlink} hard links; it must be a file of its own"
    if not current.resolve().is_relative_to(base.resolve()):
        return None, "resolves outside the model's directory"
    return current, ""


def problems(model_path: Path, refs: list[Reference], limits: Limits) -> list[str]:
    """Every reason to refuse ``refs`` of the model at ``model_path`` (empty: safe)."""
    found: list[str] = []
    if len(refs) > limits.max_external_tensors:
        found.append(
            f"{len(refs)} external tensors exceed the cap of {limits.max_external_tensors} "
            "(MODELREG_MAX_EXTERNAL_TENSORS)"
        )
        return found
    sizes: dict[str, int] = {}
    for ref in refs:
        found.extend(_judge(model_path.parent, ref, limits, sizes))
    return found


def _judge(base: Path, ref: Reference, limits: Limits, sizes: dict[str, int]) -> Iterator[str]:
    where = f"tensor `{ref.tensor}` location {ref.location!r}"
    if ref.location is None:
        yield f"tensor `{ref.tensor}` is stored externally but has no location"
        return
    normal = PurePosixPath(ref.location).as_posix() if not location_problem(ref.location) else ""
    if normal not in sizes:
        target, reason = resolve(base, ref.location)
        if target is None:
            yield f"{where} {reason}"
            sizes[normal] = -1
            return
        sizes[normal] = target.stat().st_size
        if sizes[normal] > limits.max_file_bytes:
            yield (
                f"{where}: the file has {sizes[normal]} bytes, over the cap of "
                f"{limits.max_file_bytes} (MODELREG_MAX_FILE_MB)"
            )
    size = sizes[normal]
    if size < 0:
        return  # already reported for an earlier tensor in the same file
    offset, length = ref.offset or 0, ref.length
    if offset < 0 or (length is not None and length < 0):
        yield f"{where} has a negative or non-numeric offset ({ref.offset}) or length ({length})"
    elif length is not None and offset + length > size:
        yield (
            f"{where}: offset {offset} + length {length} = {offset + length} is past the end "
            f"of the {size}-byte file"
        )
    elif offset > size:
        yield f"{where}: offset {offset} is past the end of the {size}-byte file"


def may_reference(model_path: Path) -> bool:
    """False only when the file cannot hold an external reference (no ``location`` key bytes).

    A scan for the key is far cheaper than parsing a large protobuf, and its absence proves
    that no tensor names an external file.
    """
    import mmap

    with model_path.open("rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            return False
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as view:
            return view.find(b"location") != -1


def guard(model_path: Path, limits: Limits | None = None) -> list[Reference]:
    """Raise unless every external reference of ``model_path`` is safe (data not loaded).

    Call this before handing the path to onnx's checker or to onnxruntime.
    """
    import onnx

    if not may_reference(model_path):
        return []
    try:
        model = onnx.load(str(model_path), format="protobuf", load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError has no typed import
        raise ModelregError(f"{model_path}: not a valid ONNX file ({exc})") from None
    refs = references(model)
    if found := problems(model_path, refs, limits or Limits.of()):
        raise UnsafeExternalData(model_path, found)
    return refs
