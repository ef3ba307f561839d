"""The signature rule of the site's compare pages (modelreg.render.site.compare), case by case."""

from __future__ import annotations

from typing import Any

import pytest

from modelreg.render.site.compare import flatten, metadata_diff, signature_diff, type_text


def tensor(name: str, dtype: str = "float", shape: list[Any] | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"tensor": dtype}
    if shape is not None:
        node["shape"] = shape
    return {"name": name, "type": node}


def meta(inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"onnx": {"inputs": inputs, "outputs": outputs}}


OLD = meta([tensor("x", "float", ["batch", 4])], [tensor("logits", "float", ["batch", 2])])


def judge(new: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    return [(r.side, r.name, r.change, r.incompatible) for r in signature_diff(OLD, new)]


def test_same_signature_is_compatible() -> None:
    assert judge(OLD) == [("input", "x", "same", False), ("output", "logits", "same", False)]


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        # a renamed symbol: still any size
        (
            meta([tensor("x", "float", ["N", 4])], [tensor("logits", "float", ["N", 2])]),
            [("input", "x", "shape", False), ("output", "logits", "shape", False)],
        ),
        # an input that accepted any batch now needs 1
        (
            meta([tensor("x", "float", [1, 4])], [tensor("logits", "float", ["batch", 2])]),
            [("input", "x", "shape", True), ("output", "logits", "same", False)],
        ),
        # a fixed input size that became any size: callers unaffected
        (
            meta(
                [tensor("x", "float", ["batch", None])], [tensor("logits", "float", ["batch", 2])]
            ),
            [("input", "x", "shape", False), ("output", "logits", "same", False)],
        ),
        # an output that promised 2 classes now has any number
        (
            meta([tensor("x", "float", ["batch", 4])], [tensor("logits", "float", ["batch", "k"])]),
            [("input", "x", "same", False), ("output", "logits", "shape", True)],
        ),
        # another rank
        (
            meta(
                [tensor("x", "float", ["batch", 4, 1])], [tensor("logits", "float", ["batch", 2])]
            ),
            [("input", "x", "shape", True), ("output", "logits", "same", False)],
        ),
        # another element type
        (
            meta([tensor("x", "double", ["batch", 4])], [tensor("logits", "float", ["batch", 2])]),
            [("input", "x", "type", True), ("output", "logits", "same", False)],
        ),
        # an output appended after the old one: callers bind by name, unaffected
        (
            meta(
                [tensor("x", "float", ["batch", 4])],
                [tensor("logits", "float", ["batch", 2]), tensor("probs", "float", ["batch", 2])],
            ),
            [
                ("input", "x", "same", False),
                ("output", "logits", "same", False),
                ("output", "probs", "added", False),
            ],
        ),
        # an output inserted before the old one moves it
        (
            meta(
                [tensor("x", "float", ["batch", 4])],
                [tensor("probs", "float", ["batch", 2]), tensor("logits", "float", ["batch", 2])],
            ),
            [
                ("input", "x", "same", False),
                ("output", "logits", "moved", True),
                ("output", "probs", "added", True),
            ],
        ),
        # an input added (callers must send it) and a renamed input (removed + added)
        (
            meta(
                [tensor("features", "float", ["batch", 4]), tensor("mask", "int64", ["batch"])],
                [tensor("logits", "float", ["batch", 2])],
            ),
            [
                ("input", "x", "removed", True),
                ("input", "features", "added", True),
                ("input", "mask", "added", True),
                ("output", "logits", "same", False),
            ],
        ),
        # an output removed
        (
            meta([tensor("x", "float", ["batch", 4])], []),
            [("input", "x", "same", False), ("output", "logits", "removed", True)],
        ),
    ],
)
def test_signature_rule(new: dict[str, Any], expected: list[tuple[str, str, str, bool]]) -> None:
    assert judge(new) == expected


def test_unknown_rank_becoming_known() -> None:
    old = meta([tensor("x")], [tensor("y")])
    new = meta([tensor("x", shape=["batch"])], [tensor("y", shape=["batch"])])
    assert [(r.name, r.incompatible) for r in signature_diff(old, new)] == [
        ("x", True),
        ("y", False),
    ]
    assert [(r.name, r.incompatible) for r in signature_diff(new, old)] == [
        ("x", False),
        ("y", True),
    ]


def test_type_text_matches_the_model_cards() -> None:
    assert (
        type_text({"tensor": "int64", "shape": ["batch", None, 3]}) == "tensor(int64) [batch, ?, 3]"
    )
    assert type_text({"tensor": "float"}) == "tensor(float) [?]"
    assert type_text({"sequence": {"tensor": "float"}}) == "sequence(tensor(float) [?])"
    assert (
        type_text({"map": {"key": "int64", "value": {"tensor": "float"}}})
        == "map(int64, tensor(float) [?])"
    )
    assert type_text("nonsense") == "unknown"


def test_metadata_diff_lists_changed_fields_but_not_signature_or_metrics() -> None:
    old = {
        "version": "1.0.0",
        "summary": "a",
        "changes": ["x"],
        "training": {"dataset": {"name": "d", "samples": 10}},
        "evaluation": {"metrics": {"accuracy": 0.8}},
        "test_vectors": [{"path": "t0", "rtol": 0.001}],
        **OLD,
    }
    new = {
        "version": "1.1.0",
        "summary": "b",
        "changes": ["x", "y"],
        "training": {"dataset": {"name": "d", "samples": 20}},
        "evaluation": {"metrics": {"accuracy": 0.9}},
        "test_vectors": [{"path": "t0", "rtol": 0.01}],
        "migration": "drop-in",
        **meta([tensor("z")], []),
    }
    assert metadata_diff(old, new) == [
        ("changes", "[x]", "[x, y]"),
        ("migration", "—", "drop-in"),
        ("summary", "a", "b"),
        ("test_vectors[0].rtol", "0.001", "0.01"),
        ("training.dataset.samples", "10", "20"),
    ]
    assert flatten({"a": {"b": [1, 2]}, "c": None}) == {"a.b": "[1, 2]", "c": ""}
