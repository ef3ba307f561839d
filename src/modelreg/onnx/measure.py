"""Measuring versions from the parent side: latency and metrics, always in the isolated child.

``bench``, ``add``, ``gate`` and the deep latency check all measure through here, so a
figure in metadata, on the gate table and on the bench table is produced by one code path.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelreg import config
from modelreg.config import Settings
from modelreg.errors import ModelregError
from modelreg.onnx.isolate import current, run_child

#: Warm-up runs before timing, unless the caller says otherwise.
WARMUP = 50


@dataclass(frozen=True)
class LatencyTarget:
    """One model file and the golden input set to time it on."""

    label: str
    model: Path
    inputs: tuple[Path, ...]
    #: Also time each run on the thread's CPU clock (the deep latency check's statistic).
    cpu_time: bool = False


@dataclass(frozen=True)
class Timings:
    """One interleaved measurement: the machine, wall-clock results, CPU-time percentiles."""

    environment: dict[str, Any]
    #: Per target, what ``bench`` prints and ``add`` stores (wall clock).
    results: list[dict[str, Any]]
    #: Per target, ``{"p10_ms", "p50_ms", "p90_ms"}`` of CPU time, or None when the target did
    #: not ask or this platform's thread clock is too coarse.
    cpu: list[dict[str, float] | None]


def golden_inputs(set_dir: Path) -> tuple[Path, ...]:
    """``input_K.pb`` files of a vector set, in positional order."""
    found = [p for p in set_dir.glob("input_*.pb") if p.stem.split("_")[1].isdigit()]
    return tuple(sorted(found, key=lambda p: int(p.stem.split("_")[1])))


def show_progress(settings: Settings | None = None) -> bool:
    """Progress bars only on a terminal (``NO_PROGRESS``/``CI`` switch them off)."""
    if not config.or_env(settings).progress:
        return False
    return sys.stderr.isatty()


def latency(
    targets: list[LatencyTarget], runs: int, warmup: int = WARMUP
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Time ``targets`` interleaved in one child: (environment, one result per target)."""
    measured = timings(targets, runs, warmup)
    return measured.environment, measured.results


def timings(targets: list[LatencyTarget], runs: int, warmup: int = WARMUP) -> Timings:
    """Time ``targets`` interleaved in one child, with CPU time where a target asks for it."""
    if runs < 1 or warmup < 0:
        raise ModelregError("runs must be at least 1 and warm-up at least 0")
    pool = current()  # the command's pool carries the settings the command line read
    progress = show_progress(pool.settings if pool is not None else None)
    spec = {
        "targets": [
            {"model": str(t.model), "inputs": [str(p) for p in t.inputs], "cpu_time": t.cpu_time}
            for t in targets
        ],
        "runs": runs,
        "warmup": warmup,
        "progress": progress,
    }
    # Alone in the pool: a deep check on the other core would slow the timed calls.
    result = run_child("bench", targets[0].model, spec=spec, stream_stderr=progress, exclusive=True)
    if result.died or result.data is None:
        names = ", ".join(t.label for t in targets)
        raise ModelregError(f"latency of {names} not measured: {result.died or result.error}")
    data = result.data
    cpu = data.get("cpu") or [None] * len(targets)
    return Timings(data["environment"], list(data["results"]), list(cpu))


def scores(model: Path, data: Path, *, output: str, **how: Any) -> dict[str, Any]:
    """The metrics of ``model`` on the evaluation file ``data``, in a worker: accuracy and F1,
    or MAE, RMSE and R² (``how`` is :func:`modelreg.onnx.evaluation.metric_args`' answer)."""
    spec = {"data": str(data), "output": output, **how}
    result = run_child("evaluate", model, spec=spec)
    if result.died:
        raise ModelregError(f"{model}: evaluation died: {result.died}")
    if result.error is not None or result.data is None:
        raise ModelregError(f"{model}: cannot evaluate: {result.error}")
    return result.data
