"""``modelreg inspect``: facts of real ONNX files, built here with ``onnx.helper``."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import yaml
from onnx import TensorProto, helper, numpy_helper

from modelreg.cli import main
from modelreg.commands import inspect as inspect_command
from modelreg.errors import ModelregError
from modelreg.onnx.facts import facts_to_json, facts_to_yaml, inspect_file
from modelreg.schemas import validator

OPSET = helper.make_opsetid("", 17)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save(model: onnx.ModelProto, path: Path, *, check: bool = True) -> Path:
    if check:
        onnx.checker.check_model(model, full_check=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


def classifier(producer_version: str = "2.0") -> onnx.ModelProto:
    """softmax(x @ W + B): input [batch, 4] float, output [batch, 2]."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 2)).astype(np.float32), "W")
    b = numpy_helper.from_array(np.zeros(2, dtype=np.float32), "B")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["input", "W"], ["logits_raw"]),
            helper.make_node("Add", ["logits_raw", "B"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
        ],
        "classifier",
        # An old-style exporter also lists W as a graph input; inspect must drop it.
        [
            helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4]),
            helper.make_tensor_value_info("W", TensorProto.FLOAT, [4, 2]),
        ],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 2])],
        initializer=[w, b],
    )
    return helper.make_model(
        graph,
        opset_imports=[OPSET],
        ir_version=8,
        producer_name="pytorch",
        producer_version=producer_version,
    )


def zipmap_model() -> onnx.ModelProto:
    """Like skl2onnx's classifier output: a sequence of {class: probability} maps."""
    seq_map = helper.make_sequence_type_proto(
        helper.make_map_type_proto(
            TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, [])
        )
    )
    graph = helper.make_graph(
        [
            helper.make_node(
                "ZipMap",
                ["probabilities"],
                ["output_probability"],
                domain="ai.onnx.ml",
                classlabels_int64s=[0, 1, 2],
            )
        ],
        "zipmap",
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 3])],
        [helper.make_value_info("output_probability", seq_map)],
    )
    return helper.make_model(
        graph,
        opset_imports=[OPSET, helper.make_opsetid("ai.onnx.ml", 1)],
        ir_version=8,
        producer_name="skl2onnx",
        producer_version="1.10",
    )


def misc_model() -> onnx.ModelProto:
    """A custom-domain op, a local function, an If with subgraphs and every kind of dim/type.

    onnx's checker wants a shape on every main-graph tensor, but exporters do write
    unknown-rank inputs and outputs (and onnxruntime loads them), so this one is not checked.
    """
    acme = helper.make_opsetid("com.acme", 1)
    double = helper.make_function(
        "com.acme",
        "Double",
        ["a"],
        ["b"],
        [helper.make_node("Add", ["a", "a"], ["b"])],
        [OPSET],
    )
    branch_then = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["t_out"])],
        "then",
        [],
        [helper.make_tensor_value_info("t_out", TensorProto.FLOAT, None)],
    )
    branch_else = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["e_out"])],
        "else",
        [],
        [helper.make_tensor_value_info("e_out", TensorProto.FLOAT, None)],
    )
    graph = helper.make_graph(
        [
            helper.make_node("Double", ["x"], ["doubled"], domain="com.acme"),
            helper.make_node("Custom", ["doubled"], ["custom"], domain="com.acme"),
            helper.make_node(
                "If", ["flag"], ["chosen"], then_branch=branch_then, else_branch=branch_else
            ),
            helper.make_node("Identity", ["unranked"], ["unranked_out"]),
            helper.make_node("Identity", ["maybe"], ["maybe_out"]),
            helper.make_node("Identity", ["names"], ["names_out"]),
        ],
        "misc",
        [
            # dim_value, dim_param, neither; "yes" is a symbol YAML 1.1 would read as true.
            helper.make_tensor_value_info("x", TensorProto.FLOAT16, [2, "yes", None]),
            helper.make_tensor_value_info("flag", TensorProto.BOOL, []),
            helper.make_tensor_value_info("unranked", TensorProto.FLOAT8E4M3FN, None),
            helper.make_value_info(
                "maybe",
                helper.make_optional_type_proto(
                    helper.make_tensor_type_proto(TensorProto.INT32, ["n"])
                ),
            ),
            helper.make_value_info(
                "names",
                helper.make_sequence_type_proto(
                    helper.make_tensor_type_proto(TensorProto.STRING, None)
                ),
            ),
        ],
        [
            helper.make_tensor_value_info("custom", TensorProto.FLOAT16, [2, "yes", None]),
            helper.make_tensor_value_info("chosen", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("unranked_out", TensorProto.FLOAT8E4M3FN, None),
            helper.make_value_info(
                "maybe_out",
                helper.make_optional_type_proto(
                    helper.make_tensor_type_proto(TensorProto.INT32, ["n"])
                ),
            ),
            helper.make_value_info(
                "names_out",
                helper.make_sequence_type_proto(
                    helper.make_tensor_type_proto(TensorProto.STRING, None)
                ),
            ),
        ],
    )
    return helper.make_model(
        graph,
        opset_imports=[OPSET, acme],
        functions=[double],
        ir_version=9,
        producer_name="hand-made",
        producer_version="0.1",
    )


def set_external(tensor: TensorProto, location: str, length: int) -> None:
    """Point ``tensor`` at external data, whatever the location says (no checks here)."""
    del tensor.external_data[:]
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key = key
        entry.value = value


def metadata_document(facts: Mapping[str, Any]) -> dict[str, Any]:
    """A complete metadata document around inspect's ``artifact`` and ``onnx`` blocks."""
    return {
        "model": "demo",
        "version": "1.0.0",
        "release_date": "2024-01-15",
        "summary": "Demo release.",
        "changes": ["First release"],
        "artifact": facts["artifact"],
        "onnx": facts["onnx"],
        "training": {"dataset": {"name": "demo-data", "version": "1.0", "samples": 100}},
        "evaluation": {
            "data": {"path": "../data/eval.npz", "sha256": "ab" * 32, "samples": 10},
            "output": facts["onnx"]["outputs"][0]["name"],
            "metrics": {"accuracy": 0.9, "f1": {"value": 0.9, "average": "macro"}},
        },
        "test_vectors": [{"path": "test_data_set_0"}],
    }


def schema_errors(facts: Mapping[str, Any]) -> list[str]:
    doc = metadata_document(facts)
    return [e.message for e in validator("metadata").iter_errors(doc)]


# -- facts -------------------------------------------------------------------------------------


def test_classifier_facts(tmp_path: Path) -> None:
    path = save(classifier(), tmp_path / "v1" / "model.onnx")
    facts = inspect_file(path)
    assert facts == {
        "artifact": {"path": "model.onnx", "sha256": sha256_of(path), "size": path.stat().st_size},
        "onnx": {
            "ir_version": 8,
            "opsets": {"ai.onnx": 17},
            "producer": {"name": "pytorch", "version": "2.0"},
            "inputs": [{"name": "input", "type": {"tensor": "float", "shape": ["batch", 4]}}],
            "outputs": [
                {"name": "probabilities", "type": {"tensor": "float", "shape": ["batch", 2]}}
            ],
        },
        "ops": {"ai.onnx::Add": 1, "ai.onnx::MatMul": 1, "ai.onnx::Softmax": 1},
    }
    assert schema_errors(facts) == []


def test_external_data_is_listed_and_hashed_without_loading(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    onnx.save_model(
        classifier(),
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )
    weights = tmp_path / "weights.bin"
    assert weights.stat().st_size >= 4 * 2 * 4 + 2 * 4
    facts = inspect_file(path)
    assert facts["artifact"] == {
        "path": "model.onnx",
        "sha256": sha256_of(path),
        "size": path.stat().st_size,
        "external_data": [
            {"path": "weights.bin", "sha256": sha256_of(weights), "size": weights.stat().st_size}
        ],
    }
    assert facts["onnx"]["inputs"] == [
        {"name": "input", "type": {"tensor": "float", "shape": ["batch", 4]}}
    ]
    assert schema_errors(facts) == []


def test_external_data_in_a_subdirectory_is_normalised(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "w.bin").write_bytes(b"w" * 32)
    (tmp_path / "data" / "b.bin").write_bytes(b"b" * 8)
    model = classifier()
    extra = numpy_helper.from_array(np.zeros(1, dtype=np.float32), "unused")
    model.graph.initializer.append(extra)
    # "./data/w.bin" and "data/w.bin" are one file: listed once, under its normal name.
    locations = ("./data/w.bin", "data/b.bin", "data/w.bin")
    for tensor, location in zip(model.graph.initializer, locations, strict=True):
        tensor.ClearField("raw_data")
        set_external(tensor, location, 4)
    path = tmp_path / "model.onnx"
    path.write_bytes(model.SerializeToString())
    facts = inspect_file(path)
    assert facts["artifact"]["external_data"] == [
        {"path": "data/b.bin", "sha256": hashlib.sha256(b"b" * 8).hexdigest(), "size": 8},
        {"path": "data/w.bin", "sha256": hashlib.sha256(b"w" * 32).hexdigest(), "size": 32},
    ]


def test_zipmap_sequence_of_maps(tmp_path: Path) -> None:
    path = save(zipmap_model(), tmp_path / "model.onnx")
    facts = inspect_file(path)
    assert facts["onnx"] == {
        "ir_version": 8,
        "opsets": {"ai.onnx": 17, "ai.onnx.ml": 1},
        "producer": {"name": "skl2onnx", "version": "1.10"},
        "inputs": [{"name": "probabilities", "type": {"tensor": "float", "shape": [None, 3]}}],
        "outputs": [
            {
                "name": "output_probability",
                "type": {
                    "sequence": {"map": {"key": "int64", "value": {"tensor": "float", "shape": []}}}
                },
            }
        ],
    }
    assert facts["ops"] == {"ai.onnx.ml::ZipMap": 1}
    assert "external_data" not in facts["artifact"]
    assert schema_errors(facts) == []


def test_custom_domain_functions_subgraphs_and_dims(tmp_path: Path) -> None:
    path = save(misc_model(), tmp_path / "model.onnx", check=False)
    facts = inspect_file(path)
    onnx_block = facts["onnx"]
    assert onnx_block["ir_version"] == 9
    assert onnx_block["opsets"] == {"ai.onnx": 17, "com.acme": 1}
    assert onnx_block["producer"] == {"name": "hand-made", "version": "0.1"}
    types = {io["name"]: io["type"] for io in onnx_block["inputs"] + onnx_block["outputs"]}
    assert [io["name"] for io in onnx_block["inputs"]] == [
        "x",
        "flag",
        "unranked",
        "maybe",
        "names",
    ]
    assert types == {
        "x": {"tensor": "float16", "shape": [2, "yes", None]},
        "flag": {"tensor": "bool", "shape": []},
        "unranked": {"tensor": "float8e4m3fn"},  # unknown rank: no shape at all
        "maybe": {"optional": {"tensor": "int32", "shape": ["n"]}},
        "names": {"sequence": {"tensor": "string"}},
        "custom": {"tensor": "float16", "shape": [2, "yes", None]},
        "chosen": {"tensor": "float"},
        "unranked_out": {"tensor": "float8e4m3fn"},
        "maybe_out": {"optional": {"tensor": "int32", "shape": ["n"]}},
        "names_out": {"sequence": {"tensor": "string"}},
    }
    # Nodes of the If branches and of the local function body count too.
    assert facts["ops"] == {
        "ai.onnx::Add": 1,
        "ai.onnx::Identity": 4,
        "ai.onnx::If": 1,
        "ai.onnx::Neg": 1,
        "com.acme::Custom": 1,
        "com.acme::Double": 1,
    }
    assert list(facts["ops"]) == sorted(facts["ops"])
    assert schema_errors(facts) == []


def test_explicit_ai_onnx_domain_is_the_default_domain(tmp_path: Path) -> None:
    model = classifier()
    model.opset_import[0].domain = "ai.onnx"
    model.graph.node[0].domain = "ai.onnx"
    path = tmp_path / "model.onnx"
    path.write_bytes(model.SerializeToString())
    facts = inspect_file(path)
    assert facts["onnx"]["opsets"] == {"ai.onnx": 17}
    assert facts["ops"]["ai.onnx::MatMul"] == 1


# -- YAML and JSON -----------------------------------------------------------------------------


def test_yaml_round_trips_the_metadata_blocks_with_strings_kept(tmp_path: Path) -> None:
    for model, check in ((classifier("1.10"), True), (zipmap_model(), True), (misc_model(), False)):
        path = save(model, tmp_path / "model.onnx", check=check)
        facts = inspect_file(path)
        text = facts_to_yaml(facts)
        loaded = yaml.safe_load(text)
        assert loaded == {"artifact": facts["artifact"], "onnx": facts["onnx"]}
        assert isinstance(loaded["onnx"]["producer"]["version"], str)
        assert schema_errors(loaded) == []


def test_yaml_layout(tmp_path: Path) -> None:
    path = save(classifier("2.0"), tmp_path / "model.onnx")
    facts = inspect_file(path)
    text = facts_to_yaml(facts)
    assert text == textwrap.dedent(
        f"""\
        artifact:
          path: model.onnx
          sha256: {facts["artifact"]["sha256"]}
          size: {facts["artifact"]["size"]}
        onnx:
          ir_version: 8
          opsets:
            ai.onnx: 17
          producer:
            name: pytorch
            version: '2.0'
          inputs:
            - name: input
              type:
                tensor: float
                shape: [batch, 4]
          outputs:
            - name: probabilities
              type:
                tensor: float
                shape: [batch, 2]
        # For review only, not metadata fields:
        # ops:
        #   ai.onnx::Add: 1
        #   ai.onnx::MatMul: 1
        #   ai.onnx::Softmax: 1
        """
    )


def test_yaml_quotes_symbols_yaml_would_coerce(tmp_path: Path) -> None:
    path = save(misc_model(), tmp_path / "model.onnx", check=False)
    text = facts_to_yaml(inspect_file(path))
    assert "shape: [2, 'yes', null]" in text
    assert "version: '0.1'" in text
    loaded = yaml.safe_load(text)
    assert loaded["onnx"]["inputs"][0]["type"]["shape"] == [2, "yes", None]


def test_json_has_every_fact(tmp_path: Path) -> None:
    path = save(zipmap_model(), tmp_path / "model.onnx")
    facts = inspect_file(path)
    assert json.loads(facts_to_json(facts)) == facts


# -- the command -------------------------------------------------------------------------------


def run_inspect(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["inspect", *argv])
    out, err = capsys.readouterr()
    assert err == ""
    return int(code), out


def test_command_prints_yaml_by_default_and_json_on_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = save(classifier(), tmp_path / "model.onnx")
    facts = inspect_file(path)
    assert run_inspect(capsys, str(path)) == (0, facts_to_yaml(facts))
    code, out = run_inspect(capsys, str(path), "--output", "json")
    assert code == 0
    assert json.loads(out) == facts


def test_command_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", "--help"]) == 0
    out = capsys.readouterr().out
    assert "examples:" in out
    assert "--output {yaml,json}" in out


def test_command_error_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.onnx").write_bytes(b"\x00garbage")
    assert main(["inspect", str(tmp_path / "bad.onnx")]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("modelreg: error: ") and "bad.onnx: not a valid ONNX file" in err
    assert "Traceback" not in err


def test_command_errors_are_modelreg_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.onnx").write_bytes(b"version https://git-lfs.github.com/spec/v1\n")
    with pytest.raises(ModelregError, match=r"bad\.onnx: not a valid ONNX file"):
        inspect_command.execute(inspect_command.Request(tmp_path / "bad.onnx", "yaml"))


# -- broken files --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x00",
        b"not an onnx file at all\n",
        b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"a" * 64 + b"\nsize 12\n",
        bytes(range(256)) * 4,
    ],
    ids=["empty", "nul", "text", "lfs-pointer", "binary"],
)
def test_garbage_raises_modelreg_error(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(payload)
    with pytest.raises(ModelregError, match=r"model\.onnx: not a valid ONNX file"):
        inspect_file(path)


def test_every_truncation_raises_modelreg_error(tmp_path: Path) -> None:
    data = classifier().SerializeToString()
    path = tmp_path / "model.onnx"
    for n in range(len(data)):
        path.write_bytes(data[:n])
        with pytest.raises(ModelregError, match="not a valid ONNX file"):
            inspect_file(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelregError, match="does not exist"):
        inspect_file(tmp_path / "nope.onnx")
    with pytest.raises(ModelregError, match="is not a file"):
        inspect_file(tmp_path)


def external_model(tmp_path: Path, location: str) -> Path:
    """A model whose weight W lives at ``location``, written as-is (nothing is resolved)."""
    model = classifier()
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    set_external(tensor, location, 32)
    path = tmp_path / "version" / "model.onnx"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("../outside.bin", r"contains `\.\.`"),
        ("data/../../outside.bin", r"contains `\.\.`"),
        ("/etc/passwd", "an absolute path"),
        ("C:/weights.bin", "an absolute path"),
        ("data\\weights.bin", "uses `\\\\`; write `/`"),
        ("", "not a file name"),
        ("missing.bin", "names a file that does not exist"),
    ],
)
def test_unsafe_or_missing_external_data_is_refused(
    tmp_path: Path, location: str, message: str
) -> None:
    (tmp_path / "outside.bin").write_bytes(b"\x00" * 32)
    path = external_model(tmp_path, location)
    with pytest.raises(ModelregError, match=message):
        inspect_file(path)


@pytest.mark.skipif(not hasattr(os, "symlink") or sys.platform == "win32", reason="symlinks")
def test_symlink_out_of_the_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "outside.bin").write_bytes(b"\x00" * 32)
    path = external_model(tmp_path, "weights.bin")
    (path.parent / "weights.bin").symlink_to(tmp_path / "outside.bin")
    with pytest.raises(ModelregError, match=r"passes through the symbolic link `weights\.bin`"):
        inspect_file(path)


# -- dependencies ----------------------------------------------------------------------------------


def test_inspect_does_not_import_onnxruntime(tmp_path: Path) -> None:
    path = save(classifier(), tmp_path / "model.onnx")
    code = textwrap.dedent(
        f"""\
        import sys
        from pathlib import Path
        sys.modules["onnxruntime"] = None  # any import of it now fails
        from modelreg.commands import inspect
        from modelreg.onnx.facts import facts_to_yaml, inspect_file
        facts = inspect_file(Path({str(path)!r}))
        assert facts["onnx"]["inputs"][0]["name"] == "input", facts
        facts_to_yaml(facts)
        assert sys.modules["onnxruntime"] is None
        assert not [m for m in sys.modules if m.startswith("onnxruntime.")]
        """
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_importing_the_command_does_not_import_onnx() -> None:
    code = (
        "import sys\n"
        "import modelreg.commands.inspect\n"
        "assert 'onnx' not in sys.modules, 'onnx imported eagerly'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_missing_onnx_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"")
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ModelregError, match=r"pip install 'modelreg\[onnx\]'"):
        inspect_file(path)
