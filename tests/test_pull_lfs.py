"""Real git-lfs with a bare repository as a ``file://`` remote: fast clone, --fast, pull."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from conftest import Registry, git, git_commit_all
from modelreg.cli import main
from modelreg.git.lfs import LFS_ATTRIBUTES, looks_like_pointer

pytestmark = pytest.mark.skipif(shutil.which("git-lfs") is None, reason="needs git-lfs")


def lfs_objects(clone: Path) -> set[str]:
    """The oids of the LFS objects present in a clone's local store."""
    store = clone / ".git" / "lfs" / "objects"
    return {p.name for p in store.rglob("*") if p.is_file()} if store.is_dir() else set()


@pytest.fixture
def pointer_clone(registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo registry stored in LFS, pushed to a bare repo, cloned with smudging off."""
    root = registry.root
    git(root, "lfs", "install", "--local")
    (root / ".gitattributes").write_text("\n".join(LFS_ATTRIBUTES) + "\n")
    git(root, "rm", "-q", "-r", "--cached", "models")
    git_commit_all(root, "store artifacts in Git LFS")
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(root, "remote", "add", "origin", f"file://{bare}")
    git(root, "push", "-q", "origin", "main")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", f"file://{bare}", str(clone), env={"GIT_LFS_SKIP_SMUDGE": "1"})
    git(clone, "lfs", "install", "--local")
    monkeypatch.chdir(clone)
    return clone


def test_fast_validate_on_pointers_and_pull_one_version(
    pointer_clone: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    v10 = pointer_clone / "models/demo/1.0.0/model.onnx"
    v11 = pointer_clone / "models/demo/1.1.0/model.onnx"
    assert looks_like_pointer(v10.read_bytes()) and looks_like_pointer(v11.read_bytes())
    assert lfs_objects(pointer_clone) == set()

    assert main(["validate", "--fast"]) == 0
    assert "all checks passed" in capsys.readouterr().err

    assert main(["pull", "demo@1.1.0"]) == 0
    err = capsys.readouterr().err
    assert 'git lfs pull --include="models/demo/1.1.0/model.onnx"' in err
    assert "all checks passed" in err
    # Exactly that version's object arrived; the other version is still a pointer.
    assert lfs_objects(pointer_clone) == {hashlib.sha256(v11.read_bytes()).hexdigest()}
    assert not looks_like_pointer(v11.read_bytes())
    assert looks_like_pointer(v10.read_bytes())


def test_fast_validate_fails_on_a_pointer_whose_oid_differs(
    pointer_clone: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    v10 = pointer_clone / "models/demo/1.0.0/model.onnx"
    text = v10.read_text()
    oid = text.split("oid sha256:")[1].split()[0]
    v10.write_text(text.replace(oid, "0" * 64))
    assert main(["validate", "--fast"]) == 1
    out = capsys.readouterr().out
    assert out.startswith(
        f"models/demo/1.0.0/model.onnx: MR201 LFS pointer oid is sha256:{'0' * 64}"
    )


def test_pull_by_environment_and_dry_run(
    pointer_clone: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (pointer_clone / "overlays/production").mkdir(parents=True)
    (pointer_clone / "overlays/production/kustomization.yaml").write_text(
        "resources:\n  - ../demo/v1.0.0\n"
    )
    assert main(["pull", "demo#production", "-n"]) == 0
    assert 'git lfs pull --include="models/demo/1.0.0/model.onnx"' in capsys.readouterr().err
    assert lfs_objects(pointer_clone) == set()
    assert main(["pull", "demo#staging"]) == 2
    assert "no environment `staging`" in capsys.readouterr().err
    assert main(["pull", "demo"]) == 2
    assert "expected MODEL@VERSION or MODEL#ENV" in capsys.readouterr().err
