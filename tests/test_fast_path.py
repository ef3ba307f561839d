"""The fast path stays light: no onnx, no onnxruntime, no numpy."""

from __future__ import annotations

import subprocess
import sys

from conftest import Registry

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
