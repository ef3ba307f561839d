"""Triton Inference Server ``config.pbtxt`` generated from a version's metadata signature.

The ONNX Runtime backend (``platform: "onnxruntime_onnx"``) takes the inputs and outputs of
``metadata.yaml`` in order: element types map to ``TYPE_*``, symbolic and unknown dimensions
become ``-1``. When every input and output starts with a symbolic batch dimension the model
batches: ``max_batch_size`` comes from ``deployment.max_batch_size`` (default
:data:`DEFAULT_MAX_BATCH_SIZE`) and the batch dimension is left out of ``dims``, as Triton
expects. ``deployment.max_batch_size: 0`` switches batching off and keeps every dimension.

Every string is written as a protobuf text-format string literal (:func:`pbtxt_string`,
the escaping of protobuf's own ``text_format``), never refused by pattern: Triton binds a
config input to the ONNX graph input of exactly the same name, and ONNX allows any string
there, so rewriting a name would stop the model from loading and refusing one would refuse a
valid model. Escaped, a name such as ``} input { name: "evil"`` stays one string and cannot
add, remove or change a field of the configuration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from modelreg.errors import ModelregError

PLATFORM = "onnxruntime_onnx"
DEFAULT_MAX_BATCH_SIZE = 8

#: ONNX element types (metadata spelling) → Triton data types.
TRITON_TYPES = {
    "bool": "TYPE_BOOL",
    "uint8": "TYPE_UINT8",
    "uint16": "TYPE_UINT16",
    "uint32": "TYPE_UINT32",
    "uint64": "TYPE_UINT64",
    "int8": "TYPE_INT8",
    "int16": "TYPE_INT16",
    "int32": "TYPE_INT32",
    "int64": "TYPE_INT64",
    "float16": "TYPE_FP16",
    "float": "TYPE_FP32",
    "double": "TYPE_FP64",
    "bfloat16": "TYPE_BF16",
    "string": "TYPE_STRING",
}


_PBTXT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", '"': '\\"', "'": "\\'", "\\": "\\\\"}


def pbtxt_string(value: str) -> str:
    """``value`` as a double-quoted protobuf text-format string literal.

    As ``google.protobuf.text_encoding.CEscape(value, as_utf8=False)``: the UTF-8 bytes,
    printable ASCII as itself, ``\\``, ``"``, ``'``, newline, carriage return and tab
    backslash-escaped, every other byte (controls, non-ASCII) as a three-digit octal escape.
    """
    out = []
    for byte in value.encode("utf-8", "surrogatepass"):
        char = chr(byte)
        if char in _PBTXT_ESCAPES:
            out.append(_PBTXT_ESCAPES[char])
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def _comment(text: str) -> str:
    """``text`` for a ``#`` comment line: no line break or control character can end it."""
    return pbtxt_string(text)[1:-1]


def _tensors(meta: Mapping[str, Any], key: str, where: str) -> list[tuple[str, str, list[Any]]]:
    onnx = meta.get("onnx") or {}
    items = onnx.get(key)
    if not isinstance(items, list) or not items:
        raise ModelregError(f"{where}: onnx.{key} is empty; Triton needs the signature")
    tensors = []
    for item in items:
        name = item.get("name")
        vtype = item.get("type") or {}
        elem = vtype.get("tensor")
        if elem is None:
            kind = next(iter(vtype), "unknown")
            raise ModelregError(
                f"{where}: {key[:-1]} {name!r} is a {kind}, not a tensor; Triton's ONNX Runtime "
                "backend serves tensors only"
            )
        if elem not in TRITON_TYPES:
            raise ModelregError(
                f"{where}: {key[:-1]} {name!r} has element type {elem}, which Triton cannot serve"
            )
        shape = vtype.get("shape")
        if shape is None:
            raise ModelregError(
                f"{where}: {key[:-1]} {name!r} has no shape (unknown rank); Triton needs dims"
            )
        tensors.append((str(name), TRITON_TYPES[elem], list(shape)))
    return tensors


def _is_symbolic(dim: Any) -> bool:
    return dim is None or isinstance(dim, str)


def _dims(shape: Sequence[Any]) -> str:
    return "[ " + ", ".join("-1" if _is_symbolic(d) else str(int(d)) for d in shape) + " ]"


def config_pbtxt(model: str, meta: Mapping[str, Any], where: str) -> str:
    """The Triton model configuration for one version (``where`` names metadata.yaml)."""
    inputs = _tensors(meta, "inputs", where)
    outputs = _tensors(meta, "outputs", where)
    batchable = all(shape and _is_symbolic(shape[0]) for _, _, shape in inputs + outputs)
    deployment = meta.get("deployment") or {}
    asked = deployment.get("max_batch_size")
    if asked is None:
        max_batch = DEFAULT_MAX_BATCH_SIZE if batchable else 0
    elif asked > 0 and not batchable:
        raise ModelregError(
            f"{where}: deployment.max_batch_size is {asked}, but not every input and output "
            "starts with a symbolic batch dimension; set it to 0"
        )
    else:
        max_batch = int(asked)
    lines = [
        f"# Generated by modelreg from {_comment(where)}; do not edit.",
        f"name: {pbtxt_string(model)}",
        f"platform: {pbtxt_string(PLATFORM)}",
        f"max_batch_size: {max_batch}",
    ]
    for key, tensors in (("input", inputs), ("output", outputs)):
        lines.append(f"{key} [")
        for i, (name, dtype, shape) in enumerate(tensors):
            dims = shape[1:] if max_batch > 0 else shape
            lines += [
                "  {",
                f"    name: {pbtxt_string(name)}",
                f"    data_type: {dtype}",
            ]
            if dims:
                lines.append(f"    dims: {_dims(dims)}")
            else:
                # A scalar per request: Triton wants one dimension, reshaped away.
                lines += ["    dims: [ 1 ]", "    reshape: { shape: [ ] }"]
            lines.append("  }" + ("," if i < len(tensors) - 1 else ""))
        lines.append("]")
    lines.append("instance_group [ { count: 1, kind: KIND_CPU } ]")
    if max_batch > 0:
        lines.append("dynamic_batching { }")
    return "\n".join(lines) + "\n"
