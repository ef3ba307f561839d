"""``modelreg plan``: environments rendered at two revisions, diffed object by object."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Registry, git
from gitops_support import add_candidate, add_overlays, use_identity
from modelreg.cli import main
from modelreg.git.repo import open_repo
from modelreg.gitops.plan import make_plan, to_markdown


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
    assert "production: 0 added, 0 changed, 0 pruned, 0 kept" in out


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
        "added": [], "changed": [], "pruned": [], "kept": [], "diff": ""
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


def test_a_version_leaving_keeps_its_prune_disabled_configmaps(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Flux and Argo CD leave the version's generated ConfigMaps (its `model` and
    `model-config`, and its copies of the base's `fetch-script` and `registry-source`: all carry
    both annotations): plan lists them as kept, not pruned; the Deployment and Service it
    removes are pruned."""
    assert (
        main(["promote", "demo", "1.2.0", "--env", "production", "--skip-gates", "--commit"]) == 0
    )
    assert main(["rollback", "demo", "--env", "production"]) == 0
    code, out = _plan(capsys, "--base", "HEAD~1", "--head", "HEAD", "--output", "json")
    assert code == 1
    production = json.loads(out)["environments"]["production"]
    stems = {label.rsplit("-", 1)[0] for label in production["kept"]}
    assert stems == {
        "ConfigMap/models-production/demo-model-v1-2-0",
        "ConfigMap/models-production/demo-model-config-v1-2-0",
        "ConfigMap/models-production/demo-fetch-script-v1-2-0",
        "ConfigMap/models-production/demo-registry-source-v1-2-0",
    }
    assert not any(label in production["pruned"] for label in production["kept"])
    assert sorted(label.split("/")[0] for label in production["pruned"]) == [
        "Deployment", "Service",
    ]  # fmt: skip
    code, text = _plan(capsys, "--base", "HEAD~1", "--head", "HEAD")
    assert "production: 0 added, 1 changed, 2 pruned, 4 kept" in text
    assert any(
        line.startswith("  = ConfigMap/models-production/demo-model-v1-2-0-")
        and line.endswith(" (kept: prune disabled)")
        for line in text.splitlines()
    )
    code, markdown = _plan(capsys, "--base", "HEAD~1", "--head", "HEAD", "--output", "markdown")
    assert "| `production` | 0 | 1 | 2 | 4 |" in markdown


def test_kept_needs_both_controllers() -> None:
    from modelreg.gitops.overlays import KEEP_ANNOTATIONS
    from modelreg.gitops.plan import kept_on_prune

    def obj(annotations: dict[str, str]) -> dict[str, object]:
        return {"kind": "ConfigMap", "metadata": {"name": "x", "annotations": annotations}}

    assert kept_on_prune(obj(KEEP_ANNOTATIONS))
    both = {"kustomize.toolkit.fluxcd.io/prune": "disabled",
            "argocd.argoproj.io/sync-options": "ServerSideApply=true, Prune=false"}  # fmt: skip
    assert kept_on_prune(obj(both))
    # One controller prunes it: it is pruned.
    assert not kept_on_prune(obj({"kustomize.toolkit.fluxcd.io/prune": "disabled"}))
    assert not kept_on_prune(obj({"argocd.argoproj.io/sync-options": "Prune=false"}))
    assert not kept_on_prune(obj({"kustomize.toolkit.fluxcd.io/prune": "enabled",
                                  "argocd.argoproj.io/sync-options": "Prune=false"}))  # fmt: skip
    assert not kept_on_prune({"kind": "ConfigMap", "metadata": {"name": "x"}})
