"""``modelreg init``: scaffold a new registry repository with hooks, CI and LFS wired."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from modelreg import scaffold
from modelreg.commands._options import add_dry_run
from modelreg.config import Settings
from modelreg.errors import ModelregError, UsageError
from modelreg.gitops.clusters import DEFAULT_SECRET
from modelreg.storage import registry_lock, staging_dir, write_atomic

ORDER = 5  # place in `modelreg --help`: the first command a new team runs

HELP = "create a new registry repository (models/, schemas, hooks, workflows, LFS, overlays)"
DESCRIPTION = """\
Create a registry in DIR: models/, copies of the JSON Schemas for editors (schemas/),
.gitattributes storing *.onnx in Git LFS, .pre-commit-config.yaml running the modelreg hooks,
GitHub workflows (pull-request checks, release tags on main, nightly sharded validation, the
catalog site on GitHub Pages),
CODEOWNERS with production owned by release owners, a pull-request template and a README.
DIR becomes a git repository unless it is inside one already.

The deployment side comes wired too: overlays/base/ (Triton Inference Server and the
init container that fetches and verifies the released artifact), empty overlays/staging/ and
overlays/production/ environments (`modelreg promote` fills them), clusters/<env>/ with the
Flux objects (Namespace, GitRepository, Kustomization; `flux bootstrap --path=clusters/<env>`
adds its flux-system/ beside them) and clusters/argocd/<env>.yaml (Argo CD Application).
--repo-url is the registry's clone URL, written into clusters/ and overlays/base/registry.env;
without it a placeholder is written and `modelreg validate` warns about it (MR619). Flux
clones https:// and ssh:// URLs only: git@host:path is written as ssh://git@host/path.
--private (or --secret-ref NAME) makes the GitRepository read a private repository's
credentials from the Secret model-registry-auth (or NAME) in flux-system; the Argo CD file
says where Argo CD's credentials go.

Where modelreg comes from is one choice, --hooks-repo URL --hooks-rev REV (a copy of the
modelreg repository and a tag or commit of it): the README's setup line and the workflows'
install step install `modelreg[onnx,gitops] @ git+URL@REV`, never a package-index name. With
--hooks-repo the hooks come from there too; without it they run the installed modelreg (repo:
local, no network) and the source defaults to where this modelreg was installed from (pip's
record of a git URL and commit), else the modelreg repository at this version's tag. --install
CMD replaces the workflows' install command.

An existing file is never overwritten, except with --update, which refreshes the files
modelreg owns (workflows, schemas, hook config, .gitattributes) and keeps the ones you edit
(README.md, CODEOWNERS, .gitignore, models/README.md, everything under overlays/ and
clusters/); a missing one is written.
exit status: 0 written, 1 a file exists or cannot be written, 2 usage error.
"""
EPILOG = """\
examples:
  modelreg init my-registry --repo-url https://github.com/ORG/my-registry.git
  modelreg init my-registry --repo-url git@github.com:ORG/my-registry.git --private
  modelreg init my-registry -n                       # list what would be written
  modelreg init . --update                           # after upgrading modelreg
  modelreg init reg --hooks-repo https://github.com/ORG/modelreg --hooks-rev v0.1.0
"""

#: Files the user is expected to edit after init; --update leaves them alone.
USER_OWNED = frozenset({"README.md", ".gitignore", ".github/CODEOWNERS", "models/README.md"})
#: Directories the team edits (promotions, image pins, resources, the repository URL).
USER_OWNED_DIRS = ("overlays/", "clusters/")


#: Pages ``modelreg render`` keeps current once models exist: --update must not reset them to
#: the empty registry's page.
RENDERED = frozenset(scaffold.generated_pages())


def user_owned(rel: str) -> bool:
    """Whether ``--update`` keeps an existing ``rel`` as the team (or ``render``) left it."""
    return rel in USER_OWNED or rel in RENDERED or rel.startswith(USER_OWNED_DIRS)


@dataclass(frozen=True)
class Request:
    """A parsed ``init`` invocation, runnable without argv."""

    directory: Path
    dry_run: bool = False
    update: bool = False
    hooks_repo: str | None = None
    hooks_rev: str | None = None
    install: str | None = None
    git: bool = True
    repo_url: str | None = None
    secret_ref: str | None = None
    #: What the environment says (:mod:`modelreg.config`); None: read it when run.
    settings: Settings | None = None


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``init``."""
    p = subparsers.add_parser(
        "init",
        help=HELP,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("directory", type=Path, metavar="DIR", help="where to create the registry")
    add_dry_run(p, "list the files; write nothing")
    p.add_argument("--update", action="store_true", help="refresh modelreg-owned files")
    p.add_argument(
        "--hooks-repo",
        metavar="URL",
        help="the modelreg repository the hooks and CI's install come from (default: "
        f"{scaffold.default_source().repo}, hooks run locally)",
    )
    p.add_argument(
        "--hooks-rev",
        metavar="REV",
        help=f"tag or commit of --hooks-repo (default: {scaffold.default_source().rev})",
    )
    p.add_argument(
        "--install",
        metavar="CMD",
        help="how CI installs modelreg (default: pip install from the --hooks-repo source)",
    )
    p.add_argument(
        "--repo-url",
        metavar="URL",
        help="the registry's clone URL, for Flux, Argo CD and the fetch step (default: a "
        "placeholder that validate reports as MR619)",
    )
    secret = p.add_mutually_exclusive_group()
    secret.add_argument(
        "--private",
        dest="secret_ref",
        action="store_const",
        const=DEFAULT_SECRET,
        help=f"a private repository: Flux reads credentials from the Secret {DEFAULT_SECRET}",
    )
    secret.add_argument(
        "--secret-ref",
        metavar="NAME",
        help="a private repository: Flux reads credentials from the Secret NAME (flux-system)",
    )
    p.add_argument("--no-git", dest="git", action="store_false", help="do not run git init")
    p.set_defaults(handler=from_args)


def from_args(args: argparse.Namespace) -> int:
    """Build the request from parsed arguments and run it."""
    return execute(
        Request(
            directory=args.directory,
            dry_run=args.dry_run,
            update=args.update,
            hooks_repo=args.hooks_repo,
            hooks_rev=args.hooks_rev,
            install=args.install,
            git=args.git,
            repo_url=args.repo_url,
            secret_ref=args.secret_ref,
            settings=args.settings,
        )
    )


def plan(request: Request) -> dict[str, str]:
    """The files to write, after checking that none would clobber a file (unless --update)."""
    files = scaffold.registry_files(
        install=request.install,
        hooks_repo=request.hooks_repo,
        hooks_rev=request.hooks_rev,
        repo_url=request.repo_url,
        secret_ref=request.secret_ref,
    )
    root = request.directory
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root} exists and is not a directory")
    existing = sorted(rel for rel in files if (root / rel).exists())
    if request.update:
        return {
            rel: text
            for rel, text in files.items()
            if not (user_owned(rel) and (root / rel).exists())
        }
    if existing:
        raise ModelregError(
            f"{root} already has {', '.join(existing)}; nothing written "
            "(use --update to refresh the files modelreg owns)"
        )
    return files


def _write(path: Path, text: str, *, executable: bool = False) -> None:
    write_atomic(path, text, mode=0o755 if executable else 0o644)


def _inside_git(directory: Path) -> bool:
    probe = directory if directory.exists() else directory.parent
    proc = subprocess.run(
        ["git", "rev-parse", "--is-inside-work-tree"],
        cwd=probe,
        capture_output=True,
        check=False,
    )
    return proc.returncode == 0


def execute(request: Request) -> int:
    """Write the registry (or with -n list it); return the exit code."""
    files = plan(request)
    root = request.directory
    if request.dry_run:
        for rel in sorted(files):
            sys.stdout.write(f"{rel}\n")
        sys.stderr.write(f"modelreg: init: would write {len(files)} files in {root} (dry run)\n")
        return 0
    if not root.exists():
        # Build beside the target and rename in one step: a failure leaves nothing behind.
        root.parent.mkdir(parents=True, exist_ok=True)
        staging = staging_dir(root.parent, f".{root.name}.init-")
        try:
            for rel, text in files.items():
                _write(staging / rel, text, executable=rel in scaffold.EXECUTABLE)
            (staging / "models").mkdir(exist_ok=True)
            staging.replace(root)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    else:
        # An existing directory may be a registry that other writers change: hold its lock
        # when it has a git directory. Without one there is no lock, and no other modelreg
        # command writes there (they refuse a registry outside git).
        in_git = bool(shutil.which("git")) and _inside_git(root)
        lock = registry_lock(root, "modelreg init", request.settings) if in_git else nullcontext()
        with lock:
            for rel, text in sorted(files.items()):
                _write(root / rel, text, executable=rel in scaffold.EXECUTABLE)
    if request.git and shutil.which("git") and not _inside_git(root):
        subprocess.run(
            ["git", "init", "--quiet", "--initial-branch=main", str(root)],
            check=True,
            capture_output=True,
        )
    for rel in sorted(files):
        sys.stdout.write(f"{rel}\n")
    sys.stderr.write(
        f"modelreg: init: wrote {len(files)} files in {root}\n"
        "next: git lfs install; pre-commit install; "
        "modelreg add <model> <version> --onnx FILE --eval DATA --title ... (writes the "
        "model card of a new model); "
        "modelreg promote <model> <version> --env staging\n"
    )
    return 0
