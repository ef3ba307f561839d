"""``modelreg add``: a version whose facts were measured, that validate passes unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Registry, demo_model
from modelreg.cli import main

ARGS = [
    "--dataset-name", "demo-data", "--dataset-version", "2.0", "--dataset-samples", "100",
    "--summary", "Heavier weights.", "--change", "Retrained", "--migration", "Drop-in",
    "--date", "2024-02-01", "--sample", "4",
]  # fmt: skip


@pytest.fixture
def onnx_file(tmp_path: Path) -> Path:
    path = tmp_path / "candidate.onnx"
    path.write_bytes(demo_model(2.0).SerializeToString())
    return path


def test_added_version_validates_unchanged(
    registry: Registry, onnx_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    eval_file = registry.path("models/demo/data/eval.npz")
    code = main(["add", "demo", "1.2.0", "--onnx", str(onnx_file), "--eval", str(eval_file), *ARGS])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "added models/demo/1.2.0/ as candidate: accuracy 0.8000, F1 (binary) 0.8000" in err
    meta = registry.read("models/demo/1.2.0/metadata.yaml")
    assert "accuracy: 0.8\n" in meta and "version: '2.0'" in meta
    assert registry.read("models/demo/model.yaml").endswith("  1.2.0:\n    status: candidate\n")
    assert sorted(p.name for p in registry.path("models/demo/1.2.0/test_data_set_0").iterdir()) == [
        "input_0.pb",
        "output_0.pb",
    ]
    assert main(["validate"]) == 0, capsys.readouterr().out
    # The measured claim is really checked: editing it past 1/N fails.
    registry.replace("models/demo/1.2.0/metadata.yaml", "accuracy: 0.8", "accuracy: 0.95")
    assert main(["validate"]) == 1
    assert " MR405 accuracy claims 0.95" in capsys.readouterr().out


def test_dry_run_writes_nothing(
    registry: Registry, onnx_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = registry.read("models/demo/model.yaml")
    eval_file = registry.path("models/demo/data/eval.npz")
    argv = ["add", "demo", "1.2.0", "--onnx", str(onnx_file), "--eval", str(eval_file), "-n"]
    assert main([*argv, *ARGS]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("# yaml-language-server") and "would create models/demo/1.2.0/" in err
    assert not registry.path("models/demo/1.2.0").exists()
    assert registry.read("models/demo/model.yaml") == before


def test_existing_version_is_refused(
    registry: Registry, onnx_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    eval_file = registry.path("models/demo/data/eval.npz")
    code = main(["add", "demo", "1.1.0", "--onnx", str(onnx_file), "--eval", str(eval_file), *ARGS])
    assert code == 1
    assert "models/demo/1.1.0 already exists; released versions are immutable" in (
        capsys.readouterr().err
    )


def test_failure_leaves_no_half_version(
    registry: Registry, onnx_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np

    bad_eval = tmp_path / "eval-without-inputs.npz"
    with bad_eval.open("wb") as fh:
        np.savez(fh, labels=np.zeros(3, dtype=np.int64))
    code = main(["add", "demo", "1.2.0", "--onnx", str(onnx_file), "--eval", str(bad_eval), *ARGS])
    assert code == 1
    assert "lacks arrays ['input_ids']" in capsys.readouterr().err
    leftovers = [p.name for p in registry.path("models/demo").iterdir()]
    assert sorted(leftovers) == ["1.0.0", "1.1.0", "data", "model.yaml"]


@pytest.mark.parametrize(
    ("version", "message"), [("1.2", "not a semantic version"), ("01.2.0", "not a semantic")]
)
def test_bad_version_is_a_usage_error(
    registry: Registry,
    onnx_file: Path,
    capsys: pytest.CaptureFixture[str],
    version: str,
    message: str,
) -> None:
    code = main(["add", "demo", version, "--onnx", str(onnx_file), "--eval", "x.npz", *ARGS])
    assert code == 2
    assert message in capsys.readouterr().err


def test_failure_while_assembling_removes_the_staging_directory(
    registry: Registry,
    onnx_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from modelreg.commands import add
    from modelreg.errors import ModelregError

    real_child = add._child

    def failing_golden(task: str, path: Path, spec: dict[str, object] | None = None) -> object:
        if task == "golden":
            assert path.parent.name.startswith(".add-1.2.0-")  # inside the staging directory
            raise ModelregError("golden vectors failed")
        return real_child(task, path, spec)

    monkeypatch.setattr(add, "_child", failing_golden)
    eval_file = registry.path("models/demo/data/eval.npz")
    code = main(["add", "demo", "1.2.0", "--onnx", str(onnx_file), "--eval", str(eval_file), *ARGS])
    assert code == 1
    assert "golden vectors failed" in capsys.readouterr().err
    leftovers = sorted(p.name for p in registry.path("models/demo").iterdir())
    assert leftovers == ["1.0.0", "1.1.0", "data", "model.yaml"]
