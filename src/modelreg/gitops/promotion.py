"""Promotion and rollback as git changes: one promotion is one commit, its revert the rollback.

A promotion edits two kinds of source files: ``models/<model>/model.yaml`` (the lifecycle:
the new version becomes ``production``, the old one ``supported`` with an end date) and
``overlays/<env>/`` (the version line and the alias). Then :func:`regenerate` rewrites, under
the same registry lock, the generated files those edits made stale (the pages of ``modelreg
render``, version overlays of ``modelreg overlays``), so the commit passes the registry's own
hooks. The commit carries the trailer ``Modelreg-Promotion: <model> <old>-><new> <env>``;
``rollback`` finds the newest such commit not yet reverted and reverts its source files (a
``git revert`` of them), then regenerates the pages again: the rendered manifests return byte
for byte, and a generated page changed since by another promotion never makes the revert
unclean.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelreg.errors import ModelregError, UsageError
from modelreg.git.repo import Repo
from modelreg.gitops import OVERLAYS_DIR, PRODUCTION
from modelreg.gitops.envs import KUSTOMIZATION, alias_path, environment_names
from modelreg.gitops.lifecycle import set_statuses
from modelreg.gitops.overlays import (
    alias_text,
    env_aliases,
    env_kustomization_text,
    running_versions,
    version_overlay_dir,
)
from modelreg.registry import Registry, discover
from modelreg.storage import registry_lock, write_all

TRAILER = "Modelreg-Promotion"
ROLLBACK_TRAILER = "Modelreg-Rollback"
GATES_TRAILER = "Modelreg-Gates"
#: How long a replaced production version stays supported unless --supported-until says.
DEFAULT_SUPPORT_DAYS = 90
_TRAILER_RE = re.compile(
    rf"^{TRAILER}: (?P<model>\S+) (?P<old>\S+)->(?P<new>\S+) (?P<env>\S+)\s*$", re.M
)
_REVERTED_RE = re.compile(
    rf"^(?:{ROLLBACK_TRAILER}: |This reverts commit )(?P<sha>[0-9a-f]{{7,40}})", re.M
)


@dataclass
class Change:
    """A promotion, planned: the new text of every file it touches."""

    model: str
    version: str
    env: str
    previous: str | None
    files: dict[Path, str] = field(default_factory=dict)  # absolute path → new text
    notes: list[str] = field(default_factory=list)

    @property
    def trailer(self) -> str:
        """The commit trailer that makes this promotion findable by ``rollback``."""
        return f"{TRAILER}: {self.model} {self.previous or 'none'}->{self.version} {self.env}"

    def message(self, gates: str) -> str:
        """The commit message."""
        body = "\n".join(self.notes)
        return (
            f"Promote {self.model} {self.version} to {self.env}\n\n"
            + (body + "\n\n" if body else "")
            + f"{self.trailer}\n{GATES_TRAILER}: {gates}\n"
        )

    def diff(self, root: Path) -> str:
        """A unified diff of the planned change against the files on disk."""
        out: list[str] = []
        for path, new in sorted(self.files.items()):
            old = path.read_text(encoding="utf-8") if path.is_file() else ""
            rel = path.relative_to(root).as_posix()
            out += difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                f"a/{rel}" if old else "/dev/null",
                f"b/{rel}",
            )
        return "".join(out)

    def write(self, root: Path) -> None:
        """Write every file as one change, under the registry lock (modelreg.storage)."""
        with registry_lock(root, f"modelreg promote {self.model} {self.version}"):
            write_all(root, self.files)


def plan_promotion(
    root: Path,
    model: str,
    version: str,
    env: str,
    *,
    supported_until: dt.date | None = None,
    today: dt.date | None = None,
) -> Change:
    """The files a promotion of ``model`` ``version`` to ``env`` changes (nothing written)."""
    registry = discover(root)
    entry = registry.models.get(model)
    if entry is None:
        raise UsageError(f"no model {model!r} under models/ (models: {', '.join(registry.models)})")
    if version not in entry.versions:
        raise UsageError(f"models/{model}/{version} does not exist")
    if env not in environment_names(root):
        raise UsageError(
            f"overlays/{env}/{KUSTOMIZATION} does not exist (environments: "
            f"{', '.join(environment_names(root)) or 'none'}; create them with `modelreg overlays`)"
        )
    if not (version_overlay_dir(root, model, version) / KUSTOMIZATION).is_file():
        raise ModelregError(
            f"overlays/{model}/v{version} does not exist; generate it with `modelreg overlays`"
        )
    model_data = _model_data(registry, model)
    lifecycle = model_data.get("lifecycle") or {}
    status = (lifecycle.get(version) or {}).get("status")
    if status in ("deprecated", "retired"):
        raise ModelregError(f"{model} {version} is {status} in model.yaml; it must not be deployed")
    running = running_versions(root, env)
    aliases = env_aliases(root, env)
    previous = aliases.get(model)
    change = Change(model, version, env, previous)
    if env == PRODUCTION:
        production = [v for v, e in lifecycle.items() if (e or {}).get("status") == "production"]
        previous = production[0] if production else previous
        change.previous = previous
        if previous == version and aliases.get(model) == version:
            raise ModelregError(f"{model} {version} is already the production version")
        until = supported_until or (today or dt.date.today()) + dt.timedelta(
            days=DEFAULT_SUPPORT_DAYS
        )
        edits: dict[str, tuple[str, str | None]] = {version: ("production", None)}
        if previous and previous != version:
            edits[previous] = ("supported", until.isoformat())
            change.notes.append(
                f"{model} {previous} keeps running in {env}, supported until {until.isoformat()}."
            )
        model_path = entry.model_path
        text = model_path.read_text(encoding="utf-8")
        change.files[model_path] = set_statuses(text, registry.rel(model_path), edits)
        versions = sorted(set(running.get(model, [])) | {version})
    else:
        if previous == version and running.get(model) == [version]:
            raise ModelregError(f"{model} {version} already runs in {env}")
        versions = [version]  # a pre-production environment runs one version per model
    running[model] = versions
    aliases[model] = version
    env_file = root / OVERLAYS_DIR / env / KUSTOMIZATION
    current = env_file.read_text(encoding="utf-8")
    change.files[env_file] = env_kustomization_text(current, env, running, aliases)
    change.files[alias_path(root, env, model)] = alias_text(model, env, version)
    # Drop files that would not change (a re-promotion of one part only).
    change.files = {
        p: t for p, t in change.files.items() if not p.is_file() or p.read_text("utf-8") != t
    }
    return change


def _model_data(registry: Registry, model: str) -> dict[str, Any]:
    data = registry.model_data(registry.models[model])
    if data is None:
        raise ModelregError(f"models/{model}/model.yaml cannot be read")
    return data


# -- git ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PromotionCommit:
    """A commit that carries a promotion trailer."""

    sha: str
    model: str
    old: str
    new: str
    env: str
    subject: str


def promotion_history(repo: Repo) -> tuple[list[PromotionCommit], set[str]]:
    """Promotion commits (newest first) and the commits already reverted."""
    out = repo.run("log", "--format=%H%x1f%B%x1e", "HEAD")
    promotions: list[PromotionCommit] = []
    reverted: set[str] = set()
    for record in out.split("\x1e"):
        if "\x1f" not in record:
            continue
        sha, body = record.strip("\n").split("\x1f", 1)
        for match in _REVERTED_RE.finditer(body):
            reverted.add(match["sha"])
        found = _TRAILER_RE.search(body)
        if found and not body.startswith("Revert"):
            promotions.append(
                PromotionCommit(
                    sha,
                    found["model"],
                    found["old"],
                    found["new"],
                    found["env"],
                    body.splitlines()[0] if body else "",
                )
            )
    return promotions, reverted


def _is_reverted(sha: str, reverted: set[str]) -> bool:
    return any(sha.startswith(r) or r.startswith(sha) for r in reverted)


def last_promotion(repo: Repo, model: str, env: str) -> PromotionCommit:
    """The newest promotion of ``model`` to ``env`` that has not been reverted."""
    promotions, reverted = promotion_history(repo)
    for commit in promotions:
        if commit.model == model and commit.env == env and not _is_reverted(commit.sha, reverted):
            return commit
    raise ModelregError(
        f"no promotion of {model} to {env} left to roll back (no commit with a "
        f"`{TRAILER}: {model} ... {env}` trailer that is not reverted yet); to point {env} "
        f"at another version, run `modelreg promote {model} VERSION --env {env}`"
    )


#: A version overlay's files (generated by ``modelreg overlays``), relative to the root.
#: Whether a registry-relative path is a generated file (pages, version overlays); the
#: rollback command hands in :func:`modelreg.render.regenerate.is_generated`.
IsGenerated = Callable[[str], bool]


def _source_paths(
    repo: Repo, commit: PromotionCommit, root: Path, is_generated: IsGenerated
) -> list[str]:
    """The files of a promotion commit a rollback reverts: all but the generated ones.

    Generated pages are regenerated after the revert instead: another promotion since (of
    another model) changed the same page, often next to the same lines, and a revert of the
    page would then be unclean although the promotion itself reverts cleanly.
    """
    out: list[str] = []
    for path in repo.run("show", "--format=", "--name-only", commit.sha).splitlines():
        if not path:
            continue
        try:
            rel = (repo.root / path).relative_to(root).as_posix()
        except ValueError:
            rel = path  # outside the registry: never generated by it
        if not is_generated(rel):
            out.append(path)
    return out


def _reverse_patch(repo: Repo, commit: PromotionCommit, paths: list[str]) -> bytes:
    return repo.run_bytes("show", "--format=", "--binary", "--no-color", commit.sha, "--", *paths)


def check_clean_revert(
    repo: Repo, commit: PromotionCommit, root: Path, is_generated: IsGenerated
) -> tuple[list[str], bytes]:
    """Raise unless reverting ``commit``'s source files applies cleanly to the work tree
    (nothing written); ``root`` is the registry root (default: the repository's). The source
    paths and the reverse patch that was checked."""
    paths = _source_paths(repo, commit, root.resolve(), is_generated)
    patch = _reverse_patch(repo, commit, paths)
    done = subprocess.run(
        ["git", "-C", str(repo.root), "apply", "--check", "-R", "-"],
        input=patch,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ModelregError(
            f"reverting {commit.sha[:12]} ({commit.subject}) is not a clean revert: later "
            f"changes touch the same lines ({reason[0] if reason else 'patch does not apply'}); "
            f"promote the version you want instead: "
            f"`modelreg promote {commit.model} {commit.old} --env {commit.env}`"
        )
    return paths, patch


def revert(
    repo: Repo,
    commit: PromotionCommit,
    root: Path,
    *,
    is_generated: IsGenerated,
    regenerate: Callable[[Path], list[Path]],
) -> str:
    """Revert the promotion as one commit with a rollback trailer; the new commit id.

    Its source files (model.yaml, overlays/ENV/) are reverted exactly as ``git revert`` would;
    the generated files are then regenerated (``regenerate``, under the registry lock the
    caller holds) and committed with them, so the rollback commit passes the hooks too.
    """
    root = root.resolve()
    paths, patch = check_clean_revert(
        repo, commit, root, is_generated
    )  # the same patch is applied below
    # `apply --index` trusts the index's stat data, as `git revert` does after refreshing it
    # (a copied or touched work tree would otherwise "not match the index").
    repo.run_bytes("update-index", "-q", "--refresh", ok=(0, 1))
    done = subprocess.run(
        ["git", "-C", str(repo.root), "apply", "-R", "--index", "-"],
        input=patch,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip()
        raise ModelregError(f"reverting {commit.sha[:12]} failed, nothing changed: {reason}")
    regenerated = [repo.relpath(p) for p in regenerate(root)]
    message = (
        f"Roll back {commit.model} in {commit.env}: {commit.new} -> {commit.old}\n\n"
        f'This reverts commit {commit.sha} ("{commit.subject}").\n\n'
        f"{ROLLBACK_TRAILER}: {commit.sha}\n"
    )
    # Commit exactly these paths, whatever else is staged in a shared work tree.
    if regenerated:
        repo.run("add", "-A", "--", *regenerated)
    repo.run("commit", "-q", "-m", message, "--", *sorted({*paths, *regenerated}))
    return repo.run("rev-parse", "HEAD").strip()


def commit_promotion(
    repo: Repo, change: Change, gates: str, regenerated: Sequence[Path] = ()
) -> str:
    """Commit the promotion's files and the files :func:`regenerate` rewrote for it (and
    only those, whatever else is staged in the work tree); the new commit id."""
    paths = sorted({repo.relpath(p) for p in (*change.files, *regenerated)})
    repo.run("add", "-A", "--", *paths)
    repo.run("commit", "-q", "-m", change.message(gates), "--", *paths)
    return repo.run("rev-parse", "HEAD").strip()
