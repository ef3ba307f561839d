"""The pull-request workflow, run step by step on a hostile branch: it must fail, and say why.

Each case builds one class of attack from docs/security.md the way a PR author would, commits it
on ``pr``, then runs the ``run:`` steps of this repository's ``.github/workflows/pr.yml`` in
job order (pre-commit, changes, validate per matrix entry, plan, the required ``modelreg``
check) with GitHub's environment (``GITHUB_OUTPUT``, ``GITHUB_STEP_SUMMARY``, the base SHA).
The required check must fail, the job logs must name the expected rule, and ``.git/`` and every
file beside the repository must be byte-identical afterwards.
"""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from attack_support import REPO, PullRequest

WORKFLOW: dict[str, Any] = yaml.safe_load(
    (REPO / ".github/workflows/pr.yml").read_text(encoding="utf-8")
)
EXPR = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")
#: Steps a test cannot run (network, installs) and the reason.
SKIPPED_USES = ("actions/checkout", "actions/setup-python")


@dataclass
class Run:
    """What the jobs printed and how they ended."""

    results: dict[str, str] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)

    @property
    def log(self) -> str:
        return "\n".join(f"## {name}\n{text}" for name, text in self.logs.items())


def _run_job(
    job: str, ctx: dict[str, Any], pr: PullRequest, scratch: Path, *, run: Run, key: str
) -> str:
    """Run ``job``'s ``run:`` steps as Actions does (bash -eo pipefail); the job's result."""
    out, summary = scratch / f"{key}.output", scratch / f"{key}.summary"
    out.write_text("", encoding="utf-8")
    summary.write_text("", encoding="utf-8")
    env = {
        **pr.env,
        "GITHUB_OUTPUT": str(out),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_ACTIONS": "true",
        "CI": "true",
        "NO_COLOR": "1",
        # pre-commit's own cache is not the registry's business: keep it beside the scratch.
        "PRE_COMMIT_HOME": str(scratch / "pre-commit-home"),
    }
    log = []
    for step in WORKFLOW["jobs"][job]["steps"]:
        if str(step.get("uses", "")).startswith(SKIPPED_USES) or step.get("name") == (
            "Install modelreg"
        ):
            continue  # the checkout is pr.root, the tools are this interpreter's
        condition = step.get("if")
        if condition is not None and not ctx.get(condition):
            continue
        step_env = dict(env)
        for name, value in step.get("env", {}).items():
            step_env[name] = EXPR.sub(lambda m: str(ctx.get(m.group(1), "")), str(value))
        lfs_pull = "LFS objects" in step.get("name", "")
        if lfs_pull:  # git-lfs writes .git/lfs/ and .git/config by design; modelreg must not
            pr.assert_untouched(f"before {job}: {step['name']}")
        script = scratch / "step.sh"
        script.write_text(step["run"], encoding="utf-8")
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=pr.root,
            env=step_env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if lfs_pull:
            pr.snapshot()
        log.append(f"$ {step['name']} -> {proc.returncode}\n{proc.stdout}{proc.stderr}")
        assert "Traceback (most recent call last)" not in proc.stderr, log[-1]
        if proc.returncode != 0:
            run.logs[key] = "\n".join(log) + summary.read_text(encoding="utf-8")
            return "failure"
    run.logs[key] = "\n".join(log) + summary.read_text(encoding="utf-8")
    return "success"


def _outputs(path: Path) -> dict[str, str]:
    text = path.read_text(encoding="utf-8")
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def run_workflow(pr: PullRequest, scratch: Path) -> Run:
    """Every job of pr.yml on the checked-out ``pr`` branch; ``results`` by job."""
    scratch.mkdir(parents=True, exist_ok=True)
    base = pr.git("rev-parse", "main").strip()
    run = Run()
    ctx: dict[str, Any] = {"github.event.pull_request.base.sha": base}
    run.results["pre-commit"] = _run_job("pre-commit", ctx, pr, scratch, run=run, key="pre-commit")
    run.results["changes"] = _run_job("changes", ctx, pr, scratch, run=run, key="changes")
    validate = "skipped"
    if run.results["changes"] == "success":
        got = _outputs(scratch / "changes.output")
        if got.get("count", "0") != "0":
            validate = "success"
            for i, entry in enumerate(json.loads(got["matrix"])["include"]):
                matrix = {f"matrix.{k}": v for k, v in entry.items()}
                ctx_v = {**matrix, "github.token": "", "github.server_url": "https://github.com"}
                ended = _run_job("validate", ctx_v, pr, scratch, run=run, key=f"validate-{i}")
                if ended != "success":
                    validate = "failure"
    run.results["validate"] = validate
    ctx_plan = {**ctx, "github.event.pull_request.head.repo.full_name == github.repository": False}
    run.results["plan"] = _run_job("plan", ctx_plan, pr, scratch, run=run, key="plan")
    needs = " ".join(run.results[j] for j in ("pre-commit", "changes", "validate", "plan"))
    run.results["modelreg"] = _run_job(
        "modelreg", {"join(needs.*.result, ' ')": needs}, pr, scratch, run=run, key="modelreg"
    )
    return run


# -- the attacks ---------------------------------------------------------------------------

MODEL = "models/bert-classifier"


def _journal(pr: PullRequest) -> None:
    hook = pr.write("payload/pre-commit", "#!/bin/sh\ntouch pwned\n")
    hook.chmod(0o755)
    entries = {
        "pid": 1,
        "moves": [[str(hook), str(pr.root / ".git/hooks/pre-commit")]],
        "remove": [str(pr.root / ".git/config")],
    }
    pr.write(".modelreg.journal", json.dumps(entries))


def _symlinked_version(pr: PullRequest) -> None:
    import shutil

    copy = pr.outside / "1.2.0"
    shutil.copytree(pr.root / MODEL / "1.1.0", copy)
    pr.symlink(f"{MODEL}/1.2.0", copy)


def _remote_kustomization(pr: PullRequest) -> None:
    pr.write(
        "overlays/production/kustomization.yml",
        "resources:\n  - https://example.invalid/evil.yaml\n",
    )


def _noncanonical_env_ref(pr: PullRequest) -> None:
    pr.replace(
        "overlays/production/kustomization.yaml",
        "../bert-classifier/v1.1.0",
        "./../bert-classifier/v1.0.0",
    )


def _tag_prefix_collision(pr: PullRequest) -> None:
    import shutil

    shutil.copytree(pr.root / MODEL, pr.root / "models/bert-copy")
    pr.replace("models/bert-copy/model.yaml", "name: bert-classifier", "name: bert-copy")


ATTACKS: dict[str, Callable[[PullRequest], None]] = {
    "journal-into-git": _journal,
    "symlinked-version-directory": _symlinked_version,
    "remote-kustomize-resource": _remote_kustomization,
    "non-canonical-environment-reference": _noncanonical_env_ref,
    "tag-prefix-collision": _tag_prefix_collision,
}
EXPECTED = {
    "journal-into-git": "MR005",
    "symlinked-version-directory": "MR006",
    "remote-kustomize-resource": "MR623",
    "non-canonical-environment-reference": "MR624",
    "tag-prefix-collision": "MR709",
}


@pytest.mark.slow
def test_honest_pull_request_passes_the_workflow(
    pr: PullRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    pr.snapshot()
    run = run_workflow(pr, tmp_path_factory.mktemp("scratch"))
    assert run.results["modelreg"] == "success", run.log
    pr.assert_untouched("honest workflow")


@pytest.mark.slow
@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_hostile_pull_request_fails_the_workflow(
    pr: PullRequest, tmp_path_factory: pytest.TempPathFactory, attack: str
) -> None:
    ATTACKS[attack](pr)
    pr.commit(attack)
    pr.snapshot()
    # Job outputs and pre-commit's cache live outside the guarded tree (GitHub's runner temp).
    run = run_workflow(pr, tmp_path_factory.mktemp("scratch"))
    assert run.results["modelreg"] == "failure", run.log
    assert EXPECTED[attack] in run.log, textwrap.shorten(run.log, 4000)
    pr.assert_untouched(attack)
    assert not (pr.root / "pwned").exists()
