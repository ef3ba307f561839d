"""``modelreg release``: an annotated tag for every version that has none yet."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

from modelreg.commands._options import add_dry_run, add_output, add_root
from modelreg.config import Settings
from modelreg.errors import ModelregError
from modelreg.git import releases
from modelreg.git.repo import GitError, Repo, open_repo
from modelreg.git.tags import tag_name
from modelreg.registry import Registry, discover, find_root
from modelreg.storage import registry_lock

ORDER = 60  # place in `modelreg --help`

HELP = "tag every untagged version (annotated tag at the commit that made it)"
DESCRIPTION = """\
Create an annotated release tag (`<tag_prefix>-v<version>`, or `<name>@v<version>` with
`tag_format: gto`) for every version directory that has none yet. The tag goes on the last
commit that changed the version directory or its overlay (overlays/<model>/v<version>/), so
it tags exactly the released content. Its message holds the version's summary, the
artifact's sha256 and the tree id of the version directory (`Version-Tree:`), from which
`modelreg validate` proves later that the tag was never moved (MR703).

Run it in CI on main after the checks passed. It refuses (and creates no tag at all) when a
version directory has uncommitted changes or differs from the branch (default main). Running
it again creates nothing: existing tags are left alone. --push pushes the new tags in one
atomic push.

exit status: 0 done (or nothing to do), 1 refused or git failed, 2 usage error.
"""
EPILOG = """\
examples:
  modelreg release -n                 # what would be tagged
  modelreg release --push             # in CI on main: tag and push
  modelreg release --output json
"""


@dataclass
class Planned:
    """One version's release tag and what happens to it."""

    model: str
    version: str
    tag: str
    #: created, would-create, exists, refused
    status: str
    commit: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Request:
    """A parsed ``release`` invocation."""

    root: Path | None
    branch: str
    remote: str
    push: bool
    dry_run: bool
    output: str
    #: What the environment says (:mod:`modelreg.config`); None: read it when run.
    settings: Settings | None = None


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``release``."""
    p = subparsers.add_parser(
        "release",
        help=HELP,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--push", action="store_true", help="push the new tags to --remote")
    p.add_argument("--remote", default="origin", help="remote to push to (default origin)")
    p.add_argument(
        "--branch",
        default="main",
        help="version directories must equal this branch (default main; also tried as "
        "<remote>/<branch>)",
    )
    add_dry_run(p, "show the plan, create nothing")
    add_output(p)
    add_root(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Build the request from parsed arguments and run it."""
    return execute(
        Request(
            args.root,
            args.branch,
            args.remote,
            args.push,
            args.dry_run,
            args.output,
            args.settings,
        )
    )


def execute(request: Request) -> int:
    """Plan, then (unless dry) create and push the tags; print the plan; return the status."""
    registry = discover(find_root(request.root or Path.cwd()))
    repo = open_repo(registry.root)
    # Planned and created under the registry lock, like every write: two releases at once
    # cannot both plan the same tags.
    with (
        nullcontext()
        if request.dry_run
        else registry_lock(registry.root, "modelreg release", request.settings)
    ):
        plan = make_plan(registry, repo, request.branch, request.remote)
        refused = [p for p in plan if p.status == "refused"]
        todo = [p for p in plan if p.status == "would-create"]
        if not refused and not request.dry_run and todo:
            create(repo, registry, todo)
    if not refused and not request.dry_run and todo and request.push:
        repo.run("push", "--atomic", request.remote, *(f"refs/tags/{p.tag}" for p in todo))
    _print(plan, request)
    if refused:
        sys.stderr.write(
            f"modelreg: release refused for {len(refused)} version(s); no tag was created\n"
        )
        return 1
    what = "would create" if request.dry_run else "created"
    pushed = " and pushed" if request.push and todo and not request.dry_run else ""
    sys.stderr.write(f"modelreg: {what}{pushed} {len(todo)} tag(s); {len(plan) - len(todo)} "
                     "version(s) already released\n")  # fmt: skip
    return 0


def make_plan(registry: Registry, repo: Repo, branch: str, remote: str) -> list[Planned]:
    """Every version with its tag and whether it can be created now."""
    if repo.shallow:
        raise GitError(
            "this is a shallow clone: release needs the full history and every tag "
            "(`git fetch --unshallow --tags`, or `fetch-depth: 0` in actions/checkout)"
        )
    if repo.head() is None:
        raise GitError("the repository has no commit yet; commit the registry first")
    base = repo.resolve(branch) or repo.resolve(f"{remote}/{branch}")
    if base is None:
        raise GitError(
            f"no branch `{branch}` (nor `{remote}/{branch}`) to compare with; fetch it or "
            "pass --branch"
        )
    tags = repo.tags()
    plan: list[Planned] = []
    pending: list[tuple[Planned, str, str]] = []
    for model in registry.models.values():
        data = releases.model_tag_data(registry, model)
        if data is None:
            raise ModelregError(
                f"{registry.rel(model.model_path)}: missing or invalid; cannot derive release "
                "tags (run `modelreg validate`)"
            )
        for version in model.sorted_versions():
            item = Planned(model.name, version.name, tag_name(data, version.name), "exists")
            plan.append(item)
            if item.tag in tags:
                item.commit = tags[item.tag].commit
                continue
            item.status = "would-create"
            vdir = repo.relpath(version.dir)
            odir = releases.overlay_dir(registry.root, model.name, version.name)
            pending.append((item, vdir, odir.relative_to(repo.root).as_posix()))
    if not pending:
        return plan
    changed = repo.changed_paths(*(p for _i, vdir, overlay in pending for p in (vdir, overlay)))
    specs = [f"{rev}:{d}" for _i, v, o in pending for d in (v, o) for rev in ("HEAD", base)]
    ids = repo.object_ids(specs)
    for item, vdir, overlay in pending:
        dirty = sorted(p for p in changed if p.startswith((vdir + "/", overlay + "/")))
        if dirty:
            _refuse(item, f"uncommitted changes: {', '.join(dirty[:3])}; commit them first")
            continue
        if ids.get(f"HEAD:{vdir}") is None:
            _refuse(item, f"{vdir}/ is not committed")
            continue
        if any(ids.get(f"HEAD:{d}") != ids.get(f"{base}:{d}") for d in (vdir, overlay)):
            _refuse(item, f"{vdir}/ (or its overlay) differs from {branch}; release from {branch}")
            continue
        meta = registry.metadata(registry.models[item.model].versions[item.version])
        if meta is None or not isinstance(meta.get("artifact"), dict):
            _refuse(item, f"{vdir}/metadata.yaml is missing or invalid")
            continue
        item.commit = repo.last_commit(vdir, overlay)
    return plan


def _refuse(item: Planned, reason: str) -> None:
    item.status = "refused"
    item.reason = reason


def message(registry: Registry, repo: Repo, item: Planned) -> str:
    """The tag message: summary line, then ``Key: value`` lines that checks read back."""
    version = registry.models[item.model].versions[item.version]
    meta = registry.metadata(version) or {}
    summary = str(meta.get("summary", "")).strip().splitlines()
    tree = repo.object_ids([f"{item.commit}:{repo.relpath(version.dir)}"])
    found = next(iter(tree.values()))
    lines = [
        f"{item.model} {item.version}: {summary[0] if summary else 'release'}",
        "",
        f"Model: {item.model}",
        f"Version: {item.version}",
        f"{releases.SHA_TRAILER}: {meta['artifact']['sha256']}",
        f"{releases.TREE_TRAILER}: {found[0] if found else ''}",
    ]
    return "\n".join(lines) + "\n"


def create(repo: Repo, registry: Registry, todo: list[Planned]) -> None:
    """Create the tags as one ref transaction: all of them exist afterwards, or none.

    The annotated tag objects are written first (``git mktag``: unreferenced objects change
    nothing), then every ref in one ``git update-ref --stdin`` transaction, so a release
    killed at any point leaves either no new tag or all of them.
    """
    ident = repo.run_bytes("var", "GIT_COMMITTER_IDENT", ok=(0, 128)).decode().strip()
    if not ident:
        raise GitError(
            "git has no committer identity for the tag's tagger; set one "
            '(`git config user.name "CI" && git config user.email ci@example.com`)'
        )
    objects: list[tuple[Planned, str]] = []
    for item in todo:
        assert item.commit is not None
        body = f"object {item.commit}\ntype commit\ntag {item.tag}\ntagger {ident}\n\n" + message(
            registry, repo, item
        )
        objects.append((item, repo.run("mktag", stdin=body).strip()))
    transaction = "".join(f"create refs/tags/{item.tag} {sha}\n" for item, sha in objects)
    repo.run("update-ref", "--stdin", stdin=f"start\n{transaction}prepare\ncommit\n")
    for item in todo:
        item.status = "created"


def _print(plan: list[Planned], request: Request) -> None:
    if request.output == "json":
        doc = {"version": 1, "tags": [asdict(p) for p in plan]}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    for p in plan:
        if p.status == "exists":
            continue
        where = f" at {p.commit[:12]}" if p.commit else ""
        why = f": {p.reason}" if p.reason else ""
        sys.stdout.write(f"{p.status} {p.tag}{where}{why}\n")
