"""The init container's fetch script, run for real: git + git-lfs with a ``file://`` LFS remote.

A bare repository is the registry remote; a second directory is its LFS store (``lfs.url`` =
``file://...``, git-lfs's standalone file transfer). The script clones the release tag, pulls
exactly the version's LFS objects (the model and its external data files), verifies each
sha256 and lays out the Triton model repository.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import onnx
import pytest
import yaml

from conftest import Registry, demo_model, git
from gitops_support import add_overlays
from modelreg.cli import main
from modelreg.errors import ModelregError
from modelreg.git.lfs import LFS_ATTRIBUTES
from modelreg.gitops.kustomize import build
from modelreg.gitops.overlays import EXTERNAL_DATA_LIST, external_data_list

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


def _repositories(tmp_path: Path) -> tuple[dict[str, str], Path, Path, Path]:
    """A git-lfs home, a bare origin, a bare ``file://`` LFS store and a work repository whose
    LFS objects go to that store: ``(env, work, bare, store)``."""
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
    return env, work, bare, store


@pytest.fixture
def remote(tmp_path: Path) -> dict[str, Path]:
    """A registry pushed to a bare repository whose LFS objects live in a file:// store."""
    env, work, bare, store = _repositories(tmp_path)
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
    return {
        "home": tmp_path / "home",
        "bare": bare,
        "store": store,
        "config": config,
        "tmp": tmp_path,
    }


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


# -- external data: every file the ONNX file references is fetched and verified ----------------

EXT_VERSION = "2.0.0"
EXT_TAG = f"model-demo-v{EXT_VERSION}"
TAMPERED_TAG = f"{EXT_TAG}-tampered"
EXT_DIR = f"models/demo/{EXT_VERSION}"
#: Two external data files, as onnx.save_model(..., save_as_external_data=True) and a
#: hand-split export write them; both are Git LFS patterns of `modelreg init`.
EXTERNAL = {
    "model.onnx_data": b"\x01weights" * 4096,
    "weights/embeddings.bin": b"\x02embeddings" * 2048,
}


def _artifact() -> dict[str, object]:
    """The metadata `artifact` block of the external-data version, as `modelreg add` writes it."""
    return {
        "path": "model.onnx",
        "sha256": hashlib.sha256(PAYLOAD).hexdigest(),
        "size": len(PAYLOAD),
        "external_data": [
            {"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
            for name, data in EXTERNAL.items()
        ],
    }


@pytest.fixture
def external_remote(tmp_path: Path) -> dict[str, Path]:
    """A registry whose version 2.0.0 keeps its weights in two external data files (in LFS),
    tagged; a second tag holds the same version with one data file changed after review."""
    env, work, bare, store = _repositories(tmp_path)
    (work / ".gitattributes").write_text("\n".join(LFS_ATTRIBUTES) + "\n", encoding="utf-8")
    (work / EXT_DIR / "weights").mkdir(parents=True)
    (work / EXT_DIR / "model.onnx").write_bytes(PAYLOAD)
    for name, data in EXTERNAL.items():
        (work / EXT_DIR / name).write_bytes(data)
    git(work, "add", "-A", env=env)
    git(work, "commit", "-q", "-m", "demo 2.0.0", env=env)
    git(work, "tag", EXT_TAG, env=env)
    (work / EXT_DIR / "weights/embeddings.bin").write_bytes(b"\x03swapped" * 2048)
    git(work, "commit", "-q", "-am", "swap the embeddings", env=env)
    git(work, "tag", TAMPERED_TAG, env=env)
    git(work, "remote", "add", "origin", str(bare), env=env)
    git(work, "push", "-q", "origin", "main", "--tags", env=env)
    # Every data file went to the LFS store: the fetch step must pull each one.
    for data in EXTERNAL.values():
        oid = hashlib.sha256(data).hexdigest()
        assert (store / "lfs" / "objects" / oid[:2] / oid[2:4] / oid).is_file()
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    config = config_dir / "config.pbtxt"
    config.write_text('name: "demo"\nplatform: "onnxruntime_onnx"\n', encoding="utf-8")
    # The list exactly as the version overlay's generator writes it into the ConfigMap.
    listing = external_data_list(_artifact(), f"{EXT_DIR}/metadata.yaml")
    assert listing is not None
    (config_dir / EXTERNAL_DATA_LIST).write_text(listing, encoding="utf-8")
    return {
        "home": tmp_path / "home",
        "bare": bare,
        "store": store,
        "config": config,
        "tmp": tmp_path,
    }


def _fetch_external(
    remote: dict[str, Path], target: Path, **overrides: str
) -> subprocess.CompletedProcess[str]:
    inputs = {
        "MODEL_VERSION": EXT_VERSION,
        "MODEL_REF": EXT_TAG,
        "MODEL_PATH": f"{EXT_DIR}/model.onnx",
        "MODEL_EXTERNAL_DATA": EXTERNAL_DATA_LIST,
        **overrides,
    }
    return _fetch(remote, target, **inputs)


def test_external_data_is_fetched_verified_and_laid_out(
    external_remote: dict[str, Path], tmp_path: Path
) -> None:
    target = tmp_path / "models-dir"
    target.mkdir()
    done = _fetch_external(external_remote, target)
    assert done.returncode == 0, done.stderr
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*")) == [
        "demo",
        "demo/1",
        "demo/1/model.onnx",
        "demo/1/model.onnx_data",
        "demo/1/weights",
        "demo/1/weights/embeddings.bin",
        "demo/config.pbtxt",
    ]
    assert (target / "demo/1/model.onnx").read_bytes() == PAYLOAD
    for name, data in EXTERNAL.items():  # the LFS objects, not their pointers
        assert (target / "demo/1" / name).read_bytes() == data
    assert "verified" in done.stderr and "2 external data file(s)" in done.stderr


def test_a_changed_external_data_file_is_not_served(
    external_remote: dict[str, Path], tmp_path: Path
) -> None:
    """The tag was moved to a commit whose embeddings differ from what metadata verified."""
    target = tmp_path / "models-dir"
    target.mkdir()
    done = _fetch_external(external_remote, target, MODEL_REF=TAMPERED_TAG)
    assert done.returncode == 1
    want = hashlib.sha256(EXTERNAL["weights/embeddings.bin"]).hexdigest()
    assert (
        f"sha256 mismatch for demo {EXT_VERSION} external data weights/embeddings.bin: "
        f"expected {want}, got "
    ) in done.stderr
    assert list(target.iterdir()) == []


def test_a_missing_external_data_file_is_not_served(
    external_remote: dict[str, Path], tmp_path: Path
) -> None:
    listing = external_remote["config"].parent / EXTERNAL_DATA_LIST
    listing.write_text(
        listing.read_text(encoding="utf-8") + f"{'0' * 64}  weights/extra.bin\n", encoding="utf-8"
    )
    target = tmp_path / "models-dir"
    target.mkdir()
    done = _fetch_external(external_remote, target)
    assert done.returncode == 1
    assert (
        f"external data weights/extra.bin of demo {EXT_VERSION} does not exist at {EXT_TAG}"
    ) in done.stderr
    assert list(target.iterdir()) == []


def test_a_missing_list_is_not_served_without_it(
    external_remote: dict[str, Path], tmp_path: Path
) -> None:
    (external_remote["config"].parent / EXTERNAL_DATA_LIST).unlink()
    target = tmp_path / "models-dir"
    target.mkdir()
    done = _fetch_external(external_remote, target)
    assert done.returncode == 1
    assert f"{EXTERNAL_DATA_LIST} does not exist" in done.stderr
    assert list(target.iterdir()) == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (f"{'a' * 64}  ../../other/1.0.0/model.onnx", "not a plain relative path: ../../"),
        (f"{'a' * 64}  /etc/passwd", "not a plain relative path: /etc/passwd"),
        (f"{'a' * 64}  a.bin,models/other/x.bin", "not a plain relative path: a.bin,models"),
        (f"{'a' * 64}  *.bin", "not a plain relative path: *.bin"),
        (f"{'a' * 64}  -rf", "not a plain relative path: -rf"),
        (f"{'a' * 64}  model.onnx", "external data may not be named model.onnx"),
        (f"{'A' * 64}  x.bin", "not a lowercase hex sha256 for x.bin"),
        ("abc  x.bin", "sha256 of x.bin must have 64 hex digits"),
        (f"{'a' * 64}  x.bin extra", "not a '<sha256>  <path>' line"),
    ],
)
def test_a_bad_list_is_refused_before_any_fetch(
    external_remote: dict[str, Path], tmp_path: Path, line: str, message: str
) -> None:
    (external_remote["config"].parent / EXTERNAL_DATA_LIST).write_text(line + "\n")
    target = tmp_path / "models-dir"
    target.mkdir()
    # An unreachable source: a refusal here happens before any clone is tried.
    done = _fetch_external(external_remote, target, MODEL_SOURCE_URL="file:///nonexistent")
    assert done.returncode == 1
    assert message in done.stderr, done.stderr
    assert "cannot clone" not in done.stderr
    assert list(target.iterdir()) == []


def test_external_data_is_not_fetched_from_a_storage_uri(
    external_remote: dict[str, Path], tmp_path: Path
) -> None:
    copy = tmp_path / "bucket" / "model.onnx"
    copy.parent.mkdir()
    copy.write_bytes(PAYLOAD)
    target = tmp_path / "models-dir"
    target.mkdir()
    done = _fetch_external(external_remote, target, MODEL_STORAGE_URI=copy.as_uri())
    assert done.returncode == 1
    assert "MODEL_STORAGE_URI holds one file" in done.stderr


# -- the generator's side: what the overlay lists, and what it refuses -------------------------


def test_the_list_is_relative_to_the_onnx_file() -> None:
    artifact = _artifact()
    artifact["path"] = "onnx/model.onnx"
    artifact["external_data"] = [
        {"path": "onnx/model.onnx_data", "sha256": "b" * 64, "size": 1},
        {"path": "onnx/w/e.bin", "sha256": "c" * 64, "size": 1},
    ]
    assert external_data_list(artifact, "m.yaml") == (
        f"{'b' * 64}  model.onnx_data\n{'c' * 64}  w/e.bin\n"
    )
    assert external_data_list({"path": "model.onnx"}, "m.yaml") is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"path": "data/x bin"}, "cannot be deployed: the fetch step lays out only plain names"),
        ({"path": "a,b.bin"}, "cannot be deployed"),
        ({"path": ".hidden"}, "cannot be deployed"),
        ({"path": "model.onnx"}, "would replace the model itself in the layout"),
        ({"sha256": "0" * 63}, "has no sha256 to verify it by"),
    ],
)
def test_undeployable_external_data_is_refused(change: dict[str, str], message: str) -> None:
    artifact = _artifact()
    entries = artifact["external_data"]
    assert isinstance(entries, list)
    entries[1] = {**entries[1], **change}
    with pytest.raises(ModelregError, match=re.escape(message)) as caught:
        external_data_list(artifact, "models/demo/2.0.0/metadata.yaml")
    assert str(caught.value).startswith(
        "models/demo/2.0.0/metadata.yaml: artifact.external_data[1]"
    )


def test_external_data_and_a_storage_uri_are_refused_together() -> None:
    artifact = {**_artifact(), "storage_uri": "https://bucket.example/demo/2.0.0/model.onnx"}
    with pytest.raises(ModelregError, match="the fetch step takes all of its files from git"):
        external_data_list(artifact, "m.yaml")


def test_a_file_outside_the_onnx_files_directory_is_refused() -> None:
    artifact = {**_artifact(), "path": "onnx/model.onnx"}
    with pytest.raises(ModelregError, match="is not inside the ONNX file's directory `onnx`"):
        external_data_list(artifact, "m.yaml")


# -- end to end: `modelreg add` writes the list into the overlay, kustomize renders it ---------

ADD_ARGS = [
    "--dataset-name", "d", "--dataset-version", "1", "--dataset-samples", "1",
    "--summary", "s", "--change", "c", "--date", "2024-02-01", "--runs", "0",
]  # fmt: skip


def _add_external(registry: Registry, tmp_path: Path, location: str) -> int:
    """`modelreg add demo 1.2.0` from a model saved with its weights in ``location``."""
    add_overlays(registry.root, {"demo": ["1.1.0"]}, {"demo": "1.1.0"})
    source = tmp_path / "src"
    source.mkdir()
    onnx.save_model(demo_model(2.0), source / "model.onnx", save_as_external_data=True,
                    all_tensors_to_one_file=True, location=location,
                    size_threshold=0)  # fmt: skip
    eval_file = registry.path("models/demo/data/eval.npz")
    argv = ["add", "demo", "1.2.0", "--onnx", str(source / "model.onnx"), "--eval", str(eval_file)]
    return main([*argv, *ADD_ARGS])


def test_add_writes_the_external_data_list_into_the_overlay(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _add_external(registry, tmp_path, "model.onnx_data") == 0, capsys.readouterr().err
    data = registry.path("models/demo/1.2.0/model.onnx_data").read_bytes()
    objects = yaml.safe_load_all(build(registry.path("overlays/demo/v1.2.0")))
    maps = {d["metadata"]["name"]: d["data"] for d in objects if d and d["kind"] == "ConfigMap"}
    (model,) = [v for k, v in maps.items() if k.startswith("demo-model-v1-2-0")]
    (config,) = [v for k, v in maps.items() if k.startswith("demo-model-config-v1-2-0")]
    assert model["MODEL_EXTERNAL_DATA"] == EXTERNAL_DATA_LIST
    assert config[EXTERNAL_DATA_LIST] == f"{hashlib.sha256(data).hexdigest()}  model.onnx_data\n"
    # The overlay is what the generator makes (MR605 quiet); validate passes.
    capsys.readouterr()
    assert main(["validate", "--fast"]) == 0, capsys.readouterr().out


def test_undeployable_external_data_is_refused_by_add(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A data file the fetch step could not lay out never gets a version, nor an overlay."""
    assert _add_external(registry, tmp_path, "weights,v2.data") == 1
    err = capsys.readouterr().err
    assert err.startswith("modelreg: error: ")
    assert (
        "/metadata.yaml: artifact.external_data[0] `weights,v2.data` cannot be deployed: the "
        "fetch step lays out only plain names"
    ) in err
    assert not registry.path("models/demo/1.2.0").exists()
    assert not registry.path("overlays/demo/v1.2.0").exists()


def test_undeployable_external_data_in_metadata_is_a_finding(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Metadata edited by hand to a name the fetch step refuses: MR605 names the entry."""
    assert _add_external(registry, tmp_path, "model.onnx_data") == 0, capsys.readouterr().err
    registry.replace(
        "models/demo/1.2.0/metadata.yaml", "path: model.onnx_data", "path: ../1.1.0/model.onnx"
    )
    capsys.readouterr()
    assert main(["validate", "--fast", "--select", "MR605"]) == 1
    out = capsys.readouterr().out
    assert (
        "overlays/demo/v1.2.0: MR605 cannot generate: models/demo/1.2.0/metadata.yaml: "
        "artifact.external_data[0] `../1.1.0/model.onnx` cannot be deployed"
    ) in out, out
