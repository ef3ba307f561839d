"""Evaluation (MR405, MR406, MR411): the claimed metrics are what the artifact scores.

The evaluation file must hash to ``evaluation.data.sha256``; the metrics are recomputed in
the version's one isolated deep child (:mod:`._deep`, the same session as the golden
vectors). A classifier's accuracy and F1 may differ from the recomputation by at most 1/N
(one sample); a regressor's MAE, RMSE and R² by the relative and absolute tolerances of
:data:`modelreg.onnx.evaluation.REGRESSION_RTOL` (declared in the metadata schema). Accuracy and
F1 claimed on a one-column float output (a regressor's, whose argmax is always class 0) are
MR411, never compared.

The file is read through the registry's tree (a symlink on its path is MR006, never a read)
and bounded from its zip directory and array headers before anything is decompressed (MR409).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

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
from modelreg.git.lfs import looks_like_pointer, read_head
from modelreg.onnx.evaluation import (
    REGRESSION_METRICS,
    is_regression,
    one_column,
    one_column_output,
    regression_tolerance,
)
from modelreg.rules import rule
from modelreg.treefs import symlink_finding


@check(
    "version",
    rules=("MR006", "MR204", "MR405", "MR406", "MR409", "MR411", "MR901", "MR902"),
    deep=True,
    prepare=prestart,
)
def evaluation_metrics(ctx: VersionContext) -> Iterator[Finding]:
    """Hash the evaluation file, recompute the metrics, compare within their tolerance."""
    evaluation = ctx.metadata["evaluation"]
    data = evaluation["data"]
    regression = is_regression(evaluation["metrics"])
    outputs = ctx.metadata["onnx"]["outputs"]
    if not regression and one_column_output(outputs, evaluation["output"]):
        # Judged from the declared signature (MR3xx prove it is the file's): no claim of
        # accuracy or F1 on such an output is evidence, whatever it says.
        yield rule("MR411").finding(
            ctx.metadata_rel,
            f"accuracy and F1 are claimed, but {one_column(evaluation['output'])}",
            *ctx.position("evaluation", "metrics"),
        )
        return
    line, col = ctx.position("evaluation", "data", "path")
    target, reason = eval_data_path(ctx, data["path"])
    if target is None:
        yield rule("MR406").finding(
            ctx.metadata_rel, f"evaluation.data.path `{data['path']}` {reason}", line, col
        )
        return
    rel = ctx.registry.rel(target)
    if (unusable := _unusable_data_file(ctx, target, rel, data["sha256"], line)) is not None:
        yield unusable
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
    metrics = evaluation["metrics"]
    if regression:
        yield from _compare_regression(ctx, metrics, scored, n)
    else:
        yield from _compare_classifier(ctx, rel, metrics, scored, n)


def _unusable_data_file(
    ctx: VersionContext, target: Path, rel: str, sha256: str, line: int | None
) -> Finding | None:
    """Why the evaluation file at ``target`` cannot be scored (a symlink on its path, no such
    file, a Git LFS pointer, other bytes than the metadata's hash), or None."""
    tree = ctx.registry.tree
    if link := tree.symlink_on(target):
        return symlink_finding(*link)
    if not tree.is_file(target):
        return rule("MR406").finding(rel, f"evaluation file named in {ctx.metadata_rel}:{line} "
                                     "does not exist")  # fmt: skip
    if looks_like_pointer(read_head(target, tree=tree)):
        return rule("MR204").finding(
            rel, f'is a Git LFS pointer; run: git lfs pull --include="{rel}"'
        )
    actual = file_sha256(ctx, target)
    if actual != sha256:
        return rule("MR406").finding(
            rel,
            f"sha256 is {actual}; {ctx.metadata_rel} says {sha256}: the metrics were "
            "measured on other data",
        )
    return None


def _compare_classifier(
    ctx: VersionContext, rel: str, metrics: Mapping[str, Any], scored: dict[str, Any], n: int
) -> Iterator[Finding]:
    """Accuracy and F1 claims against the recomputation, within one sample (MR405)."""
    if "accuracy" not in scored:
        yield rule("MR406").finding(rel, "cannot evaluate: the child scored no classifier")
        return
    claims = (
        ("accuracy", metrics["accuracy"], scored["accuracy"], ("accuracy",)),
        ("f1", metrics["f1"]["value"], scored["f1"], ("f1", "value")),
    )
    for name, claimed, measured, path in claims:
        if abs(claimed - measured) > 1 / n:
            yield rule("MR405").finding(
                ctx.metadata_rel,
                f"{name} claims {claimed}, but it measures {measured:.6f} on {n} samples "
                f"(tolerance 1/N = {1 / n:.6f})",
                *ctx.position("evaluation", "metrics", *path),
            )


def _compare_regression(
    ctx: VersionContext, metrics: Mapping[str, Any], scored: dict[str, Any], n: int
) -> Iterator[Finding]:
    """MAE, RMSE and R² claims against the recomputation (MR405)."""
    if any(name not in scored for name in REGRESSION_METRICS):
        yield rule("MR406").finding(
            ctx.metadata_rel, "cannot evaluate: the child scored no regressor"
        )
        return
    for name in REGRESSION_METRICS:
        claimed, measured = metrics[name], float(scored[name])
        allowed = regression_tolerance(name, measured, float(scored.get("scale") or 0.0))
        if not abs(claimed - measured) <= allowed:
            yield rule("MR405").finding(
                ctx.metadata_rel,
                f"{name} claims {claimed}, but it measures {measured:.6g} on {n} samples "
                f"(tolerance {allowed:.3g})",
                *ctx.position("evaluation", "metrics", name),
            )
