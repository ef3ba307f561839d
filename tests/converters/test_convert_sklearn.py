"""scikit-learn, LightGBM and XGBoost models from the real converters, as a team brings them.

Each case builds a tiny model with the real converter (skl2onnx, onnxmltools), writes its
evaluation data, and runs ``add`` → deep ``validate --no-cache`` → ``validate --fast`` on a
fresh registry (``modelreg init``), or checks that ``add`` refuses it with a message naming
the unsupported feature and the converter option that fixes it, leaving the tree unchanged.

Models target opset 21 (``ai.onnx.ml`` 3): skl2onnx's default (22) is more than the
onnxruntime of the Triton image the scaffolded overlays deploy loads (MR629).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnxmltools import convert_lightgbm, convert_xgboost  # type: ignore[import-untyped]  # no stubs
from onnxmltools.convert.common.data_types import (  # type: ignore[import-untyped]  # idem
    FloatTensorType,
)
from sklearn.datasets import make_classification, make_regression

from modelreg.cli import main

#: What the serving image's onnxruntime loads (see the module docstring).
OPSET = {"": 21, "ai.onnx.ml": 3}
#: A complete new model and version, nothing left TODO, no latency run (speed).
ARGS = [
    "--title", "Converted", "--description", "A converted model.", "--owner", "@acme/ml",
    "--dataset-name", "synthetic", "--dataset-version", "1", "--dataset-samples", "60",
    "--summary", "First version.", "--change", "Initial release", "--sample", "3",
    "--runs", "0", "--date", "2025-01-02",
]  # fmt: skip

pytestmark = pytest.mark.slow  # each case starts ONNX children for add and validate


@pytest.fixture
def reg(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A fresh registry from ``modelreg init``."""
    root = tmp_path / "reg"
    assert main(["init", str(root)]) == 0
    capsys.readouterr()
    return root


def _classification(classes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    x, y = make_classification(
        n_samples=60, n_features=4, n_informative=3, n_redundant=0, n_classes=classes,
        random_state=0,
    )  # fmt: skip
    return x.astype(np.float32), y.astype(np.int64)


def _save(path: Path, model: onnx.ModelProto | bytes) -> Path:
    path.write_bytes(model if isinstance(model, bytes) else model.SerializeToString())
    return path


def _eval(path: Path, **arrays: np.ndarray) -> Path:
    with path.open("wb") as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]  # numpy's stub: savez(file, *args, **kwds: ArrayLike)
    return path


def _add(
    reg: Path, capsys: pytest.CaptureFixture[str], target: str, files: tuple[Path, Path],
    *extra: str,
) -> tuple[int, str]:  # fmt: skip
    """``modelreg add`` of ``target`` (``name@version``) from (ONNX file, evaluation file)."""
    name, version = target.split("@")
    argv = ["add", name, version, "--onnx", str(files[0]), "--eval", str(files[1])]
    code = main([*argv, *(ARGS if version == "1.0.0" else ARGS[6:]), *extra, "--root", str(reg)])
    return code, capsys.readouterr().err


def _validated(reg: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    """Deep (no cache) and fast validate of the model pass, without a finding."""
    for mode in (["--no-cache"], ["--fast"]):
        code = main(["validate", str(reg / "models" / name), *mode, "--root", str(reg)])
        out = capsys.readouterr().out
        assert (code, out) == (0, ""), (mode, out)


def _metadata(reg: Path, name: str, version: str = "1.0.0") -> str:
    return (reg / "models" / name / version / "metadata.yaml").read_text(encoding="utf-8")


def _tree(root: Path) -> dict[str, bytes]:
    """Every file of the work tree (not .git) with its bytes."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def _skl(model: Any, x: np.ndarray, **options: Any) -> onnx.ModelProto:
    from skl2onnx import to_onnx

    converted: onnx.ModelProto = to_onnx(model, x[:1], target_opset=OPSET, **options)
    return converted


def test_skl2onnx_classifier_without_zipmap_is_added_and_its_default_zipmap_refused(
    reg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sklearn.linear_model import LogisticRegression

    x, y = _classification()
    clf = LogisticRegression().fit(x, y)
    eval_file = _eval(tmp_path / "eval.npz", X=x, labels=y)
    plain = _save(tmp_path / "plain.onnx", _skl(clf, x, options={id(clf): {"zipmap": False}}))
    code, err = _add(reg, capsys, "logreg@1.0.0", (plain, eval_file), "--labels", "no,yes")
    assert code == 0, err
    accuracy = float(np.mean(clf.predict(x) == y))
    assert f"as candidate: accuracy {accuracy:.4f}, F1 (binary) " in err
    meta = _metadata(reg, "logreg")
    assert "output: label\n" in meta and f"accuracy: {round(accuracy, 6)}\n" in meta
    _validated(reg, capsys, "logreg")

    # The default ZipMap output (a sequence of maps) is refused, for an existing model and
    # a new one, before anything is written.
    zipmap = _save(tmp_path / "zipmap.onnx", _skl(clf, x))
    before = _tree(reg)
    for name, version, card in (("logreg", "1.1.0", []), ("fresh", "1.0.0", ["--labels", "a,b"])):
        code, err = _add(reg, capsys, f"{name}@{version}", (zipmap, eval_file), *card)
        assert code == 1
        assert err == (
            f"modelreg: error: {zipmap}: output `output_probability` is a sequence of maps "
            "(skl2onnx's ZipMap), which this registry cannot deploy: Triton's ONNX Runtime "
            "backend serves tensors only; convert without ZipMap so the probabilities are a "
            "[N, classes] tensor: "
            "`to_onnx(model, X, options={id(model): {'zipmap': False}})` (or "
            "`options={'zipmap': False}`; onnxmltools: `zipmap=False`)\n"
        )
        assert _tree(reg) == before  # byte-identical: no *.modelreg-new, no staging directory


def test_pipeline_with_a_scaler(
    reg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = _classification()
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(x * 100 + 5, y)
    model = _skl(pipe, x, options={LogisticRegression: {"zipmap": False}})
    onnx_file = _save(tmp_path / "pipe.onnx", model)
    eval_file = _eval(tmp_path / "eval.npz", X=x * 100 + 5, labels=y)
    code, err = _add(reg, capsys, "scaled@1.0.0", (onnx_file, eval_file), "--labels", "no,yes")
    assert code == 0, err
    accuracy = float(np.mean(pipe.predict(x * 100 + 5) == y))
    assert f"accuracy: {round(accuracy, 6)}\n" in _metadata(reg, "scaled")
    _validated(reg, capsys, "scaled")


def test_multi_class_forest(reg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sklearn.ensemble import RandomForestClassifier

    x, y = _classification(classes=3)
    forest = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(x, y)
    onnx_file = _save(tmp_path / "forest.onnx", _skl(forest, x, options={"zipmap": False}))
    eval_file = _eval(tmp_path / "eval.npz", X=x, labels=y)
    # No --labels: one TODO label per class, counted on the probabilities beside `label`.
    code, err = _add(reg, capsys, "forest@1.0.0", (onnx_file, eval_file), "--f1-average", "macro")
    assert code == 0, err
    card = (reg / "models/forest/model.yaml").read_text(encoding="utf-8")
    assert "labels:\n  - 'TODO: class 0'\n  - 'TODO: class 1'\n  - 'TODO: class 2'\n" in card
    card = re.sub(r"labels:\n(  - .*\n)+", "labels: [a, b, c]\n", card)
    (reg / "models/forest/model.yaml").write_text(card, encoding="utf-8")
    assert "average: macro\n" in _metadata(reg, "forest")
    assert main(["render", "--root", str(reg)]) == 0  # the card changed: pages follow
    capsys.readouterr()
    _validated(reg, capsys, "forest")


def test_gradient_boosting_regressor_gets_mae_rmse_r2(
    reg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import onnxruntime as ort
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    x, y = make_regression(n_samples=60, n_features=4, noise=5.0, random_state=0)
    x, y = x.astype(np.float32), y.astype(np.float32)
    gbr = GradientBoostingRegressor(n_estimators=5, max_depth=2, random_state=0).fit(x, y)
    onnx_file = _save(tmp_path / "gbr.onnx", _skl(gbr, x))
    eval_file = _eval(tmp_path / "eval.npz", X=x, labels=y)
    code, err = _add(reg, capsys, "gbr@1.0.0", (onnx_file, eval_file), "--labels", "price")
    assert code == 0, err
    # The claims are what scikit-learn's own metrics say of the ONNX model's predictions.
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    predicted = session.run(None, {"X": x})[0].reshape(-1).astype(np.float64)
    truth = y.astype(np.float64)
    expected = {
        "mae": mean_absolute_error(truth, predicted),
        "rmse": float(np.sqrt(mean_squared_error(truth, predicted))),
        "r2": r2_score(truth, predicted),
    }
    meta = _metadata(reg, "gbr")
    block = re.search(r"  metrics:\n    mae: (.*)\n    rmse: (.*)\n    r2: (.*)\n", meta)
    assert block is not None, meta
    claimed = dict(zip(("mae", "rmse", "r2"), map(float, block.groups()), strict=True))
    assert claimed == pytest.approx(expected, rel=1e-5)
    assert "accuracy" not in meta and "f1" not in meta
    assert f"as candidate: MAE {expected['mae']:.6g}, RMSE {expected['rmse']:.6g}, R² " in err
    card = (reg / "models/gbr/model.yaml").read_text(encoding="utf-8")
    assert "task: tabular-regression\n" in card and "\ngates:" not in card
    page = (reg / "MODEL_REGISTRY.md").read_text(encoding="utf-8")
    assert "| Version | Date | R² | RMSE (MAE) |" in page
    _validated(reg, capsys, "gbr")

    # A tampered R² claim is caught, at its line.
    meta_file = reg / "models/gbr/1.0.0/metadata.yaml"
    r2_line = next(i for i, line in enumerate(meta.splitlines(), 1) if "    r2: " in line)
    meta_file.write_text(meta.replace(f"r2: {block.group(3)}", "r2: 0.99"), encoding="utf-8")
    assert main(["validate", str(reg / "models/gbr"), "--no-cache", "--root", str(reg)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(
        f"models/gbr/1.0.0/metadata.yaml:{r2_line}:9: MR405 r2 claims 0.99, but it measures "
        f"{expected['r2']:.6g} on 60 samples (tolerance "
    ), out

    # Accuracy and F1 claimed on its one-column output: MR411, whatever the numbers.
    classifier_claims = "    accuracy: 1.0\n    f1:\n      value: 1.0\n      average: binary\n"
    meta_file.write_text(meta.replace(block.group(0), "  metrics:\n" + classifier_claims))
    assert main(["validate", str(reg / "models/gbr"), "--no-cache", "--root", str(reg)]) == 1
    out = capsys.readouterr().out
    assert " MR411 accuracy and F1 are claimed, but output `variable` has one column: " in out

    # Integer targets for it: refused at add (it used to write accuracy 1.0 and F1 1.0).
    meta_file.write_text(meta, encoding="utf-8")
    int_eval = _eval(tmp_path / "int.npz", X=x, labels=(y > 0).astype(np.int64))
    before = _tree(reg)
    code, err = _add(reg, capsys, "gbr@1.1.0", (onnx_file, int_eval))
    assert code == 1
    assert err.startswith(
        f"modelreg: error: {onnx_file}: output `variable` has one column: its argmax is "
        "always class 0, so accuracy and F1 on it mean nothing (a regressor's output); for a "
        "regressor, store float targets in the evaluation file's `labels`"
    ), err
    assert _tree(reg) == before


def _text_pipeline(locale: str) -> tuple[onnx.ModelProto, np.ndarray, np.ndarray]:
    from skl2onnx.common.data_types import StringTensorType
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    texts = np.array(
        ["good movie", "bad movie", "great fun", "awful film", "Good Acting", "bad plot",
         "great cast", "awful pace", "good story", "Bad Ending"] * 3
    )  # fmt: skip
    labels = np.array([1, 0, 1, 0, 1, 0, 1, 0, 1, 0] * 3, dtype=np.int64)
    pipe = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts, labels)
    from skl2onnx import to_onnx

    model: onnx.ModelProto = to_onnx(
        pipe,
        initial_types=[("text", StringTensorType([None, 1]))],
        target_opset=OPSET,
        options={LogisticRegression: {"zipmap": False}, TfidfVectorizer: {"locale": locale}},
    )
    return model, texts.reshape(-1, 1), labels


def test_text_pipeline_with_a_string_input(
    reg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, texts, labels = _text_pipeline("C.UTF-8")
    onnx_file = _save(tmp_path / "text.onnx", model)
    eval_file = _eval(tmp_path / "eval.npz", text=texts, labels=labels)
    code, err = _add(reg, capsys, "text@1.0.0", (onnx_file, eval_file), "--labels", "neg,pos")
    assert code == 0, err
    meta = _metadata(reg, "text")
    assert (
        "    - name: text\n      type:\n        tensor: string\n        shape: [null, 1]\n" in meta
    )
    golden = onnx.TensorProto()
    golden.ParseFromString((reg / "models/text/1.0.0/test_data_set_0/input_0.pb").read_bytes())
    assert golden.data_type == onnx.TensorProto.STRING
    assert list(golden.string_data) == [b"good movie", b"bad movie", b"great fun"]
    _validated(reg, capsys, "text")


def test_a_model_onnxruntime_cannot_load_is_refused_with_the_reason(
    reg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, texts, labels = _text_pipeline("xx_YY")  # a locale no machine has
    onnx_file = _save(tmp_path / "text.onnx", model)
    eval_file = _eval(tmp_path / "eval.npz", text=texts, labels=labels)
    before = _tree(reg)
    code, err = _add(reg, capsys, "text@1.0.0", (onnx_file, eval_file), "--labels", "neg,pos")
    assert code == 1
    assert err.startswith(
        f"modelreg: error: onnxruntime could not load {onnx_file}: [ONNXRuntimeError] : 1 : "
        "FAIL : Exception during initialization: "
    ), err
    assert "Failed to construct locale with name:xx_YY" in err
    assert err.endswith(
        "; the model's StringNormalizer names a locale this machine lacks (without a "
        "`locale` attribute, onnxruntime uses en_US.UTF-8; the serving image may lack it too): "
        "convert with a locale every machine has, e.g. skl2onnx's "
        "`options={TfidfVectorizer: {'locale': 'C.UTF-8'}}` (or CountVectorizer)\n"
    )
    assert err.count("\n") == 1 and "\x1b[" not in err and "died" not in err
    assert _tree(reg) == before


def test_lightgbm_through_onnxmltools(
    reg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import lightgbm

    x, y = _classification(classes=3)
    booster = lightgbm.LGBMClassifier(
        n_estimators=3, num_leaves=4, min_child_samples=2, verbose=-1
    ).fit(x, y)
    model = convert_lightgbm(booster, initial_types=[("X", FloatTensorType([None, 4]))],
                             zipmap=False)  # fmt: skip
    label = next(o for o in model.graph.output if o.name == "label")
    assert [d.dim_value for d in label.type.tensor_type.shape.dim] == [1]  # the case at hand
    onnx_file = _save(tmp_path / "lgbm.onnx", model)
    eval_file = _eval(tmp_path / "eval.npz", X=x, labels=y)
    # Labels that validate would count as MR310 are refused by add, counted the same way.
    before = _tree(reg)
    code, err = _add(reg, capsys, "lgbm@1.0.0", (onnx_file, eval_file), "--labels", "a,b")
    assert (code, err) == (1, (
        f"modelreg: error: {onnx_file}: --labels names 2 labels, but output `probabilities` "
        "(the class scores beside label output `label`) has 3 classes; name one label per "
        "class, in index order\n"
    ))  # fmt: skip
    assert _tree(reg) == before
    code, err = _add(reg, capsys, "lgbm@1.0.0", (onnx_file, eval_file), "--labels", "a,b,c")
    assert code == 0, err
    accuracy = float(np.mean(booster.predict(x) == y))
    assert f"accuracy: {round(accuracy, 6)}\n" in _metadata(reg, "lgbm")
    _validated(reg, capsys, "lgbm")  # no MR310: `label` [1] is not a class dimension

    # The class count is still checked, on the probabilities beside the label output.
    card = reg / "models/lgbm/model.yaml"
    card.write_text(card.read_text(encoding="utf-8").replace("  - c\n", ""), encoding="utf-8")
    argv = [
        "validate",
        str(reg / "models/lgbm"),
        "--no-cache",
        "--root",
        str(reg),
        "--select",
        "MR310",
    ]
    assert main(argv) == 1
    assert capsys.readouterr().out == (
        "models/lgbm/model.yaml:11:1: MR310 2 labels, but output `probabilities` (the class "
        "scores beside label output `label`) of 1.0.0 has 3 classes (shape [None, 3])\n"
    )
    # The evaluation says which label is out of range, in which file (MR406).
    assert main([*argv[:-1], "MR406"]) == 1
    assert capsys.readouterr().out == (
        f"models/lgbm/data/{eval_file.name}: MR406 cannot evaluate: {eval_file.name}: `labels` "
        "holds 2, but the model card names 2 labels (class indices 0..1); name one label per "
        "class, in index order\n"
    )
    # A later version of the same model is held to the card's labels at add.
    card.write_text(card.read_text(encoding="utf-8").replace("  - b\n", "  - b\n  - c\n"),
                    encoding="utf-8")  # fmt: skip
    two = _save(tmp_path / "lgbm2.onnx", convert_lightgbm(
        lightgbm.LGBMClassifier(n_estimators=3, num_leaves=4, min_child_samples=2, verbose=-1)
        .fit(x[y < 2], y[y < 2]),
        initial_types=[("X", FloatTensorType([None, 4]))], zipmap=False,
    ))  # fmt: skip
    code, err = _add(reg, capsys, "lgbm@1.1.0", (two, eval_file))
    assert (code, err) == (1, (
        f"modelreg: error: {two}: models/lgbm/model.yaml lists 3 labels, but output "
        "`probabilities` (the class scores beside label output `label`) has 2 classes; a "
        "model's versions share its labels: a model with other classes is a new model\n"
    ))  # fmt: skip


def test_xgboost_through_onnxmltools(
    reg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import xgboost

    x, y = _classification(classes=3)
    booster = xgboost.XGBClassifier(n_estimators=3, max_depth=2).fit(x, y)
    model = convert_xgboost(booster, initial_types=[("X", FloatTensorType([None, 4]))])
    onnx_file = _save(tmp_path / "xgb.onnx", model)
    eval_file = _eval(tmp_path / "eval.npz", X=x, labels=y)
    code, err = _add(reg, capsys, "xgb@1.0.0", (onnx_file, eval_file), "--labels", "a,b,c")
    assert code == 0, err
    accuracy = float(np.mean(booster.predict(x) == y))
    assert f"accuracy: {round(accuracy, 6)}\n" in _metadata(reg, "xgb")
    _validated(reg, capsys, "xgb")


def test_regressor_gates(reg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A regressor is gated by R², MAE and RMSE, scored in this run on the candidate's data;
    # a classifier's gate on it is a clear refusal, not a crash.
    from sklearn.ensemble import GradientBoostingRegressor

    x, y = make_regression(n_samples=60, n_features=4, noise=5.0, random_state=0)
    x, y = x.astype(np.float32), y.astype(np.float32)
    eval_file = _eval(tmp_path / "eval.npz", X=x, labels=y)
    for version, trees in (("1.0.0", 2), ("1.1.0", 20)):
        gbr = GradientBoostingRegressor(n_estimators=trees, max_depth=2, random_state=0).fit(x, y)
        onnx_file = _save(tmp_path / f"gbr-{trees}.onnx", _skl(gbr, x))
        first = ("--labels", "y") if version == "1.0.0" else ()
        code, err = _add(reg, capsys, f"gbr@{version}", (onnx_file, eval_file), *first)
        assert code == 0, err
    card = reg / "models/gbr/model.yaml"
    text = card.read_text(encoding="utf-8")
    gate = ["gate", "gbr", "1.1.0", "--against", "1.0.0", "--root", str(reg)]

    card.write_text(text + "gates:\n  min_accuracy: 0.9\n", encoding="utf-8")
    assert main(gate) == 1
    assert capsys.readouterr().err == (
        "modelreg: error: models/gbr/model.yaml: gates min_accuracy cannot judge a regressor; "
        "use min_r2, max_mae, max_rmse, max_r2_drop or max_rmse_increase (MAE/RMSE/R²)\n"
    )
    # More trees fit better: R² rises and RMSE falls against 1.0.0, so these hold...
    card.write_text(
        text + "gates:\n  min_r2: 0.5\n  max_r2_drop: 0\n  max_rmse_increase: 0\n",
        encoding="utf-8",
    )
    assert main([*gate, "--output", "json"]) == 0, capsys.readouterr()
    report = capsys.readouterr().out
    assert '"min_r2"' in report and '"max_rmse_increase"' in report
    # ...and judged the other way round (1.0.0 as the candidate) they fail.
    back = ["gate", "gbr", "1.0.0", "--against", "1.1.0", "--root", str(reg)]
    assert main(back) == 1
    out = capsys.readouterr().out
    assert "max_r2_drop" in out and "max_rmse_increase" in out
    card.write_text(text + "gates:\n  max_mae: 0.001\n", encoding="utf-8")
    assert main(gate) == 1
    assert "max_mae" in capsys.readouterr().out
