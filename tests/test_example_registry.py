"""This repository's own example registry: the real bert-classifier versions are evidence.

Deep validation passes on a copy of ``models/``, and each edit that would make a number a
claim rather than a measurement fails with its own rule.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, numpy_helper

from modelreg.cli import main

REPO = Path(__file__).resolve().parents[1]
VERSION = "models/bert-classifier/1.1.0"
META = f"{VERSION}/metadata.yaml"


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "registry"
    shutil.copytree(REPO / "models", root / "models")
    monkeypatch.chdir(root)
    monkeypatch.setenv("MODELREG_NO_CACHE", "1")
    return root


def validate(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["validate", VERSION])
    return code, capsys.readouterr().out


def test_the_real_versions_pass(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "models/bert-classifier"]) == 0, capsys.readouterr().out


@pytest.mark.slow
def test_accuracy_edited_by_more_than_one_sample_fails(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    meta = example / META
    text = meta.read_text(encoding="utf-8")
    assert "    accuracy: 0.9495\n" in text
    # N = 2000, so 1/N = 0.0005: one sample more is within, two are not.
    meta.write_text(text.replace("accuracy: 0.9495", "accuracy: 0.95"), encoding="utf-8")
    assert validate(capsys)[0] == 0
    meta.write_text(text.replace("accuracy: 0.9495", "accuracy: 0.9506"), encoding="utf-8")
    code, out = validate(capsys)
    assert code == 1
    assert f"{META}:" in out and "MR405 accuracy claims 0.9506, but it measures 0.949500" in out


def test_a_changed_eval_file_fails(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = example / "models/bert-classifier/data/eval.npz"
    archive = dict(np.load(data))
    archive["labels"] = archive["labels"].copy()
    archive["labels"][0] = 1 - archive["labels"][0]  # one relabelled row
    with data.open("wb") as fh:
        np.savez(fh, **archive)
    code, out = validate(capsys)
    assert code == 1
    assert "models/bert-classifier/data/eval.npz: MR406 sha256 is " in out
    assert "the metrics were measured on other data" in out


def test_a_perturbed_golden_output_fails(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pb = example / VERSION / "test_data_set_0/output_0.pb"
    tensor = TensorProto()
    tensor.ParseFromString(pb.read_bytes())
    logits = numpy_helper.to_array(tensor).copy()
    logits[3, 1] += 0.01  # rtol 1e-4, atol 1e-5: far outside
    pb.write_bytes(numpy_helper.from_array(logits, tensor.name).SerializeToString())
    code, out = validate(capsys)
    assert code == 1
    assert f"{VERSION}/test_data_set_0: MR404 output_0.pb: `logits` differs beyond " in out
    assert "in 1 of 16 elements; worst at [3, 1]" in out
