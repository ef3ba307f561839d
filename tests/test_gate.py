"""``modelreg gate``: real candidates judged against production on real sessions."""

from __future__ import annotations

import json

import pytest

from conftest import Registry, add_version, demo_model, git_commit_all
from modelreg.cli import main

GATES = """\
gates:
  min_accuracy: 0.7
  max_accuracy_drop: {drop}
  max_p99_regression: 50.0
"""


def with_candidate(registry: Registry, weight: float, drop: float) -> None:
    """Add 1.2.0 (a real model with ``weight``) as candidate, and gates to model.yaml."""
    eval_sha = _eval_sha(registry)
    add_version(
        registry.root, "1.2.0", "2024-02-01", demo_model(weight).SerializeToString(), eval_sha
    )
    text = registry.read("models/demo/model.yaml")
    text += "  1.2.0:\n    status: candidate\n" + GATES.format(drop=drop)
    registry.write("models/demo/model.yaml", text)


def _eval_sha(registry: Registry) -> str:
    import hashlib

    return hashlib.sha256(registry.path("models/demo/data/eval.npz").read_bytes()).hexdigest()


def test_equal_candidate_passes_with_table(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    with_candidate(registry, weight=0.7, drop=0.005)  # same predictions as production
    assert main(["gate", "demo", "1.2.0", "--runs", "30"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == "| Gate | Rule | candidate 1.2.0 | production 1.1.0 | Result |"
    assert lines[2] == "| min_accuracy | >= 70.00% | 80.00% | 80.00% | pass |"
    assert lines[3] == "| max_accuracy_drop | drop <= 0.50% | 80.00% (-0.00 pp) | 80.00% | pass |"
    assert lines[4].startswith("| max_p99_regression | slowdown <= 5000.00% | ")
    assert lines[4].endswith("| pass |")
    assert "gate demo@1.2.0: pass" in err


def test_regressed_candidate_fails_past_the_gate(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    # weight < 0 flips every prediction: accuracy 0.2 against production's 0.8.
    with_candidate(registry, weight=-0.5, drop=0.5)
    assert main(["gate", "demo", "1.2.0", "--runs", "30"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[2] == "| min_accuracy | >= 70.00% | 20.00% | 80.00% | **FAIL** |"
    assert out[3] == (
        "| max_accuracy_drop | drop <= 50.00% | 20.00% (-60.00 pp) | 80.00% | **FAIL** |"
    )


def test_regression_within_the_gate_passes_the_drop_gate(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    with_candidate(registry, weight=-0.5, drop=0.65)
    assert main(["gate", "demo", "1.2.0", "--runs", "30", "--output", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    result = {g["gate"]: g["passed"] for g in report["gates"]}
    assert result == {"min_accuracy": False, "max_accuracy_drop": True, "max_p99_regression": True}
    assert report["status"] == "fail"
    assert report["measured"]["candidate"]["accuracy"] == pytest.approx(0.2)
    assert report["measured"]["production"]["accuracy"] == pytest.approx(0.8)
    assert report["measured"]["candidate"]["latency"]["runs"] == 30


def test_tampered_candidate_is_refused(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    with_candidate(registry, weight=0.7, drop=0.005)
    path = registry.path("models/demo/1.2.0/model.onnx")
    path.write_bytes(path.read_bytes() + b"\0")
    assert main(["gate", "demo", "1.2.0", "--runs", "5"]) == 1
    assert "sha256 differs from its metadata" in capsys.readouterr().err


def test_no_gates_declared_is_an_error(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gate", "demo", "1.0.0"]) == 1
    assert "declares no `gates:`" in capsys.readouterr().err


def test_gating_production_against_itself_is_a_usage_error(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    with_candidate(registry, weight=0.7, drop=0.005)
    assert main(["gate", "demo", "1.1.0"]) == 2
    assert "already the production version" in capsys.readouterr().err


def test_a_pull_request_cannot_loosen_the_gates_it_is_judged_by(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    with_candidate(registry, weight=-0.5, drop=0.005)  # accuracy 20% against 80%
    base = git_commit_all(registry.root, "candidate 1.2.0 with strict gates")
    text = registry.read("models/demo/model.yaml")
    loosened = text.replace("min_accuracy: 0.7", "min_accuracy: 0.0").replace(
        "max_accuracy_drop: 0.005", "max_accuracy_drop: 1.0"
    )
    assert loosened != text
    registry.write("models/demo/model.yaml", loosened)
    git_commit_all(registry.root, "the pull request loosens the gates")
    # Judged by its own card the candidate would pass; the base's gates judge it.
    assert main(["gate", "demo", "1.2.0", "--runs", "30"]) == 0
    capsys.readouterr()
    assert main(["gate", "demo", "1.2.0", "--runs", "30", "--base", base]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[2] == "| min_accuracy | >= 70.00% | 20.00% | 80.00% | **FAIL** |"


# -- compatible_signature: the rule the catalog site's compare pages show -------------------


def with_signature_gate(registry: Registry, shape: str | None = None) -> None:
    """A candidate 1.2.0 judged with ``compatible_signature: true``; ``shape`` replaces its
    input's declared shape (production's is ``[batch, sequence]``)."""
    with_candidate(registry, weight=0.7, drop=0.5)
    registry.write(
        "models/demo/model.yaml",
        registry.read("models/demo/model.yaml") + "  compatible_signature: true\n",
    )
    if shape is not None:
        registry.replace("models/demo/1.2.0/metadata.yaml", "shape: [batch, sequence]", shape)


def _signature_row(out: str) -> str:
    (row,) = [line for line in out.splitlines() if line.startswith("| compatible_signature |")]
    return row


def test_a_compatible_signature_passes(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    # A symbol renamed is no change for a caller (the rule of docs/site.md).
    with_signature_gate(registry, "shape: [N, sequence]")
    assert main(["gate", "demo", "1.2.0", "--runs", "30"]) == 0
    assert _signature_row(capsys.readouterr().out) == (
        "| compatible_signature | callers of production keep working | compatible | - | pass |"
    )


def test_a_signature_that_accepts_less_fails_the_gate(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    with_signature_gate(registry, "shape: [1, sequence]")
    assert main(["gate", "demo", "1.2.0", "--runs", "30", "--output", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    (row,) = [g for g in report["gates"] if g["gate"] == "compatible_signature"]
    assert row["passed"] is False
    assert row["candidate"] == "breaks callers: input input_ids: dimension 0: batch → 1"
    assert report["status"] == "fail"


def test_the_signature_gate_is_off_unless_asked(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    with_candidate(registry, weight=0.7, drop=0.5)
    registry.replace("models/demo/1.2.0/metadata.yaml", "shape: [batch, sequence]", "shape: [1, 2]")
    assert main(["gate", "demo", "1.2.0", "--runs", "30"]) == 0
    assert "compatible_signature" not in capsys.readouterr().out
