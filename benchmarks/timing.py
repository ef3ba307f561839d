"""Timing helpers shared by the benchmark scenarios: interleaved medians and peak RSS."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Result:
    """One scenario's figures (seconds, or MiB when ``unit`` says so)."""

    name: str
    command: str
    median_s: float
    baseline: str
    baseline_median_s: float | None
    target: str
    met: bool
    note: str
    unit: str = "s"


def time_commands(
    commands: Sequence[Sequence[str]], runs: int, cwd: Path, timeout: float | None = None
) -> list[float]:
    """Median wall time of each command, run interleaved ``runs`` times.

    A command that exceeds ``timeout`` counts as ``timeout`` seconds (a lower bound).
    """
    samples: list[list[float]] = [[] for _ in commands]
    env = dict(os.environ, NO_COLOR="1")
    for _ in range(runs):
        for i, cmd in enumerate(commands):
            start = time.perf_counter()
            try:
                subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, check=False,
                               timeout=timeout)  # fmt: skip
            except subprocess.TimeoutExpired:
                samples[i].append(float(timeout or 0))
                continue
            samples[i].append(time.perf_counter() - start)
    return [statistics.median(s) for s in samples]


def peak_rss_mib(cmd: Sequence[str], cwd: Path) -> float:
    """Peak resident set size of ``cmd``: the largest of its process and its children."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024
