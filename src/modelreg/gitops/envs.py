"""Which versions run in which environment, read from ``overlays/<env>/kustomization.yaml``.

An environment overlay lists one ``resources:`` line ``../<model>/v<version>`` per running
version, grouped in one block per model, plus one ``<model>.alias.yaml`` per model: the stable
Service named after the model that selects the version the environment serves by default
(in production, the version whose lifecycle status is ``production``). These readers parse
YAML only and never start a process (they run on the ``validate --fast`` path).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modelreg.errors import ModelregError
from modelreg.gitops import BASE_DIR, OVERLAYS_DIR, PRODUCTION

KUSTOMIZATION = "kustomization.yaml"
ALIAS_SUFFIX = ".alias.yaml"
#: Annotation on the alias Service naming the version it selects.
ALIAS_VERSION_ANNOTATION = "modelreg.dev/version"
#: ``../<model>/v<version>`` in an environment's resources.
VERSION_REF_RE = re.compile(
    r"^\.\./(?P<model>[a-z0-9]([a-z0-9-]*[a-z0-9])?)/v(?P<version>[^/]+)/?$"
)

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelregError(f"{_rel(path, root)}: cannot read: {exc}") from exc
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ModelregError(f"{_rel(path, root)}{where}: not valid YAML: {exc}") from exc


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def environment_names(root: Path) -> list[str]:
    """Environment overlay directories, sorted: under overlays/, with a kustomization.yaml,
    not ``base`` (model directories hold kustomizations only one level deeper)."""
    top = overlays_dir(root)
    if not top.is_dir():
        return []
    return sorted(
        entry.name
        for entry in top.iterdir()
        if entry.is_dir()
        and entry.name != BASE_DIR
        and not entry.name.startswith(".")
        and (entry / KUSTOMIZATION).is_file()
    )


def version_refs(root: Path, env: str) -> list[VersionRef]:
    """The version lines of ``overlays/<env>/kustomization.yaml``, in file order."""
    path = overlays_dir(root) / env / KUSTOMIZATION
    if not path.is_file():
        raise ModelregError(
            f"{_rel(path, root)}: no such environment overlay "
            f"(environments here: {', '.join(environment_names(root)) or 'none'})"
        )
    data = _load(path, root)
    resources = data.get("resources", []) if isinstance(data, dict) else None
    if not isinstance(resources, list):
        raise ModelregError(f"{_rel(path, root)}: `resources` must be a list")
    lines = path.read_text(encoding="utf-8").splitlines()
    refs: list[VersionRef] = []
    for item in resources:
        if not isinstance(item, str):
            continue
        match = VERSION_REF_RE.match(item.strip())
        if match:
            refs.append(VersionRef(match["model"], match["version"], _line_of(lines, item)))
    return refs


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


def alias_path(root: Path, env: str, model: str) -> Path:
    """``overlays/<env>/<model>.alias.yaml``."""
    return overlays_dir(root) / env / f"{model}{ALIAS_SUFFIX}"


def alias_version(root: Path, env: str, model: str) -> str | None:
    """The version the stable Service alias of ``model`` selects in ``env`` (None: no alias)."""
    path = alias_path(root, env, model)
    if not path.is_file():
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
    if not (overlays_dir(root) / PRODUCTION / KUSTOMIZATION).is_file():
        return None
    version = alias_version(root, PRODUCTION, model)
    if version is not None:
        return version
    # Without an alias, an environment running a single version of the model is unambiguous.
    running = {ref.version for ref in version_refs(root, PRODUCTION) if ref.model == model}
    return running.pop() if len(running) == 1 else None
