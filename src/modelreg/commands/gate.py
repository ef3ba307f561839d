"""``modelreg gate``: judge a candidate against production with the gates in model.yaml."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from modelreg.errors import UsageError
from modelreg.gates import evaluate

ORDER = 50  # place in `modelreg --help`

HELP = "judge a candidate against production with model.yaml's promotion gates"
DESCRIPTION = """\
Evaluate the promotion gates of models/MODEL/model.yaml for VERSION against the current
production version (or --against VERSION), side by side in one run: both artifacts are hashed
against their metadata, both are scored on the candidate's evaluation file, and, when a latency
gate is declared, both are timed interleaved with pinned sessions.

Gates (model.yaml `gates:`): min_accuracy, min_f1 (floors); max_accuracy_drop, max_f1_drop
(absolute drop against production); p99_latency_budget_ms; max_p99_regression (relative p99
slowdown against production). Exit 0 when every gate holds, 1 with the table when one fails.
`modelreg promote ... --env production` runs this first.
"""
EPILOG = """\
examples:
  modelreg gate bert-classifier 1.2.0
  modelreg gate bert-classifier 1.2.0 --against 1.0.0 --runs 2000
  modelreg gate bert-classifier 1.2.0 --output json
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``gate``."""
    p = subparsers.add_parser(
        "gate",
        help=HELP,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="model name")
    p.add_argument("version", help="the candidate version")
    p.add_argument("--against", metavar="VERSION", help="compare with this version instead")
    p.add_argument("--runs", type=int, default=1000, help="timed runs per version (1000)")
    p.add_argument("--output", choices=("text", "json"), default="text")
    p.add_argument("--root", type=Path, help="registry root (default: found from cwd)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate the gates, print the table (or JSON), exit 1 if one fails."""
    if args.runs < 1:
        raise UsageError("--runs must be at least 1")
    report = evaluate(
        args.root or Path.cwd(), args.model, args.version, runs=args.runs, against=args.against
    )
    if args.output == "json":
        sys.stdout.write(json.dumps(report.to_json()) + "\n")
    else:
        sys.stdout.write(report.table() + "\n")
        verdict = "pass" if report.passed else "FAIL"
        sys.stderr.write(f"modelreg: gate {args.model}@{args.version}: {verdict}\n")
    return 0 if report.passed else 1
