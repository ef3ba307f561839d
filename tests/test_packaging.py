"""The wheel ships the schemas from their one place, and the installed CLI finds them."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_carries_the_root_schemas(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("modelreg-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        shipped = {n: zf.read(n) for n in names if n.endswith(".schema.json")}
    expected = {
        f"modelreg/schemas/{p.name}": p.read_bytes() for p in (ROOT / "schemas").glob("*.json")
    }
    assert shipped == expected
    # The serving workload template `modelreg init` writes: this repository's overlays/base.
    with zipfile.ZipFile(wheel) as zf:
        base = {n: zf.read(n) for n in names if n.startswith("modelreg/scaffold/base/")}
        modes = {n: zf.getinfo(n).external_attr >> 16 for n in base}
    assert base == {
        f"modelreg/scaffold/base/{p.name}": p.read_bytes()
        for p in (ROOT / "overlays" / "base").iterdir()
    }
    assert modes["modelreg/scaffold/base/fetch-model.sh"] & 0o111
    assert "modelreg/py.typed" in names
    assert not any(n.startswith("schemas/") for n in names)

    # Installed (not editable), the package finds the schemas inside itself.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    # Dependencies from this test run's environment (PyYAML, jsonschema, ...): its
    # site-packages appended as plain paths, so their .pth files (the editable modelreg among
    # them) are not processed and the wheel's modelreg is the one imported.
    # (--system-site-packages would see the base interpreter's, which has none of them on a
    # fresh machine.)
    (site,) = (venv / "lib").glob("python*/site-packages")
    outer = [p for p in sys.path if p.endswith("site-packages")]
    (site / "outer-deps.pth").write_text("\n".join(outer) + "\n", encoding="utf-8")
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
    )
    probe = "import modelreg.schemas as s; print(s.schema_dir()); print(s.validator('model'))"
    proc = subprocess.run(
        [str(py), "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    where = Path(proc.stdout.splitlines()[0])
    assert where.parts[-2:] == ("modelreg", "schemas")
    assert venv in where.parents
    probe = "import modelreg.scaffold as s; print(s.base_dir())"
    proc = subprocess.run(
        [str(py), "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    where = Path(proc.stdout.strip())
    assert where.parts[-3:] == ("modelreg", "scaffold", "base")
    assert venv in where.parents
