"""``modelreg plan``: environments rendered at two revisions, diffed object by object."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Registry, git
from gitops_support import add_candidate, add_overlays, use_identity
from modelreg.cli import main
from modelreg.gitops.plan import make_plan, to_markdown
from modelreg.gitrepo import open_repo


@pytest.fixture
def repo(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> Path:
    use_identity(monkeypatch)
    root = registry.root
    add_candidate(root, "demo", "1.1.0", "1.2.0")
    registry.replace("models/demo/1.2.0/metadata.yaml", "accuracy: 0.8", "accuracy: 0.9")
    add_overlays(root, {"demo": ["1.0.0", "1.1.0"]}, {"demo": "1.1.0"})
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "registry with overlays")
    return root


def _plan(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["plan", *argv])
    return code, capsys.readouterr().out


def test_no_change_exits_zero(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _plan(capsys)
    assert code == 0
    assert "production: 0 added, 0 changed, 0 pruned" in out


def test_promotion_plan_lists_objects_diff_and_metrics(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["promote", "demo", "1.2.0", "--env", "production", "--skip-gates"]) == 0
    code, out = _plan(capsys, "--output", "json")  # HEAD vs the uncommitted work tree
    assert code == 1
    plan = json.loads(out)
    production = plan["environments"]["production"]
    assert "Deployment/models-production/demo-triton-v1-2-0" in production["added"]
    assert "Service/models-production/demo-triton-v1-2-0" in production["added"]
    assert production["changed"] == ["Service/models-production/demo"]
    assert production["pruned"] == []
    assert "-    app.kubernetes.io/instance: demo-v1-1-0" in production["diff"]
    assert "+    app.kubernetes.io/instance: demo-v1-2-0" in production["diff"]
    assert plan["environments"]["staging"] == {
        "added": [], "changed": [], "pruned": [], "diff": ""
    }  # fmt: skip
    assert plan["metrics"] == [
        {
            "environment": "production",
            "model": "demo",
            "base": "1.1.0",
            "head": "1.2.0",
            "figures": {
                "accuracy": {"base": 0.8, "head": 0.9},
                "f1": {"base": 0.8, "head": 0.8},
                "p99_ms": {"base": None, "head": None},
            },
        }
    ]
    code, text = _plan(capsys)
    assert "| production | demo | 1.1.0 → 1.2.0 | 80.00% → 90.00% (+10.00 pp) |" in text
    assert "  ~ Service/models-production/demo" in text


def test_rollback_plan_prunes_what_the_promotion_added(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["promote", "demo", "1.2.0", "--env", "production", "--skip-gates", "--commit"]) == 0
    )
    assert main(["rollback", "demo", "--env", "production"]) == 0
    code, out = _plan(capsys, "--base", "HEAD~1", "--head", "HEAD", "--output", "json")
    assert code == 1
    production = json.loads(out)["environments"]["production"]
    assert "Deployment/models-production/demo-triton-v1-2-0" in production["pruned"]
    assert production["added"] == []
    # Promotion then rollback: nothing to deploy between the first and the last commit.
    code, out = _plan(capsys, "--base", "HEAD~2", "--head", "HEAD")
    assert code == 0


def test_markdown_stays_below_the_limit(repo: Path) -> None:
    assert main(["promote", "demo", "1.2.0", "--env", "production", "--skip-gates"]) == 0
    plan = make_plan(open_repo(repo), repo.resolve(), "HEAD", None)
    full = to_markdown(plan)
    assert "```diff" in full
    assert len(full) < 60_000
    limit = len(full) // 2
    short = to_markdown(plan, limit=limit)
    assert len(short) < limit
    assert "truncated" in short
    assert short.count("```") % 2 == 0


def test_unknown_revision_is_a_clear_error(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--base", "no-such-ref"]) == 1
    assert "no such revision: no-such-ref" in capsys.readouterr().err


def test_a_revision_without_overlays_renders_as_empty(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = git(repo, "rev-list", "--max-parents=0", "HEAD").strip()
    git(repo, "commit", "-q", "--allow-empty", "-m", "later")
    code, out = _plan(capsys, "--base", first, "--head", "HEAD", "--output", "json")
    assert code == 1
    assert json.loads(out)["environments"]["production"]["pruned"] == []
    assert (
        "Service/models-production/demo" in json.loads(out)["environments"]["production"]["added"]
    )
