"""``modelreg plan``: what merging would deploy, rendered and diffed per environment."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from modelreg.commands._options import add_dry_run, add_output, add_root
from modelreg.git.repo import open_repo
from modelreg.gitops.plan import make_plan, to_json, to_markdown, to_text
from modelreg.registry import find_root

ORDER = 63  # place in `modelreg --help`

HELP = "render every environment at two revisions and show added, changed, pruned objects"
DESCRIPTION = """\
Render overlays/<env> for every environment at --base (default HEAD) and at --head (default:
the work tree) with plain kustomize, and print the objects a merge would add, change or prune
(Flux and Argo CD identify objects by group, kind, namespace and name), a unified diff of each
changed object, and, for each alias that moves to another version, the recorded accuracy, F1
and p99 latency of both versions. Nothing is written; revisions are exported with `git archive`.

exit status: 0 no change, 1 changes (like `git diff --exit-code`), 2 usage error.
"""
EPILOG = """\
examples:
  modelreg plan                                        # HEAD vs the work tree
  modelreg plan --base origin/main --head HEAD --output markdown > plan.md   # PR comment
  modelreg plan --base HEAD~1 --head HEAD --output json
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``plan``."""
    p = subparsers.add_parser(
        "plan",
        help=HELP,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--base", default="HEAD", help="base revision (default HEAD)")
    p.add_argument("--head", help="head revision (default: the work tree)")
    add_output(p, ("text", "markdown", "json"))
    add_dry_run(p, "accepted for symmetry; plan never writes")
    add_root(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Make the plan and print it; exit 1 when anything would change."""
    root = find_root(args.root or Path.cwd())
    repo = open_repo(root)
    plan = make_plan(repo, root.resolve(), args.base, args.head, args.settings)
    if args.output == "json":
        sys.stdout.write(json.dumps(to_json(plan), indent=2) + "\n")
    elif args.output == "markdown":
        sys.stdout.write(to_markdown(plan))
    else:
        sys.stdout.write(to_text(plan))
    return 1 if plan.changes else 0
