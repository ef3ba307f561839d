"""The latency check (MR407) under load: false fails on an unchanged model, detections of a 2x one.

The claim is measured here, in-process, the way ``modelreg add`` measures it (one child,
``--runs`` runs after 50 warm-up, wall clock), on a quiet machine, so its fingerprint is this
machine's. Then CPU burners start (``--burners``, default one per core, each a Python process
spinning) and the check's own decision (:func:`modelreg.checks.latency.judge`, fed by the same
re-measurement the check runs) is asked ``--trials`` times about the unchanged model and
``--slow-trials`` times about a variant that runs the same graph twice. The previous rule
(wall-clock median above ``p99 * 1.5 + 1 ms`` twice in a row) is judged on the same
measurements, for comparison.

    python benchmarks/latency_noise.py                    # 30 + 30 trials, 2 burners
    python benchmarks/latency_noise.py --trials 5 --slow-trials 5 --burners 0

Prints a Markdown summary (docs/latency-check.md records one). Not part of ``benchmarks/run.py``:
it loads the machine on purpose.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import onnx

from modelreg.checks.latency import (
    ATTEMPTS,
    DEFAULT_TOLERANCE,
    DEFAULT_TOLERANCE_MS,
    Remeasure,
    claimed_median,
    judge,
    limit_ms,
)
from modelreg.onnx.measure import LatencyTarget, golden_inputs, latency, timings

ROOT = Path(__file__).resolve().parents[1]
MODEL = "bert-classifier"
#: The rule before this change, for comparison: wall median vs p99 * 1.5 + 1 ms, twice.
OLD_TOLERANCE, OLD_SLACK_MS, OLD_ATTEMPTS = 0.5, 1.0, 2


def twice_as_slow(source: Path, target: Path) -> None:
    """``source`` with a second, renamed copy of its graph whose outputs are also outputs.

    Every node and initializer is duplicated under a ``dup_`` prefix and fed the same graph
    inputs, so a run does the model's work twice; the copy's own weights keep onnxruntime from
    merging the two (common-subexpression elimination matches inputs, not values).
    """
    model = onnx.load(str(source))
    graph = model.graph
    inputs = {i.name for i in graph.input}

    def renamed(name: str) -> str:
        return name if not name or name in inputs else f"dup_{name}"

    copies = []
    for node in graph.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copy.name = f"dup_{node.name}" if node.name else ""
        copy.input[:] = [renamed(n) for n in node.input]
        copy.output[:] = [renamed(n) for n in node.output]
        copies.append(copy)
    tensors = []
    for tensor in graph.initializer:
        copy_t = onnx.TensorProto()
        copy_t.CopyFrom(tensor)
        copy_t.name = renamed(tensor.name)
        tensors.append(copy_t)
    outputs = []
    for output in graph.output:
        copy_o = onnx.ValueInfoProto()
        copy_o.CopyFrom(output)
        copy_o.name = renamed(output.name)
        outputs.append(copy_o)
    graph.node.extend(copies)
    graph.initializer.extend(tensors)
    graph.output.extend(outputs)
    onnx.checker.check_model(model)
    onnx.save(model, str(target))


@dataclass
class Trial:
    """Re-measurements taken lazily and shared by the two rules judged on them."""

    target: LatencyTarget
    runs: int
    taken: list[Remeasure] = field(default_factory=list)

    def stream(self) -> Iterator[Remeasure]:
        index = 0
        while True:
            if index == len(self.taken):
                measured = timings([self.target], self.runs)
                cpu = measured.cpu[0]
                self.taken.append(
                    Remeasure(
                        None if cpu is None else float(cpu["p50_ms"]),
                        float(measured.results[0]["p50_ms"]),
                    )
                )
            yield self.taken[index]
            index += 1


def old_rule(trial: Trial, p99_ms: float) -> bool:
    """The previous decision: the wall median above ``p99 * 1.5 + 1 ms`` twice in a row."""
    limit = p99_ms * (1 + OLD_TOLERANCE) + OLD_SLACK_MS
    stream = trial.stream()
    return all(next(stream).wall_p50_ms > limit for _ in range(OLD_ATTEMPTS))


@dataclass
class Tally:
    """Failures of both rules over a series of trials."""

    label: str
    trials: int = 0
    new_fails: int = 0
    old_fails: int = 0
    measurements: int = 0
    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)

    def add(self, trial: Trial, new: bool, old: bool) -> None:
        self.trials += 1
        self.new_fails += new
        self.old_fails += old
        self.measurements += len(trial.taken)
        first = trial.taken[0]
        self.cpu.append(first.median_ms)
        self.wall.append(first.wall_p50_ms)


def run_series(
    label: str, target: LatencyTarget, n: int, runs: int, claim: dict[str, float]
) -> Tally:
    tally = Tally(label)
    _field, claimed = claimed_median(claim)
    limit = limit_ms(claimed, DEFAULT_TOLERANCE, DEFAULT_TOLERANCE_MS)
    for i in range(n):
        trial = Trial(target, runs)
        new = judge(limit, trial.stream()).failed
        old = old_rule(trial, claim["p99_ms"])
        tally.add(trial, new, old)
        sys.stderr.write(
            f"\r{label}: {i + 1}/{n} trials, new rule failed {tally.new_fails}, "
            f"old rule failed {tally.old_fails}"
        )
        sys.stderr.flush()
    sys.stderr.write("\n")
    return tally


def start_burners(count: int) -> list[subprocess.Popen[bytes]]:
    spin = "while True:\n    pass\n"
    return [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(count)]


def _range(values: Sequence[float]) -> str:
    ordered = sorted(values)
    return f"{ordered[0]:.3f}-{ordered[-1]:.3f} (median {ordered[len(ordered) // 2]:.3f})"


def main(argv: Sequence[str] | None = None) -> int:
    """Measure the claim quietly, then judge the unchanged and the 2x model under load."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--version", default="1.1.0", help="bert-classifier version")
    parser.add_argument("--trials", type=int, default=30, help="trials on the unchanged model")
    parser.add_argument("--slow-trials", type=int, default=30, help="trials on the 2x model")
    parser.add_argument("--burners", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--runs", type=int, default=1000, help="runs per measurement")
    args = parser.parse_args(argv)

    vdir = ROOT / "models" / MODEL / args.version
    inputs = golden_inputs(vdir / "test_data_set_0")
    started, load_before = time.monotonic(), os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="latency-noise-") as scratch:
        slow_path = Path(scratch) / "model-x2.onnx"
        twice_as_slow(vdir / "model.onnx", slow_path)
        same = LatencyTarget(MODEL, vdir / "model.onnx", inputs, cpu_time=True)
        slow = LatencyTarget(f"{MODEL} x2", slow_path, inputs, cpu_time=True)
        # The claim, as `modelreg add` measures it: quiet machine, wall clock, one child.
        _env, (claim,) = latency([LatencyTarget(MODEL, vdir / "model.onnx", inputs)], args.runs)
        quiet = timings([same, slow], args.runs)
        assert quiet.cpu[0] is not None and quiet.cpu[1] is not None
        ratio = quiet.cpu[1]["p50_ms"] / quiet.cpu[0]["p50_ms"]
        _field, claimed = claimed_median(claim)
        limit = limit_ms(claimed, DEFAULT_TOLERANCE, DEFAULT_TOLERANCE_MS)
        burners = start_burners(args.burners)
        try:
            time.sleep(1.0)  # let the burners take their cores
            unchanged = run_series("unchanged", same, args.trials, args.runs, claim)
            doubled = run_series("2x slower", slow, args.slow_trials, args.runs, claim)
            load_during = os.getloadavg()[0]
        finally:
            for proc in burners:
                proc.kill()
                proc.wait()
    elapsed = time.monotonic() - started
    command = "python benchmarks/latency_noise.py" + (
        " " + shlex.join(sys.argv[1:]) if sys.argv[1:] else ""
    )
    old_limit = claim["p99_ms"] * (1 + OLD_TOLERANCE) + OLD_SLACK_MS
    lines = [
        f"`{command}` ({elapsed:.0f} s; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, {args.burners} burner(s); 1-minute load average "
        f"{load_before:.2f} before, {load_during:.2f} at the end)",
        "",
        f"- claim measured quietly ({args.runs} runs, wall clock): p50 {claim['p50_ms']} ms, "
        f"p99 {claim['p99_ms']} ms",
        f"- the 2x variant's CPU-time median is {ratio:.2f}x the model's (quiet, same child)",
        f"- new rule: median CPU time > {limit:.4f} ms (p50 + {DEFAULT_TOLERANCE:.0%} + "
        f"{DEFAULT_TOLERANCE_MS:g} ms) in each of {ATTEMPTS} measurements",
        f"- old rule: median wall time > {old_limit:.4f} ms (p99 + {OLD_TOLERANCE:.0%} + "
        f"{OLD_SLACK_MS:g} ms) in each of {OLD_ATTEMPTS} measurements",
        "",
        "| Model under load | Trials | New rule fails | Old rule fails | Measurements "
        "| First CPU median ms | First wall median ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for tally in (unchanged, doubled):
        if not tally.trials:
            continue
        lines.append(
            f"| {tally.label} | {tally.trials} | {tally.new_fails} | {tally.old_fails} | "
            f"{tally.measurements} | {_range(tally.cpu)} | {_range(tally.wall)} |"
        )
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
