"""The weightless skeleton parses as the same model minus its initializers' payloads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from modelreg.errors import ModelregError
from modelreg.onnx import facts
from modelreg.onnx.skeleton import SkimError, skeleton

PAYLOAD = ("float_data", "int32_data", "string_data", "int64_data", "raw_data",
           "double_data", "uint64_data")  # fmt: skip


def _backend_models() -> list[Path]:
    data = Path(onnx.__file__).parent / "backend" / "test" / "data"
    found: list[Path] = []
    for suite in ("simple", "pytorch-converted", "pytorch-operator"):
        found += sorted((data / suite).glob("*/model.onnx"))
    return found


def _expected(model: onnx.ModelProto) -> onnx.ModelProto:
    """The full model with the payload fields of the main graph's initializers cleared."""
    thinned = onnx.ModelProto()
    thinned.CopyFrom(model)
    tensors = list(thinned.graph.initializer)
    for sparse in thinned.graph.sparse_initializer:
        tensors += [sparse.values, sparse.indices]
    for tensor in tensors:
        for name in PAYLOAD:
            tensor.ClearField(name)
    return thinned


def _rich_model() -> onnx.ModelProto:
    """Dense and sparse initializers of several element types, typed payload fields (not
    only raw_data), an If with an initializer in its branch, and a local function."""
    branch_init = numpy_helper.from_array(np.full((2,), 7.0, np.float32), "c")
    then_g = helper.make_graph(
        [helper.make_node("Identity", ["c"], ["y_then"])], "then", [],
        [helper.make_tensor_value_info("y_then", TensorProto.FLOAT, [2])], [branch_init],
    )  # fmt: skip
    else_g = helper.make_graph(
        [helper.make_node("Identity", ["w"], ["y_else"])], "else", [],
        [helper.make_tensor_value_info("y_else", TensorProto.FLOAT, [2])],
    )  # fmt: skip
    typed = helper.make_tensor("w", TensorProto.FLOAT, [2], [1.0, 2.0])  # float_data
    ints = helper.make_tensor("i", TensorProto.INT64, [3], [1, 2, 3])  # int64_data
    # string_data (onnx's stubs type the values as numbers; STRING tensors take bytes)
    strings = helper.make_tensor("s", TensorProto.STRING, [2], [b"a", b"b"])  # type: ignore[list-item]
    raw = numpy_helper.from_array(np.arange(1000, dtype=np.float32), "big")  # raw_data
    sparse = helper.make_sparse_tensor(
        helper.make_tensor("sv", TensorProto.FLOAT, [2], [5.0, 6.0]),
        helper.make_tensor("si", TensorProto.INT64, [2], [0, 3]),
        [4],
    )
    graph = helper.make_graph(
        [
            helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g),
            helper.make_node("Twice", ["y"], ["z"], domain="local"),
        ],
        "rich",
        [helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2])],
        [typed, ints, strings, raw],
        sparse_initializer=[sparse],
    )
    twice = helper.make_function(
        "local", "Twice", ["a"], ["b"], [helper.make_node("Add", ["a", "a"], ["b"])],
        [helper.make_opsetid("", 17)],
    )  # fmt: skip
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("local", 1)],
        functions=[twice],
        producer_name="test",
        producer_version="1",
    )


@pytest.mark.parametrize("path", _backend_models(), ids=lambda p: p.parent.name)
def test_skeleton_of_every_backend_model(path: Path) -> None:
    full = onnx.load(path, load_external_data=False)
    assert onnx.ModelProto.FromString(skeleton(path)) == _expected(full)


def test_backend_models_were_found() -> None:
    assert len(_backend_models()) > 100


def test_skeleton_keeps_everything_but_payloads(tmp_path: Path) -> None:
    model = _rich_model()
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    skel = onnx.ModelProto.FromString(skeleton(path))
    assert skel == _expected(model)
    assert skel != model  # payloads really are gone
    assert [t.name for t in skel.graph.initializer] == ["w", "i", "s", "big"]
    assert skel.graph.initializer[3].dims == [1000]
    # The branch's initializer (a subgraph) is copied verbatim, payload included.
    then_g = next(a.g for a in skel.graph.node[0].attribute if a.name == "then_branch")
    assert numpy_helper.to_array(then_g.initializer[0]).tolist() == [7.0, 7.0]
    assert len(skeleton(path)) < len(path.read_bytes()) - 4000


def test_external_data_references_survive(tmp_path: Path) -> None:
    weights = numpy_helper.from_array(np.ones((64, 64), np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])], "ext",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])], [weights],
    )  # fmt: skip
    path = tmp_path / "model.onnx"
    onnx.save(helper.make_model(graph), path, save_as_external_data=True,
              location="weights.bin", size_threshold=0)  # fmt: skip
    skel = onnx.ModelProto.FromString(skeleton(path))
    tensor = skel.graph.initializer[0]
    assert tensor.data_location == TensorProto.EXTERNAL
    assert {e.key: e.value for e in tensor.external_data}["location"] == "weights.bin"
    assert skel == _expected(onnx.load(path, load_external_data=False))


def test_inspect_facts_equal_a_full_parse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "model.onnx"
    onnx.save(_rich_model(), path)
    quick = facts.inspect_file(path)
    monkeypatch.setattr(facts, "_load_skeleton", lambda *_args: None)
    assert facts.inspect_file(path) == quick


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "empty"),
        (b"\x3a", "truncated varint"),  # graph key, no length
        (b"\x3a\x05ab", "past the end"),  # graph of 5 bytes, 2 present
        (b"\x0b", "wire type 3"),  # a group start
        (b"\x08\x80\x80", "truncated varint"),
        (b"\x00\x01", "field number 0"),
    ],
)
def test_malformed_bytes_are_refused(tmp_path: Path, data: bytes, problem: str) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(data)
    with pytest.raises(SkimError, match=problem):
        skeleton(path)


def test_truncated_model_falls_back_to_the_full_parse_error(tmp_path: Path) -> None:
    data = _rich_model().SerializeToString()
    path = tmp_path / "model.onnx"
    path.write_bytes(data[:-3])
    with pytest.raises(SkimError):
        skeleton(path)
    with pytest.raises(ModelregError, match="not a valid ONNX file"):
        facts.inspect_file(path)
