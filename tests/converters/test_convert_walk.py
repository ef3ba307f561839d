"""docs/converters.md walked as a new user would: what the page and the help promise holds.

Each case follows the page's steps on a fresh ``modelreg init`` registry with a model from the
real converter and asserts the exact output a user sees: a regressor's card says which gates
promotion needs, its gates read the same with and without a production version, a text
pipeline's evaluation file of Python strings is refused with the fix. The help of ``add``
and ``gate`` teaches what the page relies on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from sklearn.datasets import make_regression

from modelreg.cli import main

#: The serving image's opset (docs/converters.md, "The serving runtime").
OPSET = {"": 21, "ai.onnx.ml": 3}
ARGS = [
    "--title", "Price", "--description", "Predicts a price.", "--owner", "@acme/ml",
    "--labels", "price", "--dataset-name", "sales", "--dataset-version", "1",
    "--dataset-samples", "60", "--summary", "First version.", "--change", "Initial release",
    "--sample", "3", "--runs", "0", "--date", "2025-01-02",
]  # fmt: skip


def _help(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    """The command's --help, its words joined by single spaces (argparse wraps lines)."""
    assert main([command, "--help"]) == 0
    return " ".join(capsys.readouterr().out.split())


def test_add_help_teaches_the_converter_cases(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help("add", capsys)
    for phrase in (
        "a regressor, whose evaluation `labels` are float targets: MAE, RMSE and R²",
        "skl2onnx's ZipMap: convert with `zipmap=False`",
        "the serving image of overlays/base cannot load (MR629: export with the opset it names)",
        "labels that do not count the scored output's classes (MR310)",
        "docs/converters.md",
        "for a regressor, the quantity it predicts (e.g. price)",
        "--from 1.1.0 \\ --summary",  # the example's continuation is a real backslash
    ):
        assert phrase in text, phrase


def test_gate_help_lists_the_regression_gates(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help("gate", capsys)
    assert (
        "for a regressor min_r2, max_mae, max_rmse, max_r2_drop and max_rmse_increase (relative)"
        in text
    )


@pytest.mark.slow  # a skl2onnx conversion and ONNX children for add and gate
def test_regressor_card_and_gates_as_the_page_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from skl2onnx import to_onnx
    from sklearn.ensemble import GradientBoostingRegressor

    reg = tmp_path / "reg"
    assert main(["init", str(reg)]) == 0
    x, y = make_regression(n_samples=60, n_features=4, noise=5.0, random_state=0)
    x, y = x.astype(np.float32), y.astype(np.float32)
    gbr = GradientBoostingRegressor(n_estimators=5, max_depth=2, random_state=0).fit(x, y)
    onnx_file = tmp_path / "gbr.onnx"
    eval_file = tmp_path / "eval.npz"
    np.savez(eval_file, X=x, labels=y)
    add = ["add", "price", "1.0.0", "--onnx", str(onnx_file), "--eval", str(eval_file)]

    # skl2onnx's default opset (22 for this model) is past the serving image's: refused at
    # add with MR629's message and skl2onnx's own option, nothing written.
    default = to_onnx(gbr, x[:1])
    assert next(o.version for o in default.opset_import if o.domain == "") == 22
    onnx.save_model(default, str(onnx_file))
    capsys.readouterr()
    assert main([*add, *ARGS, "--root", str(reg)]) == 1
    assert capsys.readouterr().err == (
        f"modelreg: error: {onnx_file}: Deployment/triton in overlays/base/deployment.yaml, "
        "which serves every version, cannot load it (MR629): onnx opset 22 exceeds what "
        "nvcr.io/nvidia/tritonserver:25.02-py3 loads (onnxruntime 1.20.1: opset ≤ 21, IR ≤ 10); "
        "export with opset_version=21 or deploy a newer image (skl2onnx: "
        "`to_onnx(..., target_opset=21)`)\n"
    )
    assert not (reg / "models/price").exists()

    onnx.save_model(to_onnx(gbr, x[:1], target_opset=OPSET), str(onnx_file))
    assert main([*add, *ARGS, "--root", str(reg)]) == 0, capsys.readouterr().err
    capsys.readouterr()

    # The card of a regressor has no gates and says which ones promotion needs.
    card = reg / "models/price/model.yaml"
    text = card.read_text(encoding="utf-8")
    assert text.splitlines()[1:4] == [
        "# Written by `modelreg add` for a new regressor: add `gates:` (min_r2, max_mae,",
        "# max_rmse, max_r2_drop, max_rmse_increase) before promoting it to production;",
        "# the lifecycle changes by `modelreg promote` and `rollback`.",
    ]
    assert "\ngates:" not in text and "\ntask: tabular-regression\n" in text

    # The page's regression gates, judged without a production version: the floor is
    # judged, the relative increase reads as a percentage as it does against production.
    card.write_text(text + "gates:\n  min_r2: 0.4\n  max_rmse_increase: 0.05\n", "utf-8")
    assert main(["gate", "price", "1.0.0", "--root", str(reg)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| Gate | Rule | candidate 1.0.0 | production (none) | Result |"
    assert lines[2].startswith("| min_r2 | >= 0.4 | ") and lines[2].endswith(" | pass |")
    assert lines[3].startswith("| max_rmse_increase | increase <= 5.00% | ")
    assert lines[3].endswith(" | - | n/a (no production version) |")


@pytest.mark.slow  # a skl2onnx conversion and an ONNX child for add
def test_text_evaluation_of_python_strings_is_refused_with_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import StringTensorType
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    texts = ["good movie", "bad movie", "great fun", "awful plot"] * 5
    labels = np.array([1, 0, 1, 0] * 5, dtype=np.int64)
    pipe = make_pipeline(CountVectorizer(), LogisticRegression()).fit(texts, labels)
    options = {LogisticRegression: {"zipmap": False}, CountVectorizer: {"locale": "C.UTF-8"}}
    model = to_onnx(
        pipe,
        initial_types=[("text", StringTensorType([None, 1]))],
        options=options,
        target_opset=OPSET,
    )
    reg = tmp_path / "reg"
    assert main(["init", str(reg)]) == 0
    onnx_file = tmp_path / "text.onnx"
    onnx.save_model(model, str(onnx_file))
    eval_file = tmp_path / "eval.npz"
    # What the page warns against: a column of Python strings (dtype=object).
    np.savez(eval_file, text=np.array(texts, dtype=object).reshape(-1, 1), labels=labels)
    capsys.readouterr()
    add = ["add", "text", "1.0.0", "--onnx", str(onnx_file), "--eval", str(eval_file)]
    assert main([*add, *ARGS[:6], "--labels", "neg,pos", *ARGS[8:], "--root", str(reg)]) == 1
    assert capsys.readouterr().err == (
        "modelreg: error: eval.npz refused before loading: array `text` holds Python objects "
        "(it would need pickle); store strings as a unicode array, e.g. "
        "`np.array(texts, dtype=str)`\n"
    )
    assert not (reg / "models/text").exists()
