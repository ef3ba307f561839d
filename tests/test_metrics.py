"""Evaluation: F1 without scikit-learn, and metric claims re-measured by validate."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import Registry
from modelreg.cli import main
from modelreg.evaluation import f1_score

META = "models/demo/1.1.0/metadata.yaml"
EVAL = "models/demo/data/eval.npz"

# 3 classes. Confusion (rows = truth, cols = prediction):
#   [[2, 1, 0],
#    [0, 1, 1],
#    [1, 0, 2]]
TRUTH = [0, 0, 0, 1, 1, 2, 2, 2]
PRED = [0, 0, 1, 1, 2, 2, 2, 0]
# Per class: c0 tp2 fp1 fn1 -> 4/6; c1 tp1 fp1 fn1 -> 2/4; c2 tp2 fp1 fn1 -> 4/6.


@pytest.mark.parametrize(
    ("average", "expected"),
    [
        ("macro", (4 / 6 + 2 / 4 + 4 / 6) / 3),
        ("weighted", (4 / 6 * 3 + 2 / 4 * 2 + 4 / 6 * 3) / 8),
        ("micro", 5 / 8),
        ("binary", 2 / 4),
    ],
)
def test_f1_averages(average: str, expected: float) -> None:
    assert f1_score(PRED, TRUTH, 3, average, positive=1) == pytest.approx(expected)


def test_f1_of_a_class_never_predicted_or_present_is_zero() -> None:
    assert f1_score([0, 0], [0, 0], 2, "binary", positive=1) == 0.0


def validate(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["validate", META])
    return code, capsys.readouterr().out


def test_measured_claims_pass(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    assert validate(capsys) == (0, "")


def test_claim_within_one_sample_passes(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.replace(META, "accuracy: 0.8", "accuracy: 0.85")  # N = 10: 1/N = 0.1
    assert validate(capsys) == (0, "")


def test_claim_beyond_one_sample_fails(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.replace(META, "accuracy: 0.8", "accuracy: 0.95")
    registry.replace(META, "value: 0.8", "value: 0.5")
    code, out = validate(capsys)
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 2
    assert " MR405 accuracy claims 0.95, but it measures 0.800000 on 10 samples" in lines[0]
    assert " MR405 f1 claims 0.5, but it measures 0.800000 on 10 samples" in lines[1]
    assert lines[0].startswith(f"{META}:")


def test_changed_eval_file_fails(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    with registry.path(EVAL).open("wb") as fh:
        np.savez(fh, input_ids=np.ones((10, 3), dtype=np.int64), labels=np.zeros(10, np.int64))
    code, out = validate(capsys)
    assert code == 1
    assert f"{EVAL}: MR406 sha256 is " in out and "the metrics were measured on other data" in out


def test_sample_count_and_location(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    registry.replace(META, "samples: 10", "samples: 11")
    code, out = validate(capsys)
    assert code == 1
    assert "MR406 evaluation.data.samples is 11; the file has 10 labelled rows" in out
    registry.replace(META, "samples: 11", "samples: 10")
    registry.replace(META, "path: ../data/eval.npz", "path: ../../eval.npz")
    code, out = validate(capsys)
    assert "MR406 evaluation.data.path `../../eval.npz` is outside the model directory" in out
