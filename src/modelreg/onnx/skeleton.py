"""An ONNX ModelProto without its weights: the skeleton the facts are read from.

``onnx.load`` reads the whole file into memory and copies every initializer into a Python
message, although the facts modelreg compares (signature, opsets, producer, op inventory,
external data references) never look at tensor payloads. On a 100 MiB model that read and
copy cost about 0.17 s of a deep check. :func:`skeleton` instead walks the protobuf wire
format over a memory map, copies everything except the payload fields of the main graph's
initializers (``raw_data``, ``float_data``, ... ; names, dims, types, ``data_location`` and
``external_data`` stay), and returns bytes that parse as the same ModelProto minus those
payloads.

Only the main graph's initializers (dense and sparse) are thinned: that is where the bytes
are. Everything else, subgraphs and functions included, is copied verbatim. Anything the
walk does not understand (a truncated field, a group, a length past the end) raises
:class:`SkimError`, and the caller falls back to a full parse, which then reports the real
problem. This runs only in the isolated child, like every other parse of artifact bytes.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

#: ModelProto.graph, GraphProto.initializer, GraphProto.sparse_initializer.
_MODEL_GRAPH = 7
_GRAPH_INITIALIZER = 5
_GRAPH_SPARSE_INITIALIZER = 15
#: SparseTensorProto.values and .indices (both TensorProto).
_SPARSE_VALUES = 1
_SPARSE_INDICES = 2
#: TensorProto payloads: float_data, int32_data, string_data, int64_data, raw_data,
#: double_data, uint64_data. Kept: dims, data_type, segment, name, doc_string,
#: external_data, data_location, metadata_props.
_TENSOR_PAYLOAD = frozenset({4, 5, 6, 7, 9, 10, 11})

_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5

Buffer = memoryview | bytes
Rewrite = Callable[[Buffer, int, int], bytes]


class SkimError(ValueError):
    """The bytes are not wire format this walker understands."""


def skeleton(path: Path) -> bytes:
    """The model at ``path`` as ModelProto bytes without its main initializers' payloads."""
    with path.open("rb") as fh:
        if fh.seek(0, 2) == 0:
            raise SkimError("empty file")
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            problem = ""
            view = memoryview(mapped)
            try:
                result = _model(view, 0, len(view))
            except SkimError as exc:
                # Raised after the map is closed: the traceback's frames hold slices of it.
                problem = str(exc)
            view.release()
    if problem:
        raise SkimError(problem)
    return result


def _varint(buf: Buffer, pos: int, end: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise SkimError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise SkimError("varint longer than 10 bytes")


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _fields(buf: Buffer, start: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """``(field, wire type, key offset, value start, value end)`` of each field in a message;
    for a length-delimited field the value is its payload, without the length prefix."""
    pos = start
    while pos < end:
        key_at = pos
        key, pos = _varint(buf, pos, end)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise SkimError("field number 0")
        if wire == _VARINT:
            _, value_end = _varint(buf, pos, end)
            value_start = pos
        elif wire == _FIXED64:
            value_start, value_end = pos, pos + 8
        elif wire == _FIXED32:
            value_start, value_end = pos, pos + 4
        elif wire == _LENGTH:
            length, value_start = _varint(buf, pos, end)
            value_end = value_start + length
        else:
            raise SkimError(f"wire type {wire} (groups are not used by ONNX)")
        if value_end > end:
            raise SkimError("a field runs past the end of its message")
        yield field, wire, key_at, value_start, value_end
        pos = value_end


def _rewrite(
    buf: Buffer, start: int, end: int, nested: Mapping[int, Rewrite], drop: frozenset[int]
) -> bytes:
    """The message with ``drop`` fields removed and ``nested`` messages rewritten."""
    pieces: list[Buffer] = []
    copy_from = start
    for field, wire, key_at, value_start, value_end in _fields(buf, start, end):
        if field in drop:
            pieces.append(buf[copy_from:key_at])
            copy_from = value_end
        elif wire == _LENGTH and field in nested:
            inner = nested[field](buf, value_start, value_end)
            pieces.append(buf[copy_from:key_at])
            pieces.append(_encode_varint((field << 3) | _LENGTH))
            pieces.append(_encode_varint(len(inner)))
            pieces.append(inner)
            copy_from = value_end
    if copy_from == start:
        return bytes(buf[start:end])
    pieces.append(buf[copy_from:end])
    return b"".join(pieces)


def _tensor(buf: Buffer, start: int, end: int) -> bytes:
    return _rewrite(buf, start, end, {}, _TENSOR_PAYLOAD)


def _sparse(buf: Buffer, start: int, end: int) -> bytes:
    return _rewrite(buf, start, end, {_SPARSE_VALUES: _tensor, _SPARSE_INDICES: _tensor}, _NONE)


def _graph(buf: Buffer, start: int, end: int) -> bytes:
    nested = {_GRAPH_INITIALIZER: _tensor, _GRAPH_SPARSE_INITIALIZER: _sparse}
    return _rewrite(buf, start, end, nested, _NONE)


def _model(buf: Buffer, start: int, end: int) -> bytes:
    return _rewrite(buf, start, end, {_MODEL_GRAPH: _graph}, _NONE)


_NONE: frozenset[int] = frozenset()
