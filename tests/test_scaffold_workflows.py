"""The workflows `modelreg init` hands out, run by tests/workflow_harness.py on real PRs.

A fresh `modelreg init` registry is pushed to a bare origin (with a ``file://`` LFS store);
each test opens a pull request made with the modelreg CLI (``add``, ``promote --commit``,
``rollback``) or by hand (docs, hostile files), lets "GitHub" merge it into
``refs/pull/N/merge`` and runs the registry's own ``.github/workflows/pr.yml``: every job, in
order, each with its own checkout. Each PR must pass, or fail in the step and with the rule
that says why.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from conftest import MODEL_HEAD, demo_model, write_eval_data
from modelreg import scaffold
from modelreg.git.lfs import looks_like_pointer, read_head
from workflow_harness import (
    Origin,
    Runner,
    WorkflowRun,
    git,
    open_pull_request,
    run,
    tool_env,
)

#: The card declares a floor, so a promotion is judged by something.
MODEL_YAML = MODEL_HEAD.replace("lifecycle:\n", "gates:\n  min_accuracy: 0.7\nlifecycle:\n")


@dataclass
class Registry:
    """A developer's clone of a fresh registry, its origin, and the scratch space."""

    dev: Path
    origin: Origin
    env: dict[str, str]
    tmp: Path
    number: int = 0

    def modelreg(self, *args: str) -> None:
        run(["modelreg", *args], self.dev, self.env)

    def add(self, version: str, weight: float) -> None:
        onnx_file = self.tmp / f"m{version}.onnx"
        onnx_file.write_bytes(demo_model(weight).SerializeToString())
        eval_file = self.tmp / "eval.npz"
        if not eval_file.exists():
            write_eval_data(eval_file)
        self.modelreg(
            "add", "demo", version, "--onnx", str(onnx_file), "--eval", str(eval_file),
            "--dataset-name", "d", "--dataset-version", "1", "--dataset-samples", "10",
            "--summary", f"Release {version}.", "--change", "Retrained", "--migration", "Drop-in",
            "--date", "2024-02-01", "--sample", "2", "--runs", "0",
        )  # fmt: skip

    def commit(self, message: str, *, amend: bool = False) -> None:
        """Regenerate pages and overlays, then commit everything (or amend the last commit).

        ``promote``/``rollback`` should leave nothing stale (issue #18, point 3, another
        engineer's part); until they do, ``render`` + ``overlays`` here make the commit what a
        developer with the hooks installed would commit.
        """
        self.modelreg("render")
        self.modelreg("overlays")
        run(["git", "add", "-A"], self.dev, self.env)
        if not git(self.dev, self.env, "status", "--porcelain"):
            return
        if amend:
            run(["git", "commit", "-q", "--amend", "--no-edit"], self.dev, self.env)
        else:
            run(["git", "commit", "-q", "-m", message], self.dev, self.env)

    def branch(self, name: str) -> None:
        run(["git", "switch", "-q", "-c", name, "main"], self.dev, self.env)

    def merge(self, branch: str) -> None:
        """Merge ``branch`` into main on origin (as the merge button would, fast-forward)."""
        run(["git", "switch", "-q", "main"], self.dev, self.env)
        run(["git", "merge", "-q", "--ff-only", branch], self.dev, self.env)
        run(["git", "push", "-q", "origin", "main"], self.dev, self.env)

    def pull_request(self, branch: str) -> WorkflowRun:
        """Push ``branch``, open a PR into main and run the registry's pr.yml on it."""
        run(["git", "push", "-q", "-f", "origin", branch], self.dev, self.env)
        self.number += 1
        scratch = self.tmp / f"pr-{self.number}"
        scratch.mkdir()
        event = open_pull_request(self.origin, branch, self.env, scratch, number=self.number)
        workflow = self.dev / ".github/workflows/pr.yml"
        return Runner(workflow, self.origin, event, scratch, self.env).run()


def _pointer(path: Path) -> bool:
    return looks_like_pointer(read_head(path))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """main of a fresh registry: demo 1.0.0 in production; pushed to origin.git."""
    tmp = tmp_path_factory.mktemp("scaffold")
    env = tool_env(tmp)
    dev = tmp / "dev"
    run(["modelreg", "init", str(dev), "--repo-url", "https://github.com/acme/registry.git"],
        tmp, env)  # fmt: skip
    run(["git", "lfs", "install", "--local"], dev, env)
    origin = Origin.create(tmp / "origin.git", env)
    run(["git", "remote", "add", "origin", origin.url], dev, env)
    reg = Registry(dev, origin, env, tmp)
    (dev / "models/demo").mkdir()
    (dev / "models/demo/model.yaml").write_text(MODEL_YAML, encoding="utf-8")
    reg.add("1.0.0", 0.5)
    reg.modelreg("promote", "demo", "1.0.0", "--env", "production")  # floors only: 0.8 >= 0.7
    reg.commit("demo 1.0.0 in production")
    run(["git", "push", "-q", "origin", "main"], dev, env)
    return tmp


@pytest.fixture
def registry(template: Path, tmp_path: Path) -> Iterator[Registry]:
    """A private copy of the template (origin, clone and runner home) for one test."""
    for name in ("dev", "origin.git"):
        shutil.copytree(template / name, tmp_path / name, symlinks=True)
    env = tool_env(tmp_path)
    dev = tmp_path / "dev"
    origin = Origin(tmp_path / "origin.git")
    run(["git", "remote", "set-url", "origin", origin.url], dev, env)
    yield Registry(dev, origin, env, tmp_path)


def _assert_passed(result: WorkflowRun) -> None:
    assert result.reported == [], result.reported
    assert result.result("modelreg") == "success", result.log


def _changes(result: WorkflowRun) -> dict[str, str]:
    return result.job("changes").step("Versions this pull request").outputs


# -- honest pull requests ------------------------------------------------------------------------


@pytest.mark.slow
def test_add_a_version(registry: Registry) -> None:
    registry.branch("add-1.1.0")
    registry.add("1.1.0", 0.6)
    registry.commit("demo 1.1.0")
    result = registry.pull_request("add-1.1.0")
    _assert_passed(result)
    assert [result.result(j) for j in ("pre-commit", "changes", "validate", "plan")] == [
        "success"
    ] * 4
    got = _changes(result)
    assert (got["count"], got["gates"]) == ("1", "0")
    (job,) = result.jobs["validate"]
    assert job.name == "validate demo@1.1.0"
    assert job.step("Promotion gate").outcome == "skipped"
    # validate's checkout has full history and tags (MR7xx); its LFS objects: this version's.
    assert job.checkouts[0][2].startswith("git fetch -q --prune --no-recurse-submodules origin")
    assert job.workspace is not None
    assert not _pointer(job.workspace / "models/demo/1.1.0/model.onnx")
    assert _pointer(job.workspace / "models/demo/1.0.0/model.onnx")


@pytest.mark.slow
def test_docs_only_change(registry: Registry) -> None:
    registry.branch("docs")
    readme = registry.dev / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + "\nOn-call: #ml-oncall.\n")
    registry.commit("README: on-call channel")
    result = registry.pull_request("docs")
    _assert_passed(result)
    assert _changes(result)["count"] == "0"
    assert result.result("validate") == "skipped"


def _with_1_1_0(registry: Registry) -> None:
    registry.branch("add-1.1.0")
    registry.add("1.1.0", 0.6)
    registry.commit("demo 1.1.0")
    registry.merge("add-1.1.0")


@pytest.mark.slow
def test_promote_to_staging_gates_against_base_production(registry: Registry) -> None:
    _with_1_1_0(registry)
    registry.branch("staging")
    registry.modelreg("promote", "demo", "1.1.0", "--env", "staging", "--commit")
    registry.commit("", amend=True)
    result = registry.pull_request("staging")
    _assert_passed(result)
    (job,) = result.jobs["validate"]
    gate = job.step("Promotion gate")
    assert gate.outcome == "success", job.log
    assert "production 1.0.0" in gate.stdout
    # Both versions' objects were pulled: the candidate's by the matrix, production's by
    # the gate; the checkout pulled none.
    assert job.workspace is not None
    assert not _pointer(job.workspace / "models/demo/1.1.0/model.onnx")
    assert not _pointer(job.workspace / "models/demo/1.0.0/model.onnx")
    assert "<pre>" in gate.summary and "|" in gate.summary


@pytest.mark.slow
def test_promote_to_production_gates_against_base_production(registry: Registry) -> None:
    _with_1_1_0(registry)
    registry.branch("production")
    registry.modelreg("promote", "demo", "1.1.0", "--env", "production", "--commit")
    registry.commit("", amend=True)
    result = registry.pull_request("production")
    _assert_passed(result)
    (job,) = result.jobs["validate"]
    gate = job.step("Promotion gate")
    assert "production 1.0.0" in gate.stdout, job.log
    # What the old step ran: on the merge, 1.1.0 already is production (exit 2).
    assert job.workspace is not None
    old = run(["modelreg", "gate", "demo", "1.1.0"], job.workspace, registry.env, check=False)
    assert old.returncode == 2 and "already the production version" in old.stderr


@pytest.mark.slow
def test_rollback_to_a_version_gated_before_passes(registry: Registry) -> None:
    _with_1_1_0(registry)
    registry.branch("production")
    registry.modelreg("promote", "demo", "1.1.0", "--env", "production", "--commit")
    registry.commit("", amend=True)
    registry.merge("production")
    registry.branch("rollback")
    registry.modelreg("rollback", "demo", "--env", "production")
    registry.commit("", amend=True)
    result = registry.pull_request("rollback")
    _assert_passed(result)
    (job,) = result.jobs["validate"]
    assert job.matrix is not None and job.matrix["version"] == "1.0.0"
    gate = job.step("Promotion gate")
    assert "was production at" in gate.stdout and "nothing to judge" in gate.stdout


@pytest.mark.slow
def test_promotion_that_fails_its_gate_fails_in_the_gate_step(registry: Registry) -> None:
    registry.branch("bad")
    registry.add("1.2.0", -0.5)  # predicts the wrong class: accuracy 0.2 < 0.7
    registry.modelreg("promote", "demo", "1.2.0", "--env", "production", "--skip-gates")
    registry.commit("demo 1.2.0 to production (gates skipped)")
    result = registry.pull_request("bad")
    assert result.result("modelreg") == "failure"
    (job,) = result.jobs["validate"]
    failed = job.failed_step
    assert failed is not None and failed.name.startswith("Promotion gate"), job.log
    assert "min_accuracy" in failed.stdout and "production 1.0.0" in failed.stdout
    assert result.result("pre-commit") == "success"


@pytest.mark.slow
def test_render_date_is_the_pull_request_heads_not_the_merge_commits(registry: Registry) -> None:
    """Pages rendered as of the PR head's date stay current on GitHub's merge commit (now)."""
    _with_1_1_0(registry)
    registry.branch("production")
    dated = {
        "GIT_AUTHOR_DATE": "2024-05-01T12:00:00Z",
        "GIT_COMMITTER_DATE": "2024-05-01T12:00:00Z",
    }
    registry.env.update(dated)
    registry.modelreg("promote", "demo", "1.1.0", "--env", "production",
                      "--supported-until", "2024-06-01", "--commit")  # fmt: skip
    registry.commit("", amend=True)
    for key in dated:
        del registry.env[key]
    result = registry.pull_request("production")
    assert result.result("pre-commit") == "success", result.job("pre-commit").log
    # Without the head's date the same check flips: 1.0.0's window ended before the merge.
    ws = result.job("pre-commit").workspace
    assert ws is not None
    flipped = run(["modelreg", "render", "--check"], ws, registry.env, check=False)
    assert flipped.returncode == 1, flipped.stdout


# -- hostile pull requests -----------------------------------------------------------------------


@pytest.mark.slow
def test_symlinked_version_directory_fails_changes_and_precommit(registry: Registry) -> None:
    registry.branch("evil")
    outside = registry.tmp / "outside-1.2.0"
    shutil.copytree(registry.dev / "models/demo/1.0.0", outside)
    (registry.dev / "models/demo/1.2.0").symlink_to(outside)
    run(["git", "add", "-A"], registry.dev, registry.env)
    run(["git", "commit", "-q", "-m", "1.2.0"], registry.dev, registry.env)
    result = registry.pull_request("evil")
    assert result.result("modelreg") == "failure"
    changes = result.job("changes")
    failed = changes.failed_step
    # pipefail: ci-matrix's refusal fails the step instead of an empty matrix skipping validate.
    assert failed is not None and failed.name.startswith("Versions this pull request")
    assert "MR006" in failed.stderr, changes.log
    precommit = result.job("pre-commit")
    assert precommit.failed_step is not None and "MR006" in precommit.failed_step.stdout


@pytest.mark.slow
def test_remote_kustomize_resource_fails_precommit(registry: Registry) -> None:
    registry.branch("evil")
    (registry.dev / "overlays/production/kustomization.yml").write_text(
        "resources:\n  - https://example.invalid/evil.yaml\n", encoding="utf-8"
    )
    run(["git", "add", "-A"], registry.dev, registry.env)
    run(["git", "commit", "-q", "-m", "remote"], registry.dev, registry.env)
    result = registry.pull_request("evil")
    assert result.result("modelreg") == "failure"
    precommit = result.job("pre-commit")
    failed = precommit.failed_step
    assert failed is not None and failed.name == "pre-commit run --all-files"
    assert "MR623" in failed.stdout, precommit.log


# -- where the scaffold installs modelreg from ---------------------------------------------------


def _install_requirement(install: str) -> Requirement:
    (quoted,) = [w for w in install.split("'") if w.startswith("modelreg")]
    return Requirement(quoted)


def test_install_line_is_the_hooks_source_never_an_index_name(tmp_path: Path) -> None:
    for args in ({}, {"hooks_repo": "https://git.example/acme/modelreg", "hooks_rev": "v0.1.0"}):
        files = scaffold.registry_files(**args)
        config = files[".pre-commit-config.yaml"]
        source = scaffold.source_of(args.get("hooks_repo"), args.get("hooks_rev"))
        for rel in ("pr.yml", "release.yml", "full.yml"):
            text = files[f".github/workflows/{rel}"]
            lines = [ln for ln in text.splitlines() if ln.strip().startswith('run: "pip ')]
            assert lines, rel
            for line in lines:
                req = _install_requirement(line.split('"')[1])
                assert req.name == "modelreg" and req.extras == {"onnx", "gitops"}
                assert req.url == f"git+{source.repo}@{source.rev}"
                assert not req.specifier  # no `==0.1.0` from an index
        if "hooks_repo" in args:
            assert f"repo: {source.repo}\n    rev: {source.rev}\n" in config
        else:
            assert f"{scaffold.SOURCE_COMMENT}{source.repo} {source.rev} " in config
        assert source.requirement() in files["README.md"]


@pytest.mark.slow
def test_install_line_resolves_against_a_git_checkout_of_this_repository(tmp_path: Path) -> None:
    """pip resolves the scaffold's requirement, pointed at a ``file://`` clone of this checkout
    (committed files) at its HEAD commit: the URL form pip reads, the package it builds."""
    env = tool_env(tmp_path)
    clone = tmp_path / "modelreg"
    root = Path(__file__).resolve().parents[1]
    run(["git", "clone", "-q", "--no-local", str(root), str(clone)], tmp_path, env)
    rev = git(clone, env, "rev-parse", "HEAD")
    # file://localhost/...: the pip vendored packaging here refuses git+file:/// (no host).
    source = scaffold.Source(f"file://localhost{clone.as_posix()}", rev)
    report = tmp_path / "report.json"
    proc = run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--quiet",
         "--report", str(report), source.requirement()],
        tmp_path, {**env, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (item,) = json.loads(report.read_text(encoding="utf-8"))["install"]
    assert item["metadata"]["name"] == "modelreg"
    assert item["download_info"]["vcs_info"]["commit_id"] == rev
