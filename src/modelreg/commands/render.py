"""``modelreg render``: write the registry page, the model cards and the development guide."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from modelreg import render as generated
from modelreg import reporters
from modelreg.checks import Options
from modelreg.checks.runner import run as run_checks
from modelreg.checks.runner import select
from modelreg.commands._options import add_dry_run, add_output, add_root
from modelreg.errors import UsageError
from modelreg.registry import discover, find_root
from modelreg.render import blocks, site
from modelreg.render.asof import parse_date
from modelreg.storage import registry_lock, write_all, write_atomic

ORDER = 40  # place in `modelreg --help`

HELP = "write MODEL_REGISTRY.md, docs/models/<model>.md and docs/DEVELOPMENT.md"
DESCRIPTION = """\
Generate the registry page (MODEL_REGISTRY.md), one model card per model
(docs/models/<model>.md) and the development guide (docs/DEVELOPMENT.md) from models/,
the environment overlays, the rule catalog and the schemas. The output is byte-identical on
every run and machine: support windows are judged against the date of the HEAD commit
(override with --today or SOURCE_DATE_EPOCH), and no figure is measured here.

With --site DIR it builds the static catalog site instead (docs/site.md): HTML pages, one
CSS file, one small script and catalog.json, from the registry at HEAD and its git history;
the tree must pass `validate --fast` first, and the whole site replaces DIR at once.

exit status: 0 done (or, with --check, everything current), 1 --check found a stale file
or a merge conflict, or --site found a tree that fails `validate --fast` (nothing written),
2 usage error.
"""
EPILOG = """\
examples:
  modelreg render                  # rewrite what changed
  modelreg render --check          # CI: a unified diff and exit 1 when a file is stale
  modelreg render -n               # the diff of what would be written; writes nothing
  modelreg render --check --output json
  modelreg render --merge-driver %O %A %B %P   # as git's merge driver (see docs/DEVELOPMENT.md)
  modelreg render --site _site     # the static catalog site; open _site/index.html
  modelreg render --site _site -n --output json   # the files it would write
"""


@dataclass(frozen=True)
class Request:
    """A parsed ``render`` invocation."""

    root: Path | None
    check: bool
    dry_run: bool
    output: str
    today: str | None


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``render``."""
    p = subparsers.add_parser(
        "render",
        help=HELP,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="write nothing; print a unified diff of every stale file and exit 1 if any",
    )
    add_dry_run(p, "print what would change; write nothing")
    add_output(
        p, help="text (diffs) or json ({version, status, files: [{path, status}]}) on stdout"
    )
    p.add_argument(
        "--today",
        metavar="YYYY-MM-DD",
        help="judge support windows as of this date instead of HEAD's commit date",
    )
    add_root(p)
    p.add_argument(
        "--merge-driver",
        nargs="+",
        metavar="FILE",
        help="act as git's merge driver: BASE OURS THEIRS [PATH]; writes the merge into OURS",
    )
    p.add_argument(
        "--site",
        type=Path,
        metavar="DIR",
        help="build the static catalog site into DIR (replaced as a whole) instead",
    )
    p.add_argument(
        "--artifact-url",
        metavar="TEMPLATE",
        help="with --site: download URL of an artifact, with {model} {version} {path} {commit} "
        "(default: GitHub's raw URL when origin is on GitHub)",
    )
    p.set_defaults(handler=from_args)


def from_args(args: argparse.Namespace) -> int:
    """Build the request from parsed arguments and run it."""
    if args.merge_driver is not None:
        if len(args.merge_driver) not in (3, 4):
            raise UsageError("--merge-driver takes BASE OURS THEIRS [PATH] (git's %O %A %B %P)")
        return merge_driver(*(Path(p) for p in args.merge_driver[:3]))
    if args.site is not None or args.artifact_url is not None:
        if args.site is None:
            raise UsageError("--artifact-url needs --site DIR")
        if args.check:
            raise UsageError("--check and --site cannot be combined (the site is not committed)")
        return execute_site(
            SiteRequest(
                args.root, args.site, args.dry_run, args.output, args.today, args.artifact_url
            )
        )
    return execute(Request(args.root, args.check, args.dry_run, args.output, args.today))


def execute(request: Request) -> int:
    """Render, then write, check or show; return the exit code."""
    today = parse_date(request.today) if request.today else None
    root = request.root or find_root(Path.cwd())
    if not (root / "models").is_dir():
        raise UsageError(f"{root} has no models/ directory; is it a registry?")
    write = not (request.check or request.dry_run)
    # A write renders under the registry lock, so it sees the registry after an interrupted
    # write was finished; --check and -n take no lock and write nothing.
    with registry_lock(root, "modelreg render") if write else nullcontext():
        return _execute(request, root, today, write=write)


def _execute(request: Request, root: Path, today: dt.date | None, *, write: bool) -> int:
    states = generated.states(root, generated.render(root, today))
    changed = [s for s in states if not s.current]
    if request.output == "json":
        status = "stale" if changed and request.check else "ok"
        report = {
            "version": 1,
            "status": status,
            "files": [{"path": s.rel, "status": s.status} for s in states],
        }
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        for state in changed:
            if not write:
                sys.stdout.writelines(state.diff())
    if write and changed:
        # Every page at once (see modelreg.storage).
        write_all(
            root,
            {root / s.rel: s.new for s in changed if s.new is not None},
            [root / s.rel for s in changed if s.new is None],
        )
        for state in changed:
            verb = "removed" if state.new is None else "wrote"
            sys.stderr.write(f"{verb} {state.rel}\n")
    sys.stdout.flush()
    names = ", ".join(s.rel for s in changed)
    if not changed:
        sys.stderr.write(f"{len(states)} generated files are current\n")
    elif request.check:
        sys.stderr.write(f"modelreg render: out of date: {names}; run `modelreg render`\n")
        return 1
    elif request.dry_run:
        sys.stderr.write(f"would write {names} (dry run: nothing written)\n")
    return 0


@dataclass(frozen=True)
class SiteRequest:
    """A parsed ``render --site`` invocation."""

    root: Path | None
    target: Path
    dry_run: bool
    output: str
    today: str | None
    artifact_url: str | None


def execute_site(request: SiteRequest) -> int:
    """Validate (fast), build the site, write it (or list it); return the exit code.

    The site is built from the same loaded registry the checks just passed: a tree with an
    error finding builds nothing, so every page shows only verified facts.
    """
    today = parse_date(request.today) if request.today else None
    root = request.root or find_root(Path.cwd())
    if not (root / "models").is_dir():
        raise UsageError(f"{root} has no models/ directory; is it a registry?")
    site.refuse_target(root, request.target)
    if request.artifact_url is not None:
        site.check_template(request.artifact_url)
    registry = discover(root)
    findings = run_checks(registry, select(registry, []), Options(fast=True))
    if reporters.status(findings) == "fail":
        for finding in findings:
            sys.stderr.write(reporters.format_text(finding) + "\n")
        sys.stderr.write(
            "modelreg render: the registry fails `modelreg validate --fast`; no site was "
            "written (fix the findings above)\n"
        )
        if request.output == "json":
            report = {
                "version": 1,
                "status": "invalid",
                "site": str(request.target),
                "written": False,
                "files": [],
                "findings": reporters.to_json(findings)["findings"],
            }
            sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return 1
    files = site.build_site(
        root, artifact_template=request.artifact_url, today=today, registry=registry
    )
    if request.output == "json":
        report = {
            "version": 1,
            "status": "ok",
            "site": str(request.target),
            "written": not request.dry_run,
            "files": [{"path": rel, "bytes": len(raw)} for rel, raw in files.items()],
        }
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    elif request.dry_run:
        sys.stdout.writelines(f"{rel}\n" for rel in files)
    if request.dry_run:
        sys.stderr.write(f"would write {len(files)} files to {request.target} (dry run)\n")
        return 0
    site.write_site(request.target, files)
    sys.stderr.write(f"wrote {len(files)} files to {request.target}\n")
    return 0


def merge_driver(base: Path, ours: Path, theirs: Path) -> int:
    """Git merge driver: merge a generated page block by block into ``ours``.

    Falls back to a plain three-way text merge (``git merge-file``) for a file that is not
    a keyed page. Exit 0 when clean, 1 with conflict markers left in ``ours``.
    """
    try:
        texts = [p.read_bytes().decode("utf-8") for p in (base, ours, theirs)]
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--merge-driver: cannot read {exc}") from None
    result = blocks.merge(*texts)
    if result is None:
        proc = subprocess.run(
            [
                "git",
                "merge-file",
                "-L",
                "ours",
                "-L",
                "base",
                "-L",
                "theirs",
                str(ours),
                str(base),
                str(theirs),
            ],
            check=False,
        )
        return 0 if proc.returncode == 0 else 1
    write_atomic(ours, result.text)
    if result.conflicts:
        sys.stderr.write(
            "modelreg render: both sides changed "
            f"{', '.join(result.conflicts)}; resolve model.yaml/metadata first, then run "
            "`modelreg render`\n"
        )
        return 1
    return 0
