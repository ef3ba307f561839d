"""modelreg.types against the JSON Schemas: every property, required key, enum and leaf type."""

from __future__ import annotations

import shutil
import types as pytypes
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints, is_typeddict

import pytest

from modelreg import schemas
from modelreg import types as mtypes

ROOT = Path(__file__).resolve().parent.parent
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


_MISTYPED = """
from collections.abc import Iterator

from modelreg.checks import ModelContext, VersionContext, check
from modelreg.findings import Finding


@check("version", rules=("MR001",))
def takes_the_wrong_context(ctx: ModelContext) -> Iterator[Finding]:
    yield from ()


@check("model", rules=("MR001",), prepare=print)
def prepares_a_model(ctx: ModelContext) -> Iterator[Finding]:
    yield from ()


def misspells_the_memo(ctx: VersionContext) -> None:
    ctx.memo.deep_jobs = None


def reads_a_field_the_schema_lacks(ctx: VersionContext) -> object:
    return ctx.metadata["artifact"]["sha"]
"""


@pytest.mark.slow  # a mypy run over modelreg: ~20 s with a cold cache
def test_mistyped_checks_are_mypy_errors(tmp_path: Path) -> None:
    """The typed seams bite: each mistake in the snippet is a mypy error on its line."""
    from mypy import api

    snippet = tmp_path / "snippet.py"
    snippet.write_text(_MISTYPED, encoding="utf-8")
    cache = ROOT / ".mypy_cache"
    if cache.is_dir():  # mypy validates its cache by content hash; a copy saves a cold run
        shutil.copytree(cache, tmp_path / "cache")
    out, _err, status = api.run(
        ["--strict", "--cache-dir", str(tmp_path / "cache"), "--no-error-summary", str(snippet)]
    )
    lines = {int(line.split(":")[1]) for line in out.splitlines() if ": error:" in line}
    assert status == 1, out
    assert lines == {8, 13, 19, 23}, out  # the decorators, the memo, the key
    assert 'Value of type variable "_V" of function cannot be "Callable[[ModelContext]' in out
    assert 'No overload variant of "check" matches argument types' in out
    assert '"VersionMemo" has no attribute "deep_jobs"' in out
    assert 'TypedDict "Artifact" has no key "sha"' in out
