"""Release tags, immutability, support windows and Git LFS storage (MR7xx).

All git facts come from :func:`modelreg.git.releases.state`: a constant handful of git calls for
the whole registry, so these checks run in ``--fast`` mode too (pre-commit, pointer clones).
Outside a git work tree they report one note and check nothing else.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

from modelreg.checks import ModelContext, RegistryContext, VersionContext, check
from modelreg.checks.integrity import lfs_pull_command
from modelreg.errors import ModelregError
from modelreg.findings import Finding
from modelreg.git import gto, releases
from modelreg.gitops import stages
from modelreg.rules import rule

#: At most this many changed files are named one by one.
MAX_LISTED = 10
#: Lifecycle statuses of a version that is still in use (GTO must not have dropped it).
LIVE = ("candidate", "production", "supported")


@check("registry", rules=("MR700",), needs_valid=False)
def git_available(ctx: RegistryContext) -> Iterator[Finding]:
    """Say once when the git rules could not run (no git, no repository, shallow clone)."""
    found = releases.state(ctx.registry, ctx.options.scope)
    if found.problem is not None:
        yield rule("MR700").finding(ctx.registry.rel(ctx.registry.models_dir), found.problem)


@check("model", rules=("MR704",))
def tags_without_version(ctx: ModelContext) -> Iterator[Finding]:
    """A release tag of this model names a version that has no directory."""
    found = releases.state(ctx.registry, ctx.options.scope)
    line, col = ctx.key_position("lifecycle")
    for tag, version, others in sorted(found.orphans.get(ctx.model.name, [])):
        missing = (
            f"tag {tag} releases {version}, but models/{ctx.model.name}/{version}/ is not in "
            "the tree"
        )
        if others:
            # The tag may be another model's release: never advise deleting it.
            owners = ", ".join(f"models/{o}/model.yaml" for o in others)
            advice = (
                f"its name also reads as a release of {owners} (MR709), so do not delete it: "
                "give each model its own tag_prefix, then restore the version directory"
            )
        else:
            advice = (
                "released versions stay (mark them `retired`), or delete the stray tag "
                f"(`git tag -d {tag}` and `git push origin :refs/tags/{tag}`)"
            )
        yield rule("MR704").finding(ctx.model_rel, f"{missing}; {advice}", line, col)


@check("model", rules=("MR709",))
def tag_prefix_unique(ctx: ModelContext) -> Iterator[Finding]:
    """No other model's release tags can be mistaken for this model's."""
    others = releases.tag_collisions(ctx.registry).get(ctx.model.name, [])
    if not others:
        return
    stems = releases.tag_stems(ctx.registry)
    line, col = ctx.position("tag_prefix") if "tag_prefix" in (ctx.data or {}) else (None, None)
    for other in others:
        yield rule("MR709").finding(
            ctx.model_rel,
            f"release tags `{stems[ctx.model.name]}<version>` of this model and "
            f"`{stems[other]}<version>` of models/{other}/model.yaml can be mistaken for each "
            "other, so a release of one would be judged (and could be moved or deleted) as "
            "the other's; give each model its own tag_prefix",
            line,
            col,
        )


@check("model", rules=("MR705", "MR706"))
def support_windows(ctx: ModelContext) -> Iterator[Finding]:
    """A `supported` version past its `supported_until`: warning, then error after the grace."""
    data = ctx.card
    # Without a policy an ended window is a warning only: a date must not turn a green
    # registry red overnight unless its owners asked for that with `support_grace_days`.
    grace = data.get("support_grace_days")
    today = ctx.options.today
    for version, entry in data["lifecycle"].items():
        until_text = entry.get("supported_until")
        if entry["status"] != "supported" or not isinstance(until_text, str):
            continue
        try:
            until = dt.date.fromisoformat(until_text)
        except ValueError:
            continue  # the schema reports a bad date
        if today <= until:
            continue
        line, col = ctx.position("lifecycle", version, "supported_until")
        days = (today - until).days
        deadline = None if grace is None else until + dt.timedelta(days=grace)
        what = (
            f"{version} is `supported` but its support ended on {until_text} "
            f"({days} day{'s' * (days != 1)} ago)"
        )
        fix = (
            "mark it `deprecated` (or `retired`) and move deployments to a supported version, "
            "or extend `supported_until` if support really continues"
        )
        if deadline is not None and today > deadline:
            yield rule("MR706").finding(
                ctx.model_rel,
                f"{what}, beyond the {grace}-day grace period (`support_grace_days`); {fix}",
                line,
                col,
            )
        else:
            yield rule("MR705").finding(
                ctx.model_rel,
                f"{what}; "
                + (
                    f"this becomes an error after {deadline.isoformat()}; "
                    if deadline
                    else "set `support_grace_days` in model.yaml to make this an error; "
                )
                + fix,
                line,
                col,
            )


@check("version", rules=("MR701", "MR702", "MR703"), needs_valid=False)
def released_version(ctx: VersionContext) -> Iterator[Finding]:
    """A released version is byte-identical to its annotated, unmoved tag."""
    found = releases.state(ctx.registry, ctx.options.scope)
    vs = found.versions.get((ctx.model.name, ctx.version.name))
    if found.repo is None or vs is None or vs.tag_ref is None:
        return
    tag = vs.tag_ref
    where = ctx.metadata_rel
    if not tag.annotated:
        yield rule("MR702").finding(
            where,
            f"release tag {vs.tag} is a lightweight tag; release tags must be annotated "
            f"(recreate it: `git tag -f -a {vs.tag} -m '...' {(tag.commit or '')[:12]}`, "
            "or delete it and run `modelreg release`)",
        )
    if tag.commit is None:
        yield rule("MR703").finding(where, f"release tag {vs.tag} does not point at a commit")
        return
    if not vs.tag_commit_present:
        return  # a shallow clone without the tagged commit: git_available says so
    if vs.tagged_tree is None:
        yield rule("MR703").finding(
            where,
            f"release tag {vs.tag} points at {tag.commit[:12]}, which has no {vs.git_dir}/; "
            "the tag was moved or created on the wrong commit: point it back at the commit "
            "that added the version",
        )
        return
    recorded = tag.trailer(releases.TREE_TRAILER)
    if recorded and recorded != vs.tagged_tree:
        yield rule("MR703").finding(
            where,
            f"release tag {vs.tag} was moved: it was created for {vs.git_dir}/ with tree "
            f"{recorded[:12]}, but now points at {tag.commit[:12]} where that tree is "
            f"{vs.tagged_tree[:12]}; restore the original tag",
        )
    if vs.differs:
        yield from _changed_files(ctx, vs)


def _changed_files(ctx: VersionContext, vs: releases.VersionState) -> Iterator[Finding]:
    """One MR701 finding per file that differs from the release tag (first few by name)."""
    found = releases.state(ctx.registry, ctx.options.scope)
    assert found.repo is not None and vs.tag_ref is not None and vs.tag_ref.commit is not None
    repo = found.repo
    paths: set[str] = set(vs.changed)
    for directory in (vs.git_dir, vs.git_overlay):
        tagged = repo.ls_tree(vs.tag_ref.commit, directory)
        current = repo.ls_tree("HEAD", directory) if found.head else {}
        paths.update(p for p in tagged.keys() | current.keys() if tagged.get(p) != current.get(p))
    message = (
        f"changed after its release ({vs.tag}); a released version is frozen: restore it "
        f"(`git checkout {vs.tag} -- {{path}}`) and release the change as a new version"
    )
    ordered = sorted(paths)
    for path in ordered[:MAX_LISTED]:
        rel = ctx.registry.rel(repo.root / path)
        yield rule("MR701").finding(rel, message.replace("{path}", path))
    if len(ordered) > MAX_LISTED:
        yield rule("MR701").finding(
            ctx.metadata_rel,
            f"{len(ordered) - MAX_LISTED} more files of {vs.git_dir}/ changed after {vs.tag}",
        )


@check("version", rules=("MR707", "MR708"), needs_valid=False)
def lfs_storage(ctx: VersionContext) -> Iterator[Finding]:
    """Artifacts are LFS pointers exactly where ``.gitattributes`` says LFS."""
    found = releases.state(ctx.registry, ctx.options.scope)
    vs = found.versions.get((ctx.model.name, ctx.version.name))
    if found.repo is None or vs is None:
        return
    for stored in vs.stored:
        if stored.is_pointer is None:
            continue  # not committed yet
        rel = ctx.registry.rel(found.repo.root / stored.git_path)
        if stored.expects_lfs and not stored.is_pointer:
            yield rule("MR707").finding(
                rel,
                "is committed as a plain git blob, but .gitattributes routes it to Git LFS "
                "(filter=lfs); re-add it so git stores a pointer: "
                f"`git rm --cached {stored.git_path} && git add {stored.git_path}` "
                "(`git lfs migrate import --include=...` rewrites history instead)",
            )
        elif stored.is_pointer and not stored.expects_lfs:
            yield rule("MR708").finding(
                rel,
                "is committed as a Git LFS pointer, but no .gitattributes line gives it "
                "filter=lfs, so clones check out the pointer text instead of the model; add "
                "`*.onnx filter=lfs diff=lfs merge=lfs -text` to .gitattributes (then: "
                f"{lfs_pull_command(rel)})",
            )


# -- GTO interop (MR710, docs/gto.md) ---------------------------------------------------


@check("registry", rules=("MR710",), needs_valid=False)
def gto_readable(ctx: RegistryContext) -> Iterator[Finding]:
    """overlays/gto.yaml maps environments to stages, and GTO can read the tags at all."""
    _stages, problem = stages.stage_map(ctx.registry.root / releases.OVERLAYS_DIR)
    if problem:
        yield rule("MR710").finding(
            f"{releases.OVERLAYS_DIR}/{stages.CONFIG_FILE}",
            f"{problem}; GTO stages were not compared with the environments (docs/gto.md)",
        )
    for tag in releases.gto_state(ctx.registry).unreadable:
        yield rule("MR710").finding(
            ctx.registry.rel(ctx.registry.models_dir),
            f"tag {tag} stops every GTO command (GTO 1.10.1 parses `@created` but cannot "
            f"index it: \"Unexpected error: 'action'\"), so GTO shows no stage at all; delete "
            f"it (`git tag -d '{tag}'` and `git push origin ':refs/tags/{tag}'`)",
        )


@check("model", rules=("MR710",))
def gto_agrees(ctx: ModelContext) -> Iterator[Finding]:
    """What GTO's tags say about this model is what model.yaml and the environments say."""
    artifact = releases.gto_state(ctx.registry).artifacts.get(ctx.model.name)
    if artifact is None:
        return
    name = ctx.model.name
    data = ctx.card
    statuses = {str(v): str(e["status"]) for v, e in data["lifecycle"].items()}
    line, col = ctx.key_position("lifecycle")
    if artifact.problem is not None:
        yield rule("MR710").finding(
            ctx.model_rel,
            f"GTO cannot read {name}'s stages: {artifact.problem}, and `gto show` fails; "
            "delete that tag: GTO assigns stages only to versions released from commits of "
            "their own",
            line,
            col,
        )
        return
    deprecated_by = artifact.latest_deprecation()
    if deprecated_by is not None:
        live = [f"{v} as `{s}`" for v, s in sorted(statuses.items()) if s in LIVE]
        if live:
            yield rule("MR710").finding(
                ctx.model_rel,
                f"GTO says {name} is deprecated (tag {deprecated_by}) but this model.yaml lists "
                f"{', '.join(live)}; deprecate or retire every version here and take it out of "
                f"its environments, or undo the deprecation in GTO (`git tag -d "
                f"'{deprecated_by}'` and `git push origin ':refs/tags/{deprecated_by}'`)",
                line,
                col,
            )
        return  # `gto show` hides a deprecated artifact: it has no stages to compare
    for gto_version, tag in sorted(artifact.deregistered().items()):
        version = gto.plain_version(gto_version)
        status = statuses.get(version)
        if status in LIVE:
            where = ctx.position("lifecycle", version, "status")
            yield rule("MR710").finding(
                ctx.model_rel,
                f"GTO deregistered {name}@{gto_version} (tag {tag}) but this model.yaml lists "
                f"{version} as `{status}`; mark it `deprecated` (or `retired`) here, or undo "
                f"the deregistration (`git tag -d '{tag}'` and "
                f"`git push origin ':refs/tags/{tag}'`)",
                *where,
            )
    yield from _stage_findings(ctx, artifact, statuses, (line, col))


def _stage_findings(
    ctx: ModelContext,
    artifact: gto.Artifact,
    statuses: dict[str, str],
    where: tuple[int | None, int | None],
) -> Iterator[Finding]:
    """One MR710 per mapped stage this model uses in GTO whose version differs from what
    the environment serves."""
    name = ctx.model.name
    mapping, problem = stages.stage_map(ctx.registry.root / releases.OVERLAYS_DIR)
    if problem:
        return  # gto_readable reports the file
    holders = artifact.stages()
    for env, stage in sorted(mapping.items()):
        if stage not in artifact.stages_used:
            continue  # this model does not use the stage in GTO
        served = _served(ctx.registry.root, name, env, statuses)
        if served is None:
            continue  # no environment and no lifecycle status says what it runs
        versions, source = served
        holder = holders.get(stage)
        if holder is not None and gto.plain_version(holder[0]) in versions:
            continue
        if len(versions) == 1:
            (only,) = versions
            record = f"`gto assign {name} --version v{only} --stage {stage}`"
        else:
            record = f"`gto assign {name} --version vX --stage {stage}` for the version it serves"
        if holder is None:
            message = (
                f"GTO has no version of {name} in stage `{stage}` (latest `{stage}` tag: "
                f"{artifact.last_stage_tag(stage)}) but {source}; record it in GTO: {record}"
            )
        else:
            gto_version, tag = holder
            what = (
                f"{name}@{gto_version}"
                if gto_version.startswith("v")
                else f"{gto.describe_version(gto_version)} of {name} (no version registered there)"
            )
            fix = (
                f"if {source.split(' ', 1)[0]} is right, record it in GTO: {record}"
                if versions
                else f"unassign it in GTO (`gto deprecate {name} {gto_version} {stage}`)"
            )
            message = f"GTO says {what} is in stage `{stage}` (tag {tag}) but {source}; {fix}"
            if gto_version.startswith("v") and versions:
                message += (
                    f", else promote {gto.plain_version(gto_version)} there with modelreg "
                    f"(`modelreg promote {name} {gto.plain_version(gto_version)} --env {env}`)"
                )
        yield rule("MR710").finding(ctx.model_rel, message, *where)


def _served(
    root: Path, model: str, env: str, statuses: dict[str, str]
) -> tuple[set[str], str] | None:
    """The versions ``env`` serves and how to say so, from its overlay (the alias's version,
    else every version listed) or, without overlays, for production from the lifecycle."""
    from modelreg.gitops import PRODUCTION
    from modelreg.gitops.envs import alias_version, environment_names, version_refs

    rel = f"{releases.OVERLAYS_DIR}/{env}"
    try:
        if env in environment_names(root):
            alias = alias_version(root, env, model)
            versions = (
                {alias}
                if alias is not None
                else {r.version for r in version_refs(root, env) if r.model == model}
            )
            if not versions:
                return set(), f"{rel} serves no version of {model}"
            return versions, f"{rel} serves {' and '.join(sorted(versions))}"
    except ModelregError:
        return None  # the gitops rules report an unreadable overlay
    if env != PRODUCTION:
        return None
    production = {v for v, s in statuses.items() if s == "production"}
    if not production:
        return set(), f"models/{model}/model.yaml has no `production` version"
    return production, (
        f"models/{model}/model.yaml has {' and '.join(sorted(production))} as `production`"
    )
