"""Merge is the deploy, revert is the rollback: promote and rollback on real git repositories,
rendered with real kustomize."""

from __future__ import annotations

import random
import shlex
import sys
from pathlib import Path

import pytest
import yaml

from conftest import Registry, git
from gitops_support import add_candidate, add_overlays, clone_model, selects, use_identity
from modelreg.cli import main
from modelreg.gitops.envs import production_version
from modelreg.gitops.kustomize import build, split_objects
from modelreg.gitops.promotion import TRAILER


@pytest.fixture
def repo(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> Path:
    """demo (1.0.0 supported, 1.1.0 production, 1.2.0 candidate) and other (the same), in git,
    with its pages rendered and the page merge driver configured as docs/DEVELOPMENT.md says."""
    use_identity(monkeypatch)
    root = registry.root
    add_candidate(root, "demo", "1.1.0", "1.2.0")
    clone_model(root, "demo", "other")
    running = {m: ["1.0.0", "1.1.0"] for m in ("demo", "other")}
    add_overlays(root, running, {"demo": "1.1.0", "other": "1.1.0"})
    assert main(["render"]) == 0
    (root / ".gitattributes").write_text("MODEL_REGISTRY.md merge=modelreg-render\n")
    driver = f"{shlex.quote(sys.executable)} -m modelreg render --merge-driver %O %A %B %P"
    git(root, "config", "merge.modelreg-render.driver", driver)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "registry with overlays")
    return root


def _passes_own_checks(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What the hooks check after a writing command: pages, overlays, fast validate, clean."""
    capsys.readouterr()
    assert main(["render", "--check"]) == 0, capsys.readouterr().out
    assert main(["overlays", "--check"]) == 0, capsys.readouterr().out
    assert main(["validate", "--fast"]) == 0, capsys.readouterr().out
    assert git(root, "status", "--porcelain") == ""


def _render(root: Path) -> str:
    return build(root / "overlays" / "production")


def _keys(rendered: str) -> set[tuple[str, str, str, str]]:
    return {o.key for o in split_objects(rendered, "production")}


def _of_model(rendered: str, model: str) -> list[str]:
    return sorted(
        o.text
        for o in split_objects(rendered, "production")
        if (o.data["metadata"].get("labels") or {}).get("model") == model
    )


def _head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD").strip()


def test_rollback_returns_the_rendered_bytes(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _render(repo)
    card_a = (repo / "models/demo/model.yaml").read_text()
    code = main(
        ["promote", "demo", "1.2.0", "--env", "production", "--skip-gates", "--commit",
         "--supported-until", "2030-01-31"]
    )  # fmt: skip
    assert code == 0
    message = git(repo, "log", "-1", "--format=%B")
    assert f"{TRAILER}: demo 1.1.0->1.2.0 production" in message
    # One commit: model.yaml, the production overlay and the pages they change, nothing else.
    assert git(repo, "show", "--format=", "--name-only", "HEAD").split() == [
        "MODEL_REGISTRY.md",
        "docs/models/demo.md",
        "models/demo/model.yaml",
        "overlays/production/demo.alias.yaml",
        "overlays/production/kustomization.yaml",
    ]
    _passes_own_checks(repo, capsys)
    lifecycle = yaml.safe_load((repo / "models/demo/model.yaml").read_text())["lifecycle"]
    assert lifecycle["1.2.0"] == {"status": "production"}
    assert lifecycle["1.1.0"]["status"] == "supported"
    assert str(lifecycle["1.1.0"]["supported_until"]) == "2030-01-31"
    assert production_version(repo, "demo") == "1.2.0"
    b = _render(repo)
    assert b != a
    objects = [o.data for o in split_objects(b, "production")]
    pods = {
        o["metadata"]["labels"]["version"]: o["spec"]["template"]["metadata"]["labels"]
        for o in objects
        if o["kind"] == "Deployment" and o["metadata"]["labels"]["model"] == "demo"
    }
    assert sorted(pods) == ["1.0.0", "1.1.0", "1.2.0"]
    alias = next(o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "demo")
    assert [v for v, labels in pods.items() if selects(alias["spec"]["selector"], labels)] == [
        "1.2.0"
    ]
    pages_a = git(repo, "show", "HEAD~1:MODEL_REGISTRY.md")
    assert main(["rollback", "demo", "--env", "production"]) == 0
    c = _render(repo)
    assert c == a
    assert _keys(c) == _keys(a)
    assert (repo / "models/demo/model.yaml").read_text() == card_a
    assert (repo / "MODEL_REGISTRY.md").read_text() == pages_a
    _passes_own_checks(repo, capsys)


def test_dry_runs_write_nothing(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    head = _head(repo)
    assert main(["promote", "demo", "1.2.0", "--env", "production", "-n"]) == 0
    out = capsys.readouterr().out
    assert "+  - ../demo/v1.2.0" in out
    assert "-    status: candidate" in out
    assert git(repo, "status", "--porcelain") == ""
    assert main(["promote", "demo", "1.2.0", "--env", "staging", "--commit"]) == 0
    capsys.readouterr()
    assert main(["rollback", "demo", "--env", "staging", "-n"]) == 0
    assert "would revert" in capsys.readouterr().out
    assert git(repo, "rev-list", "--count", f"{head}..HEAD").strip() == "1"


def test_promote_without_commit_leaves_one_change_to_commit(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["promote", "other", "1.2.0", "--env", "staging"]) == 0
    assert "git commit" in capsys.readouterr().err
    changed = git(repo, "status", "--porcelain").splitlines()
    assert changed == [
        " M MODEL_REGISTRY.md",
        " M docs/models/other.md",
        " M overlays/staging/kustomization.yaml",
        "?? overlays/staging/other.alias.yaml",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["promote", "demo", "9.9.9", "--env", "production"], "does not exist"),
        (["promote", "nope", "1.0.0", "--env", "production"], "no model 'nope'"),
        (["promote", "demo", "1.2.0", "--env", "qa"], "overlays/qa/kustomization.yaml"),
        (["promote", "demo", "1.1.0", "--env", "production"], "already the production"),
        (["rollback", "demo", "--env", "production"], "no promotion of demo to production"),
    ],
)
def test_refusals_are_one_clear_line(
    repo: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) in (1, 2)
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert git(repo, "status", "--porcelain") == ""


def test_deprecated_versions_are_not_promoted(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    card = repo / "models/demo/model.yaml"
    card.write_text(card.read_text().replace("status: candidate", "status: deprecated"))
    assert main(["promote", "demo", "1.2.0", "--env", "staging"]) == 1
    assert "deprecated" in capsys.readouterr().err


def test_rollback_refuses_an_unclean_revert(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["promote", "demo", "1.2.0", "--env", "production", "--skip-gates", "--commit"]) == 0
    )
    alias = repo / "overlays/production/demo.alias.yaml"
    alias.write_text(alias.read_text().replace("port: 8000", "port: 8080"))
    alias.write_text(alias.read_text().replace('"1.2.0"', '"1.2.0" # hand-edited'))
    git(repo, "commit", "-q", "-am", "hand edit on the same lines")
    head = _head(repo)
    capsys.readouterr()
    assert main(["rollback", "demo", "--env", "production"]) == 1
    err = capsys.readouterr().err
    assert "not a clean revert" in err
    assert "modelreg promote demo 1.1.0 --env production" in err
    assert _head(repo) == head
    assert git(repo, "status", "--porcelain") == ""


def test_promotions_of_two_models_merge_without_conflict(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _head(repo)
    git(repo, "checkout", "-q", "-b", "promote-other")
    assert (
        main(["promote", "other", "1.2.0", "--env", "production", "--skip-gates", "--commit"]) == 0
    )
    git(repo, "checkout", "-q", "main")
    assert (
        main(["promote", "demo", "1.2.0", "--env", "production", "--skip-gates", "--commit"]) == 0
    )
    git(repo, "merge", "-q", "--no-edit", "promote-other")
    assert production_version(repo, "demo") == "1.2.0"
    assert production_version(repo, "other") == "1.2.0"
    assert git(repo, "rev-list", "--count", f"{base}..HEAD").strip() == "3"
    # Rolling back one model after the merge reverts only its own lines.
    rendered = _render(repo)
    assert main(["rollback", "demo", "--env", "production"]) == 0
    after = _render(repo)
    assert _of_model(after, "other") == _of_model(rendered, "other")
    assert production_version(repo, "demo") == "1.1.0"
    _passes_own_checks(repo, capsys)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_promotions_and_rollbacks(repo: Path, seed: int) -> None:
    """Property: a rollback restores its model's objects as they were before the promotion
    it reverts, and never changes another model's objects."""
    rng = random.Random(seed)
    models = ("demo", "other")
    versions = ("1.0.0", "1.1.0", "1.2.0")
    history: dict[str, list[list[str]]] = {m: [] for m in models}  # before each promotion
    rendered = _render(repo)
    for _ in range(6):
        model = rng.choice(models)
        if history[model] and rng.random() < 0.4:
            assert main(["rollback", model, "--env", "production"]) == 0
            after = _render(repo)
            assert _of_model(after, model) == history[model].pop()
        else:
            current = production_version(repo, model)
            target = rng.choice([v for v in versions if v != current])
            argv = ["promote", model, target, "--env", "production", "--skip-gates", "--commit"]
            assert main(argv) == 0
            history[model].append(_of_model(rendered, model))
            after = _render(repo)
        for other in models:
            if other != model:
                assert _of_model(after, other) == _of_model(rendered, other)
        rendered = after
        assert git(repo, "status", "--porcelain") == ""
        assert main(["render", "--check"]) == 0  # the pages were committed with each change


@pytest.mark.parametrize(("floor", "code"), [(0.95, 1), (0.5, 0)])
def test_production_promotion_runs_the_gates(
    repo: Path, capsys: pytest.CaptureFixture[str], floor: float, code: int
) -> None:
    """The gates of model.yaml (modelreg.gitops.gates, real onnxruntime scoring) decide."""
    card = repo / "models/demo/model.yaml"
    card.write_text(
        card.read_text().replace("lifecycle:", f"gates:\n  min_accuracy: {floor}\nlifecycle:")
    )
    git(repo, "commit", "-q", "-am", f"gate floor {floor}")
    head = _head(repo)
    capsys.readouterr()
    argv = ["promote", "demo", "1.2.0", "--env", "production", "--runs", "20", "--commit"]
    assert main(argv) == code
    captured = capsys.readouterr()
    assert "| min_accuracy |" in captured.err + captured.out
    if code:
        assert "fails its promotion gates" in captured.err
        assert _head(repo) == head
        assert git(repo, "status", "--porcelain") == ""
    else:
        assert "Modelreg-Gates: passed" in git(repo, "log", "-1", "--format=%B")
