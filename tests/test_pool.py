"""The deep child starts before the other checks and is used once, or stopped when unused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import Registry
from modelreg import isolate
from modelreg.checks import _deep
from modelreg.cli import main

META = "models/demo/1.1.0/metadata.yaml"


class Spy:
    """Counts child starts, finishes, cancels and plain runs (calling the real ones)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started: list[isolate.Started] = []
        self.finished = 0
        self.cancelled = 0
        self.ran = 0

        def start(*args: Any, **kwargs: Any) -> isolate.Started:
            started = isolate.start_child(*args, **kwargs)
            self.started.append(started)
            return started

        def finish(*args: Any, **kwargs: Any) -> isolate.ChildResult:
            self.finished += 1
            return isolate.finish_child(*args, **kwargs)

        def cancel(started: isolate.Started) -> None:
            self.cancelled += 1
            isolate.cancel_child(started)

        def run(*args: Any, **kwargs: Any) -> isolate.ChildResult:
            self.ran += 1
            return isolate.run_child(*args, **kwargs)

        monkeypatch.setattr(_deep, "start_child", start)
        monkeypatch.setattr(_deep, "finish_child", finish)
        monkeypatch.setattr(_deep, "cancel_child", cancel)
        monkeypatch.setattr(_deep, "run_child", run)


def test_one_early_child_serves_every_deep_check(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spy = Spy(monkeypatch)
    assert main(["validate", "--no-cache", META]) == 0, capsys.readouterr()
    assert (len(spy.started), spy.finished, spy.cancelled, spy.ran) == (1, 1, 0, 0)
    assert spy.started[0].proc.returncode == 0


def test_early_child_still_finds_a_perturbed_output(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The spec (with the golden vectors) reaches the early child on stdin, after it started.
    spy = Spy(monkeypatch)
    out = registry.path("models/demo/1.1.0/test_data_set_0/output_0.pb")
    data = bytearray(out.read_bytes())
    data[-1] ^= 0x40
    out.write_bytes(bytes(data))
    assert main(["validate", "--no-cache", META]) == 1
    assert "MR404" in capsys.readouterr().out
    assert (len(spy.started), spy.finished) == (1, 1)


def test_unused_early_child_is_stopped(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Only the metrics rule is selected and the evaluation file is gone: the metrics check
    # never asks for the child it prepared, so the runner must stop it.
    spy = Spy(monkeypatch)
    registry.path("models/demo/data/eval.npz").unlink()
    assert main(["validate", "--no-cache", "--select", "MR406", META]) == 1
    assert "MR406" in capsys.readouterr().out
    assert (len(spy.started), spy.finished, spy.cancelled) == (1, 0, 1)
    assert spy.started[0].proc.returncode is not None  # reaped, not left running


def test_a_crash_while_preparing_is_a_finding_and_the_checks_still_run(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> isolate.Started:
        raise RuntimeError("no process for you")

    monkeypatch.setattr(_deep, "start_child", broken)
    assert main(["validate", "--no-cache", META]) == 1
    out = capsys.readouterr().out
    assert "MR901 preparing `prestart` crashed (RuntimeError: no process for you)" in out
    assert out.count("MR901") == 1  # the deep checks ran in a child of their own


def test_child_reads_its_spec_from_stdin(registry: Registry) -> None:
    model = registry.path("models/demo/1.1.0/model.onnx")
    spec = json.dumps({"version_dir": str(model.parent), "sets": [], "evaluate": None})
    proc = subprocess.run(
        [sys.executable, "-m", "modelreg._child", "deep", str(model), "-"],
        input=spec.encode(),
        capture_output=True,
        check=True,
    )
    lines = proc.stdout.decode().splitlines()
    assert '"inspect"' in lines[0] and '"run"' in lines[1], proc.stdout


def test_finish_child_times_out(tmp_path: Path) -> None:
    # A child that never finishes is killed at the timeout, counted from the hand-over.
    started = isolate.Started(
        subprocess.Popen(
            [sys.executable, "-c", "import sys, time; sys.stdin.read(); time.sleep(60)"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ),
        64,
    )
    result = isolate.finish_child(started, {}, timeout=0.5)
    assert result.died == "timed out after 0.5 s"
    assert started.proc.returncode is not None
