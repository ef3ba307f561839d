"""``modelreg overlays``: generate version and environment overlays; ``--check`` builds them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from modelreg import reporters
from modelreg.checks import Options
from modelreg.checks.runner import run as run_checks
from modelreg.checks.runner import select
from modelreg.commands._options import add_dry_run, add_output, add_root
from modelreg.git.releases import released_versions
from modelreg.gitops import DEFAULT_ENVIRONMENTS, OVERLAYS_DIR, PRODUCTION
from modelreg.gitops.envs import KUSTOMIZATION, alias_path
from modelreg.gitops.overlays import (
    alias_text,
    env_kustomization_text,
    stale_version_overlays,
    version_overlay_dir,
    version_overlay_files,
)
from modelreg.registry import discover, find_root
from modelreg.storage import registry_lock, write_all, write_tree

ORDER = 62  # place in `modelreg --help`

HELP = "generate overlays/<model>/v<version>/ and environment overlays; --check builds them"
DESCRIPTION = """\
Write overlays/<model>/v<version>/ (kustomization.yaml, Triton config.pbtxt) for every version
whose overlay is missing or stale, and overlays/staging/ and overlays/production/ when they do
not exist yet (production from model.yaml's lifecycle: the production and supported versions,
the alias on the production version). Existing environment overlays are never rewritten here:
they change only by `modelreg promote` and `modelreg rollback`.

--check writes nothing: it reports stale overlays, builds every overlay with plain kustomize
(`kustomize build`, else `kubectl kustomize`) and applies the deployment policy (rules MR6xx,
the same as a deep `modelreg validate --select MR6`). Exit 1 on any error finding.
"""
EPILOG = """\
examples:
  modelreg overlays              # after `modelreg add`, or after changing deployment settings
  modelreg overlays -n           # what would be written
  modelreg overlays --check      # CI: current, builds, follows the policy
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``overlays``."""
    p = subparsers.add_parser(
        "overlays",
        help=HELP,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--check", action="store_true", help="check only: current, builds, policy")
    add_dry_run(p, "say what would be written")
    add_output(p, reporters.OUTPUT_FORMATS, help=reporters.OUTPUT_HELP)
    add_root(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Generate, or with --check verify, the overlays."""
    root = find_root(args.root or Path.cwd())
    if args.check:
        registry = discover(root)
        options = Options(fast=False, settings=args.settings)
        findings = run_checks(registry, select(registry, []), options, ("MR6",))
        reporters.report(findings, args.output, sys.stdout, sys.stderr, "overlays", args.settings)
        return 1 if reporters.status(findings) == "fail" else 0
    if args.dry_run:
        written = _generate(root, write=False)
    else:
        # Under the registry lock, like every writer: what is stale is decided after an
        # interrupted write was finished, and no other writer changes the tree meanwhile.
        with registry_lock(root, "modelreg overlays", args.settings):
            written = _generate(root, write=True)
    verb = "wrote" if not args.dry_run else "would write"
    for rel in written:
        sys.stdout.write(f"{verb} {rel}\n")
    if not written:
        sys.stderr.write("modelreg: overlays are current\n")
    return 0


def _generate(root: Path, *, write: bool) -> list[str]:
    """Write (or only list) the missing or stale overlays; their paths relative to the root."""
    registry = discover(root)
    written: list[str] = []
    frozen = released_versions(registry)  # released overlays stay as tagged (MR701)
    stale = stale_version_overlays(registry, frozen)
    for model, version in sorted({(s.model, s.version) for s in stale}):
        if version not in registry.models[model].versions:
            sys.stderr.write(
                f"modelreg: {OVERLAYS_DIR}/{model}/v{version} has no version; remove it by hand\n"
            )
            continue
        directory = version_overlay_dir(root, model, version)
        files = version_overlay_files(registry, model, version)
        if write:
            write_tree(root, directory, files)
        written.append(registry.rel(directory))
    for env in DEFAULT_ENVIRONMENTS:
        path = root / OVERLAYS_DIR / env / KUSTOMIZATION
        if path.exists():
            continue
        running: dict[str, list[str]] = {}
        aliases: dict[str, str] = {}
        if env == PRODUCTION:
            for model, entry in sorted(registry.models.items()):
                lifecycle = (registry.model_data(entry) or {}).get("lifecycle") or {}
                for version, item in lifecycle.items():
                    status = (item or {}).get("status")
                    if status in ("production", "supported") and version in entry.versions:
                        running.setdefault(model, []).append(str(version))
                    if status == "production":
                        aliases[model] = str(version)
        if write:
            env_files: dict[Path, bytes | str] = {
                path: env_kustomization_text(None, env, running, aliases)
            }
            for model, version in aliases.items():
                env_files[alias_path(root, env, model)] = alias_text(model, env, version)
            write_all(root, env_files)  # the environment and its aliases as one change
        written.append(registry.rel(path))
    return written
