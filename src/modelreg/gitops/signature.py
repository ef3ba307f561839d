"""Whether callers of one version keep working with another: the signature compatibility rule.

The rule the registry's ONNX checks state (MR307-MR309: "callers bind by name and position:
add a new version for a changed signature"), read as what a caller of the old version may rely
on. The promotion gate ``compatible_signature`` (:mod:`modelreg.gitops.gates`) judges a
candidate against production with it, and the catalog site's compare pages highlight the same
changes (:mod:`modelreg.render.site.compare`):

* an input added, removed, renamed or moved breaks callers (they must send exactly the
  inputs, by name and position);
* an output removed, renamed or moved breaks callers; an output appended after the old ones
  does not;
* another element type or kind (tensor, sequence, map) breaks callers;
* another rank breaks callers; a dimension breaks them when the new one accepts less than the
  old one did: for an input a fixed size where any size (a symbol or unknown) was accepted,
  or another fixed size; for an output another fixed size, or a symbol where a fixed size
  was promised. Renaming a symbol (``batch`` → ``N``) is compatible.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def type_text(node: Any) -> str:
    """``tensor(int64) [batch, sequence]``: the type as the model cards write it."""
    if not isinstance(node, dict):
        return "unknown"
    if "tensor" in node:
        shape = node.get("shape")
        dims = "?" if shape is None else ", ".join("?" if d is None else str(d) for d in shape)
        return f"tensor({node['tensor']}) [{dims}]"
    for kind in ("sequence", "optional"):
        if kind in node:
            return f"{kind}({type_text(node[kind])})"
    if "map" in node and isinstance(node["map"], dict):
        return f"map({node['map'].get('key')}, {type_text(node['map'].get('value'))})"
    return "unknown"


@dataclass(frozen=True)
class SignatureRow:
    """One input or output in either version."""

    side: str  # "input" or "output"
    name: str
    old: str | None  # type text; None: absent in the old version
    new: str | None
    change: str  # "same", "added", "removed", "moved", "type", "shape"
    incompatible: bool
    why: str


def _kind_and_elem(node: Any) -> tuple[str, str]:
    if isinstance(node, dict) and "tensor" in node:
        return "tensor", str(node["tensor"])
    return "other", type_text(node)


def _dim_breaks(old: Any, new: Any, side: str) -> bool:
    if old == new:
        return False
    old_fixed, new_fixed = isinstance(old, int), isinstance(new, int)
    if side == "input":
        # The new input must accept whatever the old one accepted.
        return new_fixed
    # The new output must promise whatever the old one promised.
    return old_fixed


def _shape_breaks(old: Any, new: Any, side: str) -> str | None:
    old_shape = old.get("shape") if isinstance(old, dict) else None
    new_shape = new.get("shape") if isinstance(new, dict) else None
    if old_shape == new_shape:
        return None
    if old_shape is None or new_shape is None:
        # An unknown rank became known, or the reverse.
        broke = (side == "input" and new_shape is not None) or (
            side == "output" and new_shape is None
        )
        return "rank now unknown or fixed" if broke else ""
    if len(old_shape) != len(new_shape):
        return f"rank {len(old_shape)} → {len(new_shape)}"
    for i, (a, b) in enumerate(zip(old_shape, new_shape, strict=True)):
        if _dim_breaks(a, b, side):
            return f"dimension {i}: {'?' if a is None else a} → {'?' if b is None else b}"
    return ""


def _judge(side: str, old: Any, new: Any) -> tuple[str, bool, str]:
    if _kind_and_elem(old) != _kind_and_elem(new):
        return "type", True, "element type or kind changed"
    if not (isinstance(old, dict) and "tensor" in old):
        return ("same", False, "") if old == new else ("type", True, "type changed")
    why = _shape_breaks(old, new, side)
    if why is None:
        return "same", False, ""
    if why:
        return "shape", True, why
    return "shape", False, "shape generalised (callers unaffected)"


def signature_diff(old_meta: Mapping[str, Any], new_meta: Mapping[str, Any]) -> list[SignatureRow]:
    """Every input and output of either version, with the change and whether it breaks callers."""
    rows: list[SignatureRow] = []
    for key, side in (("inputs", "input"), ("outputs", "output")):
        old = [io for io in old_meta.get("onnx", {}).get(key, []) if isinstance(io, dict)]
        new = [io for io in new_meta.get("onnx", {}).get(key, []) if isinstance(io, dict)]
        old_names = [str(io.get("name")) for io in old]
        new_names = [str(io.get("name")) for io in new]
        old_by = dict(zip(old_names, old, strict=True))
        new_by = dict(zip(new_names, new, strict=True))
        for i, name in enumerate(old_names):
            old_text = type_text(old_by[name].get("type"))
            if name not in new_by:
                rows.append(
                    SignatureRow(side, name, old_text, None, "removed", True, f"{side} removed")
                )
                continue
            new_text = type_text(new_by[name].get("type"))
            if new_names.index(name) != i:
                rows.append(
                    SignatureRow(
                        side, name, old_text, new_text, "moved", True,
                        f"position {i} → {new_names.index(name)}",
                    )
                )  # fmt: skip
                continue
            change, broke, why = _judge(side, old_by[name].get("type"), new_by[name].get("type"))
            rows.append(SignatureRow(side, name, old_text, new_text, change, broke, why))
        for i, name in enumerate(new_names):
            if name in old_by:
                continue
            appended = side == "output" and i >= len(old_names)
            why = "output appended (callers unaffected)" if appended else f"{side} added"
            new_text = type_text(new_by[name].get("type"))
            rows.append(SignatureRow(side, name, None, new_text, "added", not appended, why))
    return rows
