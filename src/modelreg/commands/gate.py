"""``modelreg gate``: judge a candidate against production with the gates in model.yaml."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from modelreg.commands._options import add_output, add_root
from modelreg.errors import ModelregError, UsageError
from modelreg.gitops.fence import load_yaml
from modelreg.gitops.gates import evaluate, production_of

ORDER = 50  # place in `modelreg --help`

HELP = "judge a candidate against production with model.yaml's promotion gates"
DESCRIPTION = """\
Evaluate the promotion gates of models/MODEL/model.yaml for VERSION against the current
production version (or --against VERSION), side by side in one run: both artifacts are hashed
against their metadata, both are scored on the candidate's evaluation file, and, when a latency
gate is declared, both are timed interleaved with pinned sessions.

Gates (model.yaml `gates:`): min_accuracy, min_f1 (floors); max_accuracy_drop, max_f1_drop
(absolute drop against production); for a regressor min_r2, max_mae, max_rmse, max_r2_drop and
max_rmse_increase (relative); p99_latency_budget_ms; max_p99_regression (relative p99
slowdown against production). Exit 0 when every gate holds, 1 with the table when one fails.
`modelreg promote ... --env production` runs this first.

--base REF is CI's form (the pull request's base): the candidate is judged against the version
that is production in REF's model.yaml, not in the merge (which may already name the
candidate); with none there, the floors only. A version that was production at REF or in its
history was gated when it got there (a rollback, a redeploy): it passes without a run.
--print-against prints the version it would be compared with (empty for none), so CI can
fetch that version's LFS objects first.
"""
EPILOG = """\
examples:
  modelreg gate bert-classifier 1.2.0
  modelreg gate bert-classifier 1.2.0 --against 1.0.0 --runs 2000
  modelreg gate bert-classifier 1.2.0 --output json
  modelreg gate bert-classifier 1.2.0 --base origin/main --print-against
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
    p.add_argument(
        "--base",
        metavar="REF",
        help="judge against the production version of REF's model.yaml (CI: the PR's base)",
    )
    p.add_argument(
        "--print-against",
        action="store_true",
        help="with --base: print the version to compare with (empty: none) and exit",
    )
    add_output(p)
    add_root(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate the gates, print the table (or JSON), exit 1 if one fails."""
    if args.runs < 1:
        raise UsageError("--runs must be at least 1")
    root = args.root or Path.cwd()
    against, no_production = args.against, False
    gates_from: dict[str, Any] | None = None
    if args.base is not None:
        if args.against:
            raise UsageError("--base and --against are exclusive")
        gated, against = base_production(root, args.model, args.version, args.base)
        if args.print_against:
            sys.stdout.write(f"{'' if gated else against or ''}\n")
            return 0
        if gated:
            sys.stdout.write(
                f"{args.model} {args.version} was production at {args.base} or before: "
                "gated then; nothing to judge\n"
            )
            return 0
        no_production = against is None
        # The base's gates judge: a pull request must not loosen what it is judged by (a
        # model new in this pull request has no base card: its own gates judge, and its first
        # production line in overlays/ needs the release owners' review).
        gates_from = model_at(root, args.base, args.model)
    elif args.print_against:
        raise UsageError("--print-against needs --base REF")
    report = evaluate(
        root,
        args.model,
        args.version,
        runs=args.runs,
        against=against,
        no_production=no_production,
        gates_from=gates_from,
    )
    if args.output == "json":
        sys.stdout.write(json.dumps(report.to_json()) + "\n")
    else:
        sys.stdout.write(report.table() + "\n")
        verdict = "pass" if report.passed else "FAIL"
        sys.stderr.write(f"modelreg: gate {args.model}@{args.version}: {verdict}\n")
    return 0 if report.passed else 1


#: How far back in the base's history a version counts as gated (a rollback target).
MAX_HISTORY = 1000


def model_at(root: Path, rev: str, model: str) -> dict[str, Any] | None:
    """``models/<model>/model.yaml`` as it is at ``rev`` (None: absent or unreadable there)."""
    rel = f"models/{model}/model.yaml"
    proc = subprocess.run(
        ["git", "show", f"{rev}:{rel}"], cwd=root, capture_output=True, check=False
    )
    if proc.returncode != 0:
        return None  # the model did not exist there
    data, problems = load_yaml(proc.stdout, f"{rev}:{rel}")
    return data if isinstance(data, dict) and not problems else None


def _production_at(root: Path, rev: str, rel: str) -> str | None:
    data = model_at(root, rev, rel.split("/")[1])
    return production_of(data) if data is not None else None


def base_production(root: Path, model: str, version: str, base: str) -> tuple[bool, str | None]:
    """``(gated, against)``: whether ``version`` was production at ``base`` or in its history,
    and the production version of ``base``'s model.yaml (None: none).

    Only the base's history is read: a pull request cannot make its own version "gated".
    """
    rel = f"models/{model}/model.yaml"
    try:
        verify = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}"],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        raise UsageError("git is not installed; gate --base needs git") from None
    if verify.returncode != 0:
        raise UsageError(
            f"--base {base!r} is not a commit here (in CI, check out with fetch-depth: 0)"
        )
    sha = verify.stdout.strip()
    against = _production_at(root, sha, rel)
    if against == version:
        return True, against
    log = subprocess.run(
        ["git", "log", f"--max-count={MAX_HISTORY}", "--format=%H", sha, "--", rel],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if log.returncode != 0:
        raise ModelregError(f"git log {base} -- {rel} failed: {log.stderr.strip()}")
    for commit in log.stdout.split():
        if _production_at(root, commit, rel) == version:
            return True, against
    return False, against
