"""``modelreg validate``: prove that every version is what its metadata says."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from modelreg import reporters
from modelreg.checks import Options
from modelreg.registry import discover, find_root
from modelreg.runner import run as run_checks
from modelreg.runner import select

ORDER = 10  # place in `modelreg --help`

HELP = "check metadata, artifacts and the registry layout"
DESCRIPTION = """\
Check the registry (or only the given files and directories) and report every problem as
`path:line:col: RULE message`, sorted by file.

With no PATH, the whole registry that contains the current directory is checked. A
metadata.yaml, model.onnx or any other file inside a version directory selects that version;
models/<model>/model.yaml selects the model's lifecycle rules; a model directory selects the
model and all its versions. Files outside models/ select nothing, so hooks may pass any list.

exit status: 0 no errors (warnings allowed), 1 errors found, 2 usage error.
"""
EPILOG = """\
examples:
  modelreg validate                         # the whole registry, deep
  modelreg validate --fast                  # no artifact bytes: works on LFS pointers
  modelreg validate models/bert-classifier/1.1.0
  modelreg validate --select MR1 --output json
  modelreg validate --ignore MR509 --output github   # annotations in GitHub Actions

rules: docs/rules.md lists every rule id, what it checks and how to fix it.
"""


@dataclass(frozen=True)
class Request:
    """A parsed ``validate`` invocation, runnable without argv."""

    paths: tuple[Path, ...]
    root: Path | None
    fast: bool
    output: str
    select: tuple[str, ...]
    ignore: tuple[str, ...]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``validate``."""
    p = subparsers.add_parser(
        "validate",
        help=HELP,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="files or directories")
    p.add_argument(
        "--fast",
        action="store_true",
        help="skip everything that needs artifact bytes or onnx/onnxruntime "
        "(sizes and LFS pointer oids are still compared)",
    )
    p.add_argument(
        "--output",
        choices=reporters.OUTPUT_FORMATS,
        default="text",
        help="text (default), json (versioned report) or github (workflow annotations)",
    )
    p.add_argument(
        "--select",
        action="append",
        default=[],
        metavar="RULE",
        help="only these rules or prefixes (e.g. MR1, MR201); repeatable or comma-separated",
    )
    p.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="RULE",
        help="skip these rules or prefixes; repeatable or comma-separated",
    )
    p.add_argument(
        "--root", type=Path, help="registry root (default: found from the current directory)"
    )
    p.set_defaults(handler=from_args)


def _split(values: list[str]) -> tuple[str, ...]:
    return tuple(v.strip().upper() for item in values for v in item.split(",") if v.strip())


def from_args(args: argparse.Namespace) -> int:
    """Build the request from parsed arguments and run it."""
    select_rules = _split(args.select) or ("MR",)
    return execute(
        Request(
            paths=tuple(args.paths),
            root=args.root,
            fast=args.fast,
            output=args.output,
            select=select_rules,
            ignore=_split(args.ignore),
        )
    )


def execute(request: Request) -> int:
    """Run a validate request; print the report; return the exit code."""
    start = request.root or (request.paths[0] if request.paths else Path.cwd())
    registry = discover(find_root(start))
    selection = select(registry, request.paths)
    findings = run_checks(
        registry, selection, Options(fast=request.fast), request.select, request.ignore
    )
    if selection.whole:
        what = "registry"
    else:
        n = len(selection.versions)
        what = f"{n} version{'s' * (n != 1)}"
        if selection.models:
            m = len(selection.models)
            what += f", {m} model{'s' * (m != 1)}"
    if request.fast:
        what += " (fast)"
    reporters.report(findings, request.output, sys.stdout, sys.stderr, what)
    return 1 if reporters.status(findings) == "fail" else 0
