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
    commands: Sequence[Sequence[str]],
    runs: int,
    cwd: Path | Sequence[Path],
    timeout: float | None = None,
) -> list[float]:
    """Median wall time of each command, run interleaved ``runs`` times.

    ``cwd`` is one directory for all commands or one per command. A command that exceeds
    ``timeout`` counts as ``timeout`` seconds (a lower bound).
    """
    cwds = [cwd] * len(commands) if isinstance(cwd, Path) else list(cwd)
    samples: list[list[float]] = [[] for _ in commands]
    env = dict(os.environ, NO_COLOR="1")
    for _ in range(runs):
        for i, cmd in enumerate(commands):
            start = time.perf_counter()
            try:
                subprocess.run(cmd, cwd=cwds[i], env=env, capture_output=True, check=False,
                               timeout=timeout)  # fmt: skip
            except subprocess.TimeoutExpired:
                samples[i].append(float(timeout or 0))
                continue
            samples[i].append(time.perf_counter() - start)
    return [statistics.median(s) for s in samples]


def peak_rss_mib(cmd: Sequence[str], cwd: Path) -> float:
    """Peak resident set size of ``cmd``: the largest of its process and its children.

    Measured through a small launcher process, because Linux carries a process's peak RSS
    across fork and exec: a child forked from this runner (which has onnxruntime loaded)
    would report the runner's peak, not its own.
    """
    launcher = (
        "import os, subprocess, sys\n"
        "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, "
        "stderr=subprocess.DEVNULL)\n"
        "print(os.wait4(p.pid, 0)[2].ru_maxrss)\n"
    )
    done = subprocess.run(
        ["/usr/bin/env", "python3", "-S", "-c", launcher, *cmd],
        cwd=cwd, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return int(done.stdout.strip()) / 1024
