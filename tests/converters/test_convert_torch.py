"""Transformers exported from PyTorch: ``add`` → deep ``validate`` → ``validate --fast``.

Each case exports a tiny BERT-style classifier (2 layers, hidden 16; the module of
scripts/build_bert_base.py at its ``TINY`` size) with the real ``torch.onnx.export``
(torch.export-based, opset 18, dynamic ``batch`` and ``sequence`` axes, int64 ``input_ids``
and ``attention_mask``), derives a variant with the tool a team would use (onnx's external
data writer, a half-precision export, onnxruntime's dynamic int8 quantization, onnx's version
converter to the newest opset), adds it to a fresh registry and validates it deep and fast.
The expected accuracy and F1 are recomputed here with onnxruntime and numpy, independently
of modelreg. No latency is stored (``--runs 0``): a deep run re-measures a stored figure on
the same machine, a timing judgement that is no property of a converter and that a busy
2-core machine can tip (tests/test_latency_check.py covers it).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import onnx
import pytest
import yaml

from modelreg.cli import main

torch = pytest.importorskip("torch")  # the `converters` extra (part of `dev`)

pytestmark = pytest.mark.slow  # a torch export takes seconds

ROOT = Path(__file__).resolve().parents[2]
REPO_URL = "https://git.acme.internal/ml/model-registry.git"
SEED = 20240611
ROWS, SEQ_LEN = 16, 12
SAMPLE = 4

#: A new model's card and a version's facts, nothing left TODO.
ADD_FLAGS = [
    "--title", "Tiny Transformer", "--description", "A two-layer BERT-style classifier.",
    "--task", "text-classification", "--owner", "@acme/ml", "--labels", "negative,positive",
    "--dataset-name", "tickets", "--dataset-version", "1", "--dataset-samples", "100",
    "--summary", "First version.", "--change", "Initial release", "--date", "2024-06-11",
    "--sample", str(SAMPLE), "--runs", "0",
]  # fmt: skip

#: The inputs every case keeps: int64 with symbolic batch and sequence dimensions.
INPUTS = [
    {"name": name, "type": {"tensor": "int64", "shape": ["batch", "sequence"]}}
    for name in ("input_ids", "attention_mask")
]

#: Warnings a fresh registry's deep run reports whatever the model: `modelreg init`'s
#: serving images are pinned by tag (MR612).
SCAFFOLD_WARNINGS = {"MR612"}


def _load_script() -> ModuleType:
    # The script imports its sibling scripts/torch_export.py, as it does when run.
    if str(ROOT / "scripts") not in sys.path:
        sys.path.insert(0, str(ROOT / "scripts"))
    spec = importlib.util.spec_from_file_location(
        "build_bert_base", ROOT / "scripts" / "build_bert_base.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass resolves annotations through it
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``artifact(kind)``: the ONNX file of one case, exported once per module, lazily."""
    bert = _load_script()
    out = tmp_path_factory.mktemp("torch-exports")
    made: dict[str, Path] = {}

    def fp32_proto() -> onnx.ModelProto:
        proto: onnx.ModelProto = bert.to_onnx(bert.build_model(bert.TINY, SEED), bert.TINY)
        return proto

    def build(kind: str) -> Path:
        path = out / kind / "model.onnx"
        if kind == "eval":
            path = out / "eval.npz"
            arrays = bert.evaluation_arrays(bert.TINY, ROWS, SEQ_LEN, SEED)
            path.write_bytes(bert.npz_bytes(arrays))
        elif kind == "fp32":
            bert.save(fp32_proto(), path, external=False)
        elif kind == "external":
            # onnx's own writer, as a team saving a large model does: every initializer of
            # 1 KiB or more goes to model.onnx.data beside the graph.
            bert.save(onnx.load(str(artifact("fp32"))), path, external=True)
        elif kind == "fp16":
            # Exported in half precision: float16 weights and logits, int64 inputs.
            model = bert.build_model(bert.TINY, SEED).half()
            bert.save(bert.to_onnx(model, bert.TINY), path, external=False)
        elif kind == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            path.parent.mkdir(parents=True)
            quantize_dynamic(str(artifact("fp32")), str(path), weight_type=QuantType.QInt8)
        elif kind == "newest":
            from onnx import version_converter

            proto = version_converter.convert_version(
                onnx.load(str(artifact("fp32"))), onnx.defs.onnx_opset_version()
            )
            proto.ir_version = onnx.IR_VERSION
            onnx.checker.check_model(proto, full_check=True)
            bert.save(proto, path, external=False)
        else:
            raise AssertionError(kind)
        return path

    def artifact(kind: str) -> Path:
        if kind not in made:
            made[kind] = build(kind)
        return made[kind]

    return artifact


def _scores(model: Path, eval_file: Path) -> tuple[float, float]:
    """Accuracy and binary F1 of the model on the evaluation file, without modelreg."""
    import onnxruntime as ort

    data = np.load(eval_file, allow_pickle=False)
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    feeds = {i.name: data[i.name] for i in session.get_inputs()}
    (logits,) = session.run(["logits"], feeds)
    predicted, labels = logits.argmax(axis=1), data["labels"]
    tp = int(np.sum((predicted == 1) & (labels == 1)))
    wrong = int(np.sum(predicted != labels))
    return float(np.mean(predicted == labels)), 2 * tp / (2 * tp + wrong)


def _loads_locally(model: Path) -> bool:
    import onnxruntime as ort

    try:
        ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    except Exception:  # noqa: BLE001 - onnxruntime's load errors are untyped
        return False
    return True


def _tree(root: Path) -> dict[str, bytes]:
    """Every file of the work tree (not .git) with its bytes."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def _new_registry(tmp_path: Path) -> Path:
    reg = tmp_path / "reg"
    assert main(["init", str(reg), "--repo-url", REPO_URL]) == 0
    return reg


def _add(reg: Path, model: Path, eval_file: Path) -> int:
    argv = ["add", "tiny", "1.0.0", "--onnx", str(model), "--eval", str(eval_file)]
    return main([*argv, *ADD_FLAGS, "--root", str(reg)])


def _validate(reg: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    """A validate run's JSON report; exit status 0 or 1 (never a usage error or a crash)."""
    code = main(["validate", "--root", str(reg), "--output", "json", *args])
    assert code in (0, 1), code
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert (report["status"] == "pass") == (code == 0), report
    return report


def _output(dtype: str) -> list[dict[str, Any]]:
    return [{"name": "logits", "type": {"tensor": dtype, "shape": ["batch", 2]}}]


#: kind -> (ir_version, opsets, producer name, output element type)
CASES: dict[str, tuple[int, dict[str, int], str, str]] = {
    "fp32": (10, {"ai.onnx": 18}, "pytorch", "float"),
    "external": (10, {"ai.onnx": 18}, "pytorch", "float"),
    "fp16": (10, {"ai.onnx": 18}, "pytorch", "float16"),
    "int8": (10, {"ai.onnx": 18}, "onnx.quantize", "float"),
    "newest": (onnx.IR_VERSION, {"ai.onnx": onnx.defs.onnx_opset_version()}, "pytorch", "float"),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_export_is_added_with_measured_facts_and_validates(
    kind: str,
    artifact: Callable[[str], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model, eval_file = artifact(kind), artifact("eval")
    ir_version, opsets, producer, output_type = CASES[kind]
    if kind == "newest" and not _loads_locally(model):
        # A newer onnx than onnxruntime: add must refuse it, naming the opset.
        reg = _new_registry(tmp_path)
        capsys.readouterr()
        assert _add(reg, model, eval_file) == 1
        err = capsys.readouterr().err
        assert f"opset {opsets['ai.onnx']}" in err.lower() and " died" not in err, err
        return
    if kind == "newest":
        # The local onnxruntime loads the newest opset, the serving image's does not: add
        # refuses it with validate's MR629 messages, naming the image and its maxima, and
        # writes nothing (before, it was added and validate failed it at once).
        reg = _new_registry(tmp_path)
        capsys.readouterr()
        before = _tree(reg)
        assert _add(reg, model, eval_file) == 1
        image = (
            "nvcr.io/nvidia/tritonserver:25.02-py3 loads (onnxruntime 1.20.1: opset ≤ 21, IR ≤ 10)"
        )
        assert capsys.readouterr().err == (
            f"modelreg: error: {model}: Deployment/triton in overlays/base/deployment.yaml, "
            f"which serves every version, cannot load it (MR629): onnx opset "
            f"{opsets['ai.onnx']} exceeds what {image}; export with opset_version=21 or deploy "
            f"a newer image; onnx IR version {ir_version} exceeds what {image}; export with an "
            "onnx release that writes IR 10 or deploy a newer image\n"
        )
        assert _tree(reg) == before
        return
    accuracy, f1 = _scores(model, eval_file)
    reg = _new_registry(tmp_path)
    capsys.readouterr()

    assert _add(reg, model, eval_file) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert (
        f"added models/tiny/1.0.0/ as candidate: accuracy {accuracy:.4f}, "
        f"F1 (binary) {f1:.4f} on {ROWS} samples\n"
    ) in err, err
    vdir = reg / "models" / "tiny" / "1.0.0"
    meta = yaml.safe_load((vdir / "metadata.yaml").read_text(encoding="utf-8"))
    facts = meta["onnx"]
    assert facts["ir_version"] == ir_version and facts["opsets"] == opsets
    assert facts["producer"]["name"] == producer
    assert facts["inputs"] == INPUTS and facts["outputs"] == _output(output_type)
    assert meta["evaluation"]["metrics"] == {
        "accuracy": round(accuracy, 6),
        "f1": {"value": round(f1, 6), "average": "binary"},
    }
    assert "latency" not in meta["evaluation"]  # --runs 0, see the module's docstring
    if kind == "external":
        (data,) = meta["artifact"]["external_data"]
        assert data["path"] == "model.onnx.data"
        assert (vdir / "model.onnx.data").read_bytes() == (model.parent / data["path"]).read_bytes()
    else:
        assert "external_data" not in meta["artifact"]
    # Golden vectors from the first --sample rows, in the scored output's own type.
    golden = vdir / "test_data_set_0"
    assert sorted(p.name for p in golden.iterdir()) == ["input_0.pb", "input_1.pb", "output_0.pb"]
    logits = onnx.numpy_helper.to_array(onnx.load_tensor(str(golden / "output_0.pb")))
    assert logits.shape == (SAMPLE, 2)
    assert logits.dtype == {"float": np.float32, "float16": np.float16}[output_type]

    # Deep: hashes, checker, signature, session, golden vectors, metrics, latency all agree.
    deep = _validate(reg, capsys, "--no-cache")
    fast = _validate(reg, capsys, "--fast")
    assert {f["rule"] for f in deep["findings"]} <= SCAFFOLD_WARNINGS, deep["findings"]
    assert deep["status"] == "pass" and fast["status"] == "pass"
    assert fast["findings"] == []


def test_external_data_is_checked_by_its_hash(
    artifact: Callable[[str], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reg = _new_registry(tmp_path)
    assert _add(reg, artifact("external"), artifact("eval")) == 0
    capsys.readouterr()
    data = reg / "models" / "tiny" / "1.0.0" / "model.onnx.data"
    weights = bytearray(data.read_bytes())
    weights[-1] ^= 0x01  # one bit of one weight: the size is unchanged
    data.write_bytes(bytes(weights))
    deep = _validate(reg, capsys, "--no-cache")
    errors = [f for f in deep["findings"] if f["severity"] == "error"]
    assert [(f["path"], f["rule"]) for f in errors] == [
        ("models/tiny/1.0.0/model.onnx.data", "MR201")
    ], errors


def test_a_model_newer_than_the_local_onnxruntime_is_refused_naming_the_opset(
    artifact: Callable[[str], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file from a newer toolchain: one opset past what the installed onnx knows."""
    proto = onnx.load(str(artifact("newest")))
    newest = onnx.defs.onnx_opset_version()
    (default,) = [o for o in proto.opset_import if o.domain in ("", "ai.onnx")]
    default.version = newest + 1
    future = tmp_path / "future" / "model.onnx"
    future.parent.mkdir()
    future.write_bytes(proto.SerializeToString())
    assert not _loads_locally(future)
    reg = _new_registry(tmp_path)
    capsys.readouterr()
    # Where the overlays deploy an image, its limits come first: one step to the fix.
    assert _add(reg, future, artifact("eval")) == 1
    err = capsys.readouterr().err
    assert f"cannot load it (MR629): onnx opset {newest + 1} exceeds what " in err, err
    assert "export with opset_version=21" in err and err.count("\n") == 1, err
    # A registry without overlays: onnxruntime's own reason.
    for path in sorted((reg / "overlays").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    assert _add(reg, future, artifact("eval")) == 1
    err = capsys.readouterr().err
    # onnxruntime's own reason, whole (it follows a long C++ function signature).
    assert err.startswith(f"modelreg: error: onnxruntime could not load {future}: "), err
    assert f"Opset {newest + 1} is under development" in err, err
    assert "Current official support for domain ai.onnx is till opset " in err, err
    assert " died" not in err and err.count("\n") == 1, err
    assert sorted(p.name for p in (reg / "models").iterdir()) == ["README.md"]
