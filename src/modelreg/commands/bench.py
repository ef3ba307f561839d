"""``modelreg bench``: latency of one or more versions, measured side by side."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from modelreg.commands._options import add_output, add_root
from modelreg.errors import ModelregError, UsageError
from modelreg.onnx.measure import LatencyTarget, golden_inputs, latency
from modelreg.registry import Registry, VersionEntry, discover, find_root

ORDER = 40  # place in `modelreg --help`

HELP = "measure latency of versions side by side (pinned, interleaved)"
DESCRIPTION = """\
Measure single-request latency (batch 1, the first row of each version's golden vector
set 0) with a pinned onnxruntime CPU session: 1 intra-op and 1 inter-op thread, sequential
execution, spinning off, full graph optimisation. After a warm-up, the versions run in turns,
one call each per round, so a noisy machine slows them alike: compare the ratio, not the
milliseconds, across machines. Percentiles are nearest-rank; MLPerf needs at least 662 runs
for a p99 estimate, the default is 1,000.

The machine and runtime fingerprint printed with the figures is what `metadata.yaml` stores
next to a latency claim: figures are only comparable on the same fingerprint.
"""
EPILOG = """\
examples:
  modelreg bench bert-classifier@1.1.0
  modelreg bench bert-classifier@1.0.0 bert-classifier@1.1.0 --runs 2000
  modelreg bench bert-classifier@1.1.0 --output json
"""


@dataclass(frozen=True)
class Request:
    """A parsed ``bench`` invocation."""

    targets: tuple[str, ...]
    runs: int
    warmup: int
    output: str
    root: Path | None


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``bench``."""
    p = subparsers.add_parser(
        "bench",
        help=HELP,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("targets", nargs="+", metavar="MODEL@VERSION")
    p.add_argument("--runs", type=int, default=1000, help="timed runs per version (1000)")
    p.add_argument("--warmup", type=int, default=50, help="untimed runs first (50)")
    add_output(p)
    add_root(p)
    p.set_defaults(handler=from_args)


def from_args(args: argparse.Namespace) -> int:
    """Build the request and run it."""
    return execute(Request(tuple(args.targets), args.runs, args.warmup, args.output, args.root))


def execute(request: Request) -> int:
    """Resolve targets, measure in the isolated child, print the table."""
    if request.runs < 1 or request.warmup < 0:
        raise UsageError("--runs must be at least 1 and --warmup at least 0")
    registry = discover(find_root(request.root or Path.cwd()))
    targets = [latency_target(registry, registry.version_at(t), t) for t in request.targets]
    env, results = latency(targets, request.runs, request.warmup)
    rows = [{"target": t, **r} for t, r in zip(request.targets, results, strict=True)]
    if request.output == "json":
        sys.stdout.write(json.dumps({"environment": env, "results": rows}) + "\n")
        return 0
    base = rows[0]["p50_ms"]
    lines = [
        "| Version | p50 ms | p90 ms | p99 ms | max ms | p50 ratio |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = row["p50_ms"] / base if base else float("nan")
        lines.append(
            f"| {row['target']} | {row['p50_ms']:.3f} | {row['p90_ms']:.3f} | "
            f"{row['p99_ms']:.3f} | {row['max_ms']:.3f} | {ratio:.3f} |"
        )
    lines.append("")
    lines.append(
        f"{request.runs} runs each after {request.warmup} warm-up, interleaved; batch 1; "
        f"{env['cpu']} ({', '.join(env['cpu_flags']) or 'no listed flags'}), onnxruntime "
        f"{env['onnxruntime']}, fingerprint {env['fingerprint']}"
    )
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def latency_target(registry: Registry, version: VersionEntry, label: str) -> LatencyTarget:
    """The artifact and golden input set 0 of a version, as a timing target."""
    meta = registry.metadata(version)
    if meta is None or "artifact" not in meta or not meta.get("test_vectors"):
        raise ModelregError(f"{label}: metadata is incomplete; run `modelreg validate`")
    set_dir = version.dir / meta["test_vectors"][0]["path"]
    inputs = golden_inputs(set_dir)
    if not inputs:
        raise ModelregError(f"{label}: {registry.rel(set_dir)} has no input_K.pb")
    return LatencyTarget(label, version.dir / meta["artifact"]["path"], inputs)
