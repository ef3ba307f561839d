"""ONNX structure and signature (MR3xx): the file declares what the metadata says.

The facts come from :func:`modelreg.onnx.facts.inspect_file`, the code behind
``modelreg inspect``, run in the version's one isolated deep child (:mod:`._deep`) together
with ``onnx.checker.check_model(path, full_check=True)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from modelreg.checks import VersionContext, check, missing_dependency
from modelreg.checks._deep import deep_run, died, prestart
from modelreg.checks.integrity import local_artifact
from modelreg.findings import Finding
from modelreg.onnx.evaluation import class_count
from modelreg.rules import rule

_KINDS = ("tensor", "sequence", "map", "optional")


@check(
    "version",
    rules=(*(f"MR3{n:02d}" for n in range(1, 11)), "MR207", "MR208", "MR901", "MR902"),
    deep=True,
    prepare=prestart,
)
def onnx_structure(ctx: VersionContext) -> Iterator[Finding]:
    """Parse, check and compare the ONNX file's declared facts with metadata's ``onnx``."""
    assert ctx.meta is not None
    path = local_artifact(ctx)
    if path is None:
        return  # MR203/MR204/MR206 already say why
    rel = ctx.registry.rel(path)
    if absent := missing_dependency(rel, "structure and signature not checked", "onnx"):
        yield absent
        return
    result = deep_run(ctx, path)
    yield from died(ctx, rel, result)
    inspected = (result.data or {}).get("inspect")
    if inspected is None:
        if not result.died:
            yield rule("MR301").finding(rel, str(result.error).replace(str(path), rel))
        return
    if "error" in inspected:
        yield rule("MR301").finding(rel, str(inspected["error"]).replace(str(path), rel))
        return
    if "unsafe" in inspected:
        for problem in inspected["unsafe"]:
            yield rule("MR207").finding(rel, f"external data refused: {problem}")
        return  # neither onnx's checker nor a session may open those files
    if inspected.get("checker"):
        yield rule("MR302").finding(rel, f"onnx.checker: {inspected['checker']}")
    facts: dict[str, Any] = inspected["facts"]
    yield from _declared_data(ctx, rel, facts["artifact"].get("external_data") or [])
    yield from compare(ctx, facts["onnx"], facts.get("ops", {}))


def _declared_data(
    ctx: VersionContext, rel: str, referenced: list[dict[str, Any]]
) -> Iterator[Finding]:
    """Data files the ONNX file references against those ``artifact.external_data`` lists."""
    external = ctx.metadata["artifact"].get("external_data", [])
    declared = {e["path"]: i for i, e in enumerate(external)}
    used = {e["path"] for e in referenced}
    for path in sorted(used - declared.keys()):
        yield rule("MR208").finding(
            ctx.metadata_rel,
            f"{rel} references the external data file `{path}`, which artifact.external_data "
            "does not declare (so nothing checks its hash)",
            *ctx.position("artifact"),
        )
    for path in sorted(declared.keys() - used):
        yield rule("MR208").finding(
            ctx.metadata_rel,
            f"artifact.external_data declares `{path}`, but {rel} does not reference it",
            *ctx.position("artifact", "external_data", declared[path], "path"),
        )


def compare(ctx: VersionContext, actual: dict[str, Any], ops: dict[str, int]) -> Iterator[Finding]:
    """Findings for every difference between the file's facts and ``metadata.onnx``."""
    assert ctx.meta is not None
    declared: dict[str, Any] = ctx.meta["onnx"]
    where = ctx.metadata_rel

    def at(*path: str | int) -> tuple[int | None, int | None]:
        return ctx.position("onnx", *path)

    if actual["ir_version"] != declared["ir_version"]:
        yield rule("MR303").finding(
            where,
            f"onnx.ir_version: the file has {actual['ir_version']}, metadata says "
            f"{declared['ir_version']}",
            *at("ir_version"),
        )
    for domain in sorted(set(actual["opsets"]) | set(declared["opsets"])):
        mine, theirs = actual["opsets"].get(domain), declared["opsets"].get(domain)
        if mine != theirs:
            yield rule("MR304").finding(
                where,
                f"onnx.opsets: domain `{domain}` is {_opset(mine)} in the file, "
                f"{_opset(theirs)} in metadata",
                *at("opsets", domain) if theirs is not None else at("opsets"),
            )
    used = sorted({key.split("::", 1)[0] for key in ops})
    for domain in used:
        if domain not in declared["opsets"]:
            yield rule("MR305").finding(
                where,
                f"operators from domain `{domain}` are used but onnx.opsets does not declare it",
                *at("opsets"),
            )
    for key in ("name", "version"):
        mine, theirs = actual["producer"][key], declared["producer"][key]
        if mine != theirs:
            yield rule("MR306").finding(
                where,
                f"onnx.producer.{key}: the file says {mine!r}, metadata says {theirs!r}",
                *at("producer", key),
            )
    for side in ("inputs", "outputs"):
        yield from _compare_io(ctx, side, actual[side], declared[side])
    yield from _labels(ctx, actual["outputs"])


def _opset(version: int | None) -> str:
    return "absent" if version is None else f"version {version}"


def _compare_io(
    ctx: VersionContext, side: str, actual: list[dict[str, Any]], declared: list[dict[str, Any]]
) -> Iterator[Finding]:
    where = ctx.metadata_rel
    names_a = [io["name"] for io in actual]
    names_d = [io["name"] for io in declared]
    if names_a != names_d:
        for i in range(max(len(names_a), len(names_d))):
            a = names_a[i] if i < len(names_a) else None
            d = names_d[i] if i < len(names_d) else None
            if a != d:
                line, col = ctx.position("onnx", side, min(i, len(names_d) - 1))
                yield rule("MR307").finding(
                    where,
                    f"onnx.{side}[{i}]: the file has {_name(a)}, metadata has {_name(d)} "
                    f"(file order: {', '.join(names_a) or 'none'})",
                    line,
                    col,
                )
        return
    for i, (a, d) in enumerate(zip(actual, declared, strict=True)):
        yield from _compare_type(ctx, ("onnx", side, i, "type"), a["type"], d["type"])


def _name(name: str | None) -> str:
    return "nothing" if name is None else f"`{name}`"


def _kind(vt: dict[str, Any] | None) -> str:
    if not isinstance(vt, dict):
        return "untyped"
    return next((k for k in _KINDS if k in vt), "unknown")


def _compare_type(
    ctx: VersionContext, path: tuple[str | int, ...], actual: Any, declared: dict[str, Any]
) -> Iterator[Finding]:
    where = ctx.metadata_rel
    label = _label(path)
    kind_a, kind_d = _kind(actual), _kind(declared)
    if kind_a != kind_d:
        yield rule("MR308").finding(
            where, f"{label}: the file has a {kind_a}, metadata a {kind_d}", *ctx.position(*path)
        )
        return
    if kind_d == "tensor":
        if actual["tensor"] != declared["tensor"]:
            yield rule("MR308").finding(
                where,
                f"{label}: element type is {actual['tensor']} in the file, "
                f"{declared['tensor']} in metadata",
                *ctx.position(*path, "tensor"),
            )
        shape_a, shape_d = actual.get("shape"), declared.get("shape")
        if (shape_a is None) != (shape_d is None):
            yield rule("MR309").finding(
                where,
                f"{label}: the rank is {_rank(shape_a)} in the file, {_rank(shape_d)} in metadata",
                *ctx.position(*path),
            )
        elif shape_a is not None and shape_d is not None:
            if len(shape_a) != len(shape_d):
                yield rule("MR309").finding(
                    where,
                    f"{label}: rank {len(shape_a)} in the file {shape_a}, "
                    f"rank {len(shape_d)} in metadata {shape_d}",
                    *ctx.position(*path, "shape"),
                )
            else:
                for j, (da, dd) in enumerate(zip(shape_a, shape_d, strict=True)):
                    if type(da) is not type(dd) or da != dd:
                        yield rule("MR309").finding(
                            where,
                            f"{label}: dimension {j} is {_dim(da)} in the file, "
                            f"{_dim(dd)} in metadata",
                            *ctx.position(*path, "shape", j),
                        )
    elif kind_d == "map":
        if actual["map"]["key"] != declared["map"]["key"]:
            yield rule("MR308").finding(
                where,
                f"{label}: map key type is {actual['map']['key']} in the file, "
                f"{declared['map']['key']} in metadata",
                *ctx.position(*path, "map", "key"),
            )
        yield from _compare_type(
            ctx, (*path, "map", "value"), actual["map"]["value"], declared["map"]["value"]
        )
    elif kind_d in ("sequence", "optional"):
        yield from _compare_type(ctx, (*path, kind_d), actual[kind_d], declared[kind_d])


def _label(path: tuple[str | int, ...]) -> str:
    side, index = path[1], path[2]
    rest = "".join(f".{p}" for p in path[4:])
    return f"onnx.{side}[{index}]{rest}"


def _rank(shape: list[Any] | None) -> str:
    return "unknown" if shape is None else str(len(shape))


def _dim(dim: Any) -> str:
    if dim is None:
        return "unknown"
    if isinstance(dim, str):
        return f"the symbol `{dim}`"
    return f"the fixed size {dim}"


def _labels(ctx: VersionContext, outputs: list[dict[str, Any]]) -> Iterator[Finding]:
    """The label count equals the class (last) dimension of the scored output."""
    assert ctx.meta is not None
    labels = (ctx.model_data or {}).get("labels")
    scored = ctx.meta["evaluation"]["output"]
    by_name = {io["name"]: io for io in outputs}
    if scored not in by_name:
        yield rule("MR307").finding(
            ctx.metadata_rel,
            f"evaluation.output `{scored}` is not an output of the model "
            f"(outputs: {', '.join(by_name) or 'none'})",
            *ctx.position("evaluation", "output"),
        )
        return
    # A label output's shape is its batch, not its classes: they are counted on the class
    # scores beside it (evaluation.class_count); a symbolic class dimension is not counted.
    counted = class_count(outputs, scored)
    if not isinstance(labels, list) or counted is None:
        return
    name, classes = counted
    if classes != len(labels):
        shape = by_name[name]["type"].get("shape")
        beside = "" if name == scored else f" (the class scores beside label output `{scored}`)"
        yield rule("MR310").finding(
            ctx.registry.rel(ctx.model.model_path),
            f"{len(labels)} labels, but output `{name}`{beside} of {ctx.version.name} has "
            f"{classes} classes (shape {shape})",
            *(ctx.registry.document(ctx.model.model_path).key_position(("labels",))),
        )
