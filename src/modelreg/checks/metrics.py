"""Evaluation (MR405, MR406): the claimed accuracy and F1 are what the artifact scores.

The evaluation file must hash to ``evaluation.data.sha256``; the metrics are recomputed in
the version's one isolated deep child (:mod:`._deep`, the same session as the golden
vectors) and a claim may differ from the recomputation by at most 1/N (one sample).

The file is read through the registry's tree (a symlink on its path is MR006, never a read)
and bounded from its zip directory and array headers before anything is decompressed (MR409).
"""

from __future__ import annotations

from collections.abc import Iterator

from modelreg.checks import VersionContext, check, missing_dependency
from modelreg.checks._deep import (
    deep_run,
    died,
    eval_bounds,
    eval_data_path,
    file_sha256,
    prestart,
)
from modelreg.checks.integrity import local_artifact
from modelreg.findings import Finding
from modelreg.lfs import looks_like_pointer, read_head
from modelreg.rules import rule
from modelreg.treefs import symlink_finding


@check(
    "version",
    rules=("MR006", "MR204", "MR405", "MR406", "MR409", "MR901", "MR902"),
    deep=True,
    prepare=prestart,
)
def evaluation_metrics(ctx: VersionContext) -> Iterator[Finding]:
    """Hash the evaluation file, recompute accuracy and F1, compare within 1/N."""
    assert ctx.meta is not None
    evaluation = ctx.meta["evaluation"]
    data = evaluation["data"]
    line, col = ctx.position("evaluation", "data", "path")
    target, reason = eval_data_path(ctx, data["path"])
    if target is None:
        yield rule("MR406").finding(
            ctx.metadata_rel, f"evaluation.data.path `{data['path']}` {reason}", line, col
        )
        return
    rel = ctx.registry.rel(target)
    tree = ctx.registry.tree
    if link := tree.symlink_on(target):
        yield symlink_finding(*link)
        return
    if not tree.is_file(target):
        yield rule("MR406").finding(rel, f"evaluation file named in {ctx.metadata_rel}:{line} "
                                    "does not exist")  # fmt: skip
        return
    if looks_like_pointer(read_head(target, tree=tree)):
        yield rule("MR204").finding(
            rel, f'is a Git LFS pointer; run: git lfs pull --include="{rel}"'
        )
        return
    actual = file_sha256(ctx, target)
    if actual != data["sha256"]:
        yield rule("MR406").finding(
            rel,
            f"sha256 is {actual}; {ctx.metadata_rel} says {data['sha256']}: the metrics were "
            "measured on other data",
        )
        return
    model_path = local_artifact(ctx)
    if model_path is None:
        return  # integrity findings already explain
    if absent := missing_dependency(rel, "metrics not recomputed", "onnxruntime", "numpy"):
        yield absent
        return
    if refused := eval_bounds(ctx, target):
        for problem in refused:
            yield rule("MR409").finding(rel, f"refused before decompressing: {problem}")
        return
    result = deep_run(ctx, model_path)
    yield from died(ctx, ctx.registry.rel(model_path), result)
    scored = (result.data or {}).get("evaluate")
    if scored is None and result.died:
        return
    if scored is None:
        run = (result.data or {}).get("run") or {}
        why = run.get("session_error") or "the model could not be loaded (see MR301/MR207)"
        yield rule("MR406").finding(rel, f"cannot evaluate: {why}")
        return
    if "error" in scored:
        yield rule("MR406").finding(rel, f"cannot evaluate: {scored['error']}")
        return
    n = int(scored["samples"])
    if n != data["samples"]:
        yield rule("MR406").finding(
            ctx.metadata_rel,
            f"evaluation.data.samples is {data['samples']}; the file has {n} labelled rows",
            *ctx.position("evaluation", "data", "samples"),
        )
    f1 = evaluation["metrics"]["f1"]
    claims = (
        ("accuracy", evaluation["metrics"]["accuracy"], scored["accuracy"], ("accuracy",)),
        ("f1", f1["value"], scored["f1"], ("f1", "value")),
    )
    for name, claimed, measured, path in claims:
        if abs(claimed - measured) > 1 / n:
            yield rule("MR405").finding(
                ctx.metadata_rel,
                f"{name} claims {claimed}, but it measures {measured:.6f} on {n} samples "
                f"(tolerance 1/N = {1 / n:.6f})",
                *ctx.position("evaluation", "metrics", *path),
            )
