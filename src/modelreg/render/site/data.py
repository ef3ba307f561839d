"""The facts the site shows, gathered once: the registry's facts, environments, git history.

Nothing is derived here that :mod:`modelreg.render.facts` already knows (metrics, statuses,
support windows, tags, artifacts all come from :func:`~modelreg.render.facts.collect`, the
loader behind ``MODEL_REGISTRY.md``). What the markdown page does not need is added: the
commit the site shows, what each environment deploys now (:mod:`modelreg.gitops.envs`), and
each environment's history read from ``git log`` of ``overlays/<env>/kustomization.yaml``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from modelreg.errors import ModelregError
from modelreg.git.repo import GitError, Repo, open_repo
from modelreg.gitops import OVERLAYS_DIR
from modelreg.gitops import envs as gitops_envs
from modelreg.gitops.fence import load_yaml, read_no_follow
from modelreg.registry import Registry, discover, semver_key
from modelreg.render import _newest_release
from modelreg.render.asof import reference_date
from modelreg.render.facts import ModelFacts, collect, version_environments

#: ``https://github.com/<owner>/<repo>(.git)`` or ``git@github.com:<owner>/<repo>(.git)``.
_GITHUB_RE = re.compile(
    r"^(?:https://(?:[^@/]+@)?github\.com/|ssh://git@github\.com/|git@github\.com:)"
    r"(?P<owner>[A-Za-z0-9][A-Za-z0-9-]{0,38})/(?P<repo>[A-Za-z0-9._-]{1,100}?)(?:\.git)?/?$"
)
#: ``--date=format-local`` prints in the process's time zone: UTC, so every machine agrees.
UTC = {"TZ": "UTC"}
_SHA_RE = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")


@dataclass(frozen=True)
class Commit:
    """The commit a site shows (sha, ISO date in UTC), or an unknown one outside git."""

    sha: str
    date: str  # YYYY-MM-DD of the committer date, UTC; "" when unknown
    #: Files under models/ or overlays/ that differ from the commit (the site shows the work
    #: tree, so the pages say so instead of passing it off as the commit).
    uncommitted: int = 0


@dataclass(frozen=True)
class Change:
    """One commit that changed what an environment deploys."""

    env: str
    sha: str
    date: str  # committer date, YYYY-MM-DDTHH:MM:SSZ (UTC)
    author: str
    subject: str
    model: str
    before: tuple[str, ...]  # versions of ``model`` deployed before the commit
    after: tuple[str, ...]

    @property
    def kind(self) -> str:
        """``promotion`` or ``rollback`` (the highest deployed version went up or down), else
        ``added`` or ``removed`` (versions only added, or only taken out), else ``changed``."""
        if self.before and self.after:
            old = max(self.before, key=semver_key)
            new = max(self.after, key=semver_key)
            if semver_key(new) > semver_key(old):
                return "promotion"
            if semver_key(new) < semver_key(old):
                return "rollback"
        if set(self.before) <= set(self.after):
            return "added"
        if set(self.after) <= set(self.before):
            return "removed"
        return "changed"


@dataclass(frozen=True)
class SiteData:
    """Everything one build of the site reads."""

    root: Path
    commit: Commit
    models: tuple[ModelFacts, ...]
    #: environment → model → versions deployed there now (sorted by semver).
    live: dict[str, dict[str, tuple[str, ...]]]
    timeline: tuple[Change, ...]  # newest first
    github: tuple[str, str] | None  # (owner, repo) of a GitHub ``origin``
    tag_commits: dict[str, str]  # release tag → the commit it points at
    #: (model, version) → the settings its overlay hands the init container (MODEL_REF ...).
    deploy: dict[tuple[str, str], dict[str, str]]

    def model(self, name: str) -> ModelFacts:
        """The model called ``name``."""
        return next(m for m in self.models if m.name == name)


def _repo(root: Path) -> Repo | None:
    try:
        return open_repo(root)
    except GitError:
        return None


def _commit(repo: Repo | None) -> Commit:
    if repo is None:
        return Commit("0" * 40, "")
    try:
        line = repo.run(
            "log", "-1", "--format=%H %cd", "--date=format-local:%Y-%m-%d", "HEAD", env=UTC
        )
    except GitError:  # an unborn branch: no commit yet
        return Commit("0" * 40, "")
    sha, _, date = line.strip().partition(" ")
    try:
        changed = repo.changed_paths("models", OVERLAYS_DIR)
    except GitError:
        changed = set()
    return Commit(sha, date, len(changed))


def _live(root: Path) -> dict[str, dict[str, tuple[str, ...]]]:
    found: dict[str, dict[str, tuple[str, ...]]] = {}
    for env, pairs in sorted(gitops_envs.environments(root).items()):
        per: dict[str, list[str]] = {}
        for model, version in pairs:
            per.setdefault(model, []).append(version)
        found[env] = {m: tuple(sorted(v, key=semver_key)) for m, v in sorted(per.items())}
    return found


def _deployed(raw: bytes | None, display: str) -> dict[str, tuple[str, ...]]:
    """model → versions listed by one historic ``kustomization.yaml`` (empty when unreadable)."""
    if raw is None:
        return {}
    data, problems = load_yaml(raw, display)
    resources = data.get("resources") if isinstance(data, dict) and not problems else None
    per: dict[str, list[str]] = {}
    for item in resources if isinstance(resources, list) else []:
        match = gitops_envs.VERSION_REF_RE.match(item) if isinstance(item, str) else None
        if match:
            per.setdefault(match["model"], []).append(match["version"])
    return {m: tuple(sorted(set(v), key=semver_key)) for m, v in per.items()}


def _history(repo: Repo, envs: list[str]) -> list[Change]:
    """Each change of what ``overlays/<env>/`` deploys, newest commit first.

    One ``git log`` over every environment's kustomization (children before parents, so
    commits made in the same second keep their order) and one batch read of the files.
    """
    rels = {env: f"{OVERLAYS_DIR}/{env}/{gitops_envs.KUSTOMIZATION}" for env in envs}
    try:
        log = repo.run(
            "log",
            "--topo-order",
            "--reverse",
            "--format=%H%x1f%cd%x1f%an%x1f%s",
            "--date=format-local:%Y-%m-%dT%H:%M:%SZ",
            "HEAD",
            "--",
            *rels.values(),
            env=UTC,
        )
    except GitError:
        return []
    commits = [line.split("\x1f") for line in log.splitlines() if line.count("\x1f") == 3]
    ids = repo.object_ids(f"{c[0]}:{rel}" for c in commits for rel in rels.values())
    blob_ids = [found[0] for found in ids.values() if found is not None and found[1] == "blob"]
    blobs = repo.blobs(blob_ids)
    changes: list[Change] = []
    before: dict[str, dict[str, tuple[str, ...]]] = {env: {} for env in envs}
    for sha, date, author, subject in commits:
        for env, rel in sorted(rels.items()):
            found = ids.get(f"{sha}:{rel}")
            after = _deployed(blobs.get(found[0]) if found else None, rel)
            for model in sorted(set(before[env]) | set(after)):
                old, new = before[env].get(model, ()), after.get(model, ())
                if old != new:
                    changes.append(Change(env, sha, date, author, subject, model, old, new))
            before[env] = after
    changes.reverse()
    return changes


def _github(repo: Repo | None) -> tuple[str, str] | None:
    if repo is None:
        return None
    try:
        url = repo.run("config", "--get", "remote.origin.url").strip()
    except GitError:
        return None
    match = _GITHUB_RE.match(url)
    return (match["owner"], match["repo"]) if match else None


def gather(root: Path, today: dt.date | None = None, registry: Registry | None = None) -> SiteData:
    """Read the registry at ``root`` (already validated by the caller) and its git history.

    ``registry``: the one the caller's checks loaded, so every document is parsed once and
    the pages show exactly what was checked.
    """
    if registry is None:
        registry = discover(root)
    as_of = reference_date(registry.root, today, _newest_release(registry))
    models = tuple(collect(registry, as_of, version_environments(registry.root)))
    repo = _repo(registry.root)
    commit = _commit(repo)
    if repo is not None and repo.root != registry.root.resolve():
        repo = None  # a registry in a sub-directory of another repository: no history of ours
    live = _live(registry.root)
    timeline = _history(repo, list(live)) if repo is not None and commit.date else []
    if commit.sha != "0" * 40 and not _SHA_RE.match(commit.sha):
        raise ModelregError(f"git printed {commit.sha!r} for HEAD; expected a commit id")
    tags: dict[str, str] = {}
    if repo is not None:
        tags = {t.name: t.commit for t in repo.tags(messages=False).values() if t.commit}
    deploy = {
        (v.model, v.version): _settings(registry.root, v.overlay)
        for m in models
        for v in m.versions
        if v.overlay
    }
    return SiteData(
        registry.root, commit, models, live, tuple(timeline), _github(repo), tags, deploy
    )


def _literals(data: object) -> dict[str, str]:
    found: dict[str, str] = {}
    generators = data.get("configMapGenerator") if isinstance(data, dict) else None
    for gen in generators if isinstance(generators, list) else []:
        literals = gen.get("literals") if isinstance(gen, dict) else None
        for item in literals if isinstance(literals, list) else []:
            if isinstance(item, str) and "=" in item:
                key, _, value = item.partition("=")
                found[key] = value
    return found


def _env_file(root: Path, rel: str) -> dict[str, str]:
    try:
        raw = read_no_follow(root, rel)
    except ModelregError:
        return {}
    found = {}
    for line in raw.decode("utf-8", "replace").splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and not key.startswith("#"):
            found[key] = value
    return found


def _settings(root: Path, overlay: str) -> dict[str, str]:
    """What an overlay hands ``fetch-model.sh``: its literals and ``overlays/base/registry.env``."""
    rel = f"{overlay}/{gitops_envs.KUSTOMIZATION}"
    try:
        data, problems = load_yaml(read_no_follow(root, rel), rel)
    except ModelregError:
        return {}
    found = _env_file(root, f"{OVERLAYS_DIR}/base/registry.env")
    if not problems:
        found.update(_literals(data))
    keep = ("MODEL_SOURCE_URL", "MODEL_STORAGE_URI", "MODEL_REF", "MODEL_PATH", "MODEL_SHA256")
    return {k: v for k, v in found.items() if k in keep}
