"""``modelreg rollback``: revert the last promotion of a model in an environment."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from modelreg.commands._options import add_dry_run, add_root
from modelreg.git.repo import open_repo
from modelreg.gitops.promotion import (
    PromotionCommit,
    check_clean_revert,
    last_promotion,
    revert,
)
from modelreg.registry import find_root
from modelreg.render.regenerate import is_generated, regenerate
from modelreg.storage import registry_lock

ORDER = 61  # place in `modelreg --help`

HELP = "roll back the last promotion of a model in an environment (git revert)"
DESCRIPTION = """\
Find the newest commit with the trailer `Modelreg-Promotion: MODEL OLD->NEW ENV` that is not
reverted yet and revert it in one commit: model.yaml's lifecycle and overlays/ENV/ return to
exactly what they were, so the rendered manifests (and Flux's or Argo CD's inventory) do too.
The generated pages the promotion commit also changed are not reverted but regenerated (as
`modelreg render` would), so the rollback commit passes the registry's hooks even after other
promotions changed the same page. Refuses, changing nothing, when later commits touched the
same lines of model.yaml or overlays/ENV/ (not a clean revert); then promote the version you
want with `modelreg promote`.
"""
EPILOG = """\
examples:
  modelreg rollback bert-classifier --env production -n   # which commit, and is it clean?
  modelreg rollback bert-classifier --env production
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``rollback``."""
    p = subparsers.add_parser(
        "rollback",
        help=HELP,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="model name")
    p.add_argument("--env", required=True, help="environment (overlays/ENV), e.g. production")
    add_dry_run(p, "say what would be reverted")
    add_root(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Revert the newest promotion of MODEL to ENV."""
    root = find_root(args.root or Path.cwd())
    repo = open_repo(root)
    if args.dry_run:
        commit = last_promotion(repo, args.model, args.env)
        check_clean_revert(repo, commit, root, is_generated)
        sys.stdout.write(f"would revert {_what(commit)}\n")
        return 0
    with registry_lock(root, f"modelreg rollback {args.model} --env {args.env}", args.settings):
        commit = last_promotion(repo, args.model, args.env)  # after an interrupted write
        sha = revert(repo, commit, root, is_generated=is_generated, regenerate=regenerate)
    sys.stderr.write(f"modelreg: reverted {_what(commit)} in {sha[:12]}\n")
    return 0


def _what(commit: PromotionCommit) -> str:
    return f"{commit.sha[:12]} {commit.subject} ({commit.model} {commit.new} -> {commit.old})"
