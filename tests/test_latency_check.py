"""The stored p99 (MR407, MR408): re-measured only on the same fingerprint, never flaky."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Registry, demo_model
from modelreg.cli import main

ARGS = [
    "--dataset-name", "d", "--dataset-version", "1", "--dataset-samples", "1",
    "--summary", "s", "--change", "c", "--date", "2024-02-01", "--runs", "300",
]  # fmt: skip


@pytest.fixture
def measured(registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """1.2.0 added with a measured latency; returns its metadata path."""
    onnx_file = tmp_path / "m.onnx"
    onnx_file.write_bytes(demo_model(2.0).SerializeToString())
    eval_file = registry.path("models/demo/data/eval.npz")
    argv = ["add", "demo", "1.2.0", "--onnx", str(onnx_file), "--eval", str(eval_file), *ARGS]
    assert main(argv) == 0, capsys.readouterr().err
    capsys.readouterr()
    return "models/demo/1.2.0/metadata.yaml"


def _p99(registry: Registry, rel: str) -> str:
    line = next(x for x in registry.read(rel).splitlines() if x.strip().startswith("p99_ms:"))
    return line.split(":", 1)[1].strip()


def test_a_measured_claim_passes_on_the_same_machine(
    registry: Registry, measured: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "models/demo/1.2.0"]) == 0
    out = capsys.readouterr().out
    assert "MR407" not in out and "MR408" not in out


def test_a_claim_faster_than_the_artifact_fails(
    registry: Registry, measured: str, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.replace(measured, f"p99_ms: {_p99(registry, measured)}", "p99_ms: 0.0001")
    # No absolute slack, so the sub-millisecond demo model can be judged at all.
    registry.write(
        "models/demo/model.yaml",
        registry.read("models/demo/model.yaml")
        + "  1.2.0:\n    status: candidate\ngates:\n  p99_tolerance: 0.5\n  p99_tolerance_ms: 0\n",
    )
    assert main(["validate", "models/demo/1.2.0"]) == 1
    out = capsys.readouterr().out
    assert "metadata.yaml:" in out and " MR407 p99 claims 0.0001 ms, but even the median" in out
    assert "(claim + 50% + 0 ms)" in out


def test_another_machine_is_a_note_not_a_failure(
    registry: Registry, measured: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = registry.read(measured)
    start = text.index("fingerprint: ") + len("fingerprint: ")
    fingerprint = text[start : text.index("\n", start)]
    registry.replace(measured, f"fingerprint: {fingerprint}", "fingerprint: 0123456789abcdef")
    registry.replace(measured, f"p99_ms: {_p99(registry, measured)}", "p99_ms: 0.0001")
    assert main(["validate", "models/demo/1.2.0"]) == 0
    captured = capsys.readouterr()
    assert " MR408 (note) p99 0.0001 ms was measured on fingerprint 0123456789abcdef" in (
        captured.out
    )
    assert "not comparable, not re-checked" in captured.out
    assert "all checks passed (1 note)" in captured.err


def test_fast_mode_never_times_anything(
    registry: Registry, measured: str, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.replace(measured, f"p99_ms: {_p99(registry, measured)}", "p99_ms: 0.0001")
    assert main(["validate", "--fast", "models/demo/1.2.0"]) == 0
    assert "MR40" not in capsys.readouterr().out
