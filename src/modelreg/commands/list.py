"""``modelreg list``: every version with status, release tag and environments."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from modelreg.commands._options import add_output, add_root
from modelreg.git import gto
from modelreg.git.catalog import Row, rows
from modelreg.git.repo import GitError, open_repo
from modelreg.gitops.envs import environments_by_version
from modelreg.registry import Registry, discover, find_root

ORDER = 40  # place in `modelreg --help`

HELP = "list versions with status, release tag and environments"
DESCRIPTION = """\
One line per version: model, version, lifecycle status, release tag (`-` when not tagged in
this clone), tag date and the environments that run it; when GTO stage or deprecation tags
exist, also the GTO stages of each version as `gto show` reports them (docs/gto.md). Tags are
read with one `git for-each-ref` (two with GTO), so this stays fast with thousands of tags.
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``list``."""
    p = subparsers.add_parser("list", help=HELP, description=DESCRIPTION)
    p.add_argument("models", nargs="*", metavar="MODEL", help="only these models")
    add_output(p)
    add_root(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the table."""
    registry = discover(find_root(args.root or Path.cwd()))
    only: set[tuple[str, str | None]] | None = (
        {(m, None) for m in args.models} if args.models else None
    )
    found = rows(registry, environments_by_version(registry.root), only)
    write(found, args.output, gto_view(registry))
    return 0


#: (model, version) → (GTO stages, GTO status); empty when the repository has no GTO stage,
#: deregistration or deprecation tag.
GtoView = dict[tuple[str, str], tuple[list[str], str | None]]


def gto_view(registry: Registry) -> GtoView:
    """What GTO says about every version, or {} when GTO's tags say nothing beyond releases."""
    try:
        state = gto.read(open_repo(registry.root))
    except GitError:
        return {}
    if not any(
        a.stages_used or a.deprecations or a.deregistered() for a in state.artifacts.values()
    ):
        return {}
    view: GtoView = {}
    for model in registry.models.values():
        artifact = state.artifacts.get(model.name)
        if artifact is None:
            continue
        for version in model.versions:
            name = f"v{version}"
            view[(model.name, version)] = (artifact.stages_of(name), artifact.status_of(name))
    return view


def gto_text(view: GtoView, row: Row) -> str:
    """The GTO column: stages, else `deregistered`/`deprecated`, else `-`."""
    stages, status = view.get((row.model, row.version), ([], None))
    if stages:
        return ",".join(stages)
    return status if status in ("deregistered", "deprecated") else "-"


def write(found: list[Row], output: str, view: GtoView | None = None) -> None:
    """Rows as aligned text or as the versioned JSON document."""
    view = view or {}
    if output == "json":
        versions = []
        for r in found:
            stages, status = view.get((r.model, r.version), ([], None))
            versions.append({**r.as_json(), "gto_stages": stages, "gto_status": status})
        doc = {"version": 1, "versions": versions}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    head = ("MODEL", "VERSION", "STATUS", "TAG", "TAGGED", "ENVIRONMENTS")
    table = [(*head, "GTO") if view else head]
    for r in found:
        tag = r.tag if r.released else f"{r.tag} (untagged)" if r.tag else "-"
        cells = (r.model, r.version, r.status or "-", tag or "-", r.tag_date or "-",
                 ",".join(r.environments) or "-")  # fmt: skip
        table.append((*cells, gto_text(view, r)) if view else cells)
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        sys.stdout.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        sys.stdout.write("\n")
