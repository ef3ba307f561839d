"""`modelreg ci-matrix` (changed versions, promotions, shards) and `validate --shard`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import Registry
from modelreg.checks import ci
from modelreg.cli import main
from modelreg.registry import discover

ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


def git(root: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **ENV},
    )
    return proc.stdout


def commit_all(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "--no-verify", "-m", message)


@pytest.fixture
def repo(registry: Registry) -> Registry:
    """The demo registry committed once on main, with a production overlay."""
    if not (registry.root / ".git").exists():
        git(registry.root, "init", "-q", "--initial-branch=main")
    registry.write(
        "overlays/production/kustomization.yaml",
        "resources:\n  - ../demo/v1.1.0\n",
    )
    commit_all(registry.root, "base")
    return registry


def matrix(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["ci-matrix", *args]) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


def names(data: dict[str, Any]) -> list[tuple[str, bool, str]]:
    return [(e["name"], e["gate"], e["reasons"]) for e in data["include"]]


def test_nothing_changed_is_an_empty_matrix(
    repo: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    assert matrix(capsys, "--base", "HEAD") == {"include": []}


def test_a_changed_version_only(repo: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    repo.replace("models/demo/1.1.0/metadata.yaml", "Demo release 1.1.0.", "Better summary.")
    repo.write("README.md", "docs change\n")
    commit_all(repo.root, "edit 1.1.0")
    data = matrix(capsys, "--base", "HEAD~1")
    assert names(data) == [("demo@1.1.0", False, "changed")]
    (entry,) = data["include"]
    assert entry["path"] == "models/demo/1.1.0"
    assert entry["lfs"] == "models/demo/1.1.0/**,models/demo/data/**"


def test_shared_data_touches_every_version(
    repo: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.write("models/demo/data/notes.txt", "x\n")
    commit_all(repo.root, "data")
    assert names(matrix(capsys, "--base", "HEAD~1")) == [
        ("demo@1.0.0", False, "data"),
        ("demo@1.1.0", False, "data"),
    ]


def test_promotion_in_model_yaml_is_gated(
    repo: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    text = repo.read("models/demo/model.yaml")
    text = text.replace("status: production", "status: STASH")
    text = text.replace("status: supported", "status: production")
    text = text.replace("status: STASH", "status: supported\n    supported_until: 2024-06-01")
    repo.write("models/demo/model.yaml", text)
    commit_all(repo.root, "promote 1.0.0")
    assert names(matrix(capsys, "--base", "HEAD~1")) == [("demo@1.0.0", True, "promoted")]


def test_a_version_newly_in_an_environment_is_gated(
    repo: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.write(
        "overlays/production/kustomization.yaml",
        "resources:\n  - ../demo/v1.1.0\n  - ../demo/v1.0.0\n",
    )
    repo.write("overlays/staging/kustomization.yaml", "resources:\n  - ../demo/v1.1.0\n")
    commit_all(repo.root, "deploy")
    assert names(matrix(capsys, "--base", "HEAD~1")) == [
        ("demo@1.0.0", True, "deployed:production"),
        ("demo@1.1.0", True, "deployed:staging"),
    ]


def test_merge_base_is_the_reference(repo: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    # Work on main after the branch point must not count as the branch's change.
    git(repo.root, "checkout", "-q", "-b", "feature")
    repo.replace("models/demo/1.0.0/metadata.yaml", "Demo release 1.0.0.", "Branch edit.")
    commit_all(repo.root, "feature edit")
    git(repo.root, "checkout", "-q", "main")
    repo.replace("models/demo/1.1.0/metadata.yaml", "Demo release 1.1.0.", "Main edit.")
    commit_all(repo.root, "main edit")
    git(repo.root, "checkout", "-q", "feature")
    assert names(matrix(capsys, "--base", "main")) == [("demo@1.0.0", False, "changed")]


def test_github_output_lines(repo: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    repo.replace("models/demo/1.1.0/metadata.yaml", "Demo release 1.1.0.", "Better summary.")
    commit_all(repo.root, "edit")
    assert main(["ci-matrix", "--base", "HEAD~1", "--output", "github"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("=", 1)[0] for line in lines] == ["matrix", "count", "gates"]
    assert json.loads(lines[0].split("=", 1)[1])["include"][0]["version"] == "1.1.0"
    assert lines[1:] == ["count=1", "gates=0"]


def test_unknown_base_is_a_usage_error(repo: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ci-matrix", "--base", "no-such-ref"]) == 2
    assert "fetch-depth: 0" in capsys.readouterr().err


# -- shards --------------------------------------------------------------------------------------


def sized_registry(root: Path, sizes: dict[str, int]) -> None:
    for name, size in sizes.items():
        model, version = name.split("@")
        vdir = root / "models" / model / version
        vdir.mkdir(parents=True)
        (vdir / "metadata.yaml").write_text(f"artifact:\n  size: {size}\n", encoding="utf-8")


def test_shards_are_balanced_by_size_and_cover_everything_once(tmp_path: Path) -> None:
    sizes = {f"m{i % 3}@1.{i}.0": (i * 7919) % 1000 + 1 for i in range(20)}
    sized_registry(tmp_path, sizes)
    registry = discover(tmp_path)
    buckets = ci.shards(registry, 4)
    seen = [f"{t.model}@{t.version}" for b in buckets for t in b]
    assert sorted(seen) == sorted(sizes)
    loads = [sum(sizes[f"{t.model}@{t.version}"] for t in b) for b in buckets]
    # Greedy LPT: no shard exceeds the mean by more than the largest single artifact.
    assert max(loads) - sum(loads) / 4 <= max(sizes.values())
    assert ci.shards(discover(tmp_path), 4) == buckets  # deterministic


def test_more_shards_than_versions_leaves_empty_shards_out(tmp_path: Path) -> None:
    sized_registry(tmp_path, {"a@1.0.0": 10, "b@1.0.0": 5})
    entries = ci.shard_matrix(discover(tmp_path), 3)
    assert [e["shard"] for e in entries] == ["1/3", "2/3"]
    assert [e["bytes"] for e in entries] == [10, 5]


def test_validate_shards_split_the_registry(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    data = matrix(capsys, "--shards", "2")
    assert sorted(e["versions"] for e in data["include"]) == ["demo@1.0.0", "demo@1.1.0"]
    assert main(["validate", "--fast", "--shard", "1/2"]) == 0
    assert "1 version, 1 model, shard 1/2 (fast)" in capsys.readouterr().err
    assert main(["validate", "--fast", "--shard", "2/2"]) == 0
    assert "1 version, shard 2/2 (fast)" in capsys.readouterr().err


@pytest.mark.parametrize("shard", ["0/2", "3/2", "a/b", "1"])
def test_bad_shard_is_a_usage_error(
    registry: Registry, capsys: pytest.CaptureFixture[str], shard: str
) -> None:
    assert main(["validate", "--fast", "--shard", shard]) == 2
    assert "--shard" in capsys.readouterr().err


def test_shard_with_paths_is_a_usage_error(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "--shard", "1/2", "models/demo/1.0.0"]) == 2


def test_summary_is_appended(registry: Registry, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    registry.replace("models/demo/1.1.0/metadata.yaml", "size:", "size: 1 #")
    assert main(["validate", "--fast", "--summary", str(summary)]) == 1
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n### ❌ modelreg validate:")
    assert "| Location | Rule | Severity | Message |" in text
