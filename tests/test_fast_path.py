"""The fast path stays light: no onnx, onnxruntime or numpy; one changed file, one model read."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import Registry
from modelreg.checks import Options
from modelreg.checks.runner import run, select
from modelreg.registry import discover

PROBE = """
import sys
from modelreg.cli import main
code = main(["validate", "--fast"])
heavy = sorted(m for m in ("onnx", "onnxruntime", "numpy") if m in sys.modules)
print(code, ",".join(heavy) or "-")
"""


def test_fast_validate_imports_no_onnx(registry: Registry) -> None:
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert proc.stdout.split() == ["0", "-"], proc.stdout + proc.stderr


def test_probe_would_see_a_heavy_import(registry: Registry) -> None:
    # The probe above must be able to fail: importing onnx first makes it report onnx.
    proc = subprocess.run(
        [sys.executable, "-c", "import onnx\n" + PROBE], capture_output=True, text=True, check=True
    )
    assert "onnx" in proc.stdout.split()[1].split(",")


def _two_models(registry: Registry) -> Path:
    other = registry.root / "models" / "other"
    shutil.copytree(registry.root / "models" / "demo", other)
    return other


def test_one_changed_file_reads_only_its_model(registry: Registry) -> None:
    # A hook given one metadata.yaml must not list or read the rest of the registry.
    other = _two_models(registry)
    reg = discover(registry.root)
    target = registry.root / "models" / "demo" / "1.1.0" / "metadata.yaml"
    findings = run(reg, select(reg, [target]), Options(fast=True))
    assert [f.rule for f in findings if f.severity.value == "error"] == []
    assert not reg.fully_listed
    read = reg.documents_read()
    assert target in read
    assert not [p for p in read if other in p.parents], read


def test_whole_registry_reads_every_model(registry: Registry) -> None:
    # The counterpart: the same registry validated whole lists and reads the other model.
    other = _two_models(registry)
    reg = discover(registry.root)
    run(reg, select(reg, []), Options(fast=True))
    assert reg.fully_listed
    assert other / "model.yaml" in reg.documents_read()
