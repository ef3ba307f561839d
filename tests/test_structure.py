"""Deep checks of the ONNX file against metadata's ``onnx`` block, on real models."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import onnx
import pytest

from conftest import Registry, demo_model
from modelreg.cli import main
from modelreg.errors import UsageError
from modelreg.onnx import isolate

META = "models/demo/1.1.0/metadata.yaml"
MODEL = "models/demo/model.yaml"
ONNX = "models/demo/1.1.0/model.onnx"


def install(registry: Registry, model: onnx.ModelProto, check: bool = True) -> None:
    """Put ``model`` into 1.1.0 and make the metadata's hash and size match it."""
    if check:
        onnx.checker.check_model(model, full_check=True)
    data = model.SerializeToString()
    set_bytes(registry, data)


def set_bytes(registry: Registry, data: bytes) -> None:
    registry.path(ONNX).write_bytes(data)
    text = registry.read(META)
    lines = []
    for line in text.splitlines(keepends=True):
        if line.startswith("  sha256: "):
            lines.append(f"  sha256: {hashlib.sha256(data).hexdigest()}\n")
        elif line.startswith("  size: "):
            lines.append(f"  size: {len(data)}\n")
        else:
            lines.append(line)
    registry.write(META, "".join(lines))


@pytest.fixture
def real(registry: Registry) -> Registry:
    """conftest's registry already holds real models; named for what the tests rely on."""
    return registry


def validate(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["validate", META, *argv])
    return code, capsys.readouterr().out


def test_correct_version_passes(real: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    assert validate(capsys) == (0, "")


@pytest.mark.parametrize(
    "case",
    [
        ("tensor: int64", "tensor: int32", "MR308",
         "onnx.inputs[0]: element type is int64 in the file, int32 in metadata"),
        ("shape: [batch, sequence]", "shape: [batch, 128]", "MR309",
         "onnx.inputs[0]: dimension 1 is the symbol `sequence` in the file, "
         "the fixed size 128 in metadata"),
        ("shape: [batch, sequence]", "shape: [batch]", "MR309", "rank 2 in the file"),
        ("shape: [batch, 2]", "shape: [batch, null]", "MR309", "dimension 1 is the fixed size 2"),
        ("name: logits", "name: scores", "MR307",
         "onnx.outputs[0]: the file has `logits`, metadata has `scores`"),
        ("ai.onnx: 17", "ai.onnx: 18", "MR304",
         "onnx.opsets: domain `ai.onnx` is version 17 in the file, version 18 in metadata"),
        ('version: "2.1"', 'version: "2.2"', "MR306",
         "onnx.producer.version: the file says '2.1', metadata says '2.2'"),
        ("ir_version: 8", "ir_version: 9", "MR303", "the file has 8, metadata says 9"),
        ("output: logits", "output: probs", "MR307", "evaluation.output `probs` is not an output"),
    ],
)  # fmt: skip
def test_each_metadata_mutation_fails_with_its_rule(
    real: Registry, capsys: pytest.CaptureFixture[str], case: tuple[str, str, str, str]
) -> None:
    old, new, rule, message = case
    real.replace(META, old, new)
    code, out = validate(capsys)
    assert code == 1
    lines = [line for line in out.splitlines() if f" {rule} " in line]
    assert lines and all(line.startswith(f"{META}:") for line in lines), out
    assert any(message in line for line in lines), out


def test_labels_count(real: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    real.replace(MODEL, "labels: [negative, positive]", "labels: [negative, neutral, positive]")
    code = main(["validate", "models/demo"])
    out = capsys.readouterr().out
    assert code == 1
    assert f"{MODEL}:8:1: MR310 3 labels, but output `logits` of 1.1.0 has 2 classes" in out


def test_undeclared_custom_domain(real: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    install(real, demo_model(0.5, custom_domain=True), check=False)
    code, out = validate(capsys)
    assert code == 1
    assert "MR305 operators from domain `com.acme` are used but onnx.opsets does not declare" in out
    real.replace(META, "    ai.onnx: 17\n", "    ai.onnx: 17\n    com.acme: 1\n")
    code, out = validate(capsys)
    assert "MR305" not in out and "MR304" not in out


@pytest.mark.parametrize(
    "payload",
    [b"this is not protobuf at all", b"\x08"],
    ids=["text", "truncated-varint"],
)
def test_not_onnx(real: Registry, capsys: pytest.CaptureFixture[str], payload: bytes) -> None:
    set_bytes(real, payload)
    code, out = validate(capsys)
    assert code == 1
    assert f"{ONNX}: MR301 {ONNX}: not a valid ONNX file" in out


@pytest.mark.slow
def test_truncated_model(real: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    data = demo_model(0.5).SerializeToString()
    for cut in (len(data) // 3, len(data) // 2, len(data) - 3):
        set_bytes(real, data[:cut])
        code, out = validate(capsys)
        assert code == 1
        assert " MR301 " in out or " MR302 " in out, out


def test_checker_rejection(real: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    model = demo_model(0.5)
    model.graph.node[2].input[1] = "missing_tensor"
    install(real, model, check=False)
    code, out = validate(capsys)
    assert code == 1
    assert f"{ONNX}: MR302 onnx.checker: " in out


def test_fast_skips_the_onnx_checks(real: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    real.replace(META, "tensor: int64", "tensor: int32")
    assert validate(capsys, "--fast") == (0, "")


def fake_python(tmp_path: Path, body: str) -> str:
    script = tmp_path / "fake-python"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_a_crashing_checker_is_a_finding_and_the_run_goes_on(
    real: Registry,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(
        "modelreg.onnx.isolate.sys.executable", fake_python(tmp_path, "kill -SEGV $$")
    )
    code = main(["validate"])
    out = capsys.readouterr().out
    assert code == 1
    died = sorted(line for line in out.splitlines() if " MR902 " in line)
    crash = "deep checks died: signal 11 (SIGSEGV); finished before that: nothing; the rest is "
    # One finding per version (one child per version), whichever deep check saw it first.
    assert died == sorted(
        f"{art}: MR902 {crash}unproven" for art in ("models/demo/1.0.0/model.onnx", ONNX)
    )
    # Checks that need no child still ran and passed: the run went on.
    assert "all checks passed" not in out and len(out.splitlines()) == 2


def test_child_timeout_and_memory_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("modelreg.onnx.isolate.sys.executable", fake_python(tmp_path, "sleep 30"))
    result = isolate.run_child("inspect", tmp_path / "x.onnx", timeout=0.5)
    assert result.died == "timed out after 0.5 s"
    monkeypatch.undo()
    model = tmp_path / "m.onnx"
    model.write_bytes(demo_model(0.5).SerializeToString())
    result = isolate.run_child("inspect", model, memory_mb=64)
    assert result.data is None and result.died is not None


def test_child_reports_facts_and_checker(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(demo_model(0.5).SerializeToString())
    result = isolate.run_child("inspect", model)
    assert result.died is None and result.error is None and result.data is not None
    assert result.data["checker"] is None
    assert result.data["facts"]["onnx"]["inputs"][0]["name"] == "input_ids"
    assert os.environ.get("MODELREG_CHILD_TIMEOUT") is None  # defaults in force


def test_a_crash_in_onnxruntime_keeps_what_the_child_finished(
    real: Registry,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # Every worker process starts with onnxruntime's session replaced by a segfault.
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import os, signal, sys\n"
        "if sys.argv[1:2] == ['serve']:\n"
        "    import onnxruntime\n"
        "    def crash(*args, **kwargs):\n"
        "        os.kill(os.getpid(), signal.SIGSEGV)\n"
        "    onnxruntime.InferenceSession = crash\n"
    )
    monkeypatch.setenv("PYTHONPATH", f"{hook}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    real.replace(META, 'version: "2.1"', 'version: "2.2"')
    code, out = validate(capsys, "models/demo/1.1.0")
    assert code == 1
    # The structure facts came before the crash, so the metadata mutation is still found...
    assert "MR306 onnx.producer.version: the file says '2.1', metadata says '2.2'" in out
    # ...and the crash itself is one finding that says what was finished.
    assert out.count(" MR902 ") == 1, out
    assert (
        f"{ONNX}: MR902 deep checks died: signal 11 (SIGSEGV); finished before that: inspect; "
        "the rest is unproven"
    ) in out


@pytest.mark.parametrize(
    "argv",
    [
        ("--select", "MR404"),
        ("--select", "MR2"),
        ("--select", "MR3", "--ignore", "MR9"),
        ("--ignore", "MR902"),
        ("--ignore", "MR9"),
    ],
)
def test_a_dead_child_fails_the_run_under_any_filter(
    real: Registry,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    argv: tuple[str, ...],
) -> None:
    # The deep checks did not happen: no rule filter may turn that into a pass.
    monkeypatch.setattr(
        "modelreg.onnx.isolate.sys.executable", fake_python(tmp_path, "kill -SEGV $$")
    )
    code, out = validate(capsys, "--no-cache", *argv)
    assert code == 1, out
    assert out.splitlines() == [
        f"{ONNX}: MR902 deep checks died: signal 11 (SIGSEGV); finished before that: "
        "nothing; the rest is unproven"
    ]


def test_a_hanging_child_fails_the_run_under_a_filter(
    real: Registry,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr("modelreg.onnx.isolate.sys.executable", fake_python(tmp_path, "sleep 30"))
    monkeypatch.setenv("MODELREG_CHILD_TIMEOUT", "0.5")
    code, out = validate(capsys, "--no-cache", "--select", "MR404")
    assert code == 1, out
    assert f"{ONNX}: MR902 deep checks died: timed out after 0.5 s" in out


def test_the_memory_limit_scales_with_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODELREG_CHILD_MEMORY_MB", raising=False)
    monkeypatch.setattr(isolate, "available_mb", lambda: None)
    small = tmp_path / "small" / "model.onnx"
    small.parent.mkdir()
    small.write_bytes(demo_model(0.5).SerializeToString())
    assert isolate.memory_limit_mb(small) == isolate.BASE_MB + isolate.PER_MODEL_MB
    big = tmp_path / "big" / "model.onnx"
    big.parent.mkdir()
    big.write_bytes(b"\0" * (100 << 20))
    assert isolate.memory_limit_mb(big) == isolate.BASE_MB + 100 * isolate.PER_MODEL_MB
    # External data counts: the files beside a model that mentions a `location`.
    external = tmp_path / "ext" / "model.onnx"
    external.parent.mkdir()
    external.write_bytes(b"...location...")
    (external.parent / "weights.bin").write_bytes(b"\0" * (50 << 20))
    assert isolate.memory_limit_mb(external) == isolate.BASE_MB + 51 * isolate.PER_MODEL_MB
    # Capped by what the machine has (never below the base), and the setting wins, read
    # when a child starts (not at import).
    monkeypatch.setattr(isolate, "available_mb", lambda: 600)
    assert isolate.memory_limit_mb(big) == 600
    monkeypatch.setattr(isolate, "available_mb", lambda: 100)
    assert isolate.memory_limit_mb(big) == isolate.BASE_MB
    monkeypatch.setenv("MODELREG_CHILD_MEMORY_MB", "3000")
    assert isolate.memory_limit_mb(big) == 3000
    monkeypatch.setenv("MODELREG_CHILD_MEMORY_MB", "lots")
    with pytest.raises(UsageError, match="MODELREG_CHILD_MEMORY_MB='lots'"):
        isolate.memory_limit_mb(big)
    monkeypatch.setenv("MODELREG_CHILD_TIMEOUT", "2.5")
    assert isolate.timeout_s() == 2.5
    monkeypatch.setenv("MODELREG_CHILD_TIMEOUT", "-1")
    with pytest.raises(UsageError, match="MODELREG_CHILD_TIMEOUT"):
        isolate.timeout_s()
