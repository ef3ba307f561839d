"""The README's quick start is true: two one-line commands, and CI runs the test one."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def quick_start() -> dict[str, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Quick start\n.*?```bash\n(.*?)```", text, re.S)
    assert block, "README has no Quick start bash block"
    lines = block.group(1).splitlines()
    commands = {lines[i]: lines[i + 1] for i in range(0, len(lines), 2)}
    assert list(commands) == ["# validate this repository's registry", "# run the test suite"]
    return commands


def test_quick_start_is_two_one_line_commands() -> None:
    commands = quick_start()
    assert all(c and not c.startswith("#") and "\n" not in c for c in commands.values())
    assert commands["# run the test suite"].endswith("python -m pytest")
    assert commands["# validate this repository's registry"].endswith("modelreg validate")


def test_ci_runs_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "grep -A1 -x '# run the test suite' README.md" in script
    proc = subprocess.run(
        ["bash", "-c", "grep -A1 -x '# run the test suite' README.md | tail -n 1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.strip() == quick_start()["# run the test suite"]


@pytest.mark.slow
def test_validate_command_works_from_a_fresh_clone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("needs a git checkout")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    command = quick_start()["# validate this repository's registry"]
    proc = subprocess.run(
        ["bash", "-c", command], cwd=clone, capture_output=True, text=True, check=False
    )
    assert "Traceback" not in proc.stderr
    assert "registry:" in proc.stderr, proc.stderr  # the summary line: it ran to the end

    # Same verdict and findings as the library gives in-process on the same files.
    from modelreg.cli import main

    monkeypatch.chdir(clone)
    expected_code = main(["validate"])
    expected_out = capsys.readouterr().out
    assert (proc.returncode, proc.stdout) == (expected_code, expected_out)
    # The registry in this repository is complete: the main job passes.
    assert proc.returncode == 0, proc.stdout
