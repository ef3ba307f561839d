"""Two versions of one model side by side: metric deltas, signature diff, metadata diff.

The signature diff and its compatibility rule are :mod:`modelreg.gitops.signature`'s, the
rule the promotion gate ``compatible_signature`` judges with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelreg.gitops.signature import SignatureRow, signature_diff, type_text

__all__ = ["SignatureRow", "flat_diff", "flatten", "metadata_diff", "signature_diff", "type_text"]


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """A nested metadata mapping as ``dotted.key`` → text (lists by index), for the diff."""
    out: dict[str, str] = {}
    if isinstance(value, dict):
        for key in sorted(value, key=str):
            out.update(flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list) and value and any(isinstance(v, (dict, list)) for v in value):
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{i}]"))
    elif isinstance(value, list):
        out[prefix] = "[" + ", ".join(str(v) for v in value) + "]"
    else:
        out[prefix] = "" if value is None else str(value)
    return out


def metadata_diff(
    old_meta: Mapping[str, Any], new_meta: Mapping[str, Any]
) -> list[tuple[str, str, str]]:
    """``(key, old, new)`` for every metadata field that differs (signature and metrics aside)."""
    return flat_diff(flatten(old_meta), flatten(new_meta))


def flat_diff(a: Mapping[str, str], b: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """:func:`metadata_diff` of two :func:`flatten` results (a site flattens each version once)."""
    skip = ("onnx.inputs", "onnx.outputs", "evaluation.metrics", "version")
    rows = []
    for key in sorted(set(a) | set(b)):
        if key.startswith(skip):
            continue
        if a.get(key) != b.get(key):
            rows.append((key, a.get(key, "—"), b.get(key, "—")))
    return rows
