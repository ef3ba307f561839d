"""``modelreg pull MODEL@VERSION|MODEL#ENV``: fetch one version's LFS objects, then prove them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from modelreg.commands import validate
from modelreg.commands._options import add_dry_run, add_root
from modelreg.errors import ModelregError, UsageError
from modelreg.git.releases import artifact_paths
from modelreg.git.repo import GitError, open_repo
from modelreg.registry import Registry, discover, find_root

ORDER = 45  # place in `modelreg --help`

HELP = "fetch exactly one version's Git LFS objects, then deep-validate it"
DESCRIPTION = """\
The fast clone of the registry page, in one step: after
`GIT_LFS_SKIP_SMUDGE=1 git clone <url>` every artifact is a pointer; `modelreg pull
bert-classifier@1.1.0` runs `git lfs pull --include=<that version's artifact files>` (nothing
else is downloaded) and then `modelreg validate` (deep) on that version: sha256, ONNX
structure, onnxruntime session, golden vectors and metrics.

MODEL#ENV pulls every version of MODEL that environment ENV runs (read from
overlays/<env>/kustomization.yaml).

exit status: 0 pulled and valid, 1 git-lfs failed or validation found errors, 2 usage error.
"""
EPILOG = """\
examples:
  GIT_LFS_SKIP_SMUDGE=1 git clone https://example.com/registry.git && cd registry
  git checkout model-bert-v1.1.0        # optional: pin the release tag
  modelreg pull bert-classifier@1.1.0
  modelreg pull bert-classifier#production
  modelreg pull bert-classifier@1.1.0 -n   # print the git lfs command only
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``pull``."""
    p = subparsers.add_parser(
        "pull",
        help=HELP,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("target", metavar="MODEL@VERSION|MODEL#ENV")
    add_dry_run(p, "print the command, fetch nothing")
    p.add_argument("--no-validate", action="store_true", help="fetch only")
    add_root(p)
    p.set_defaults(handler=run)


def versions_of(registry: Registry, target: str) -> list[tuple[str, str]]:
    """(model, version) pairs named by ``MODEL@VERSION`` or ``MODEL#ENV``."""
    if "@" in target:
        model, _, version = target.partition("@")
        pairs = [(model, version)]
    elif "#" in target:
        model, _, env = target.partition("#")
        try:
            from modelreg.gitops.envs import environments
        except ImportError:
            raise UsageError("MODEL#ENV needs the GitOps layer (modelreg.gitops)") from None
        running = environments(registry.root)
        if env not in running:
            known = ", ".join(sorted(running)) or "none"
            raise UsageError(f"no environment `{env}` under overlays/ (environments: {known})")
        pairs = [(m, v) for m, v in running[env] if m == model]
        if not pairs:
            raise UsageError(f"environment `{env}` runs no version of `{model}`")
    else:
        raise UsageError(f"`{target}`: expected MODEL@VERSION or MODEL#ENV")
    for model, version in pairs:
        if model not in registry.models:
            raise UsageError(f"no model `{model}` in {registry.rel(registry.models_dir)}/")
        if version not in registry.models[model].versions:
            raise UsageError(f"`{model}` has no version {version} in this checkout")
    return pairs


def run(args: argparse.Namespace) -> int:
    """Pull, then validate."""
    registry = discover(find_root(args.root or Path.cwd()))
    pairs = versions_of(registry, args.target)
    repo = open_repo(registry.root)
    includes: list[str] = []
    for model, version in pairs:
        entry = registry.models[model].versions[version]
        paths = artifact_paths(registry.metadata(entry))
        if not paths:
            raise ModelregError(f"{registry.rel(entry.metadata_path)}: no artifact path to pull")
        includes += [f"{repo.relpath(entry.dir)}/{p}" for p in paths]
    include = ",".join(includes)
    sys.stderr.write(f'modelreg: git lfs pull --include="{include}"\n')
    if args.dry_run:
        return 0
    try:
        repo.run("lfs", "pull", f"--include={include}", "--exclude=")
    except GitError as exc:
        if "not a git command" in str(exc):
            raise GitError("git-lfs is not installed (https://git-lfs.com)") from None
        raise
    if args.no_validate:
        return 0
    dirs = tuple(registry.models[m].versions[v].dir for m, v in pairs)
    return validate.execute(
        validate.Request(
            paths=dirs, root=registry.root, fast=False, output="text", select=("MR",), ignore=()
        )
    )
