"""Runtime (MR4xx): onnxruntime loads the model and reproduces every golden vector set.

Runs in the version's one isolated deep child (:mod:`._deep`), with the structure checks.
"""

from __future__ import annotations

from collections.abc import Iterator

from modelreg.checks import VersionContext, check, missing_dependency
from modelreg.checks._deep import deep_run, died, prestart
from modelreg.checks.integrity import local_artifact
from modelreg.findings import Finding
from modelreg.rules import rule


@check(
    "version",
    rules=("MR401", "MR402", "MR403", "MR404", "MR901", "MR902"),
    deep=True,
    prepare=prestart,
)
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
    result = deep_run(ctx, path)
    yield from died(ctx, rel, result)
    if result.error is not None:
        yield rule("MR401").finding(rel, str(result.error).replace(str(path), rel))
        return
    run = (result.data or {}).get("run")
    if run is None and result.died:
        return
    if run is None:
        inspected = (result.data or {}).get("inspect", {})
        why = (
            "its external data was refused (MR207)"
            if "unsafe" in inspected
            else (str(inspected.get("error", "it does not parse")).replace(str(path), rel))
        )
        yield rule("MR401").finding(rel, f"no onnxruntime session was opened: {why}")
        return
    if "session_error" in run:
        message = str(run["session_error"]).replace(str(path), rel)
        yield rule("MR401").finding(rel, f"onnxruntime cannot load the model: {message}")
        return
    view = run["session"]
    for side in ("inputs", "outputs"):
        declared = [io["name"] for io in ctx.meta["onnx"][side]]
        if view[side] != declared:
            yield rule("MR402").finding(
                ctx.metadata_rel,
                f"onnxruntime sees {side} {view[side]}; metadata declares {declared}",
                *ctx.position("onnx", side),
            )
    for i, outcome in enumerate(run["sets"]):
        where = ctx.rel(outcome["path"])
        line, _col = ctx.position("test_vectors", i, "path")
        for kind, problem in outcome["problems"]:
            rule_id = "MR404" if kind == "mismatch" else "MR403"
            yield rule(rule_id).finding(
                where, f"{problem} (set declared in {ctx.metadata_rel}:{line})"
            )
