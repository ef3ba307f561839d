"""modelreg.types against the JSON Schemas: every property, required key, enum and leaf type."""

from __future__ import annotations

import types as pytypes
import typing
from typing import Any, Literal, get_args, get_origin, get_type_hints, is_typeddict

import pytest

from modelreg import schemas
from modelreg import types as mtypes

_LEAVES: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool}


def _resolve(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """``node`` with its ``$ref`` followed (the sibling ``description`` dropped)."""
    while "$ref" in node:
        ref: str = node["$ref"]
        assert ref.startswith("#/$defs/"), ref
        node = root["$defs"][ref.removeprefix("#/$defs/")]
    return node


def _union_args(tp: Any) -> tuple[Any, ...]:
    if get_origin(tp) in (typing.Union, pytypes.UnionType):
        return get_args(tp)
    return (tp,)


def _compare(
    root: dict[str, Any], node: dict[str, Any], tp: Any, path: str, seen: set[Any] | None = None
) -> list[str]:
    """Every way the Python type ``tp`` differs from the schema ``node`` at ``path``."""
    node = _resolve(root, node)
    seen = set() if seen is None else seen
    if (id(node), tp) in seen:
        return []  # a recursive definition (value_type), already being compared
    seen.add((id(node), tp))
    if "oneOf" in node:
        branches = node["oneOf"]
        args = _union_args(tp)
        if len(args) != len(branches):
            return [f"{path}: oneOf has {len(branches)} branches, the type {len(args)}"]
        out: list[str] = []
        for i, (branch, arg) in enumerate(zip(branches, args, strict=True)):
            out += _compare(root, branch, arg, f"{path}<{i}>", seen)
        return out
    kind = node.get("type")
    if isinstance(kind, list):
        expected = {_LEAVES.get(k, type(None)) for k in kind}
        got = set(_union_args(tp))
        return [] if got == expected else [f"{path}: {kind} typed {tp}"]
    if kind == "object" and "properties" in node:
        return _compare_object(root, node, tp, path, seen)
    if kind == "object":
        if get_origin(tp) is not dict or get_args(tp)[0] is not str:
            return [f"{path}: a map typed {tp}"]
        return _compare(root, node["additionalProperties"], get_args(tp)[1], f"{path}.*", seen)
    if kind == "array":
        if get_origin(tp) is not list:
            return [f"{path}: an array typed {tp}"]
        return _compare(root, node["items"], get_args(tp)[0], f"{path}[]", seen)
    if "enum" in node:
        if get_origin(tp) is not Literal or set(get_args(tp)) != set(node["enum"]):
            return [f"{path}: enum {node['enum']} typed {tp}"]
        return []
    return [] if tp is _LEAVES[str(kind)] else [f"{path}: {kind} typed {tp}"]


def _compare_object(
    root: dict[str, Any], node: dict[str, Any], tp: Any, path: str, seen: set[Any]
) -> list[str]:
    if not is_typeddict(tp):
        return [f"{path}: an object typed {tp}"]
    assert node.get("additionalProperties") is False, path  # closed objects only
    hints = get_type_hints(tp)
    props: dict[str, Any] = node["properties"]
    out = [f"{path}: `{k}` is in the schema, not the type" for k in props.keys() - hints.keys()]
    out += [f"{path}: `{k}` is in the type, not the schema" for k in hints.keys() - props.keys()]
    required = set(node.get("required", []))
    if set(tp.__required_keys__) != required:
        out.append(f"{path}: required {sorted(required)}, typed {sorted(tp.__required_keys__)}")
    for key in sorted(props.keys() & hints.keys()):
        out += _compare(root, props[key], hints[key], f"{path}.{key}", seen)
    return out


@pytest.mark.parametrize(
    ("schema", "typed"), [("model", mtypes.ModelCard), ("metadata", mtypes.VersionMetadata)]
)
def test_types_match_the_schema(schema: str, typed: Any) -> None:
    root = schemas.load_schema(schema)
    assert _compare(root, root, typed, schema) == []


def test_drift_is_caught() -> None:
    """The walk fails on each kind of difference (else the test above proves nothing)."""
    root = schemas.load_schema("model")

    class Entry(typing.TypedDict):
        status: str  # not the enum's Literal
        supported_until: int  # wrong leaf, and required where the schema says optional
        extra: str  # not in the schema (and `note` is missing)

    node = {"$ref": "#/$defs/lifecycle_entry"}
    assert _compare(root, node, Entry, "e") == [
        "e: `note` is in the schema, not the type",
        "e: `extra` is in the type, not the schema",
        "e: required ['status'], typed ['extra', 'status', 'supported_until']",
        "e.status: enum ['candidate', 'production', 'supported', 'deprecated', 'retired'] "
        "typed <class 'str'>",
        "e.supported_until: string typed <class 'int'>",
    ]
    meta = schemas.load_schema("metadata")
    assert _compare(meta, {"$ref": "#/$defs/dim"}, int | str, "d") == [
        "d: ['integer', 'string', 'null'] typed int | str"
    ]
    assert _compare(meta, meta["$defs"]["evaluation"]["properties"]["metrics"], float, "m") == [
        "m: oneOf has 2 branches, the type 1"
    ]
