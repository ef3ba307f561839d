"""``modelreg validate``: prove that every version is what its metadata says."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from modelreg import reporters
from modelreg.checks import Options
from modelreg.checks.cache import DeepCache
from modelreg.checks.runner import Selection, select
from modelreg.checks.runner import run as run_checks
from modelreg.commands._options import add_output, add_root
from modelreg.config import Settings, or_env
from modelreg.errors import UsageError
from modelreg.findings import Finding
from modelreg.onnx import isolate
from modelreg.registry import Registry, discover, find_root
from modelreg.treefs import Refused, symlink_finding

ORDER = 10  # place in `modelreg --help`

HELP = "check metadata, artifacts and the registry layout"
DESCRIPTION = """\
Check the registry (or only the given files and directories) and report every problem as
`path:line:col: RULE message`, sorted by file.

With no PATH, the whole registry that contains the current directory is checked. A
metadata.yaml, model.onnx or any other file inside a version directory selects that version;
models/<model>/model.yaml selects the model's lifecycle rules; a model directory selects the
model and all its versions. Files outside models/ select nothing; PATHs that together select
nothing at all are a usage error, never a pass of 0 versions. A PATH that is a symlink, or
lies under one, is reported (MR006, whatever --select says) and never followed.

exit status: 0 no errors (warnings allowed), 1 errors found, 2 usage error.
"""
EPILOG = """\
examples:
  modelreg validate                         # the whole registry, deep
  modelreg validate --fast                  # no artifact bytes: works on LFS pointers
  modelreg validate models/bert-classifier/1.1.0
  modelreg validate --select MR1 --output json
  modelreg validate --ignore MR509 --output github   # annotations in GitHub Actions
  modelreg validate --shard 2/8 --output github --summary "$GITHUB_STEP_SUMMARY"

Deep checks that passed are remembered by content in .git/modelreg-cache/ (docs/hooks.md):
an unchanged version is not re-run; --no-cache (or MODELREG_NO_CACHE=1) runs everything.
Deep checks run in warm, isolated worker processes, one per core (--jobs N); a worker that
crashes, hangs or runs out of memory on a version is replaced and that version gets MR902.

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
    shard: str | None = None
    summary: Path | None = None
    cache: bool = True
    jobs: int | None = None
    #: What the environment says (:mod:`modelreg.config`); None: read it when run.
    settings: Settings | None = None


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
    add_output(p, reporters.OUTPUT_FORMATS, help=reporters.OUTPUT_HELP)
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
    add_root(p)
    p.add_argument(
        "--shard",
        metavar="I/N",
        help="check only shard I of N (versions balanced by artifact size; see ci-matrix)",
    )
    p.add_argument(
        "--summary",
        type=Path,
        metavar="FILE",
        help="also append a Markdown summary to FILE (e.g. $GITHUB_STEP_SUMMARY)",
    )
    p.add_argument(
        "--no-cache",
        dest="cache",
        action="store_false",
        help="re-run deep checks even where a pass on the same bytes is cached",
    )
    p.add_argument(
        "-j",
        "--jobs",
        type=_jobs,
        metavar="N",
        help="deep-check N versions at a time in warm worker processes (default: one per "
        "core; fewer run when their models are large for the machine's memory). The report "
        "is the same for every N",
    )
    p.set_defaults(handler=from_args)


def _jobs(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of workers >= 1")
    return int(text)


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
            shard=args.shard,
            summary=args.summary,
            cache=args.cache,
            jobs=args.jobs,
            settings=getattr(args, "settings", None),
        )
    )


def split_links(registry: Registry, paths: Sequence[Path]) -> tuple[list[Finding], list[Path]]:
    """MR006 for every PATH that is, or lies under, a symlink in the registry; and the paths
    to select from (lexically normalised, so that selecting never resolves through a link).

    A link inside a real version directory (``models/m/1.0.0/model.onnx``) still selects that
    version, whose checks report the link too; a linked version or model directory selects
    nothing: nothing behind it belongs to the registry.
    """
    tree = registry.tree
    links: list[Finding] = []
    kept: list[Path] = []
    for raw in paths:
        full = Path(os.path.normpath(Path.cwd() / raw))
        try:
            found = tree.symlink_on(full)
        except Refused:
            kept.append(raw)  # outside the registry: select() says so
            continue
        if found is None:
            kept.append(full)
            continue
        links.append(symlink_finding(*found))
        parts = found[0].split("/")
        if len(parts) > 3 and parts[0] == "models":
            kept.append(registry.root.joinpath(*parts[:3]))
    return links, kept


def execute(request: Request) -> int:
    """Run a validate request; print the report; return the exit code."""
    start = request.root or (request.paths[0] if request.paths else Path.cwd())
    registry = discover(find_root(start))
    links: list[Finding] = []
    if request.shard is not None:
        from modelreg.checks import ci  # only sharded and summarised runs need it (~45 ms)

        if request.paths:
            raise UsageError("--shard checks a part of the whole registry; give no PATH with it")
        selection = ci.shard_selection(registry, *ci.parse_shard(request.shard))
    else:
        links, paths = split_links(registry, request.paths)
        # No PATH means the whole registry; PATHs that were all links select nothing else.
        selection = select(registry, paths) if paths or not request.paths else Selection()
        if request.paths and not selection and not links:
            named = ", ".join(str(p) for p in request.paths)
            raise UsageError(
                f"nothing to validate: {named} is no model, version or file of one under "
                "models/ (give a version directory or a file in it, a model directory, "
                "models/<model>/model.yaml, or no PATH for the whole registry)"
            )
    settings = or_env(request.settings)
    cache = (
        DeepCache.for_registry(registry.root, settings)
        if request.cache and not request.fast
        else None
    )
    with isolate.workers(request.jobs, settings):
        findings = run_checks(
            registry,
            selection,
            Options(fast=request.fast, settings=settings),
            request.select,
            request.ignore,
            cache=cache,
        )
    if links:
        # Never filtered by --select: a named path that is a link was not checked at all.
        findings = sorted(set(findings) | set(links), key=Finding.sort_key)
    if selection.whole:
        what = "registry"
    else:
        n = len(selection.versions)
        what = f"{n} version{'s' * (n != 1)}"
        if selection.models:
            m = len(selection.models)
            what += f", {m} model{'s' * (m != 1)}"
    if request.shard is not None:
        what += f", shard {request.shard}"
    if request.fast:
        what += " (fast)"
    if cache is not None and cache.hits:
        what += f", {cache.hits} cached"
    reporters.report(findings, request.output, sys.stdout, sys.stderr, what, settings)
    if request.summary is not None:
        from modelreg.checks import ci

        ci.append_summary(request.summary, findings, what)
    return 1 if reporters.status(findings) == "fail" else 0
