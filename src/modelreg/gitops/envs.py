"""Which versions run in which environment, read from ``overlays/<env>/kustomization.yaml``.

An environment overlay lists one ``resources:`` line ``../<model>/v<version>`` per running
version, grouped in one block per model, plus one ``<model>.alias.yaml`` per model: the stable
Service named after the model that selects the version the environment serves by default
(in production, the version whose lifecycle status is ``production``). These readers parse
YAML only and never start a process (they run on the ``validate --fast`` path).
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelreg.errors import ModelregError
from modelreg.gitops import BASE_DIR, OVERLAYS_DIR, PRODUCTION
from modelreg.gitops.fence import load_yaml, read_no_follow

KUSTOMIZATION = "kustomization.yaml"
ALIAS_SUFFIX = ".alias.yaml"
#: Annotation on the alias Service naming the version it selects.
ALIAS_VERSION_ANNOTATION = "modelreg.dev/version"
#: ``../<model>/v<version>`` in an environment's resources: the one form modelreg interprets
#: (``./../m/v1``, ``../m/v1/`` or ``../m/../m/v1`` deploy the same directory, but are refused
#: by :func:`noncanonical_entries` instead of being read).
VERSION_REF_RE = re.compile(
    r"^\.\./(?P<model>[a-z0-9]([a-z0-9-]*[a-z0-9])?)/v(?P<version>"
    r"(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)\Z"
)
#: A manifest of the environment's own directory (an alias, a team's extra object).
_LOCAL_FILE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\.ya?ml\Z")
#: Fields through which a kustomization includes other directories.
_INCLUDE_FIELDS = ("resources", "components", "bases")


@dataclass(frozen=True)
class VersionRef:
    """One ``resources:`` line of an environment overlay that names a version overlay."""

    model: str
    version: str
    line: int  # 1-based line of the entry in kustomization.yaml


def overlays_dir(root: Path) -> Path:
    """``<root>/overlays``."""
    return root / OVERLAYS_DIR


def _load(path: Path, root: Path) -> Any:
    """``path`` read without following a symlink and parsed by the bounded loader."""
    rel = _rel(path, root)
    raw = read_no_follow(root, rel)  # raises with the reason (a symlink, too large, ...)
    data, problems = load_yaml(raw, rel)
    if problems:
        first = problems[0]
        where = f":{first.line}" if first.line else ""
        reason = first.message.removeprefix("cannot be read safely: ")
        raise ModelregError(f"{rel}{where}: not valid YAML: {reason}")
    return data


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def environment_names(root: Path) -> list[str]:
    """Environment overlay directories, sorted: under overlays/, with a kustomization.yaml,
    not ``base`` (model directories hold kustomizations only one level deeper)."""
    top = overlays_dir(root)
    if not _is_real_dir(top):
        return []
    # No symlink is followed: a symlinked environment is a finding (MR623), never read.
    return sorted(
        entry.name
        for entry in top.iterdir()
        if _is_real_dir(entry)
        and entry.name != BASE_DIR
        and not entry.name.startswith(".")
        and _is_real_file(entry / KUSTOMIZATION)
    )


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _is_real_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def version_refs(root: Path, env: str) -> list[VersionRef]:
    """The version lines of ``overlays/<env>/kustomization.yaml``, in file order."""
    data, lines = _env_kustomization(root, env)
    resources = data.get("resources", []) if isinstance(data, dict) else None
    if not isinstance(resources, list):
        raise ModelregError(f"{OVERLAYS_DIR}/{env}/{KUSTOMIZATION}: `resources` must be a list")
    refs: list[VersionRef] = []
    for item in resources:
        if not isinstance(item, str):
            continue
        match = VERSION_REF_RE.match(item)
        if match:
            refs.append(VersionRef(match["model"], match["version"], _line_of(lines, item)))
    return refs


def _env_kustomization(root: Path, env: str) -> tuple[Any, list[str]]:
    path = overlays_dir(root) / env / KUSTOMIZATION
    if not _is_real_file(path):
        raise ModelregError(
            f"{_rel(path, root)}: no such environment overlay "
            f"(environments here: {', '.join(environment_names(root)) or 'none'})"
        )
    data = _load(path, root)
    text = read_no_follow(root, _rel(path, root)).decode("utf-8", "replace")
    return data, text.splitlines()


def noncanonical_entries(root: Path, env: str) -> list[tuple[str, str, int]]:
    """``(field, entry, line)`` of every include of ``overlays/<env>/kustomization.yaml`` that
    is neither exactly ``../<model>/v<version>`` (under ``resources``) nor a manifest file of
    the environment's own directory. modelreg does not interpret them: ``./../m/v1.0.0`` would
    deploy a version no lifecycle rule sees."""
    data, lines = _env_kustomization(root, env)
    if not isinstance(data, dict):
        return []
    found = []
    for field in _INCLUDE_FIELDS:
        items = data.get(field)
        for item in items if isinstance(items, list) else []:
            text = str(item)
            if field == "resources" and isinstance(item, str) and VERSION_REF_RE.match(item):
                continue
            if isinstance(item, str) and _LOCAL_FILE_RE.match(item) and field == "resources":
                continue
            found.append((field, text, _line_of(lines, text)))
    return found


def _line_of(lines: list[str], item: str) -> int:
    pattern = re.compile(r"^\s*-\s*['\"]?" + re.escape(item) + r"['\"]?\s*(#.*)?$")
    for number, text in enumerate(lines, 1):
        if pattern.match(text):
            return number
    return 0


def environments(root: Path) -> dict[str, list[tuple[str, str]]]:
    """Environment → sorted ``(model, version)`` pairs running there."""
    return {
        env: sorted({(ref.model, ref.version) for ref in version_refs(root, env)})
        for env in environment_names(root)
    }


def environments_by_version(root: Path) -> dict[tuple[str, str], list[str]]:
    """(model, version) → the environments running it, in environment order."""
    found: dict[tuple[str, str], list[str]] = {}
    for env, pairs in environments(root).items():
        for pair in pairs:
            found.setdefault(pair, []).append(env)
    return found


def alias_path(root: Path, env: str, model: str) -> Path:
    """``overlays/<env>/<model>.alias.yaml``."""
    return overlays_dir(root) / env / f"{model}{ALIAS_SUFFIX}"


def alias_version(root: Path, env: str, model: str) -> str | None:
    """The version the stable Service alias of ``model`` selects in ``env`` (None: no alias)."""
    path = alias_path(root, env, model)
    if not os.path.lexists(path):  # a symlink is read (and refused) by _load, not skipped
        return None
    data = _load(path, root)
    annotations = (
        (data.get("metadata") or {}).get("annotations") if isinstance(data, dict) else None
    )
    version = annotations.get(ALIAS_VERSION_ANNOTATION) if isinstance(annotations, dict) else None
    if not isinstance(version, str):
        raise ModelregError(
            f"{_rel(path, root)}: the alias Service has no `{ALIAS_VERSION_ANNOTATION}` "
            "annotation (regenerate it with `modelreg promote`)"
        )
    return version


def production_version(root: Path, model: str) -> str | None:
    """The version the production alias of ``model`` points at; None when not in production.

    Without an alias file, the one version of ``model`` listed in production (None if several).
    """
    if not _is_real_file(overlays_dir(root) / PRODUCTION / KUSTOMIZATION):
        return None
    version = alias_version(root, PRODUCTION, model)
    if version is not None:
        return version
    # Without an alias, an environment running a single version of the model is unambiguous.
    running = {ref.version for ref in version_refs(root, PRODUCTION) if ref.model == model}
    return running.pop() if len(running) == 1 else None
