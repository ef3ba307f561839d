"""Registry layout and lifecycle rules that need no artifact bytes (MR5xx)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

from modelreg.checks import ModelContext, RegistryContext, VersionContext, check
from modelreg.errors import ModelregError
from modelreg.findings import Finding
from modelreg.gitops import PRODUCTION
from modelreg.gitops.envs import environment_names, version_refs
from modelreg.registry import METADATA_FILE, MODEL_FILE, SEMVER_RE, SHARED_DATA_DIR, semver_key
from modelreg.rules import rule
from modelreg.treefs import symlink_finding
from modelreg.types import LifecycleEntry

_TODO = re.compile(r"\bTODO\b")


@check("registry", rules=("MR006", "MR509"), needs_valid=False)
def registry_strays(ctx: RegistryContext) -> Iterator[Finding]:
    """Files directly under models/ that are not model directories; models/ or a model
    directory that is a symlink (never followed)."""
    for link in ctx.registry.symlinks:
        yield symlink_finding(link.rel, link.link)
    for path in ctx.registry.strays:
        yield rule("MR509").finding(
            ctx.registry.rel(path), "not a model directory; models/ holds one directory per model"
        )


@check("model", rules=("MR006", "MR507", "MR509"), needs_valid=False)
def model_files(ctx: ModelContext) -> Iterator[Finding]:
    """model.yaml exists; nothing unexpected sits in the model directory; no symlink in it
    (a version directory, model.yaml, data/ or a file in data/: MR006, never followed)."""
    tree = ctx.registry.tree
    links = {link.name: link for link in ctx.model.symlinks}
    for link in links.values():
        yield symlink_finding(link.rel, link.link)
    if tree.is_dir(ctx.model.dir / SHARED_DATA_DIR):
        for link in tree.symlinks_under(ctx.model.dir / SHARED_DATA_DIR):
            yield symlink_finding(link.rel, link.link)
    if MODEL_FILE not in links and not tree.is_file(ctx.model.model_path):
        yield rule("MR507").finding(ctx.model_rel, f"model `{ctx.model.name}` has no {MODEL_FILE}")
    for path in ctx.model.strays:
        what = "directory" if path.is_dir() else "file"
        yield rule("MR509").finding(
            ctx.registry.rel(path),
            f"unexpected {what}: version directories are named by semver (e.g. 1.2.0) "
            "and shared evaluation data goes in data/",
        )


@check("model", rules=("MR501", "MR503", "MR504", "MR505"))
def model_lifecycle(ctx: ModelContext) -> Iterator[Finding]:
    """Name matches directory; lifecycle agrees with the version directories."""
    data = ctx.card
    name = data["name"]
    if name != ctx.model.name:
        line, col = ctx.position("name")
        yield rule("MR501").finding(
            ctx.model_rel,
            f"name `{name}` differs from the directory name `{ctx.model.name}`",
            line,
            col,
        )
    lifecycle = data["lifecycle"]
    for version, entry in lifecycle.items():
        line, col = ctx.key_position("lifecycle", version)
        if version not in ctx.model.versions:
            yield rule("MR503").finding(
                ctx.model_rel,
                f"lifecycle lists {version} but models/{ctx.model.name}/{version}/ does not exist",
                line,
                col,
            )
        if entry["status"] == "supported" and "supported_until" not in entry:
            yield rule("MR505").finding(
                ctx.model_rel,
                f"{version} is `supported` but has no `supported_until` date",
                line,
                col,
            )
    yield from _production_count(ctx, lifecycle)


def _production_count(ctx: ModelContext, lifecycle: dict[str, LifecycleEntry]) -> Iterator[Finding]:
    """Exactly one ``production`` version, except for a model still in its candidate stage.

    A new model's first versions are candidates that staging may run: requiring a production
    version before the first commit would make ``init`` → ``add`` → ``git commit`` fail, or
    push users into marking an unproven version ``production``. The requirement starts once a
    version left the candidate stage (``production``, ``supported``, ``deprecated``,
    ``retired``) or the production environment runs one of the model's versions.
    """
    production = [v for v, e in lifecycle.items() if e["status"] == "production"]
    if len(production) == 1:
        return
    line, col = ctx.key_position("lifecycle")
    if len(production) > 1:
        yield rule("MR504").finding(
            ctx.model_rel,
            f"exactly one version must be `production`; found {len(production)} "
            f"({', '.join(production)})",
            line,
            col,
        )
        return
    if any(e["status"] != "candidate" for e in lifecycle.values()):
        yield rule("MR504").finding(
            ctx.model_rel,
            "exactly one version must be `production`; found none (a model whose versions "
            "are not all `candidate` has left the candidate stage); promote one with "
            f"`modelreg promote {ctx.model.name} VERSION --env production`",
            line,
            col,
        )
        return
    running = _production_runs(ctx)
    if running:
        yield rule("MR504").finding(
            ctx.model_rel,
            f"the production environment runs {ctx.model.name} {', '.join(running)}, but no "
            "version is `production`; promote it with "
            f"`modelreg promote {ctx.model.name} {running[-1]} --env production`",
            line,
            col,
        )


def _production_runs(ctx: ModelContext) -> list[str]:
    """Versions of the model that overlays/production lists (none without GitOps overlays)."""
    root = ctx.registry.root
    if PRODUCTION not in environment_names(root):
        return []
    try:
        refs = version_refs(root, PRODUCTION)
    except ModelregError:
        return []  # an unreadable environment is MR601's finding (gitops checks)
    return sorted({r.version for r in refs if r.model == ctx.model.name}, key=semver_key)


#: Card fields ``modelreg add`` fills with a TODO placeholder for a new model, each with the
#: flag that writes it.
_CARD_FIELDS = {"title": "title", "description": "description", "owners": "owner",
                "labels": "labels"}  # fmt: skip


@check("model", rules=("MR508",))
def model_card_todo(ctx: ModelContext) -> Iterator[Finding]:
    """The card fields a human must write (title, description, owners, labels) say no TODO."""
    data = ctx.data
    assert data is not None
    for field, flag in _CARD_FIELDS.items():
        value = data.get(field)
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for i, item in items:
            if isinstance(item, str) and _TODO.search(item):
                line, col = ctx.position(field) if i is None else ctx.position(field, i)
                yield rule("MR508").finding(
                    ctx.model_rel,
                    f"`{field}` still says TODO: write it (for a new model `modelreg add` "
                    f"takes it from --{flag})",
                    line,
                    col,
                )
                break  # one finding per field


@check("version", rules=("MR006", "MR507"), needs_valid=False)
def version_files(ctx: VersionContext) -> Iterator[Finding]:
    """A version directory has metadata.yaml; nothing in it is a symlink (metadata, artifact,
    golden vectors, data: each link is one MR006, and nothing behind it is read)."""
    links = ctx.registry.tree.symlinks_under(ctx.version.dir)
    for link in links:
        yield symlink_finding(link.rel, link.link)
    if ctx.rel(METADATA_FILE) in {link.rel for link in links}:
        return
    if not ctx.version.has_metadata:
        yield rule("MR507").finding(
            ctx.rel(METADATA_FILE),
            f"version directory {ctx.rel()}/ has no {METADATA_FILE} (`modelreg add` writes it)",
        )


@check("version", rules=("MR501", "MR502", "MR506", "MR508", "MR510"))
def version_identity(ctx: VersionContext) -> Iterator[Finding]:
    """Directory names equal the fields; the version is in the lifecycle and in date order."""
    meta = ctx.meta
    assert meta is not None
    where = ctx.metadata_rel
    if meta["model"] != ctx.model.name:
        line, col = ctx.position("model")
        yield rule("MR501").finding(
            where, f"model `{meta['model']}` differs from the directory `{ctx.model.name}`",
            line, col,
        )  # fmt: skip
    if meta["version"] != ctx.version.name:
        line, col = ctx.position("version")
        yield rule("MR501").finding(
            where,
            f"version `{meta['version']}` differs from the directory name `{ctx.version.name}`",
            line,
            col,
        )
    if not SEMVER_RE.match(ctx.version.name):
        yield rule("MR501").finding(
            where, f"version directory `{ctx.version.name}` is not a semantic version"
        )
    lifecycle = (ctx.model_data or {}).get("lifecycle")
    if isinstance(lifecycle, dict) and ctx.version.name not in lifecycle:
        yield rule("MR502").finding(
            where,
            f"{ctx.version.name} is not in the lifecycle of models/{ctx.model.name}/{MODEL_FILE}; "
            "add it (new versions start as `candidate`)",
        )
    yield from _release_order(ctx)
    yield from _release_date_future(ctx)
    for field in ("summary", "migration"):
        value = meta.get(field)
        if isinstance(value, str) and _TODO.search(value):
            line, col = ctx.position(field)
            yield rule("MR508").finding(where, f"`{field}` still says TODO", line, col)
    for i, change in enumerate(meta.get("changes", [])):
        if isinstance(change, str) and _TODO.search(change):
            line, col = ctx.position("changes", i)
            yield rule("MR508").finding(where, "`changes` still says TODO", line, col)


def _release_date_future(ctx: VersionContext) -> Iterator[Finding]:
    """Flag a release date after tomorrow (UTC): nobody can have released on it yet."""
    try:
        date = dt.date.fromisoformat(ctx.metadata["release_date"])
    except ValueError:
        return  # the schema's `format: date` already says so
    latest = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    if date > latest:
        line, col = ctx.position("release_date")
        yield rule("MR510").finding(
            ctx.metadata_rel,
            f"release_date {date.isoformat()} is in the future (today is "
            f"{(latest - dt.timedelta(days=1)).isoformat()} UTC)",
            line,
            col,
        )


def _release_order(ctx: VersionContext) -> Iterator[Finding]:
    """Flag this version when a lower version was released after it."""
    mine = ctx.metadata["release_date"]
    my_key = semver_key(ctx.version.name)
    for other in ctx.model.versions.values():
        if other is ctx.version or semver_key(other.name) >= my_key:
            continue
        data = ctx.registry.metadata(other)
        theirs = data.get("release_date") if data else None
        if isinstance(theirs, str) and theirs > mine:
            line, col = ctx.position("release_date")
            yield rule("MR506").finding(
                ctx.metadata_rel,
                f"{ctx.version.name} is dated {mine}, before the lower version {other.name} "
                f"({theirs}); versions must increase with their release dates",
                line,
                col,
            )
