"""Runtime checks on real models: the onnxruntime session and golden vectors."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from conftest import Registry, demo_model
from modelreg.cli import main
from test_structure import install

META = "models/demo/1.1.0/metadata.yaml"
SET = "models/demo/1.1.0/test_data_set_0"


def validate(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["validate", META])
    return code, capsys.readouterr().out


def rewrite(registry: Registry, name: str, array: np.ndarray) -> None:
    registry.path(f"{SET}/{name}").write_bytes(
        numpy_helper.from_array(array, name.split("_", maxsplit=1)[0]).SerializeToString()
    )


def golden(registry: Registry, name: str) -> np.ndarray:
    tensor = onnx.TensorProto()
    tensor.ParseFromString(registry.path(f"{SET}/{name}").read_bytes())
    return numpy_helper.to_array(tensor)


def test_golden_vectors_pass(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    assert validate(capsys) == (0, "")


def test_output_perturbed_beyond_tolerance(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = golden(registry, "output_0.pb").copy()
    original = float(expected[1, 0])
    expected[1, 0] += 0.01
    rewrite(registry, "output_0.pb", expected)
    code, out = validate(capsys)
    assert code == 1
    assert out.startswith(
        f"{SET}: MR404 output_0.pb: `logits` differs beyond rtol=1e-05, atol=1e-06 in 1 of 4 "
        f"elements; worst at [1, 0]: got {original!r}, expected {float(expected[1, 0])!r}"
    ), out


def test_output_perturbed_within_tolerance(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = golden(registry, "output_0.pb").copy()
    expected[0, 1] += 5e-7
    rewrite(registry, "output_0.pb", expected)
    assert validate(capsys) == (0, "")


def test_input_with_the_wrong_dtype(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    rewrite(registry, "input_0.pb", golden(registry, "input_0.pb").astype(np.int32))
    code, out = validate(capsys)
    assert code == 1
    assert f"{SET}: MR403 input_0.pb has dtype int32; `input_ids` takes tensor(int64)" in out


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("missing", "the directory does not exist"),
        ("gap", "input files must be numbered input_0.pb"),
        ("garbage", "output_0.pb is not a serialized TensorProto"),
    ],
)
def test_malformed_sets(
    registry: Registry, capsys: pytest.CaptureFixture[str], damage: str, message: str
) -> None:
    directory = registry.path(SET)
    if damage == "missing":
        for child in directory.iterdir():
            child.unlink()
        directory.rmdir()
    elif damage == "gap":
        (directory / "input_0.pb").rename(directory / "input_1.pb")
    else:
        (directory / "output_0.pb").write_bytes(b"\xff\xff\xff")
    code, out = validate(capsys)
    assert code == 1
    assert f"{SET}: MR403 {message}" in out, out


def test_session_that_cannot_load(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    install(registry, demo_model(0.5, custom_domain=True), check=False)
    registry.replace(META, "    ai.onnx: 17\n", "    ai.onnx: 17\n    com.acme: 1\n")
    code, out = validate(capsys)
    assert code == 1
    assert "models/demo/1.1.0/model.onnx: MR401 onnxruntime cannot load the model: " in out
    assert "MR3" not in out


def test_exact_comparison_for_ints_bools_and_strings() -> None:
    from modelreg.onnx.vectors import _compare

    def cmp(actual: object, expected: object) -> str:
        return _compare(actual, expected, rtol=1.0, atol=1.0, file="output_0.pb", name="y")

    ints = np.array([[1, 2], [3, 4]], dtype=np.int64)
    assert cmp(ints, ints.copy()) == ""
    off_by_one = ints.copy()
    off_by_one[1, 1] = 5
    assert cmp(ints, off_by_one) == (
        "output_0.pb: `y` differs in 1 of 4 elements (exact comparison); first at [1, 1]: "
        "got 4, expected 5"
    )
    words = np.array(["neg", "pos"], dtype=object)
    assert "got 'pos', expected 'neu'" in cmp(words, np.array(["neg", "neu"], dtype=object))
    flags = np.array([True, False])
    assert "first at [1]" in cmp(flags, np.array([True, True]))
    assert "has shape [2]" in cmp(flags, np.array([[True, False]]))


def test_absent_runtime_is_a_finding_not_a_pass(
    registry: Registry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec

    def without_onnxruntime(name: str, package: str | None = None) -> object:
        return None if name == "onnxruntime" else real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", without_onnxruntime)
    code, out = validate(capsys)
    assert code == 1
    model = "models/demo/1.1.0/model.onnx"
    assert f"{model}: MR901 golden vectors not run: onnxruntime not installed" in out
    assert (
        "models/demo/data/eval.npz: MR901 metrics not recomputed: onnxruntime not installed" in out
    )
