"""What git knows about a registry's releases, read with a constant number of git calls.

:func:`state` answers, for every version of every model at once: its release tag (derived
by :func:`modelreg.git.tags.tag_name`, never stored), whether that tag is annotated, the tree id
of the version directory (and of its overlay) at the tag and at HEAD, which paths changed
since HEAD, and how each artifact is stored (LFS pointer or plain blob) against what
``.gitattributes`` expects. The git calls are: ``rev-parse`` (1), ``for-each-ref`` (1),
``cat-file --batch-check`` (1), ``check-attr`` (1), ``status`` (1, only when something is
released) and ``cat-file --batch`` (1, only for blobs small enough to be pointers) — the
same six for 1 or 10,000 versions. The result is cached per :class:`Registry` object.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelreg.git import gto
from modelreg.git.lfs import MAX_POINTER_BYTES, PointerError, looks_like_pointer, parse_pointer
from modelreg.git.repo import GitError, Repo, Tag, open_repo
from modelreg.git.tags import tag_name, tag_stem, tag_version
from modelreg.registry import SEMVER_RE, ModelEntry, Registry, RunScope, VersionEntry

OVERLAYS_DIR = "overlays"
#: Message lines ``modelreg release`` writes into each tag (git trailer form).
TREE_TRAILER = "Version-Tree"
SHA_TRAILER = "Artifact-Sha256"


def overlay_dir(registry_root: Path, model: str, version: str) -> Path:
    """``overlays/<model>/v<version>``: the version's frozen Kustomize overlay."""
    return registry_root / OVERLAYS_DIR / model / f"v{version}"


@dataclass
class Stored:
    """How one artifact file is committed (in the index) and how it should be."""

    git_path: str
    expects_lfs: bool
    #: None when the file is not in the index (new, untracked).
    is_pointer: bool | None


@dataclass
class VersionState:
    """Git facts about one version directory."""

    tag: str
    tag_ref: Tag | None
    git_dir: str
    git_overlay: str
    #: Tree id of the version directory at the tag's commit (None: not there).
    tagged_tree: str | None = None
    tagged_overlay: str | None = None
    #: Whether the tag's commit exists here (a shallow clone may lack it).
    tag_commit_present: bool = True
    head_tree: str | None = None
    head_overlay: str | None = None
    changed: list[str] = field(default_factory=list)
    #: Git paths of the artifact and its external data files.
    artifacts: list[str] = field(default_factory=list)
    stored: list[Stored] = field(default_factory=list)

    @property
    def released(self) -> bool:
        """Whether the version has a release tag."""
        return self.tag_ref is not None

    @property
    def differs(self) -> bool:
        """Whether the directory (or its overlay) is not byte-identical to the tag."""
        if not self.released or not self.tag_commit_present or self.tagged_tree is None:
            return False
        if self.head_tree != self.tagged_tree or bool(self.changed):
            return True
        return self.tagged_overlay is not None and self.head_overlay != self.tagged_overlay


@dataclass
class State:
    """The git facts of a whole registry; ``problem`` says why there are none."""

    repo: Repo | None
    problem: str | None = None
    tags: dict[str, Tag] = field(default_factory=dict)
    head: str | None = None
    versions: dict[tuple[str, str], VersionState] = field(default_factory=dict)
    #: model → ``(tag, version, other models that could own the tag)`` for every tag that
    #: names a version of it that has no directory (and no other model's directory either).
    orphans: dict[str, list[tuple[str, str, tuple[str, ...]]]] = field(default_factory=dict)


_CACHE: dict[tuple[int, RunScope | None], tuple[weakref.ref[Registry], State]] = {}
#: tag stem → the models (with their model.yaml) whose release tags start with it.
Stems = dict[str, list[tuple[str, dict[str, Any]]]]


def state(registry: Registry, scope: RunScope | None = None) -> State:
    """The registry's git facts (of the versions and models in ``scope``; None: all),
    computed once per Registry object and scope."""
    key = (id(registry), scope)
    cached = _CACHE.get(key)
    if cached is not None and cached[0]() is registry:
        return cached[1]
    result = _compute(registry, scope)
    _CACHE[key] = (weakref.ref(registry), result)
    return result


def released_versions(
    registry: Registry, scope: RunScope | None = None
) -> frozenset[tuple[str, str]]:
    """``(model, version)`` of every version (in ``scope``) with a release tag (empty
    outside git)."""
    return frozenset(key for key, v in state(registry, scope).versions.items() if v.released)


def model_tag_data(registry: Registry, model: ModelEntry) -> dict[str, Any] | None:
    """model.yaml when it names its tags well enough to derive them (else None)."""
    data = registry.model_data(model)
    if data is None:
        return None
    try:
        tag_stem(data)
    except (KeyError, TypeError, ValueError):
        return None
    return data


_GTO: dict[int, tuple[weakref.ref[Registry], gto.State]] = {}


def gto_state(registry: Registry) -> gto.State:
    """What GTO says about the registry's models (stages, deregistrations, deprecations);
    computed once per Registry object. Without a GTO stage or deprecation tag among the
    tags :func:`state` read, there is nothing to say and no git call is made."""
    cached = _GTO.get(id(registry))
    if cached is not None and cached[0]() is registry:
        return cached[1]
    found = state(registry)
    result = gto.State()
    if found.repo is not None and gto.uses_stages(found.tags):
        result = gto.read(found.repo)
    _GTO[id(registry)] = (weakref.ref(registry), result)
    return result


_STEMS: dict[int, tuple[weakref.ref[Registry], dict[str, str]]] = {}


def tag_stems(registry: Registry) -> dict[str, str]:
    """model name → the stem of its release tags, for every model of the registry (whatever
    the run's scope: tags are shared by all models); computed once per Registry object."""
    cached = _STEMS.get(id(registry))
    if cached is not None and cached[0]() is registry:
        return cached[1]
    stems: dict[str, str] = {}
    for model in registry.models.values():
        data = model_tag_data(registry, model)
        if data is not None:
            stems[model.name] = tag_stem(data)
    _STEMS[id(registry)] = (weakref.ref(registry), stems)
    return stems


def stems_overlap(a: str, b: str) -> bool:
    """Whether a release tag of stem ``a`` could be read as a release of stem ``b`` or back.

    Equal stems (also when they differ only in case: tags are files on a case-insensitive
    file system), or one stem extending the other so that the rest reads as the start of a
    semantic version: ``bert-v`` and ``bert-v1.0.0-v`` both read ``bert-v1.0.0-v2.0.0``
    (``1.0.0-v2.0.0`` is a pre-release). ``model-v`` and ``model-vision-v`` do not overlap.
    """
    short, long = sorted((a.casefold(), b.casefold()), key=len)
    if not long.startswith(short):
        return False
    return long == short or SEMVER_RE.match(long[len(short) :] + "1.0.0") is not None


def tag_collisions(registry: Registry) -> dict[str, list[str]]:
    """model → the other models whose release tags its own tags could be mistaken for.

    Linear in the stems' total length: equal stems are grouped, and each stem's shorter
    candidates are its own prefixes that end where a stem ends (``-v`` or ``@v``).
    """
    stems = tag_stems(registry)
    by_stem: dict[str, list[str]] = {}
    for model, stem in stems.items():
        by_stem.setdefault(stem.casefold(), []).append(model)
    found: dict[str, set[str]] = {}
    for model, stem in stems.items():
        folded = stem.casefold()
        for other in by_stem[folded]:
            if other != model:
                found.setdefault(model, set()).add(other)
        for end in range(2, len(folded)):
            prefix = folded[:end]
            if prefix in by_stem and stems_overlap(prefix, folded):
                for other in by_stem[prefix]:
                    found.setdefault(model, set()).add(other)
                    found.setdefault(other, set()).add(model)
    return {model: sorted(others) for model, others in found.items()}


def artifact_paths(meta: dict[str, Any] | None) -> list[str]:
    """The artifact and its external data files, relative to the version directory."""
    if not meta or not isinstance(meta.get("artifact"), dict):
        return []
    artifact = meta["artifact"]
    paths = [artifact.get("path")]
    for item in artifact.get("external_data") or []:
        if isinstance(item, dict):
            paths.append(item.get("path"))
    return [p for p in paths if isinstance(p, str) and p and ".." not in p.split("/")]


def _compute(registry: Registry, scope: RunScope | None) -> State:
    try:
        repo = open_repo(registry.root)
    except GitError as exc:
        return State(None, str(exc))
    result = State(repo)
    result.tags = repo.tags()
    result.head = repo.head()
    if repo.shallow and not result.tags:
        result.problem = (
            "this is a shallow clone without tags, so release tags and immutability were not "
            "checked; fetch them (`git fetch --tags --unshallow`, or `fetch-depth: 0` in "
            "actions/checkout)"
        )

    entries: list[tuple[VersionEntry, VersionState]] = []
    stems: Stems = {}
    for model in _models_in_scope(registry, scope):
        data = model_tag_data(registry, model)
        if data is None:
            continue
        stems.setdefault(tag_stem(data), []).append((model.name, data))
        for version in model.versions.values():
            if scope is not None and (model.name, version.name) not in scope.versions:
                continue
            name = tag_name(data, version.name)
            vs = VersionState(
                name,
                result.tags.get(name),
                repo.relpath(version.dir),
                _git_path(repo, overlay_dir(registry.root, model.name, version.name)),
            )
            result.versions[(model.name, version.name)] = vs
            entries.append((version, vs))
    _find_orphans(registry, result, stems)

    artifacts = _read_objects(registry, repo, result, entries)
    _read_changes(repo, entries)
    _read_storage(repo, entries, artifacts)
    return result


def _models_in_scope(registry: Registry, scope: RunScope | None) -> list[ModelEntry]:
    """Every model, or in a limited run only those it concerns (their model.yaml alone is read)."""
    if scope is None:
        return list(registry.models.values())
    names = {m for m, _v in scope.versions} | set(scope.models)
    found = (registry.model(name) for name in sorted(names))
    return [m for m in found if m is not None]


def _read_objects(
    registry: Registry, repo: Repo, result: State, entries: list[tuple[VersionEntry, VersionState]]
) -> dict[str, tuple[str, str, int] | None]:
    """Tree ids at HEAD and at each tag, and the index's artifact blobs: one git call."""
    specs: list[str] = []
    for version, vs in entries:
        if result.head:
            specs += [f"HEAD:{vs.git_dir}", f"HEAD:{vs.git_overlay}"]
        commit = vs.tag_ref.commit if vs.tag_ref else None
        if commit:
            specs += [commit, f"{commit}:{vs.git_dir}", f"{commit}:{vs.git_overlay}"]
        vs.artifacts = [f"{vs.git_dir}/{p}" for p in artifact_paths(registry.metadata(version))]
        specs += [f":{p}" for p in vs.artifacts]
    ids = repo.object_ids(specs)

    def tree(spec: str) -> str | None:
        found = ids.get(spec)
        return found[0] if found and found[1] == "tree" else None

    for _version, vs in entries:
        vs.head_tree = tree(f"HEAD:{vs.git_dir}")
        vs.head_overlay = tree(f"HEAD:{vs.git_overlay}")
        commit = vs.tag_ref.commit if vs.tag_ref else None
        if commit:
            vs.tag_commit_present = ids.get(commit) is not None
            vs.tagged_tree = tree(f"{commit}:{vs.git_dir}")
            vs.tagged_overlay = tree(f"{commit}:{vs.git_overlay}")
    return ids


def _read_changes(repo: Repo, entries: list[tuple[VersionEntry, VersionState]]) -> None:
    """Paths of released versions changed since HEAD: one ``git status``, if any is released."""
    released = [vs for _v, vs in entries if vs.released]
    if not released:
        return
    dirs = [vs.git_dir for vs in released] + [
        vs.git_overlay for vs in released if vs.tagged_overlay
    ]
    changed = repo.changed_paths(*_top_dirs(dirs))
    for vs in released:
        vs.changed = sorted(
            p for p in changed if _under(p, vs.git_dir) or _under(p, vs.git_overlay)
        )


def _read_storage(
    repo: Repo,
    entries: list[tuple[VersionEntry, VersionState]],
    ids: dict[str, tuple[str, str, int] | None],
) -> None:
    """Expected (``check-attr``) and actual (pointer or not) storage of every artifact."""
    all_paths = [p for _v, vs in entries for p in vs.artifacts]
    filters = repo.check_attr("filter", all_paths)
    small = [
        found[0]
        for p in all_paths
        if (found := ids.get(f":{p}")) and found[1] == "blob" and found[2] <= MAX_POINTER_BYTES
    ]
    contents = repo.blobs(small)
    for _version, vs in entries:
        for p in vs.artifacts:
            found = ids.get(f":{p}")
            pointer: bool | None = None
            if found and found[1] == "blob":
                pointer = found[0] in contents and _is_pointer(contents[found[0]])
            vs.stored.append(Stored(p, filters.get(p) == "lfs", pointer))


def _git_path(repo: Repo, path: Path) -> str:
    """Like ``repo.relpath`` for a path that may not exist."""
    return path.relative_to(repo.root).as_posix() if path.is_absolute() else path.as_posix()


def _under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory + "/")


def _top_dirs(paths: list[str]) -> list[str]:
    """The shortest list of pathspecs covering ``paths`` (``models``, ``overlays``, ...)."""
    roots: set[str] = set()
    for p in paths:
        parts = p.split("/")
        # models/<model>/<version> → models/<model>; keeps the command line short.
        roots.add("/".join(parts[: max(1, len(parts) - 1)]))
    return sorted(roots)


def _is_pointer(data: bytes) -> bool:
    if not looks_like_pointer(data):
        return False
    try:
        parse_pointer(data)
    except PointerError:
        return False
    return True


def _find_orphans(registry: Registry, result: State, stems: Stems) -> None:
    """Tags of a model's form whose version has no directory (linear in the number of tags).

    A tag that another model could also own (see :func:`stems_overlap`) is nobody's orphan
    when that model has the version, and otherwise is reported with the other owners named,
    so that MR704 never advises deleting another model's release.
    """
    every: Stems | None = None  # read only when some tag looks orphaned
    for name in result.tags:
        for model_name, version in _readings(name, stems):
            entry = registry.model(model_name)
            if entry is None or version in entry.versions:
                continue
            every = _all_stems(registry) if every is None else every
            owners = [(other, v) for other, v in _readings(name, every) if other != model_name]
            if any(
                (found := registry.model(other)) is not None and v in found.versions
                for other, v in owners
            ):
                continue  # the release of another model whose tags look like this one's
            result.orphans.setdefault(model_name, []).append(
                (name, version, tuple(sorted(other for other, _v in owners)))
            )


def _readings(tag: str, stems: Stems) -> list[tuple[str, str]]:
    """Every ``(model, version)`` that ``tag`` reads as, given the models' tag stems."""
    found: list[tuple[str, str]] = []
    for marker in ("-v", "@v"):
        start = tag.find(marker)
        while start != -1:
            for model_name, data in stems.get(tag[: start + 2], []):
                version = tag_version(data, tag)
                if version is not None:
                    found.append((model_name, version))
            start = tag.find(marker, start + 1)
    return found


def _all_stems(registry: Registry) -> Stems:
    """Every model's stem (not only those in scope), for the rare tag that looks orphaned."""
    mapped: Stems = {}
    for model_name in tag_stems(registry):
        entry = registry.model(model_name)
        data = model_tag_data(registry, entry) if entry is not None else None
        if data is not None:
            mapped.setdefault(tag_stem(data), []).append((model_name, data))
    return mapped
