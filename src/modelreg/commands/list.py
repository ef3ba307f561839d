"""``modelreg list``: every version with status, release tag and environments."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from modelreg.catalog import Row, rows
from modelreg.registry import discover, find_root

ORDER = 40  # place in `modelreg --help`

HELP = "list versions with status, release tag and environments"
DESCRIPTION = """\
One line per version: model, version, lifecycle status, release tag (`-` when not tagged in
this clone), tag date and the environments that run it. Tags are read with one
`git for-each-ref`, so this stays fast with thousands of tags.
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``list``."""
    p = subparsers.add_parser("list", help=HELP, description=DESCRIPTION)
    p.add_argument("models", nargs="*", metavar="MODEL", help="only these models")
    p.add_argument("--output", choices=("text", "json"), default="text")
    p.add_argument("--root", type=Path, help="registry root (default: found from the cwd)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the table."""
    registry = discover(find_root(args.root or Path.cwd()))
    only: set[tuple[str, str | None]] | None = (
        {(m, None) for m in args.models} if args.models else None
    )
    found = rows(registry, only)
    write(found, args.output)
    return 0


def write(found: list[Row], output: str) -> None:
    """Rows as aligned text or as the versioned JSON document."""
    if output == "json":
        doc = {"version": 1, "versions": [r.as_json() for r in found]}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    table = [("MODEL", "VERSION", "STATUS", "TAG", "TAGGED", "ENVIRONMENTS")]
    for r in found:
        tag = r.tag if r.released else f"{r.tag} (untagged)" if r.tag else "-"
        table.append(
            (r.model, r.version, r.status or "-", tag or "-", r.tag_date or "-",
             ",".join(r.environments) or "-")
        )  # fmt: skip
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        sys.stdout.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        sys.stdout.write("\n")
