"""The pull-request workflow's shell steps, run locally against a real repository.

A bare repository with a ``file://`` Git LFS store plays GitHub; a clone made with
``GIT_LFS_SKIP_SMUDGE=1`` plays ``actions/checkout`` with ``lfs: false``. Each ``run:`` step of
``.github/workflows/pr.yml`` is executed as Actions runs it (``bash -eo pipefail``) with its
``env:`` expressions filled from a context, so what is tested is the committed workflow.
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
import yaml

from conftest import MODEL_HEAD, demo_model, write_eval_data
from modelreg.lfs import looks_like_pointer, read_head

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW: dict[str, Any] = yaml.safe_load(
    (ROOT / ".github/workflows/pr.yml").read_text(encoding="utf-8")
)
EXPR = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")
MARKER = "<!-- modelreg-plan -->"

MODEL_YAML = MODEL_HEAD


def base_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "NO_COLOR": "1",
        "MODELREG_NO_CACHE": "1",
    }


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
    """origin (bare + LFS) with main (demo 1.0.0) and a PR branch adding 1.1.0; a workspace."""
    env = base_env(tmp_path)
    origin = tmp_path / "origin.git"
    sh(["git", "init", "-q", "--bare", "--initial-branch=main", str(origin)], tmp_path, env)
    dev = tmp_path / "dev"
    sh(["modelreg", "init", str(dev)], tmp_path, env)
    sh(["git", "lfs", "install", "--local"], dev, env)
    sh(["git", "remote", "add", "origin", origin.as_uri()], dev, env)
    (dev / "models/demo").mkdir()
    (dev / "models/demo/model.yaml").write_text(MODEL_YAML, encoding="utf-8")
    add_version(dev, tmp_path, env, "1.0.0", 0.25)
    model_yaml = dev / "models/demo/model.yaml"
    model_yaml.write_text(model_yaml.read_text().replace("candidate", "production"))
    sh(["git", "add", "-A"], dev, env)
    sh(["git", "commit", "-q", "-m", "demo 1.0.0"], dev, env)
    sh(["git", "push", "-q", "origin", "main"], dev, env)
    base = sh(["git", "rev-parse", "HEAD"], dev, env).strip()
    sh(["git", "switch", "-q", "-c", "add-1.1.0"], dev, env)
    add_version(dev, tmp_path, env, "1.1.0", 0.5)
    sh(["git", "add", "-A"], dev, env)
    sh(["git", "commit", "-q", "-m", "demo 1.1.0"], dev, env)
    sh(["git", "push", "-q", "origin", "add-1.1.0"], dev, env)

    ws = tmp_path / "ws"
    clone_env = {**env, "GIT_LFS_SKIP_SMUDGE": "1"}
    sh(
        ["git", "clone", "-q", "--branch", "add-1.1.0", origin.as_uri(), str(ws)],
        tmp_path,
        clone_env,
    )
    return {"ws": ws, "base": base, "env": env, "tmp": tmp_path}


def run_job(
    job: str, ctx: dict[str, Any], cwd: Path, env: dict[str, str], tmp: Path
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every ``run:`` step of ``job`` (checkout/setup/install are the test's own setup)."""
    results: dict[str, subprocess.CompletedProcess[str]] = {}
    for step in WORKFLOW["jobs"][job]["steps"]:
        if "uses" in step or step["name"] == "Install modelreg":
            continue
        condition = step.get("if")
        if condition is not None and not ctx[condition]:
            continue
        step_env = dict(env)
        for key, value in step.get("env", {}).items():
            step_env[key] = EXPR.sub(lambda m: str(ctx[m.group(1)]), str(value))
        script = tmp / "step.sh"
        script.write_text(step["run"], encoding="utf-8")
        results[step["name"]] = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=cwd,
            env=step_env,
            capture_output=True,
            text=True,
            check=False,
        )
    return results


def github_env(tmp: Path, env: dict[str, str]) -> dict[str, str]:
    out, summary = tmp / "github_output", tmp / "step_summary"
    out.write_text("", encoding="utf-8")
    summary.write_text("", encoding="utf-8")
    return {**env, "GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(summary)}


def outputs(path: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in Path(path).read_text().splitlines() if "=" in line)


def is_pointer(path: Path) -> bool:
    return looks_like_pointer(read_head(path))


def test_changed_version_selective_lfs_pull_annotations_and_summary(pr: dict[str, Any]) -> None:
    ws, tmp = pr["ws"], pr["tmp"]
    env = github_env(tmp, pr["env"])
    ctx: dict[str, Any] = {"github.event.pull_request.base.sha": pr["base"]}

    steps = run_job("changes", ctx, ws, env, tmp)
    assert all(p.returncode == 0 for p in steps.values()), steps
    got = outputs(env["GITHUB_OUTPUT"])
    assert got["count"] == "1" and got["gates"] == "0"
    (entry,) = json.loads(got["matrix"])["include"]
    assert entry["name"] == "demo@1.1.0"

    # Both artifacts are pointers after a checkout without LFS.
    assert is_pointer(ws / "models/demo/1.0.0/model.onnx")
    assert is_pointer(ws / "models/demo/1.1.0/model.onnx")
    env = github_env(tmp, pr["env"])
    ctx = {f"matrix.{k}": v for k, v in entry.items()} | {
        "github.token": "",
        "github.server_url": "https://github.com",
    }
    steps = run_job("validate", ctx, ws, env, tmp)
    assert [p.returncode for p in steps.values()] == [0, 0], steps
    # Only the changed version's objects were pulled.
    assert not is_pointer(ws / "models/demo/1.1.0/model.onnx")
    assert is_pointer(ws / "models/demo/1.0.0/model.onnx")
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8")
    assert summary.startswith("### ✅ modelreg validate: 1 version: all checks passed")

    # A corrupted artifact: annotations on stdout, a failing step, a table in the summary.
    onnx_path = ws / "models/demo/1.1.0/model.onnx"
    data = bytearray(onnx_path.read_bytes())
    data[-1] ^= 1
    onnx_path.write_bytes(bytes(data))
    env = github_env(tmp, pr["env"])
    steps = run_job("validate", ctx, ws, env, tmp)
    validate = steps["modelreg validate (annotations and job summary)"]
    assert validate.returncode == 1
    assert re.search(
        r"^::error file=models/demo/1\.1\.0/model\.onnx,title=MR201 sha256-mismatch::sha256 is ",
        validate.stdout,
        re.M,
    ), validate.stdout
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8")
    assert summary.startswith("### ❌") and "| MR201 |" in summary


def test_plan_comment_is_sticky_and_under_the_limit(pr: dict[str, Any]) -> None:
    ws, tmp = pr["ws"], pr["tmp"]
    # A plan far beyond GitHub's comment limit, from a modelreg that delegates all but `plan`.
    shim = tmp / "shim"
    shim.mkdir()
    (shim / "modelreg").write_text(
        "#!/usr/bin/env bash\n"
        'if [ "$1" = plan ]; then for i in $(seq 4000); do echo "| row $i | ✅ Δ +0.1% |"; done;'
        " exit 0; fi\n"
        f'exec "{sys.executable}" -m modelreg "$@"\n',
        encoding="utf-8",
    )
    (shim / "modelreg").chmod(0o755)
    env = github_env(tmp, pr["env"])
    env["PATH"] = f"{shim}{os.pathsep}{env['PATH']}"
    ctx = {
        "github.event.pull_request.base.sha": pr["base"],
        # Posting needs GitHub's API; the comment's text is what is tested here.
        "github.event.pull_request.head.repo.full_name == github.repository": False,
    }
    steps = run_job("plan", ctx, ws, env, tmp)
    render = steps["Render the plan (metrics deltas and manifest diff)"]
    assert render.returncode == 0, render.stderr
    comment = (ws / "comment.md").read_text(encoding="utf-8")  # valid UTF-8 after the cut
    assert comment.startswith(MARKER + "\n")
    assert len(comment) < 60_000 + 200
    assert len((ws / "plan.md").read_text(encoding="utf-8")) > 60_000
    assert "truncated" in comment
    assert MARKER in Path(env["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8")


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
    proc = subprocess.run(
        ["bash", "-eo", "pipefail", str(script)],
        env={**os.environ, "RESULTS": results},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == code, proc.stdout
