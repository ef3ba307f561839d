"""Evaluation: F1 without scikit-learn, and metric claims re-measured by validate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import Registry
from modelreg.cli import main
from modelreg.onnx.evaluation import (
    class_count,
    evaluate,
    f1_score,
    labels_kind,
    regression_tolerance,
)

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


# -- regressors -----------------------------------------------------------------------------


def _linear_regressor(path: Path, output_shape: list[str | int | None]) -> Path:
    """A real regressor: y = 2 * x[:, 0] - 1, output float ``output_shape``."""
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.array([[2.0], [0.0]], dtype=np.float32), "W")
    bias = numpy_helper.from_array(np.array([-1.0], dtype=np.float32), "B")
    nodes = [helper.make_node("Gemm", ["X", "W", "B"], ["y2d"])]
    if len(output_shape) == 1:
        axes = numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")
        nodes.append(helper.make_node("Squeeze", ["y2d", "axes"], ["y"]))
        inits = [weights, bias, axes]
    else:
        nodes.append(helper.make_node("Identity", ["y2d"], ["y"]))
        inits = [weights, bias]
    graph = helper.make_graph(
        nodes,
        "linear",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, output_shape)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return path


def _regression_data(path: Path, labels: np.ndarray) -> Path:
    x = np.stack([np.arange(6, dtype=np.float32), np.ones(6, dtype=np.float32)], axis=1)
    with path.open("wb") as fh:
        np.savez(fh, X=x, labels=labels)
    return path


TARGETS = np.array([-1.5, 1.0, 3.5, 4.0, 8.0, 9.0], dtype=np.float32)  # predictions -1,1,3,5,7,9


@pytest.mark.parametrize("shape", [["N", 1], ["N"]])
def test_regression_metrics_equal_scikit_learns(
    tmp_path: Path, shape: list[str | int | None]
) -> None:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    model = _linear_regressor(tmp_path / "m.onnx", shape)
    data = _regression_data(tmp_path / "e.npz", TARGETS)
    scores = evaluate(model, data, {"task": "regression", "output": "y"})
    predicted = np.array([-1, 1, 3, 5, 7, 9], dtype=np.float64)
    truth = TARGETS.astype(np.float64)
    assert scores["samples"] == 6
    assert scores["mae"] == pytest.approx(mean_absolute_error(truth, predicted), rel=1e-12)
    assert scores["rmse"] == pytest.approx(np.sqrt(mean_squared_error(truth, predicted)), rel=1e-12)
    assert scores["r2"] == pytest.approx(r2_score(truth, predicted), rel=1e-12)
    assert scores["scale"] == pytest.approx(np.sqrt(np.mean(truth**2)), rel=1e-12)


def test_a_one_column_output_is_never_scored_as_a_classifier(tmp_path: Path) -> None:
    model = _linear_regressor(tmp_path / "m.onnx", ["N", 1])
    data = _regression_data(tmp_path / "e.npz", np.zeros(6, dtype=np.int64))
    spec = {"task": "classification", "output": "y", "classes": 1, "average": "macro",
            "positive": 0}  # fmt: skip
    with pytest.raises(ValueError, match=r"^output `y` has one column: its argmax is always"):
        evaluate(model, data, spec)
    # Float targets scored as a classifier say why, instead of "must be a 1-D integer array".
    floats = _regression_data(tmp_path / "f.npz", TARGETS)
    with pytest.raises(ValueError, match=r"^`labels` holds floats \(float32\); this version"):
        evaluate(model, floats, spec)


def test_labels_kind_is_read_from_the_header(tmp_path: Path) -> None:
    for labels, kind in ((TARGETS, "float"), (np.zeros(6, np.int64), "integer"),
                         (np.array(["a"] * 6), None)):  # fmt: skip
        path = _regression_data(tmp_path / "e.npz", labels)
        with path.open("rb") as fh:
            assert labels_kind(fh) == kind
    with (tmp_path / "x.npz").open("wb") as fh:
        np.savez(fh, X=np.zeros(2))
    with (tmp_path / "x.npz").open("rb") as fh:
        assert labels_kind(fh) is None


def test_regression_tolerance_is_relative_plus_a_floor_in_the_targets_unit() -> None:
    assert regression_tolerance("r2", 0.5, scale=1000.0) == pytest.approx(0.5e-4 + 1e-6)
    assert regression_tolerance("mae", 20.0, scale=1000.0) == pytest.approx(2e-3 + 1e-3)
    assert regression_tolerance("rmse", 0.0, scale=0.0) == pytest.approx(1e-6)


def _io(name: str, elem: str, shape: list[object]) -> dict[str, object]:
    return {"name": name, "type": {"tensor": elem, "shape": shape}}


@pytest.mark.parametrize(
    ("outputs", "scored", "expected"),
    [
        ([_io("logits", "float", ["batch", 2])], "logits", ("logits", 2)),
        ([_io("logits", "float", ["batch", "classes"])], "logits", None),
        # onnxmltools' LightGBM: the label output is declared [1]; its classes are counted
        # on the probabilities beside it.
        ([_io("label", "int64", [1]), _io("probabilities", "float", [None, 3])], "label",
         ("probabilities", 3)),
        ([_io("label", "int64", [None])], "label", None),
        ([_io("variable", "float", [None, 1])], "variable", ("variable", 1)),
        ([_io("variable", "float", [None])], "variable", None),  # rank 1: its dim is the batch
        ([{"name": "p", "type": {"sequence": {"tensor": "float"}}}], "p", None),
    ],
)  # fmt: skip
def test_class_count(
    outputs: list[dict[str, object]], scored: str, expected: tuple[str, int] | None
) -> None:
    assert class_count(outputs, scored) == expected
