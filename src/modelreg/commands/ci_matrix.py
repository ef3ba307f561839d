"""``modelreg ci-matrix``: the versions CI must check, as a GitHub Actions matrix."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelreg.checks import ci
from modelreg.commands._options import add_output, add_root
from modelreg.errors import UsageError
from modelreg.registry import discover, find_root

ORDER = 80  # place in `modelreg --help`

HELP = "print a JSON matrix of changed versions (or of N balanced shards) for CI"
DESCRIPTION = """\
With --base REF: the versions that the change REF...HEAD touches, as a GitHub Actions matrix
`{"include": [{"name", "model", "version", "path", "lfs", "gate", "reasons"}, ...]}`. A version
is listed when a file in its directory changed ("changed"), when its model's shared data
changed ("data"), when model.yaml made it the production version ("promoted") or when an
environment overlay newly lists it ("deployed:ENV"); the last two set `gate: true`. `lfs` is
the `git lfs pull --include` pattern that fetches exactly what validating it reads.

With --shards N: the whole registry in N shards balanced by artifact size, as
`{"include": [{"name", "shard", "versions", "lfs", "bytes"}, ...]}`; check one shard with
`modelreg validate --shard i/N`. Empty shards are left out.

--output github prints `matrix=...` and `count=N` lines to append to $GITHUB_OUTPUT.
exit status: 0 printed (even an empty matrix), 2 usage error (e.g. REF not fetched).
"""
EPILOG = """\
examples:
  modelreg ci-matrix --base origin/main
  modelreg ci-matrix --base "$BASE_SHA" --output github >> "$GITHUB_OUTPUT"
  modelreg ci-matrix --shards 8
"""


@dataclass(frozen=True)
class Request:
    """A parsed ``ci-matrix`` invocation, runnable without argv."""

    base: str | None
    head: str
    shards: int | None
    output: str
    root: Path | None


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``ci-matrix``."""
    p = subparsers.add_parser(
        "ci-matrix",
        help=HELP,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--base", metavar="REF", help="list versions changed since REF")
    what.add_argument(
        "--shards", type=int, metavar="N", help="split the whole registry into N shards"
    )
    p.add_argument("--head", default="HEAD", metavar="REF", help="head revision (default HEAD)")
    add_output(
        p, ("json", "github"), help="json (default, one line) or github ($GITHUB_OUTPUT lines)"
    )
    add_root(p)
    p.set_defaults(handler=from_args)


def from_args(args: argparse.Namespace) -> int:
    """Build the request from parsed arguments and run it."""
    return execute(
        Request(
            base=args.base, head=args.head, shards=args.shards, output=args.output, root=args.root
        )
    )


def matrix(request: Request) -> dict[str, Any]:
    """The matrix object for ``request``."""
    registry = discover(find_root(request.root or Path.cwd()))
    if request.shards is not None:
        return {"include": ci.shard_matrix(registry, request.shards)}
    if request.base is None:
        raise UsageError("ci-matrix needs --base REF or --shards N")
    return {
        "include": [t.as_json() for t in ci.changed_targets(registry, request.base, request.head)]
    }


def execute(request: Request) -> int:
    """Print the matrix; return the exit code."""
    data = matrix(request)
    include = data["include"]
    text = json.dumps(data, separators=(",", ":"), sort_keys=True)
    if request.output == "github":
        from modelreg.reporters import github_output

        gates = sum(1 for entry in include if entry.get("gate"))
        # json.dumps keeps the matrix on one line (a newline in a name is "\\n"); the lines
        # also reach the job log (`| tee -a "$GITHUB_OUTPUT"`), where "##[" anywhere in a line
        # is a legacy workflow command: "#" only occurs inside JSON strings, so "\\u0023" is
        # the same JSON.
        matrix_json = text.replace("#", "\\u0023")
        sys.stdout.write(
            github_output("matrix", matrix_json)
            + github_output("count", str(len(include)))
            + github_output("gates", str(gates))
        )
    else:
        sys.stdout.write(text + "\n")
    n = len(include)
    sys.stderr.write(f"modelreg: ci-matrix: {n} entr{'ies' if n != 1 else 'y'}\n")
    return 0
