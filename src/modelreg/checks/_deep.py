"""One isolated child per version for every deep fact the checks compare.

Parsing, onnx's checker, the onnxruntime session, the golden vectors and the evaluation all
happen in a single ``python -m modelreg._child deep`` process: the model is parsed once and
one session serves both the vectors and the evaluation, so a large model costs one load, not
three. The parent has already hashed every file (integrity), so the child hashes nothing.
The structure, runtime and metrics checks each read their part; the first to ask runs it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from modelreg.checks import VersionContext, missing_modules
from modelreg.evaluation import score_args
from modelreg.findings import Finding
from modelreg.hashing import sha256_file
from modelreg.isolate import ChildResult, cancel_child, finish_child, run_child, start_child
from modelreg.lfs import looks_like_pointer, read_head
from modelreg.rules import rule


def file_sha256(ctx: VersionContext, path: Path) -> str:
    """sha256 of ``path``, computed once per run of this version's checks."""
    key = f"sha256:{path}"
    if key not in ctx.memo:
        ctx.memo[key] = sha256_file(path)[0]
    return str(ctx.memo[key])


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


def evaluation_spec(ctx: VersionContext) -> dict[str, Any] | None:
    """What the child needs to score the model, when the evaluation file is the declared one.

    None when the file is unsafe, missing, a pointer or differs from its hash: the metrics
    check reports that, and nothing is scored on data the claims were not measured on.
    """
    assert ctx.meta is not None
    evaluation = ctx.meta["evaluation"]
    target, _reason = eval_data_path(ctx, evaluation["data"]["path"])
    if target is None or not target.is_file() or looks_like_pointer(read_head(target)):
        return None
    if file_sha256(ctx, target) != evaluation["data"]["sha256"]:
        return None
    labels = (ctx.model_data or {}).get("labels") or []
    return {
        "data": str(target),
        "output": evaluation["output"],
        **score_args(labels, evaluation["metrics"]["f1"]),
    }


def prestart(ctx: VersionContext) -> None:
    """Start the version's deep child before the other checks run (the ``prepare`` of every
    check that reads :func:`deep_run`): it parses the model, runs onnx's checker and opens
    the session while the parent hashes files; it is handed its spec when first asked."""
    from modelreg.checks.integrity import local_artifact  # integrity imports this module

    if "deep" in ctx.memo or "deep-child" in ctx.memo or ctx.meta is None:
        return
    path = local_artifact(ctx)
    if path is None or missing_modules("onnx", "onnxruntime", "numpy"):
        return  # the checks report why; nothing to start
    started = start_child("deep", path)
    ctx.memo["deep-child"] = (path, started)

    def stop_unused() -> None:
        if ctx.memo.get("deep-child") is not None:
            cancel_child(started)

    ctx.cleanups.append(stop_unused)


def deep_run(ctx: VersionContext, model_path: Path) -> ChildResult:
    """The version's deep facts (run once, shared by the deep checks)."""
    if "deep" not in ctx.memo:
        assert ctx.meta is not None
        spec = {
            "version_dir": str(ctx.version.dir),
            "sets": ctx.meta["test_vectors"],
            "evaluate": evaluation_spec(ctx),
        }
        early = ctx.memo.get("deep-child")
        ctx.memo["deep-child"] = None
        if early is not None and early[0] == model_path:
            ctx.memo["deep"] = finish_child(early[1], spec)
        else:
            if early is not None:
                cancel_child(early[1])
            ctx.memo["deep"] = run_child("deep", model_path, spec=spec)
    result: ChildResult = ctx.memo["deep"]
    return result


def died(ctx: VersionContext, rel: str, result: ChildResult) -> Iterator[Finding]:
    """One MR902 per version when the deep child died, from whichever check sees it first."""
    if result.died is None or "died-reported" in ctx.memo:
        return
    ctx.memo["died-reported"] = True
    finished = ", ".join(sorted((result.data or {}).keys())) or "nothing"
    yield rule("MR902").finding(
        rel,
        f"deep checks died: {result.died}; finished before that: {finished}; the rest is unproven",
    )
