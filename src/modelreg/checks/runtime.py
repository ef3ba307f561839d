"""Runtime (MR4xx): onnxruntime loads the model and reproduces every golden vector set.

Runs in the isolated child (:mod:`modelreg.isolate`), like the structure checks.
"""

from __future__ import annotations

from collections.abc import Iterator

from modelreg.checks import VersionContext, check, missing_dependency
from modelreg.checks.integrity import local_artifact
from modelreg.findings import Finding
from modelreg.isolate import run_child
from modelreg.rules import rule


@check("version", rules=("MR401", "MR402", "MR403", "MR404", "MR901", "MR902"), deep=True)
def golden_vectors(ctx: VersionContext) -> Iterator[Finding]:
    """Load a CPU session; run each ``test_vectors`` set within its tolerances."""
    assert ctx.meta is not None
    path = local_artifact(ctx)
    if path is None:
        return  # MR203/MR204/MR206 already say why
    rel = ctx.registry.rel(path)
    if absent := missing_dependency(rel, "golden vectors not run", "onnxruntime", "onnx", "numpy"):
        yield absent
        return
    sets = ctx.meta["test_vectors"]
    result = run_child("run", path, spec={"version_dir": str(ctx.version.dir), "sets": sets})
    if result.died:
        yield rule("MR902").finding(rel, f"runtime check died: {result.died}; nothing was proven")
        return
    if result.error is not None:
        yield rule("MR401").finding(rel, result.error.replace(str(path), rel))
        return
    assert result.data is not None
    if "session_error" in result.data:
        yield rule("MR401").finding(
            rel, f"onnxruntime cannot load the model: {result.data['session_error']}"
        )
        return
    view = result.data["session"]
    for side in ("inputs", "outputs"):
        declared = [io["name"] for io in ctx.meta["onnx"][side]]
        if view[side] != declared:
            yield rule("MR402").finding(
                ctx.metadata_rel,
                f"onnxruntime sees {side} {view[side]}; metadata declares {declared}",
                *ctx.position("onnx", side),
            )
    for i, outcome in enumerate(result.data["sets"]):
        where = ctx.rel(outcome["path"])
        line, _col = ctx.position("test_vectors", i, "path")
        for kind, problem in outcome["problems"]:
            rule_id = "MR404" if kind == "mismatch" else "MR403"
            yield rule(rule_id).finding(
                where, f"{problem} (set declared in {ctx.metadata_rel}:{line})"
            )
