"""``modelreg show MODEL[@VERSION]``: one model's versions, or one version in detail."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from modelreg.commands._options import add_output, add_root
from modelreg.commands.list import gto_text, gto_view, write
from modelreg.errors import UsageError
from modelreg.git.catalog import details, rows
from modelreg.gitops.envs import environments_by_version
from modelreg.registry import discover, find_root

ORDER = 41  # place in `modelreg --help`

HELP = "show a model's versions, or one version's tag, metrics, environments and GTO stages"


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``show``."""
    p = subparsers.add_parser("show", help=HELP, description=HELP)
    p.add_argument("target", metavar="MODEL[@VERSION]")
    add_output(p)
    add_root(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the model's table, or the version's details."""
    registry = discover(find_root(args.root or Path.cwd()))
    name, _, version = args.target.partition("@")
    model = registry.models.get(name)
    if model is None:
        known = ", ".join(sorted(registry.models)) or "none"
        raise UsageError(f"no model `{name}` in {registry.root / 'models'} (models: {known})")
    view = gto_view(registry)
    deployed = environments_by_version(registry.root)
    if not version:
        write(rows(registry, deployed, {(name, None)}), args.output, view)
        return 0
    entry = model.versions.get(version)
    if entry is None:
        known = ", ".join(v.name for v in model.sorted_versions()) or "none"
        raise UsageError(f"model `{name}` has no version {version} (versions: {known})")
    (row,) = rows(registry, deployed, {(name, version)})
    row.details = details(registry, entry)
    if args.output == "json":
        stages, status = view.get((name, version), ([], None))
        doc = {"version": 1, **row.as_json(), "gto_stages": stages, "gto_status": status}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return 0
    d = row.details
    metrics = d["metrics"]
    lines = [
        ("model", row.model),
        ("version", row.version),
        ("status", row.status or "-"),
        ("supported until", row.supported_until or "-"),
        ("release date", d["release_date"] or "-"),
        ("tag", f"{row.tag} ({row.tag_date}, {(row.commit or '')[:12]})" if row.released
         else f"{row.tag} (not tagged in this clone)"),
        ("environments", ", ".join(row.environments) or "-"),
        *([("gto stages", gto_text(view, row).replace(",", ", "))] if view else []),
        ("summary", d["summary"] or "-"),
        ("artifact", f"{d['artifact']['path']} sha256:{d['artifact']['sha256']} "
         f"({d['artifact']['size']} bytes)"),
        ("accuracy", _num(metrics["accuracy"])),
        ("f1", _num(metrics["f1"])),
        ("p99 latency", f"{metrics['p99_ms']} ms" if metrics["p99_ms"] is not None else "-"),
    ]  # fmt: skip
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        sys.stdout.write(f"{key.ljust(width)}  {value}\n")
    return 0


def _num(value: object) -> str:
    return f"{value:.2%}" if isinstance(value, float) else "-"
