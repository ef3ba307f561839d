"""Latency measured the same way every time, with the machine it was measured on.

Sessions are pinned (1 intra-op and 1 inter-op thread, sequential execution, spinning off,
full graph optimisation); after a warm-up, every version is timed once per round, round after
round, so a noisy neighbour slows all versions alike and their ratio stays meaningful.
Percentiles are nearest-rank. Runs inside the isolated child (:mod:`modelreg.onnx.worker`).

A target may also ask for each run's CPU time (``"cpu_time": true``): the thread's own clock,
which a busy machine does not advance while the run waits for a core. The stored figures stay
wall-clock (what a caller waits); the deep latency check compares CPU time, which is what a
slower artifact changes and a noisy neighbour mostly does not.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelreg.onnx.session import cpu_session

#: CPU flags that change ONNX Runtime's kernels, hence timings.
RELEVANT_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
    "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16", "asimd", "sve",
)  # fmt: skip


def nearest_rank(sorted_values: Sequence[float], percent: float) -> float:
    """The nearest-rank percentile of already sorted values (``percent`` in (0, 100])."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, math.ceil(percent / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def environment() -> dict[str, Any]:
    """CPU model, relevant flags, cores, runtime versions, and a fingerprint over them."""
    from modelreg.onnx.session import onnxruntime_module

    ort = onnxruntime_module()

    cpu, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and cpu in ("", platform.machine()):
                cpu = value.strip()
            elif key.strip() in ("flags", "Features"):
                flags.update(value.split())
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cpu_flags": [f for f in RELEVANT_FLAGS if f in flags],
        "cores": os.cpu_count() or 1,
        "onnxruntime": ort.__version__,
        "python": platform.python_version(),
        "platform": f"{platform.system()}-{platform.machine()}",
    }
    comparable = {k: info[k] for k in ("cpu", "cpu_flags", "onnxruntime", "platform")}
    digest = hashlib.sha256(json.dumps(comparable, sort_keys=True).encode()).hexdigest()
    return {"fingerprint": digest[:16], **info}


class _Progress:
    """A one-line bar on stderr, redrawn at most 20 times a second."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label, self.last = total, label, 0

    def update(self, done: int) -> None:
        now = time.monotonic_ns()
        if done != self.total and now - self.last < 50_000_000:
            return
        self.last = now
        width = 30
        filled = width * done // self.total
        bar = "#" * filled + "-" * (width - filled)
        sys.stderr.write(f"\r{self.label} [{bar}] {done}/{self.total}")
        if done == self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def thread_clock_is_precise() -> bool:
    """Whether the per-thread CPU clock can time one run (Linux, macOS: 1 ns; Windows ticks
    at about 15 ms, too coarse for a run of a few milliseconds)."""
    try:
        return time.get_clock_info("thread_time").resolution <= 1e-6
    except (AttributeError, ValueError, OSError):  # a platform without the clock
        return False


def measure(
    targets: list[dict[str, Any]], runs: int, warmup: int, progress: bool = False
) -> dict[str, Any]:
    """Time each target (``{"model": path, "inputs": [pb paths]}``) interleaved.

    ``"cpu"`` in the answer holds, per target, the CPU-time percentiles of the same runs when
    the target asked for them (``"cpu_time": true``) and the clock is precise, else None.
    """
    import numpy as np
    import onnx
    from onnx import numpy_helper

    prepared = []
    for target in targets:
        session = cpu_session(Path(target["model"]), pinned=True)
        feeds = {}
        for arg, pb in zip(session.get_inputs(), target["inputs"], strict=True):
            tensor = onnx.TensorProto()
            tensor.ParseFromString(Path(pb).read_bytes())
            array = numpy_helper.to_array(tensor)
            feeds[arg.name] = np.ascontiguousarray(array[:1]) if array.ndim else array
        prepared.append((session, feeds))
    for _ in range(warmup):
        for session, feeds in prepared:
            session.run(None, feeds)
    samples: list[list[int]] = [[] for _ in prepared]
    cpu_samples: list[list[int]] = [[] for _ in prepared]
    precise = thread_clock_is_precise()
    # Reading the thread clock costs a system call (about 0.9 us on a KVM guest); only
    # targets that asked pay for it. The wall span is the same in both branches, and the same
    # as a plain loop's (``t0 = perf_counter_ns(); session.run(None, feeds); t1``): the
    # thread-clock reads sit outside it (inside it they added 1.7% to the wall p50 of this
    # repository's 0.19 ms model; outside, 0.5%), and the CPU span adds only the wall reads.
    want_cpu = [precise and bool(target.get("cpu_time")) for target in targets]
    clock, thread_clock = time.perf_counter_ns, time.thread_time_ns
    bar = _Progress(runs, f"timing {len(prepared)} version(s)") if progress else None
    for done in range(1, runs + 1):
        for i, (session, feeds) in enumerate(prepared):
            if want_cpu[i]:
                cpu_start = thread_clock()
                start = clock()
                session.run(None, feeds)
                end = clock()
                cpu_samples[i].append(thread_clock() - cpu_start)
                samples[i].append(end - start)
            else:
                start = clock()
                session.run(None, feeds)
                samples[i].append(clock() - start)
        if bar is not None:
            bar.update(done)
    cpu: list[dict[str, float] | None] = []
    for wanted, ns in zip(want_cpu, cpu_samples, strict=True):
        if not wanted:
            cpu.append(None)
            continue
        ms = sorted(v / 1e6 for v in ns)
        cpu.append(
            {
                "p10_ms": round(nearest_rank(ms, 10), 4),
                "p50_ms": round(nearest_rank(ms, 50), 4),
                "p90_ms": round(nearest_rank(ms, 90), 4),
            }
        )
    results = []
    for (_, feeds), ns in zip(prepared, samples, strict=True):
        ms = sorted(v / 1e6 for v in ns)
        results.append(
            {
                "p50_ms": round(nearest_rank(ms, 50), 4),
                "p90_ms": round(nearest_rank(ms, 90), 4),
                "p99_ms": round(nearest_rank(ms, 99), 4),
                "max_ms": round(ms[-1], 4),
                "runs": runs,
                "warmup": warmup,
                "batch_size": 1,
                "input_shapes": {k: list(v.shape) for k, v in feeds.items()},
                "session": {
                    "intra_op_threads": 1,
                    "inter_op_threads": 1,
                    "graph_optimization": "all",
                },
            }
        )
    return {"environment": environment(), "results": results, "cpu": cpu}
