"""External data in validate: every reference judged before any library opens a file.

Each case starts from a version that passes (added by ``modelreg add`` from a model saved
with external data) and changes one thing; the model file is re-hashed into the metadata
where it changes, so the finding is the one the case is about.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto

from conftest import Registry, demo_model
from modelreg.cli import main

# Each case adds a version with external data first (`modelreg add` in an ONNX child): about
# 3 s apiece (issue #20 item 7).
pytestmark = pytest.mark.slow

ARGS = [
    "--dataset-name", "d", "--dataset-version", "1", "--dataset-samples", "1",
    "--summary", "s", "--change", "c", "--date", "2024-02-01", "--runs", "0",
]  # fmt: skip
VERSION = "models/demo/1.2.0"


@pytest.fixture
def ext(registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Registry:
    source = tmp_path / "src"
    source.mkdir()
    onnx.save_model(demo_model(2.0), source / "model.onnx", save_as_external_data=True,
                    all_tensors_to_one_file=True, location="model.data",
                    size_threshold=0)  # fmt: skip
    eval_file = registry.path("models/demo/data/eval.npz")
    argv = ["add", "demo", "1.2.0", "--onnx", str(source / "model.onnx"), "--eval", str(eval_file)]
    assert main([*argv, *ARGS]) == 0, capsys.readouterr().err
    assert main(["validate", VERSION]) == 0, capsys.readouterr().out
    capsys.readouterr()
    return registry


def rewrite(reg: Registry, **entries: str) -> None:
    """Change the external data entries of tensor W in model.onnx; re-hash it in metadata."""
    path = reg.path(f"{VERSION}/model.onnx")
    old = hashlib.sha256(path.read_bytes()).hexdigest()
    old_size = path.stat().st_size
    model = onnx.load(str(path), load_external_data=False)
    (tensor,) = [t for t in model.graph.initializer if t.name == "W"]
    assert tensor.data_location == TensorProto.EXTERNAL
    current = {e.key: e.value for e in tensor.external_data}
    current.update(entries)
    del tensor.external_data[:]
    for key, value in current.items():
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    data = model.SerializeToString()
    path.write_bytes(data)
    meta = reg.read(f"{VERSION}/metadata.yaml")
    meta = meta.replace(old, hashlib.sha256(data).hexdigest())
    meta = meta.replace(f"size: {old_size}\n", f"size: {len(data)}\n", 1)
    reg.write(f"{VERSION}/metadata.yaml", meta)


def validate(capsys: pytest.CaptureFixture[str]) -> str:
    code = main(["validate", VERSION])
    out = capsys.readouterr().out
    assert code == 1, out
    return out


def test_a_changed_data_file_fails_while_model_onnx_is_unchanged(
    ext: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ext.path(f"{VERSION}/model.data")
    raw = bytearray(data.read_bytes())
    raw[0] ^= 0x01
    data.write_bytes(bytes(raw))
    out = validate(capsys)
    assert f"{VERSION}/model.data: MR201 sha256 is " in out
    assert f"{VERSION}/model.onnx: MR201" not in out


def test_fast_mode_checks_the_data_file_size_without_reading_it(
    ext: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ext.path(f"{VERSION}/model.data")
    data.write_bytes(data.read_bytes() + b"\0")
    assert main(["validate", "--fast", VERSION]) == 1
    assert f"{VERSION}/model.data: MR202 size is " in capsys.readouterr().out


@pytest.mark.parametrize(
    ("location", "says"),
    [
        ("../data/eval.npz", "contains `..`"),
        ("/etc/hostname", "is an absolute path"),
        ("sub\\model.data", "uses `\\`"),
        ("nowhere.data", "names a file that does not exist"),
    ],
)
def test_unsafe_locations_are_refused_before_any_library_call(
    ext: Registry, capsys: pytest.CaptureFixture[str], location: str, says: str
) -> None:
    rewrite(ext, location=location)
    out = validate(capsys)
    assert f"{VERSION}/model.onnx: MR207 external data refused: tensor `W` location" in out
    assert says in out
    assert "MR302" not in out  # onnx's checker never saw it


def test_a_symlinked_data_file_is_refused(
    ext: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "outside.data"
    outside.write_bytes(ext.path(f"{VERSION}/model.data").read_bytes())
    ext.path(f"{VERSION}/link.data").symlink_to(outside)
    rewrite(ext, location="link.data")
    out = validate(capsys)
    assert "MR207 external data refused: tensor `W` location 'link.data' passes through the " in out
    assert "symbolic link `link.data`" in out


def test_a_hard_linked_data_file_is_refused(
    ext: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ext.path(f"{VERSION}/model.data")
    os.link(data, tmp_path / "alias.data")  # the declared file: integrity refuses it
    assert f"{VERSION}/model.data: MR206 has 2 hard links" in validate(capsys)
    (tmp_path / "alias.data").unlink()
    # An undeclared file that aliases one outside: the reference itself is refused.
    outside = tmp_path / "secret.data"
    outside.write_bytes(data.read_bytes())
    os.link(outside, data.parent / "alias.data")
    rewrite(ext, location="alias.data")
    out = validate(capsys)
    assert "MR207 external data refused: tensor `W` location 'alias.data' is a file with 2 " in out


@pytest.mark.parametrize(
    ("entries", "says"),
    [
        ({"offset": "0", "length": "9999"}, "offset 0 + length 9999 = 9999 is past the end"),
        ({"offset": "4", "length": "8"}, "offset 4 + length 8 = 12 is past the end of the 8-byte"),
        ({"offset": "-1"}, "negative or non-numeric offset (-1)"),
        ({"offset": "x"}, "negative or non-numeric offset (-1)"),
        ({"offset": "100"}, "offset 100 + length 8 = 108 is past the end of the 8-byte file"),
    ],
)
def test_offsets_and_lengths_outside_the_file_are_refused(
    ext: Registry, capsys: pytest.CaptureFixture[str], entries: dict[str, str], says: str
) -> None:
    rewrite(ext, **entries)
    out = validate(capsys)
    assert "MR207" in out and says in out, out


def test_referenced_but_undeclared_and_declared_but_unreferenced(
    ext: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ext.path(f"{VERSION}/model.data")
    (data.parent / "other.data").write_bytes(data.read_bytes())
    rewrite(ext, location="other.data")
    out = validate(capsys)
    assert "MR208 model.onnx references" not in out  # the message names the file, relative
    assert f"MR208 {VERSION}/model.onnx references the external data file `other.data`" in out
    assert "MR208 artifact.external_data declares `model.data`, but" in out


def test_the_tensor_cap_is_configurable(
    ext: Registry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELREG_MAX_EXTERNAL_TENSORS", "0")
    out = validate(capsys)
    assert "1 external tensors exceed the cap of 0 (MODELREG_MAX_EXTERNAL_TENSORS)" in out


def test_the_file_size_cap_is_configurable(
    ext: Registry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELREG_MAX_FILE_MB", "0")
    out = validate(capsys)
    assert "the file has 8 bytes, over the cap of 0 (MODELREG_MAX_FILE_MB)" in out
