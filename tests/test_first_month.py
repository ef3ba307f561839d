"""A team's first month (issue #18): the whole journey, every commit through the hooks and
every pull request through the registry's own CI.

A fresh ``modelreg init`` registry pushed to a bare origin (tests/workflow_harness.py plays
GitHub): install the hooks; on a branch ``add`` a new model (its card from flags) and commit it
with a plain ``git commit``, the hooks running; open a pull request and run ``pr.yml`` on it;
merge. Then the same for ``promote --commit`` to staging and to production, the release
workflow on main, a second version promoted to production, and ``rollback``. After every step
the registry passes ``render --check``, ``overlays --check`` and ``validate --fast`` with a
clean work tree. The journey runs with a scikit-learn model converted by skl2onnx and with
this repository's ``bert-classifier``; examples/first-month.sh is the same journey as a script.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from test_scaffold_workflows import Registry
from workflow_harness import BIN, Origin, Runner, WorkflowRun, git, push_event, run, tool_env

ROOT = Path(__file__).resolve().parents[1]
BERT = ROOT / "models" / "bert-classifier"

#: The hooks a commit that touches models/ runs (the registry's .pre-commit-config.yaml).
HOOKS = (
    "modelreg: metadata schema and layout (fast)",
    "modelreg: ONNX artifact matches its metadata (deep, cached)",
    "modelreg: released versions are frozen, tags and LFS storage are right",
    "modelreg: overlays build and pass the deployment policy",
    "modelreg: registry page and model cards are current",
)


@dataclass(frozen=True)
class Model:
    """What a team brings: two ONNX files of one model, the evaluation file, add's flags."""

    name: str
    first: Path  # version 1.0.0
    second: Path  # version 1.1.0, not worse than 1.0.0 by the default gates
    eval_file: Path
    card: tuple[str, ...]  # the new model's card
    scoring: tuple[str, ...]  # --output-name, --f1-average
    dataset: tuple[str, ...]
    tag_prefix: str


# -- the journey -----------------------------------------------------------------------------


def _own_checks_pass(reg: Registry) -> None:
    """What the hooks and CI check after a writing command, and a clean work tree."""
    reg.modelreg("render", "--check")
    reg.modelreg("overlays", "--check")
    reg.modelreg("validate", "--fast")
    assert git(reg.dev, reg.env, "status", "--porcelain") == ""


def _commit_through_the_hooks(reg: Registry, message: str) -> None:
    """A plain ``git add -A && git commit``: pre-commit runs every hook, and each passes."""
    run(["git", "add", "-A"], reg.dev, reg.env)
    done = run(["git", "commit", "-m", message], reg.dev, reg.env)
    output = done.stdout + done.stderr  # git prints the hooks' report on stderr
    for hook in HOOKS:
        assert f"{hook}..." in output, output
    assert "Passed" in output and "Failed" not in output and "Skipped" not in output, output


def _assert_passed(result: WorkflowRun) -> None:
    assert result.reported == [], result.reported
    assert result.result("modelreg") == "success", result.log
    for job in ("pre-commit", "changes", "validate", "plan"):
        assert result.result(job) == "success", result.log


def _through_a_pull_request(reg: Registry, branch: str) -> WorkflowRun:
    """Push ``branch``, run pr.yml on GitHub's merge commit, require it to pass, merge."""
    result = reg.pull_request(branch)
    _assert_passed(result)
    reg.merge(branch)
    _own_checks_pass(reg)
    return result


def _gate(result: WorkflowRun) -> str:
    (job,) = result.jobs["validate"]
    gate = job.step("Promotion gate")
    assert gate.outcome == "success", job.log
    return gate.stdout


def _lifecycle(reg: Registry, model: str) -> dict[str, str]:
    card = yaml.safe_load((reg.dev / f"models/{model}/model.yaml").read_text(encoding="utf-8"))
    return {version: entry["status"] for version, entry in card["lifecycle"].items()}


def _start(tmp: Path) -> Registry:
    """``modelreg init``, the hooks installed, the first commit through them, pushed."""
    env = tool_env(tmp)
    dev = tmp / "dev"
    run(["modelreg", "init", str(dev), "--repo-url", "https://github.com/acme/registry.git"],
        tmp, env)  # fmt: skip
    run(["git", "lfs", "install", "--local"], dev, env)
    run(["pre-commit", "install"], dev, env)
    origin = Origin.create(tmp / "origin.git", env)
    run(["git", "remote", "add", "origin", origin.url], dev, env)
    run(["git", "add", "-A"], dev, env)
    # The hooks run and pass: models/README.md alone is no model for them to check.
    run(["git", "commit", "-q", "-m", "modelreg init"], dev, env)
    run(["git", "push", "-q", "origin", "main"], dev, env)  # the pre-push hooks run too
    reg = Registry(dev, origin, env, tmp)
    _own_checks_pass(reg)
    return reg


def _add(reg: Registry, name: str, version: str, *flags: str) -> None:
    """``add`` on a branch, a plain commit through the hooks, a pull request, merged."""
    branch = f"add-{name}-{version}"
    reg.branch(branch)
    # No stored latency (--runs 0): a p50 claim from a few milliseconds of runs on this
    # shared VM, whose speed shifts by 1.3-1.6x for seconds at a time (docs/latency-check.md),
    # was re-measured by the pre-push hook at the slower level and failed MR407 in clean CI
    # runs. Latency claims and MR407 are covered by tests/test_latency_check.py; promote below
    # still times both versions side by side.
    reg.modelreg("add", name, version, *flags, "--sample", "2", "--runs", "0")
    _commit_through_the_hooks(reg, f"Add {name} {version}")
    blob = git(reg.dev, reg.env, "show", f"HEAD:models/{name}/{version}/model.onnx")
    assert blob.startswith("version https://git-lfs.github.com/spec/v1")  # stored in LFS
    _own_checks_pass(reg)
    added = _through_a_pull_request(reg, branch)
    assert added.job("changes").step("Versions this pull request").outputs["count"] == "1"


def _promote(reg: Registry, name: str, version: str, env_name: str) -> str:
    """``promote --commit`` on a branch, through a pull request; the gate step's report."""
    branch = f"{env_name}-{name}-{version}"
    reg.branch(branch)
    reg.modelreg("promote", name, version, "--env", env_name, "--commit", "--runs", "20")
    _own_checks_pass(reg)
    if env_name == "production":
        assert "Modelreg-Gates: passed" in git(reg.dev, reg.env, "log", "-1", "--format=%B")
    return _gate(_through_a_pull_request(reg, branch))


def _release(reg: Registry, number: int, tags: list[str]) -> None:
    """release.yml on main tags what was merged; ``tags`` are then all the tags there are."""
    released = Runner(
        reg.dev / ".github/workflows/release.yml", reg.origin, push_event(reg.origin, reg.env),
        reg.tmp / f"release-{number}", reg.env,
    ).run()  # fmt: skip
    assert released.reported == [], released.reported
    assert released.result("release") == "success", released.log
    assert f"created {tags[-1]} at " in (
        released.job("release").step("modelreg release --push").stdout
    )
    run(["git", "fetch", "-q", "--tags", "origin"], reg.dev, reg.env)
    assert git(reg.dev, reg.env, "tag", "--list").split() == tags
    reg.modelreg("validate", "--fast", "--select", "MR7")  # the tags are right and unmoved
    _own_checks_pass(reg)


def first_month(tmp: Path, model: Model) -> None:
    """The journey of issue #18 with ``model``; every step asserted."""
    reg = _start(tmp)
    name, prefix = model.name, model.tag_prefix

    # Week 1: the first version, a candidate, reviewed like any change.
    _add(reg, name, "1.0.0", "--onnx", str(model.first), "--eval", str(model.eval_file),
         *model.card, *model.scoring, *model.dataset, "--tag-prefix", prefix,
         "--summary", "First version.", "--change", "Initial release")  # fmt: skip
    assert _lifecycle(reg, name) == {"1.0.0": "candidate"}

    # Week 2: staging, then production; no production version yet: nothing to compare with.
    for env_name in ("staging", "production"):
        _promote(reg, name, "1.0.0", env_name)
    assert _lifecycle(reg, name) == {"1.0.0": "production"}
    _release(reg, 1, [f"{prefix}-v1.0.0"])

    # Week 3: the next version, gated against production 1.0.0 when promoted.
    _add(reg, name, "1.1.0", "--onnx", str(model.second), "--from", "1.0.0",
         "--summary", "Retrained.", "--change", "More training data",
         "--migration", "Drop-in")  # fmt: skip
    assert "production 1.0.0" in _promote(reg, name, "1.1.0", "production")
    assert _lifecycle(reg, name) == {"1.0.0": "supported", "1.1.0": "production"}

    # Week 4: something is off in production: roll back, through review as well.
    reg.branch(f"rollback-{name}")
    reg.modelreg("rollback", name, "--env", "production")
    assert "Modelreg-Rollback:" in git(reg.dev, reg.env, "log", "-1", "--format=%B")
    _own_checks_pass(reg)
    rolled = _through_a_pull_request(reg, f"rollback-{name}")
    (job,) = rolled.jobs["validate"]
    assert job.matrix is not None and job.matrix["version"] == "1.0.0"
    assert "was production at" in _gate(rolled)
    assert _lifecycle(reg, name) == {"1.0.0": "production", "1.1.0": "candidate"}
    _release(reg, 2, [f"{prefix}-v1.0.0", f"{prefix}-v1.1.0"])


# -- the models ------------------------------------------------------------------------------

SCRIPT = ROOT / "examples" / "first-month.sh"


def sklearn_inputs(out: Path) -> None:
    """tickets-1.0.0.onnx, tickets-1.1.0.onnx and eval.npz in ``out``: the models the script
    trains and converts (its ``python - <<'PY'`` block), so both journeys use the same ones."""
    script = SCRIPT.read_text(encoding="utf-8")
    snippet = script.split("python - <<'PY'\n", 1)[1].split("\nPY\n", 1)[0]
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    run(["python", "-c", snippet], out, env)


@pytest.mark.slow
def test_first_month_with_a_scikit_learn_model(tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    sklearn_inputs(inputs)
    with np.load(inputs / "eval.npz") as data:
        assert sorted(data.files) == ["X", "labels"]  # the ONNX input's name, and labels
    model = Model(
        name="tickets",
        first=inputs / "tickets-1.0.0.onnx",
        second=inputs / "tickets-1.1.0.onnx",
        eval_file=inputs / "eval.npz",
        card=(
            "--title",
            "Ticket Router",
            "--description",
            "Routes support tickets.",
            "--task",
            "tabular-classification",
            "--owner",
            "@acme/ml",
            "--labels",
            "billing,technical",
        ),
        # skl2onnx's first output is `label`; score the class probabilities.
        scoring=("--output-name", "probabilities", "--f1-average", "binary"),
        dataset=(
            "--dataset-name",
            "tickets",
            "--dataset-version",
            "1",
            "--dataset-samples",
            "400",
        ),
        tag_prefix="tickets",
    )
    first_month(tmp_path, model)


@pytest.mark.slow
def test_first_month_with_bert_classifier(tmp_path: Path) -> None:
    first = yaml.safe_load((BERT / "1.0.0/metadata.yaml").read_text(encoding="utf-8"))
    card = yaml.safe_load((BERT / "model.yaml").read_text(encoding="utf-8"))
    dataset = first["training"]["dataset"]
    model = Model(
        name="bert-classifier",
        first=BERT / "1.0.0/model.onnx",
        second=BERT / "1.1.0/model.onnx",
        eval_file=BERT / "data/eval.npz",
        card=(
            "--title",
            card["title"],
            "--description",
            card["description"],
            "--task",
            card["task"],
            "--owner",
            card["owners"][0],
            "--labels",
            ",".join(card["labels"]),
        ),
        scoring=(
            "--output-name",
            first["evaluation"]["output"],
            "--f1-average",
            first["evaluation"]["metrics"]["f1"]["average"],
        ),
        dataset=(
            "--dataset-name",
            dataset["name"],
            "--dataset-version",
            dataset["version"],
            "--dataset-samples",
            str(dataset["samples"]),
        ),
        tag_prefix=card["tag_prefix"],
    )
    first_month(tmp_path, model)


# -- the script ------------------------------------------------------------------------------


@pytest.mark.slow
def test_examples_first_month_script_runs(tmp_path: Path) -> None:
    """examples/first-month.sh, run as a user would: this venv's tools first on PATH."""
    env = tool_env(tmp_path)  # a git identity, init.defaultBranch, a private pre-commit home
    work = tmp_path / "work"
    done = run(["bash", str(SCRIPT), str(work)], tmp_path, env,
               check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    reg = work / "registry"
    assert done.stdout.endswith(f"first month done: {reg}\n")
    assert git(reg, env, "tag", "--list").split() == ["tickets-v1.0.0", "tickets-v1.1.0"]
    card = yaml.safe_load((reg / "models/tickets/model.yaml").read_text(encoding="utf-8"))
    assert {v: e["status"] for v, e in card["lifecycle"].items()} == {
        "1.0.0": "production",
        "1.1.0": "candidate",
    }
    assert "Modelreg-Rollback:" in git(reg, env, "log", "-1", "--format=%B")
