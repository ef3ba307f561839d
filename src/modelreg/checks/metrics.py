"""Evaluation (MR405, MR406): the claimed accuracy and F1 are what the artifact scores.

The evaluation file must hash to ``evaluation.data.sha256``; the metrics are recomputed in
the isolated child and a claim may differ from the recomputation by at most 1/N (one sample).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from modelreg.checks import VersionContext, check, missing_dependency
from modelreg.checks.integrity import local_artifact
from modelreg.findings import Finding
from modelreg.hashing import sha256_file
from modelreg.isolate import run_child
from modelreg.lfs import looks_like_pointer, read_head
from modelreg.rules import rule


def eval_data_path(ctx: VersionContext, relative: str) -> tuple[Path | None, str]:
    """The evaluation file, which may sit in the model's shared ``data/`` (``../data/x``)."""
    # normpath folds `1.1.0/../data` (no symlink can hide there: checked below).
    target = Path(os.path.normpath(ctx.version.dir / relative))
    model_dir = ctx.model.dir.resolve()
    if relative.startswith("/") or not target.resolve().is_relative_to(model_dir):
        return None, "is outside the model directory"
    for parent in (target, *target.parents):
        if parent == ctx.model.dir:
            break
        if parent.is_symlink():
            return None, f"goes through the symbolic link {parent.name}"
    return target, ""


@check("version", rules=("MR204", "MR405", "MR406", "MR901", "MR902"), deep=True)
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
    if not target.is_file():
        yield rule("MR406").finding(rel, f"evaluation file named in {ctx.metadata_rel}:{line} "
                                    "does not exist")  # fmt: skip
        return
    if looks_like_pointer(read_head(target)):
        yield rule("MR204").finding(
            rel, f'is a Git LFS pointer; run: git lfs pull --include="{rel}"'
        )
        return
    actual, _size = sha256_file(target)
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
    labels = (ctx.model_data or {}).get("labels") or []
    f1 = evaluation["metrics"]["f1"]
    positive = f1.get("positive_label")
    spec = {
        "data": str(target),
        "output": evaluation["output"],
        "classes": len(labels),
        "average": f1["average"],
        "positive": labels.index(positive) if positive in labels else len(labels) - 1,
    }
    result = run_child("evaluate", model_path, spec=spec)
    if result.died:
        yield rule("MR902").finding(
            ctx.registry.rel(model_path), f"evaluation died: {result.died}; nothing was proven"
        )
        return
    if result.error is not None or result.data is None:
        yield rule("MR406").finding(rel, f"cannot evaluate: {result.error}")
        return
    n = int(result.data["samples"])
    if n != data["samples"]:
        yield rule("MR406").finding(
            ctx.metadata_rel,
            f"evaluation.data.samples is {data['samples']}; the file has {n} labelled rows",
            *ctx.position("evaluation", "data", "samples"),
        )
    claims = (
        ("accuracy", evaluation["metrics"]["accuracy"], result.data["accuracy"], ("accuracy",)),
        ("f1", f1["value"], result.data["f1"], ("f1", "value")),
    )
    for name, claimed, measured, path in claims:
        if abs(claimed - measured) > 1 / n:
            yield rule("MR405").finding(
                ctx.metadata_rel,
                f"{name} claims {claimed}, but it measures {measured:.6f} on {n} samples "
                f"(tolerance 1/N = {1 / n:.6f})",
                *ctx.position("evaluation", "metrics", *path),
            )
