"""This repository's pull-request workflow, run by tests/workflow_harness.py on a real PR.

A bare repository with a ``file://`` Git LFS store plays GitHub; the harness merges the PR
branch into main as GitHub does (``refs/pull/N/merge``), checks out what each job's checkout
step asks for (here: no LFS objects) and runs the jobs' ``run:`` steps with their shell, their
``env:`` expressions and GitHub's variables, so what is tested is the committed workflow.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import MODEL_HEAD, demo_model, write_eval_data
from modelreg.git.lfs import looks_like_pointer, read_head
from workflow_harness import (
    WORKFLOWS,
    Origin,
    Runner,
    load,
    open_pull_request,
    shell_argv,
    tool_env,
)

PR_WORKFLOW = WORKFLOWS / "pr.yml"
WORKFLOW: dict[str, Any] = load(PR_WORKFLOW)
MARKER = "<!-- modelreg-plan -->"

MODEL_YAML = MODEL_HEAD


def sh(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{cmd}: {proc.stdout}{proc.stderr}"
    return proc.stdout


def add_version(reg: Path, tmp: Path, env: dict[str, str], version: str, weight: float) -> None:
    onnx_file = tmp / f"m{version}.onnx"
    onnx_file.write_bytes(demo_model(weight).SerializeToString())
    eval_file = tmp / "eval.npz"
    if not eval_file.exists():
        write_eval_data(eval_file)
    sh(
        ["modelreg", "add", "demo", version, "--onnx", str(onnx_file), "--eval", str(eval_file),
         "--dataset-name", "d", "--dataset-version", "1", "--dataset-samples", "10",
         "--summary", f"Release {version}.", "--change", "Retrained", "--migration", "Drop-in",
         "--date", f"2024-02-1{version[2]}", "--sample", "2", "--runs", "0"],
        reg, env,
    )  # fmt: skip


@pytest.fixture
def pr(tmp_path: Path) -> dict[str, Any]:
    """origin (bare + LFS) with main (demo 1.0.0) and PR #1 adding 1.1.0, merged by "GitHub"."""
    env = tool_env(tmp_path)
    origin = Origin.create(tmp_path / "origin.git", env)
    dev = tmp_path / "dev"
    sh(["modelreg", "init", str(dev)], tmp_path, env)
    sh(["git", "lfs", "install", "--local"], dev, env)
    sh(["git", "remote", "add", "origin", origin.url], dev, env)
    (dev / "models/demo").mkdir()
    (dev / "models/demo/model.yaml").write_text(MODEL_YAML, encoding="utf-8")
    add_version(dev, tmp_path, env, "1.0.0", 0.25)
    model_yaml = dev / "models/demo/model.yaml"
    model_yaml.write_text(model_yaml.read_text().replace("candidate", "production"))
    sh(["git", "add", "-A"], dev, env)
    sh(["git", "commit", "-q", "-m", "demo 1.0.0"], dev, env)
    sh(["git", "push", "-q", "origin", "main"], dev, env)
    sh(["git", "switch", "-q", "-c", "add-1.1.0"], dev, env)
    add_version(dev, tmp_path, env, "1.1.0", 0.5)
    sh(["git", "add", "-A"], dev, env)
    sh(["git", "commit", "-q", "-m", "demo 1.1.0"], dev, env)
    sh(["git", "push", "-q", "origin", "add-1.1.0"], dev, env)
    event = open_pull_request(origin, "add-1.1.0", env, tmp_path)
    return {"origin": origin, "event": event, "env": env, "tmp": tmp_path, "dev": dev}


def runner(pr: dict[str, Any], name: str, *jobs: str, env: dict[str, str] | None = None) -> Runner:
    scratch = pr["tmp"] / name
    scratch.mkdir()
    return Runner(PR_WORKFLOW, pr["origin"], pr["event"], scratch, env or pr["env"], only=jobs)


def is_pointer(path: Path) -> bool:
    return looks_like_pointer(read_head(path))


@pytest.mark.slow
def test_changed_version_selective_lfs_pull_annotations_and_summary(pr: dict[str, Any]) -> None:
    run = runner(pr, "honest", "changes", "validate").run()
    assert run.reported == []
    changes = run.job("changes")
    assert changes.result == "success", changes.log
    got = changes.step("Versions this pull request").outputs
    assert got["count"] == "1" and got["gates"] == "0"
    (entry,) = json.loads(got["matrix"])["include"]
    assert entry["name"] == "demo@1.1.0"
    # HEAD is GitHub's merge commit, and the checkout fetched full history (fetch-depth: 0).
    ws = changes.workspace
    assert ws is not None
    parents = sh(["git", "rev-list", "--parents", "-n", "1", "HEAD"], ws, pr["env"]).split()
    assert parents[1:] == [pr["event"].context["event"]["pull_request"]["base"]["sha"],
                           pr["event"].context["event"]["pull_request"]["head"]["sha"]]  # fmt: skip

    (validate,) = run.jobs["validate"]
    assert validate.name == "validate demo@1.1.0"
    pulled = validate.step("Pull this version's LFS objects only")
    checked = validate.step("modelreg validate (annotations and job summary)")
    assert [pulled.returncode, checked.returncode] == [0, 0], validate.log
    assert validate.step("Promotion gate").outcome == "skipped"  # gate: false
    ws = validate.workspace
    assert ws is not None
    # Only the changed version's objects were pulled; the checkout itself pulled none.
    assert not is_pointer(ws / "models/demo/1.1.0/model.onnx")
    assert is_pointer(ws / "models/demo/1.0.0/model.onnx")
    summary = validate.step("modelreg validate").summary
    assert summary.startswith("### ✅ modelreg validate: 1 version: all checks passed")


@pytest.mark.slow
def test_corrupted_artifact_fails_with_an_annotation_and_a_summary_table(
    pr: dict[str, Any],
) -> None:
    """A PR whose artifact bytes differ from its metadata (a new LFS object, same metadata)."""
    dev, env = pr["dev"], pr["env"]
    onnx_path = dev / "models/demo/1.1.0/model.onnx"
    data = bytearray(onnx_path.read_bytes())
    data[-1] ^= 1
    onnx_path.write_bytes(bytes(data))
    sh(["git", "commit", "-q", "-am", "corrupt"], dev, env)
    sh(["git", "push", "-q", "origin", "add-1.1.0"], dev, env)
    pr["event"] = open_pull_request(pr["origin"], "add-1.1.0", env, pr["tmp"], number=2)
    run = runner(pr, "corrupt", "changes", "validate").run()
    (job,) = run.jobs["validate"]
    assert job.result == "failure"
    validate = job.step("modelreg validate (annotations and job summary)")
    assert job.failed_step is validate
    assert validate.returncode == 1
    assert re.search(
        r"^::error file=models/demo/1\.1\.0/model\.onnx,title=MR201 sha256-mismatch::sha256 is ",
        validate.stdout,
        re.M,
    ), validate.stdout
    # The runner acted on it: an annotation, not just text.
    assert any(c.command == "error" and "MR201" in c.properties for c in validate.commands)
    assert validate.summary.startswith("### ❌") and "| MR201 |" in validate.summary


@pytest.mark.slow
def test_plan_comment_is_sticky_and_under_the_limit(pr: dict[str, Any]) -> None:
    tmp = pr["tmp"]
    # A plan far beyond GitHub's comment limit, from a modelreg that delegates all but `plan`;
    # one of its lines tries to be a workflow command.
    shim = tmp / "shim"
    shim.mkdir()
    (shim / "modelreg").write_text(
        "#!/usr/bin/env bash\n"
        'if [ "$1" = plan ]; then echo "::error title=pwned::from the plan";'
        ' for i in $(seq 4000); do echo "| row $i | ✅ Δ +0.1% |"; done; exit 0; fi\n'
        f'exec "{sys.executable}" -m modelreg "$@"\n',
        encoding="utf-8",
    )
    (shim / "modelreg").chmod(0o755)
    env = {**pr["env"], "PATH": f"{shim}{os.pathsep}{pr['env']['PATH']}"}
    run = runner(pr, "plan", "plan", env=env).run()
    job = run.job("plan")
    render = job.step("Render the plan (metrics deltas and manifest diff)")
    assert render.returncode == 0, render.stderr
    # Posting needs GitHub's API; the PR comes from a fork here, so the step's `if:` is false.
    assert job.step("Post or update the sticky plan comment").outcome == "skipped"
    assert job.workspace is not None
    comment = (job.workspace / "comment.md").read_text(encoding="utf-8")  # valid UTF-8
    assert comment.startswith(MARKER + "\n")
    assert len(comment) < 60_000 + 200
    assert len((job.workspace / "plan.md").read_text(encoding="utf-8")) > 60_000
    assert "truncated" in comment
    assert MARKER in render.summary
    # The plan was printed inside a stop-commands fence: the runner made no annotation.
    assert "::error title=pwned::from the plan" in render.stdout
    assert render.commands == []


@pytest.mark.parametrize(
    ("results", "code"),
    [("success skipped success success", 0), ("success failure skipped success", 1),
     ("cancelled success success success", 1)],
)  # fmt: skip
def test_required_check_fails_unless_every_job_passed_or_was_skipped(
    tmp_path: Path, results: str, code: int
) -> None:
    (step,) = WORKFLOW["jobs"]["modelreg"]["steps"]
    script = tmp_path / "step.sh"
    script.write_text(step["run"], encoding="utf-8")
    shell = WORKFLOW["defaults"]["run"]["shell"]
    proc = subprocess.run(
        shell_argv(shell, script),
        env={**os.environ, "RESULTS": results},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == code, proc.stdout
