"""The init container's fetch script, run for real: git + git-lfs with a ``file://`` LFS remote.

A bare repository is the registry remote; a second directory is its LFS store (``lfs.url`` =
``file://...``, git-lfs's standalone file transfer). The script clones the release tag, pulls
exactly one LFS object, verifies its sha256 and lays out the Triton model repository.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import git

SCRIPT = Path(__file__).resolve().parents[1] / "overlays" / "base" / "fetch-model.sh"
PAYLOAD = b"\x08\x0a" + bytes(range(256)) * 64  # stands in for the ONNX bytes: only hashed
OTHER = b"another model, never pulled" * 100
MODEL_PATH = "models/demo/1.0.0/model.onnx"
TAG = "model-demo-v1.0.0"

pytestmark = pytest.mark.skipif(shutil.which("git-lfs") is None, reason="git-lfs is not installed")


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("GIT_") and k != "XDG_CONFIG_HOME"
    }
    env.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_TERMINAL_PROMPT="0",
        TMPDIR=str(home),
        **extra,
    )
    return env


@pytest.fixture
def remote(tmp_path: Path) -> dict[str, Path]:
    """A registry pushed to a bare repository whose LFS objects live in a file:// store."""
    home = tmp_path / "home"
    home.mkdir()
    env = _env(home)
    subprocess.run(["git", "lfs", "install"], env=env, check=True, capture_output=True)
    work, bare, store = tmp_path / "work", tmp_path / "origin.git", tmp_path / "lfs-store"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], env=env, check=True)
    subprocess.run(["git", "init", "-q", "--bare", str(store)], env=env, check=True)
    work.mkdir()
    git(work, "init", "-q", "-b", "main", env=env)
    git(work, "config", "lfs.url", store.as_uri(), env=env)
    git(work, "lfs", "track", "*.onnx", env=env)
    (work / MODEL_PATH).parent.mkdir(parents=True)
    (work / MODEL_PATH).write_bytes(PAYLOAD)
    (work / "models/demo/1.1.0").mkdir(parents=True)
    (work / "models/demo/1.1.0/model.onnx").write_bytes(OTHER)
    git(work, "add", "-A", env=env)
    git(work, "commit", "-q", "-m", "demo 1.0.0", env=env)
    git(work, "tag", TAG, env=env)
    git(work, "remote", "add", "origin", str(bare), env=env)
    git(work, "push", "-q", "origin", "main", "--tags", env=env)
    # The object went to the file:// store, not into the bare repository.
    oid = hashlib.sha256(PAYLOAD).hexdigest()
    assert (store / "lfs" / "objects" / oid[:2] / oid[2:4] / oid).is_file()
    assert not (bare / "lfs").exists()
    config = tmp_path / "config.pbtxt"
    config.write_text('name: "demo"\nplatform: "onnxruntime_onnx"\n', encoding="utf-8")
    return {"home": home, "bare": bare, "store": store, "config": config, "tmp": tmp_path}


def _fetch(
    remote: dict[str, Path], target: Path, **overrides: str
) -> subprocess.CompletedProcess[str]:
    inputs = {
        "MODEL_NAME": "demo",
        "MODEL_VERSION": "1.0.0",
        "MODEL_SHA256": hashlib.sha256(PAYLOAD).hexdigest(),
        "MODEL_REF": TAG,
        "MODEL_PATH": MODEL_PATH,
        "MODEL_SOURCE_URL": remote["bare"].as_uri(),
        "LFS_URL": remote["store"].as_uri(),
        "CONFIG_PBTXT": str(remote["config"]),
        "MODEL_REPOSITORY": str(target),
    }
    inputs.update(overrides)
    # A fresh HOME, like the init container's: nothing from the pushing side's git config.
    home = remote["tmp"] / "pod-home"
    home.mkdir(exist_ok=True)
    return subprocess.run(
        ["sh", str(SCRIPT)],
        env=_env(home, **inputs),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_fetch_lays_out_the_triton_repository(remote: dict[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "models-dir"
    target.mkdir()
    done = _fetch(remote, target)
    assert done.returncode == 0, done.stderr
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*")) == [
        "demo",
        "demo/1",
        "demo/1/model.onnx",
        "demo/config.pbtxt",
    ]
    assert (target / "demo/1/model.onnx").read_bytes() == PAYLOAD
    assert (target / "demo/config.pbtxt").read_text() == remote["config"].read_text()
    assert "verified" in done.stderr


def test_wrong_sha256_aborts_and_leaves_nothing(remote: dict[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "models-dir"
    target.mkdir()
    wrong = hashlib.sha256(b"not the artifact").hexdigest()
    done = _fetch(remote, target, MODEL_SHA256=wrong)
    assert done.returncode == 1
    assert f"sha256 mismatch for demo 1.0.0: expected {wrong}" in done.stderr
    assert list(target.iterdir()) == []


def test_missing_lfs_object_is_not_served(remote: dict[str, Path], tmp_path: Path) -> None:
    """Without the LFS store the clone holds only the pointer: refuse, do not serve it."""
    target = tmp_path / "models-dir"
    target.mkdir()
    empty = tmp_path / "empty-store"
    subprocess.run(["git", "init", "-q", "--bare", str(empty)], check=True)
    done = _fetch(remote, target, LFS_URL=empty.as_uri())
    assert done.returncode == 1
    assert list(target.iterdir()) == []


def test_unknown_tag_fails_clearly(remote: dict[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "models-dir"
    target.mkdir()
    done = _fetch(remote, target, MODEL_REF="model-demo-v9.9.9")
    assert done.returncode == 1
    assert "cannot clone model-demo-v9.9.9" in done.stderr


def test_storage_uri_is_fetched_and_verified(remote: dict[str, Path], tmp_path: Path) -> None:
    copy = tmp_path / "bucket" / "model.onnx"
    copy.parent.mkdir()
    copy.write_bytes(PAYLOAD)
    target = tmp_path / "models-dir"
    target.mkdir()
    done = _fetch(remote, target, MODEL_STORAGE_URI=copy.as_uri(), MODEL_SOURCE_URL="")
    assert done.returncode == 0, done.stderr
    assert (target / "demo/1/model.onnx").read_bytes() == PAYLOAD
    copy.write_bytes(OTHER)
    done = _fetch(remote, target, MODEL_STORAGE_URI=copy.as_uri())
    assert done.returncode == 1
    assert "sha256 mismatch" in done.stderr
    # The previously verified model stays in place; the bad copy never replaces it.
    assert (target / "demo/1/model.onnx").read_bytes() == PAYLOAD


def test_bad_inputs_are_refused_before_any_fetch(remote: dict[str, Path], tmp_path: Path) -> None:
    done = _fetch(remote, tmp_path, MODEL_SHA256="XYZ")
    assert done.returncode == 1
    assert "MODEL_SHA256 is not a lowercase hex sha256" in done.stderr
