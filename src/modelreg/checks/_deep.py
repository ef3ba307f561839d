"""One isolated task per version for every deep fact the checks compare.

Parsing, onnx's checker, the onnxruntime session, the golden vectors and the evaluation all
happen in a single ``deep`` task on a worker of :mod:`modelreg.onnx.isolate`: the model is parsed
once and one session serves both the vectors and the evaluation, so a large model costs one
load, not three. The parent has already hashed every file (integrity), so the child hashes nothing.
The structure, runtime and metrics checks each read their part; the first to ask runs it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from modelreg.checks import VersionContext, missing_modules
from modelreg.findings import Finding
from modelreg.git.lfs import looks_like_pointer, read_head
from modelreg.hashing import sha256_file
from modelreg.onnx import isolate
from modelreg.onnx.evaluation import metric_args
from modelreg.onnx.evaluation import signature as eval_signature
from modelreg.onnx.isolate import ChildResult
from modelreg.rules import rule


def file_sha256(ctx: VersionContext, path: Path) -> str:
    """sha256 of ``path`` (read through the registry's tree), once per version's checks."""
    known = ctx.memo.sha256
    if path not in known:
        known[path] = sha256_file(path, tree=ctx.registry.tree)[0]
    return known[path]


def eval_data_path(ctx: VersionContext, relative: str) -> tuple[Path | None, str]:
    """The evaluation file, which may sit in the model's shared ``data/`` (``../data/x``).

    Lexical only: normpath folds ``1.1.0/../data``, and every read of the result goes through
    the registry's tree, which refuses a symlink anywhere on the folded path (MR006).
    """
    target = Path(os.path.normpath(ctx.version.dir / relative))
    if relative.startswith("/") or not target.is_relative_to(ctx.model.dir):
        return None, "is outside the model directory"
    return target, ""


def eval_bounds(ctx: VersionContext, target: Path) -> list[str]:
    """Why the evaluation file must not be decompressed (MR409), judged from its zip
    directory and array headers against the metadata (once per version's checks)."""
    from modelreg.onnx.evaluation import npz_problems

    known = ctx.memo.eval_bounds
    if target not in known:
        with ctx.registry.tree.open_binary(target) as fh:
            known[target] = npz_problems(fh, eval_signature(ctx.metadata))
    return known[target]


def evaluation_spec(ctx: VersionContext) -> dict[str, Any] | None:
    """What the child needs to score the model, when the evaluation file is the declared one.

    None when the file is unsafe, missing, a pointer or differs from its hash: the metrics
    check reports that, and nothing is scored on data the claims were not measured on.
    """
    evaluation = ctx.metadata["evaluation"]
    tree = ctx.registry.tree
    target, _reason = eval_data_path(ctx, evaluation["data"]["path"])
    if target is None or not tree.is_file(target):
        return None  # a symlink is not a file here: nothing behind it reaches the child
    if looks_like_pointer(read_head(target, tree=tree)):
        return None
    if file_sha256(ctx, target) != evaluation["data"]["sha256"] or eval_bounds(ctx, target):
        return None
    labels = (ctx.model_data or {}).get("labels") or []
    return {
        "data": str(target),
        "output": evaluation["output"],
        "bounds": eval_signature(ctx.metadata),
        **metric_args(labels, evaluation["metrics"]),
    }


def deep_spec(ctx: VersionContext) -> dict[str, Any]:
    """What the version's deep task needs besides the model: the golden vectors and, when the
    evaluation file is the declared one, what to score on it."""
    return {
        "version_dir": str(ctx.version.dir),
        "sets": ctx.metadata["test_vectors"],
        "evaluate": evaluation_spec(ctx),
    }


def prestart(ctx: VersionContext) -> None:
    """Queue the version's deep task on the worker pool before the other checks run (the
    ``prepare`` of every check that reads :func:`deep_run`): a warm worker parses the model,
    runs onnx's checker, opens the session and runs the vectors while the parent hashes files
    and the runner prepares the next versions. Outside a pool, :func:`deep_run` runs it."""
    from modelreg.checks.integrity import local_artifact  # integrity imports this module

    pool = isolate.current()
    memo = ctx.memo
    if pool is None or memo.deep is not None or memo.deep_started or ctx.meta is None:
        return
    path = local_artifact(ctx)
    if path is None or missing_modules("onnx", "onnxruntime", "numpy"):
        return  # the checks report why; nothing to start
    job = pool.submit("deep", path, deep_spec(ctx))
    memo.deep_job, memo.deep_started = (path, job), True

    def stop_unused() -> None:
        if memo.deep_job is not None:
            job.cancel()

    ctx.cleanups.append(stop_unused)


def deep_run(ctx: VersionContext, model_path: Path) -> ChildResult:
    """The version's deep facts (run once, shared by the deep checks)."""
    memo = ctx.memo
    if memo.deep_bug is not None:
        # A bug of the pool met by the first check (each check reports it as MR901): the
        # next check gets the same error, not a second run of the whole task.
        raise memo.deep_bug
    if memo.deep is None:
        early = memo.deep_job
        memo.deep_job, memo.deep_started = None, True
        try:
            if early is not None and early[0] == model_path:
                memo.deep = early[1].result()
            else:
                if early is not None:
                    early[1].cancel()
                memo.deep = isolate.run_child("deep", model_path, spec=deep_spec(ctx))
        except Exception as exc:
            memo.deep_bug = exc
            raise
    return memo.deep


def died(ctx: VersionContext, rel: str, result: ChildResult) -> Iterator[Finding]:
    """One MR902 per version when the deep child died, from whichever check sees it first."""
    if result.died is None or ctx.memo.died_reported:
        return
    ctx.memo.died_reported = True
    finished = ", ".join(sorted((result.data or {}).keys())) or "nothing"
    yield rule("MR902").finding(
        rel,
        f"deep checks died: {result.died}; finished before that: {finished}; the rest is unproven",
    )
