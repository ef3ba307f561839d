"""``modelreg promote``: one version to one environment, as one reviewable commit."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import sys
from pathlib import Path

from modelreg.commands._options import add_dry_run, add_root
from modelreg.errors import ModelregError, UsageError
from modelreg.git.repo import open_repo
from modelreg.gitops import PRODUCTION
from modelreg.gitops.promotion import (
    DEFAULT_SUPPORT_DAYS,
    commit_promotion,
    plan_promotion,
)
from modelreg.registry import find_root
from modelreg.render.regenerate import regenerate
from modelreg.storage import registry_lock

ORDER = 60  # place in `modelreg --help`

HELP = "promote a version to an environment (model.yaml lifecycle + overlay, one commit)"
DESCRIPTION = f"""\
Point ENV at MODEL VERSION: add its line to overlays/ENV/kustomization.yaml and point the
stable alias Service (overlays/ENV/MODEL.alias.yaml) at it. For production, the promotion
gates of model.yaml run first (`modelreg gate`), the version becomes `production` in
model.yaml's lifecycle, and the previous production version becomes `supported` (it keeps
running beside the new one) until --supported-until (default: today + {DEFAULT_SUPPORT_DAYS} days).

The change touches model.yaml and overlays/ENV/, and then the generated files they make stale
(the pages of `modelreg render`, version overlays of `modelreg overlays`) are rewritten under
the same lock, so the registry passes its own hooks. All of it is one commit; with --commit
modelreg makes it, with the trailer `Modelreg-Promotion: MODEL OLD->NEW ENV` that
`modelreg rollback` looks for. Merging that commit is the deploy.
"""
EPILOG = """\
examples:
  modelreg promote bert-classifier 1.2.0 --env staging --commit
  modelreg promote bert-classifier 1.2.0 --env production -n        # show the diff only
  modelreg promote bert-classifier 1.2.0 --env production --supported-until 2025-03-01 --commit
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``promote``."""
    p = subparsers.add_parser(
        "promote",
        help=HELP,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="model name")
    p.add_argument("version", help="the version to promote")
    p.add_argument("--env", required=True, help="environment (overlays/ENV), e.g. production")
    p.add_argument(
        "--supported-until",
        type=dt.date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="end of support of the replaced production version",
    )
    p.add_argument("--commit", action="store_true", help="make the git commit")
    p.add_argument(
        "--skip-gates",
        action="store_true",
        help="do not run the promotion gates (recorded in the commit as `Modelreg-Gates: skipped`)",
    )
    p.add_argument("--runs", type=int, default=1000, help="gate latency runs per version (1000)")
    add_dry_run(p, "print the diff, write nothing")
    add_root(p)
    p.set_defaults(handler=run)


def _run_gates(root: Path, model: str, version: str, runs: int) -> str:
    """Run the lead's promotion gates; the value of the ``Modelreg-Gates`` trailer."""
    # HOOK (issue #5 -> #3/#4): the gates live in modelreg.gitops.gates (`modelreg gate`); a
    # toolkit build without that module promotes with a warning instead of failing.
    if importlib.util.find_spec("modelreg.gitops.gates") is None:
        sys.stderr.write(
            "modelreg: warning: modelreg.gitops.gates is not available; gates not run\n"
        )
        return "unavailable"
    from modelreg.gitops.gates import evaluate

    report = evaluate(root, model, version, runs=runs)
    sys.stderr.write(report.table() + "\n")
    if not report.passed:
        raise ModelregError(
            f"{model} {version} fails its promotion gates (table above); fix the model or "
            "the gates in model.yaml, or promote with --skip-gates and say why in review"
        )
    return "passed"


def run(args: argparse.Namespace) -> int:
    """Plan the promotion, run the gates for production, write and optionally commit."""
    if args.runs < 1:
        raise UsageError("--runs must be at least 1")
    root = find_root(args.root or Path.cwd())
    change = plan_promotion(
        root, args.model, args.version, args.env, supported_until=args.supported_until
    )
    if not change.files:
        sys.stderr.write(f"modelreg: {args.model} {args.version} already in {args.env}\n")
        return 0
    if args.dry_run:
        sys.stdout.write(change.diff(root))
        sys.stderr.write(f"modelreg: dry run; would commit:\n{change.message('(not run)')}")
        return 0
    gates = "skipped" if args.skip_gates else "not required"
    if args.env == PRODUCTION and not args.skip_gates:
        gates = _run_gates(root, args.model, args.version, args.runs)
    repo = open_repo(root) if args.commit else None
    what = f"modelreg promote {args.model} {args.version} --env {args.env}"
    with registry_lock(root, what, args.settings):
        # Planned again under the lock: an interrupted write is finished by now and no other
        # writer can change the files between this plan and its write and commit.
        change = plan_promotion(
            root, args.model, args.version, args.env, supported_until=args.supported_until
        )
        if not change.files:
            sys.stderr.write(f"modelreg: {args.model} {args.version} already in {args.env}\n")
            return 0
        change.write(root)
        # Same lock: the pages and overlays committed are those of exactly this change.
        regenerated = regenerate(root)
        sha = commit_promotion(repo, change, gates, regenerated) if repo is not None else None
    if regenerated:
        names = ", ".join(p.relative_to(root).as_posix() for p in regenerated)
        sys.stderr.write(f"modelreg: regenerated {names}\n")
    if sha is not None:
        sys.stderr.write(f"modelreg: committed {sha[:12]}: {change.trailer}\n")
    else:
        changed = sorted({*change.files, *regenerated})
        paths = " ".join(p.relative_to(root).as_posix() for p in changed)
        sys.stderr.write(
            f"modelreg: promoted {args.model} {args.version} to {args.env}; commit it as one "
            f"commit:\n  git add -A -- {paths}\n  git commit -m 'Promote {args.model} "
            f"{args.version} to {args.env}' -m '{change.trailer}'\n"
        )
    return 0
