"""GitOps rules (MR6xx): environments agree with the lifecycle, overlays are current and
portable, and what they render follows the deployment policy.

The fast rules read YAML only (no process: they run in the pre-commit hook); the rules that
need rendered manifests (MR610-MR616) run kustomize and are deep (skipped by ``--fast``; also
run by ``modelreg overlays --check``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from modelreg.checks import RegistryContext, check
from modelreg.config import Settings
from modelreg.errors import ModelregError
from modelreg.findings import Finding, Severity
from modelreg.git.releases import released_versions
from modelreg.git.tags import tag_name
from modelreg.gitops import BASE_DIR, CLUSTERS_DIR, OVERLAYS_DIR, PRODUCTION
from modelreg.gitops.envs import (
    KUSTOMIZATION,
    alias_path,
    alias_version,
    environment_names,
    noncanonical_entries,
    version_refs,
)
from modelreg.gitops.fence import (
    Fence,
    kustomization_dirs,
    load_yaml_stream,
    read_no_follow,
    shown,
)
from modelreg.gitops.kustomize import ObjectKey, RenderedObject
from modelreg.gitops.overlays import label_value, stale_version_overlays
from modelreg.gitops.policy import (
    FETCH_KEYS,
    POLICY_FILE,
    alias_problems,
    allowed_registries,
    allowlist_problems,
    cluster_problems,
    is_placeholder_url,
    object_problems,
    placeholder_message,
    serving_problems,
    static_problems,
)
from modelreg.rules import rule

#: overlays/base/registry.env: where the fetch step clones the registry and its LFS objects.
REGISTRY_ENV = "registry.env"
SOURCE_URL_KEYS = ("MODEL_SOURCE_URL", "LFS_URL")


def _lifecycle(ctx: RegistryContext, model: str) -> dict[str, Any] | None:
    entry = ctx.registry.models.get(model)
    data = ctx.registry.model_data(entry) if entry is not None else None
    lifecycle = data.get("lifecycle") if data else None
    return lifecycle if isinstance(lifecycle, dict) else None


def _has_overlays(ctx: RegistryContext) -> bool:
    return (ctx.registry.root / OVERLAYS_DIR).is_dir()


@check("registry", rules=("MR601", "MR602", "MR603", "MR604", "MR624"), needs_valid=False)
def environments_agree(ctx: RegistryContext) -> Iterator[Finding]:
    """Every environment line names a deployable version; production matches the lifecycle."""
    root = ctx.registry.root
    if not _has_overlays(ctx):
        return
    for env in environment_names(root):
        where = f"{OVERLAYS_DIR}/{env}/{KUSTOMIZATION}"
        try:
            refs = version_refs(root, env)
            odd = noncanonical_entries(root, env)
        except ModelregError as exc:
            yield rule("MR601").finding(where, str(exc).split(": ", 1)[-1])
            continue
        for field, item, line in odd:
            yield rule("MR624").finding(
                where, f"`{field}` entry {shown(item)} is not `../<model>/v<version>` nor a "
                "manifest of this directory; modelreg does not interpret it, so no lifecycle "
                "rule sees what it deploys (write `../<model>/v<version>`)", line or None,
            )  # fmt: skip
        running: dict[str, set[str]] = {}
        for ref in refs:
            running.setdefault(ref.model, set()).add(ref.version)
            entry = ctx.registry.models.get(ref.model)
            if entry is None or ref.version not in entry.versions:
                yield rule("MR601").finding(
                    where, f"runs {ref.model} {ref.version}, but models/{ref.model}/"
                    f"{ref.version} does not exist", ref.line,
                )  # fmt: skip
                continue
            overlay = root / OVERLAYS_DIR / ref.model / f"v{ref.version}" / KUSTOMIZATION
            if not overlay.is_file():
                yield rule("MR601").finding(
                    where, f"runs {ref.model} {ref.version}, but {OVERLAYS_DIR}/{ref.model}/"
                    f"v{ref.version} does not exist (generate it: `modelreg overlays`)", ref.line,
                )  # fmt: skip
            lifecycle = _lifecycle(ctx, ref.model)
            if lifecycle is None:
                continue
            status = (lifecycle.get(ref.version) or {}).get("status")
            if status is None:
                yield rule("MR602").finding(
                    where, f"runs {ref.model} {ref.version}, which is not in the model's "
                    "lifecycle", ref.line,
                )  # fmt: skip
            elif status in ("deprecated", "retired"):
                yield rule("MR602").finding(
                    where, f"runs {ref.model} {ref.version}, which is {status}; remove the line "
                    "(or roll back the promotion that added it)", ref.line,
                )  # fmt: skip
            elif env == PRODUCTION and status == "candidate":
                yield rule("MR604").finding(
                    where, f"production runs {ref.model} {ref.version}, still a candidate in "
                    f"model.yaml; promote it with `modelreg promote {ref.model} {ref.version} "
                    "--env production`", ref.line,
                )  # fmt: skip
        for model in sorted(running):
            try:
                aliased = alias_version(root, env, model)
            except ModelregError as exc:
                yield rule("MR603").finding(
                    ctx.registry.rel(alias_path(root, env, model)), str(exc).split(": ", 1)[-1]
                )
                continue
            alias_rel = ctx.registry.rel(alias_path(root, env, model))
            if aliased is not None and aliased not in running[model]:
                yield rule("MR603").finding(
                    alias_rel, f"the alias points at {model} {aliased}, which does not run in {env}"
                )


@check("registry", rules=("MR603", "MR604"), needs_valid=False)
def production_agrees(ctx: RegistryContext) -> Iterator[Finding]:
    """The lifecycle's production version runs in production and the alias selects it."""
    root = ctx.registry.root
    if PRODUCTION not in environment_names(root):
        return
    where = f"{OVERLAYS_DIR}/{PRODUCTION}/{KUSTOMIZATION}"
    try:
        refs = version_refs(root, PRODUCTION)
    except ModelregError:
        return  # environments_agree reports it
    running: dict[str, set[str]] = {}
    for ref in refs:
        running.setdefault(ref.model, set()).add(ref.version)
    env = PRODUCTION
    for model in sorted(ctx.registry.models):
        lifecycle = _lifecycle(ctx, model)
        if not lifecycle:
            continue
        production = [v for v, e in lifecycle.items() if (e or {}).get("status") == PRODUCTION]
        if len(production) != 1:
            continue  # the lifecycle rules (MR5xx) report that
        version = production[0]
        if version not in running.get(model, set()):
            yield rule("MR604").finding(
                where, f"{model} {version} is `production` in model.yaml but does not run "
                f"in production (add `../{model}/v{version}`: `modelreg promote {model} "
                f"{version} --env production`)",
            )  # fmt: skip
            continue
        try:
            aliased = alias_version(root, env, model)
        except ModelregError:
            continue  # reported above
        if aliased != version:
            yield rule("MR603").finding(
                ctx.registry.rel(alias_path(root, env, model)),
                f"the production alias of {model} points at {aliased or 'nothing'}, but "
                f"model.yaml says {version} is production",
            )


@check("registry", rules=("MR605",), needs_valid=False)
def overlays_current(ctx: RegistryContext) -> Iterator[Finding]:
    """Version overlays are what the metadata generates (compared as text, no kustomize)."""
    if not _has_overlays(ctx):
        return
    frozen = released_versions(ctx.registry, ctx.options.scope)
    for stale in stale_version_overlays(ctx.registry, frozen):
        yield rule("MR605").finding(stale.path, f"{stale.reason} (run `modelreg overlays`)")


def _kustomizations(root: Path) -> list[Path]:
    """Every overlays/**/kustomization.yaml, no symlink followed on the way."""
    return [root / rel / KUSTOMIZATION for rel in kustomization_dirs(root)]


@check("registry", rules=("MR623", "MR627"), needs_valid=False)
def kustomize_fenced(ctx: RegistryContext) -> Iterator[Finding]:
    """What every kustomize build would read stays in overlays/ (clusters/ for the cluster
    kustomizations), local, symlink-free and plugin-free; read without kustomize."""
    root = ctx.registry.root
    fence = Fence(root)
    seen: set[tuple[str, str, str, int | None]] = set()
    for area in (OVERLAYS_DIR, CLUSTERS_DIR):
        problems = list(fence.tree_problems(area))
        for rel in kustomization_dirs(root, area):
            problems += fence.check(rel)
        for p in problems:
            if (p.rule, p.path, p.message, p.line) not in seen:
                seen.add((p.rule, p.path, p.message, p.line))
                yield rule(p.rule).finding(p.path, p.message, p.line)


@check("registry", rules=("MR606",), needs_valid=False)
def kustomizations_portable(ctx: RegistryContext) -> Iterator[Finding]:
    """Every kustomization builds with default options: no remote, plugin or outside file."""
    if not _has_overlays(ctx):
        return
    for path in _kustomizations(ctx.registry.root):
        for rule_id, message in static_problems(path):
            yield rule(rule_id).finding(ctx.registry.rel(path), message)


@check("registry", rules=("MR617", "MR619", "MR628"), needs_valid=False)
def cluster_manifests(ctx: RegistryContext) -> Iterator[Finding]:
    """Flux and Argo CD manifests under clusters/ carry the fields they need and a real URL,
    and their controllers' CRD schemas accept them (as the API server would)."""
    root = ctx.registry.root
    for path in _cluster_files(root):
        rel = ctx.registry.rel(path)
        docs, why = _cluster_docs(root, path)
        if why:
            yield rule("MR617").finding(rel, f"cannot be read: {why}")
            continue
        schema_findings, required = _crd_findings(root, rel)
        yield from schema_findings
        for data in docs:
            if isinstance(data, dict):
                for rule_id, message in cluster_problems(data, root):
                    # A field the CRD requires is reported once, by MR628, with its line.
                    if rule_id == "MR617" and _required_field(message) in required:
                        continue
                    yield rule(rule_id).finding(rel, message)
    # The fetch init container clones this URL: a placeholder there fails every pod start.
    env_file = root / OVERLAYS_DIR / BASE_DIR / REGISTRY_ENV
    try:
        raw = read_no_follow(root, ctx.registry.rel(env_file))
        lines = raw.decode("utf-8", "replace").splitlines()
    except ModelregError:
        lines = []  # missing, or a symlink (MR623 reports it)
    for number, line in enumerate(lines, 1):
        key, sep, value = line.partition("=")
        if sep and key.strip() in SOURCE_URL_KEYS and is_placeholder_url(value):
            yield rule("MR619").finding(
                ctx.registry.rel(env_file),
                placeholder_message(f"`{key.strip()}`", value.strip()),
                number,
            )


def _crd_findings(root: Path, rel: str) -> tuple[list[Finding], set[tuple[str, str, str]]]:
    """MR628 for every Flux/Argo CD object of one clusters/ file (at its line), and the
    ``(kind, name, field)`` of each missing required field they report."""
    from modelreg.gitops import crdschema
    from modelreg.yamlload import format_path

    findings: list[Finding] = []
    required: set[tuple[str, str, str]] = set()
    try:
        raw = read_no_follow(root, rel)
    except ModelregError:
        return findings, required  # MR617 reports it
    for manifest in crdschema.manifests(raw, rel):
        data = manifest.data
        if not isinstance(data, dict) or not crdschema.known(data):
            continue
        metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        # Names and field paths come from the pull request: cut to a line's worth.
        name = str((metadata or {}).get("name") or "?")[:120]
        for v in crdschema.problems(data):
            # "`spec.url` is required" names its field; other messages get it in front.
            named = v.message.startswith("`")
            text = v.message if named else f"`{format_path(v.path)[:160]}`: {v.message}"
            if named and " is required" in v.message:
                required.add((str(data.get("kind")), name, v.message[1:].split("`", 1)[0]))
            findings.append(rule("MR628").finding(
                rel, f"{data.get('kind')} {name}: {text}", manifest.line(v.path, key=v.key)
            ))  # fmt: skip
    return findings, required


def _required_field(message: str) -> tuple[str, str, str] | None:
    """``(kind, name, field)`` of an MR617 "`field` is required" message."""
    head, sep, rest = message.partition(": `")
    if not sep or not rest.endswith("` is required"):
        return None
    kind, _, name = head.partition(" ")
    return kind, name, rest.removesuffix("` is required")


def _cluster_files(root: Path) -> list[Path]:
    """clusters/**/*.yaml, no symlink followed (MR623 reports symlinks there)."""
    top = root / CLUSTERS_DIR
    if not top.is_dir() or top.is_symlink():
        return []
    found = []
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if not (here / d).is_symlink()]
        found += [here / n for n in filenames if n.endswith(".yaml")]
    return sorted(p for p in found if not p.is_symlink())


def _cluster_docs(root: Path, path: Path) -> tuple[list[Any], str]:
    """The documents of a clusters/ file through the bounded loader, or why not."""
    rel = path.relative_to(root).as_posix()
    try:
        raw = read_no_follow(root, rel)
    except ModelregError as exc:
        return [], str(exc).split(": ", 1)[-1]
    docs, problems = load_yaml_stream(raw, rel)
    return docs, problems[0].message if problems else ""


class _SchemaJudge:
    """MR618 over the rendered objects: each problem reported once, where it is made.

    The base's objects are judged in the base; a version overlay reports only what the base did
    not already; an environment judges only the objects it adds or changes (its aliases,
    patches), not the version objects it includes unchanged.
    """

    def __init__(self, settings: Settings) -> None:
        from modelreg.gitops import k8sschema

        self.k8s = k8sschema
        self.version = k8sschema.kubernetes_version(settings)
        self.error: str | None = None
        if not k8sschema.available():
            self.error = k8sschema.not_installed_message()
        else:
            try:
                k8sschema.check_version(self.version)
            except ValueError as exc:
                self.error = str(exc)
        self.seen: set[tuple[str, str]] = set()  # (kind, problem without the object's name)
        self.from_versions: dict[ObjectKey, dict[str, Any]] = {}

    def finding(self) -> Finding | None:
        """The one finding that says schema validation could not run, if it could not."""
        if self.error is None:
            return None
        installed = self.k8s.available()
        return rule("MR618").finding(
            OVERLAYS_DIR, self.error, severity=None if installed else Severity.NOTE
        )

    def judge(self, data: dict[str, Any], *, dedup: bool = True) -> list[str]:
        """MR618 messages for one object (empty when valid, a custom resource, or not run)."""
        if self.error is not None:
            return []
        out = []
        for _rule_id, message in self.k8s.schema_problems(data, self.version):
            key = (str(data.get("kind")), message.split(": ", 1)[-1])
            if dedup and key in self.seen:
                continue
            self.seen.add(key)
            out.append(message)
        return out


def _without_namespace(data: dict[str, Any]) -> dict[str, Any]:
    metadata = {k: v for k, v in (data.get("metadata") or {}).items() if k != "namespace"}
    return {**data, "metadata": metadata}


def _build_all(
    ctx: RegistryContext, built: list[tuple[Path, str, list[RenderedObject]]]
) -> Iterator[Finding]:
    """Build every kustomization (one per core at a time) into ``built``; MR610 on failure."""
    from concurrent.futures import ThreadPoolExecutor  # deep path only: keep --fast lean

    from modelreg.gitops.kustomize import build, command, renders, split_objects

    fence = Fence(ctx.registry.root)
    paths = []
    for path in _kustomizations(ctx.registry.root):
        refused = fence.check(ctx.registry.rel(path.parent))
        if refused:
            # kustomize is not started on refused input; the fast check names each problem.
            rules = ", ".join(sorted({p.rule for p in refused}))
            yield rule("MR610").finding(
                ctx.registry.rel(path), f"not built: what it would read is refused ({rules})"
            )
        else:
            paths.append(path)
    # A bad MODELREG_KUSTOMIZE_* is the user's setting, not the overlays': exit 2, named.
    ctx.options.settings.valid("kustomize_timeout_s", "kustomize_memory_mb")
    try:
        command(ctx.options.settings)
    except ModelregError as exc:  # no kustomize at all: one finding, not one per overlay
        yield rule("MR901").finding(
            f"{OVERLAYS_DIR}/", f"overlays not built, so nothing about them was proven: {exc}"
        )
        return

    def build_one(path: Path) -> str | ModelregError:
        try:
            return build(
                path.parent, display=ctx.registry.rel(path.parent), settings=ctx.options.settings
            )
        except ModelregError as exc:
            return exc

    # kustomize runs as a subprocess: one build per core at a time, results in order. Each
    # output is parsed as soon as it arrives, while the next builds run, not after the last.
    findings: list[Finding] = []
    memo = renders(ctx.registry)  # environments judged again by checks/serving.py
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        for path, output in zip(paths, pool.map(build_one, paths), strict=True):
            where = ctx.registry.rel(path)
            if isinstance(output, ModelregError):
                memo[path.parent] = output
                findings.append(rule("MR610").finding(where, str(output).split(": ", 1)[-1]))
                continue
            try:
                objects = split_objects(output, where)
            except ModelregError as exc:
                memo[path.parent] = exc
                findings.append(rule("MR610").finding(where, str(exc).split(": ", 1)[-1]))
                continue
            memo[path.parent] = objects
            built.append((path.parent, where, objects))
    yield from findings


@check(
    "registry",
    rules=(
        "MR610",
        "MR611",
        "MR612",
        "MR613",
        "MR614",
        "MR615",
        "MR616",
        "MR618",
        "MR620",
        "MR621",
        "MR622",
        "MR625",
        "MR626",
        "MR901",
    ),
    deep=True,
    needs_valid=False,
)
def rendered_policy(ctx: RegistryContext) -> Iterator[Finding]:
    """Every overlay builds with plain kustomize; what it renders follows the policy and the
    strict Kubernetes schemas."""
    root = ctx.registry.root
    if not _has_overlays(ctx):
        return
    envs = set(environment_names(root))
    allowed, unusable = allowed_registries(root / OVERLAYS_DIR)
    if unusable:
        yield rule("MR622").finding(f"{OVERLAYS_DIR}/{POLICY_FILE}", unusable)
    schema = _SchemaJudge(ctx.options.settings)
    if (note := schema.finding()) is not None:
        yield note
    built: list[tuple[Path, str, list[RenderedObject]]] = []
    yield from _build_all(ctx, built)
    # Base first, then versions, then environments: each object is judged where it is made.
    order = {"base": 0, "version": 1, "env": 2}
    for directory, where, objects in sorted(built, key=lambda b: order[_overlay_kind(b[0], envs)]):
        kind = _overlay_kind(directory, envs)
        yield from _judge_overlay(kind, where, objects, schema, allowed)
    # What each environment serves, from its rendered objects (not annotations or names).
    for directory, where, objects in built:
        if _overlay_kind(directory, envs) == "env":
            yield from _serving(ctx, directory.name, where, objects)
    yield from _cluster_schema_findings(ctx, schema)


def _overlay_kind(directory: Path, envs: set[str]) -> str:
    """``base``, ``env`` (an environment's overlay) or ``version`` (a version's overlay)."""
    if directory.parent.name == OVERLAYS_DIR and directory.name == BASE_DIR:
        return "base"
    if directory.parent.name == OVERLAYS_DIR and directory.name in envs:
        return "env"
    return "version"


def _judge_overlay(
    kind: str,
    where: str,
    objects: list[RenderedObject],
    schema: _SchemaJudge,
    allowed: list[str] | None,
) -> Iterator[Finding]:
    """MR618 and the policy findings for the objects one overlay renders, each once."""
    seen: set[tuple[str, str]] = set()
    for obj in objects:
        if kind == "version":
            schema.from_versions[(obj.key[0], obj.key[1], "", obj.key[3])] = obj.data
        if kind == "env":
            included = schema.from_versions.get((obj.key[0], obj.key[1], "", obj.key[3]))
            if included is not None and included == _without_namespace(obj.data):
                continue
        problems = [("MR618", m) for m in schema.judge(obj.data)]
        # The policy: a version overlay judges its workload (before any promotion), an
        # environment only what it adds itself (the alias Services). The base alone
        # carries no model labels.
        if kind == "version" or (kind == "env" and obj.key[1] == "Service"):
            problems += object_problems(obj)
            if allowed is not None:
                problems += allowlist_problems(obj, allowed)
        for rule_id, message in problems:
            if (rule_id, message) not in seen:
                seen.add((rule_id, message))
                yield rule(rule_id).finding(where, message)


def _cluster_schema_findings(ctx: RegistryContext, schema: _SchemaJudge) -> Iterator[Finding]:
    """MR618 for the built-in objects in clusters/ applied beside the Flux objects (the
    Namespace)."""
    root = ctx.registry.root
    for path in _cluster_files(root):
        if path.name == KUSTOMIZATION:
            continue
        docs, why = _cluster_docs(root, path)
        if why:
            continue  # MR617 reports it
        for data in docs:
            if isinstance(data, dict):
                for message in schema.judge(data, dedup=False):
                    yield rule("MR618").finding(ctx.registry.rel(path), message)


def _expected_fetch(ctx: RegistryContext, model: str, version: str) -> dict[str, str | None] | None:
    """The fetch values ``models/<model>/<version>/metadata.yaml`` gives (as the version
    overlay generator writes them), or None when there is no such version."""
    entry = ctx.registry.models.get(model)
    if entry is None or version not in entry.versions:
        return None
    meta = ctx.registry.metadata(entry.versions[version])
    model_data = ctx.registry.model_data(entry)
    if meta is None or model_data is None:
        return None
    artifact = meta.get("artifact") or {}
    values: dict[str, str | None] = {
        "MODEL_NAME": model,
        "MODEL_VERSION": version,
        "MODEL_SHA256": str(artifact.get("sha256") or "") or None,
        "MODEL_REF": tag_name(model_data, version),
        "MODEL_PATH": f"models/{model}/{version}/{artifact.get('path', 'model.onnx')}",
        "MODEL_STORAGE_URI": str(artifact.get("storage_uri") or "") or None,
    }
    assert set(values) == set(FETCH_KEYS)
    return values


def _serving(
    ctx: RegistryContext, env: str, where: str, objects: list[RenderedObject]
) -> Iterator[Finding]:
    """MR626 for workloads that would fetch other bytes than their metadata says; MR625 for
    an alias Service that does not select exactly the version it must serve."""
    problems, workloads = serving_problems(
        objects, lambda m, v: _expected_fetch(ctx, m, v), label_value
    )
    root = ctx.registry.root
    running = {s.identity[0] for s in workloads.values() if s.identity is not None}
    for model in sorted(running):
        want: str | None = None
        if env == PRODUCTION:
            lifecycle = _lifecycle(ctx, model) or {}
            production = [v for v, e in lifecycle.items() if (e or {}).get("status") == PRODUCTION]
            want = str(production[0]) if len(production) == 1 else None
        else:
            try:
                want = alias_version(root, env, model)
            except ModelregError:
                want = None  # MR603 reports an unreadable alias
        if want is not None:
            problems += alias_problems(objects, workloads, model, want)
    for rule_id, message in dict.fromkeys(problems):
        yield rule(rule_id).finding(where, message)
