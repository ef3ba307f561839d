"""Discovering a registry on disk: models, versions and the files that describe them.

A registry is a directory with ``models/``. Under it, each model is a directory with a
``model.yaml``; each version is a sub-directory named by its semantic version holding a
``metadata.yaml`` and the artifact. ``models/<model>/data/`` may hold evaluation data shared by
the model's versions. Documents are loaded lazily and at most once per process.

Every listing and every document is read through :mod:`modelreg.treefs`: a symlink is never
followed. A symlinked model or version directory is not a model or version at all; it is kept
in :attr:`Registry.symlinks` / :attr:`ModelEntry.symlinks` so that the layout checks report it
(MR006), and a symlinked document loads as an MR006 finding instead of its target's bytes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelreg.errors import UsageError
from modelreg.treefs import Entry, Refused, Tree
from modelreg.yamlload import Document, load_file

MODEL_FILE = "model.yaml"
METADATA_FILE = "metadata.yaml"
SHARED_DATA_DIR = "data"

SEMVER_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


def semver_key(version: str) -> tuple[Any, ...]:
    """Sort key with Semantic Versioning 2.0.0 precedence (pre-releases before releases)."""
    match = SEMVER_RE.match(version)
    if not match:
        return (float("inf"), version)
    major, minor, patch, pre, _build = match.groups()
    if pre is None:
        pre_key: tuple[Any, ...] = ((1,),)
    else:
        pre_key = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
        pre_key = ((0,), *pre_key)
    return (int(major), int(minor), int(patch), pre_key)


@dataclass
class VersionEntry:
    """One version directory of a model."""

    model: ModelEntry
    name: str
    dir: Path

    @property
    def metadata_path(self) -> Path:
        """``models/<model>/<version>/metadata.yaml``."""
        return self.dir / METADATA_FILE

    @property
    def has_metadata(self) -> bool:
        """Whether metadata.yaml is a regular file (a symlink is not: MR006)."""
        return self.model.registry.tree.is_file(self.metadata_path)


@dataclass
class ModelEntry:
    """One model directory."""

    registry: Registry
    name: str
    dir: Path
    versions: dict[str, VersionEntry] = field(default_factory=dict)
    strays: list[Path] = field(default_factory=list)
    #: Symlinks directly in the model directory (never followed; each is an MR006).
    symlinks: list[Entry] = field(default_factory=list)

    @property
    def model_path(self) -> Path:
        """``models/<model>/model.yaml``."""
        return self.dir / MODEL_FILE

    def sorted_versions(self) -> list[VersionEntry]:
        """Versions in semantic-version order, lowest first."""
        return sorted(self.versions.values(), key=lambda v: semver_key(v.name))


@dataclass(frozen=True)
class RunScope:
    """The part of a registry a limited run checks (a hook given some changed files).

    Facts gathered for many versions at once (git state) are gathered for these only, so a
    hook on one version never reads 2,000.
    """

    #: ``(model, version)`` of every version checked.
    versions: frozenset[tuple[str, str]]
    #: The models whose own rules are checked (their versions need not all be).
    models: frozenset[str]


@dataclass
class Registry:
    """A registry checkout rooted at ``root``.

    Model directories are listed lazily: :meth:`model` reads one model's directory, while
    :attr:`models` (and :attr:`strays`) list all of ``models/`` the first time they are used.
    A hook given one changed file therefore never lists the other 2,000 versions.
    """

    root: Path
    _listed: dict[str, ModelEntry] | None = field(default=None, repr=False)
    _strays: list[Path] = field(default_factory=list, repr=False)
    _symlinks: list[Entry] = field(default_factory=list, repr=False)
    _partial: dict[str, ModelEntry] = field(default_factory=dict, repr=False)
    _docs: dict[Path, Document] = field(default_factory=dict, repr=False)

    @property
    def models(self) -> dict[str, ModelEntry]:
        """Every model directory under ``models/``, by name (listed on first use)."""
        if self._listed is None:
            self._list_all()
        assert self._listed is not None
        return self._listed

    @property
    def strays(self) -> list[Path]:
        """Files directly under ``models/`` that are not model directories (or a README)."""
        if self._listed is None:
            self._list_all()
        return self._strays

    @property
    def symlinks(self) -> list[Entry]:
        """``models/`` itself when it is a symlink, else the symlinks directly under it."""
        if self._listed is None:
            self._list_all()
        return self._symlinks

    @property
    def tree(self) -> Tree:
        """Reads under the root that never follow a symlink (:mod:`modelreg.treefs`)."""
        return Tree(self.root)

    @property
    def fully_listed(self) -> bool:
        """Whether all of ``models/`` has been listed (not just the models asked for)."""
        return self._listed is not None

    def documents_read(self) -> list[Path]:
        """The YAML files this process has loaded, in load order."""
        return list(self._docs)

    def model(self, name: str) -> ModelEntry | None:
        """One model by name, reading only its directory (None when there is no such model)."""
        if self._listed is not None:
            return self._listed.get(name)
        found = self._partial.get(name)
        if found is None:
            directory = self.models_dir / name
            if not name or name.startswith(".") or "/" in name or not self.tree.is_dir(directory):
                return None
            found = self._partial[name] = _discover_model(self, directory)
        return found

    def _list_all(self) -> None:
        listed: dict[str, ModelEntry] = {}
        strays: list[Path] = []
        symlinks: list[Entry] = []
        try:
            entries = self.tree.listdir(self.models_dir)
        except Refused as exc:
            # models/ itself is a link: nothing behind it is a model of this registry.
            entries = []
            symlinks.append(Entry("models", self.models_dir, exc.rel, "symlink", exc.link))
        for entry in entries:
            if entry.kind == "symlink":
                symlinks.append(entry)
                continue
            if entry.name.startswith("."):
                continue
            if entry.kind != "dir":
                if entry.name.lower() != "readme.md":
                    strays.append(entry.path)
                continue
            # Entries already read one by one are kept: callers may hold them.
            found = self._partial.get(entry.name) or _discover_model(self, entry.path)
            listed[entry.name] = found
        self._listed, self._strays, self._symlinks = listed, strays, symlinks

    @property
    def models_dir(self) -> Path:
        """``<root>/models``."""
        return self.root / "models"

    def rel(self, path: Path) -> str:
        """``path`` relative to the root, with forward slashes (as findings print it)."""
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    def document(self, path: Path) -> Document:
        """The loaded YAML at ``path`` (loaded once; problems are findings on it)."""
        doc = self._docs.get(path)
        if doc is None:
            doc = self._docs[path] = load_file(path, self.rel(path), tree=self.tree)
        return doc

    def model_data(self, model: ModelEntry) -> dict[str, Any] | None:
        """model.yaml as a mapping, or None when it is missing or unparsable.

        As parsed, not schema-validated (hence ``dict[str, Any]``): once it passed the model
        schema, :func:`modelreg.types.valid_card` gives it its type."""
        if not self.tree.is_file(model.model_path):
            return None
        data = self.document(model.model_path).data
        return data if isinstance(data, dict) else None

    def metadata(self, version: VersionEntry) -> dict[str, Any] | None:
        """metadata.yaml as a mapping, or None when it is missing or unparsable.

        As parsed, not schema-validated (hence ``dict[str, Any]``): once it passed the metadata
        schema, :func:`modelreg.types.valid_metadata` gives it its type."""
        if not version.has_metadata:
            return None
        data = self.document(version.metadata_path).data
        return data if isinstance(data, dict) else None

    def version_at(self, target: str) -> VersionEntry:
        """The version a ``MODEL@VERSION`` argument names, or a usage error saying what exists."""
        model_name, sep, version_name = target.partition("@")
        model = self.models.get(model_name)
        if not sep or not version_name:
            raise UsageError(f"`{target}`: write MODEL@VERSION, e.g. bert-classifier@1.1.0")
        if model is None:
            known = ", ".join(sorted(self.models)) or "none"
            raise UsageError(f"`{target}`: no model `{model_name}` (models: {known})")
        if version_name not in model.versions:
            known = ", ".join(v.name for v in model.sorted_versions()) or "none"
            raise UsageError(f"`{target}`: {model_name} has no version {version_name} ({known})")
        return model.versions[version_name]


def find_root(start: Path) -> Path:
    """The nearest directory at or above ``start`` that has a ``models/`` directory."""
    # Lexical, not resolved: a PATH that is a symlink out of the registry must still find the
    # registry it was named in (which then reports the link), not the link's target.
    start = Path(os.path.normpath(start.absolute()))
    probe = start if start.is_dir() else start.parent
    for candidate in (probe, *probe.parents):
        # A symlinked models/ still marks the root: validate then reports it (MR006).
        if (candidate / "models").is_dir() or (candidate / "models").is_symlink():
            return candidate
    raise UsageError(
        f"no registry found at or above {start}: a registry is a directory with models/ "
        "(create one with `modelreg init DIR`, or pass --root)"
    )


def discover(root: Path) -> Registry:
    """The registry at ``root``; model directories are listed on demand (no file is read)."""
    registry = Registry(root.resolve())
    if not (registry.models_dir.is_dir() or registry.models_dir.is_symlink()):
        raise UsageError(f"{root} has no models/ directory; is it a registry?")
    return registry


def _discover_model(registry: Registry, directory: Path) -> ModelEntry:
    model = ModelEntry(registry, directory.name, directory)
    tree = registry.tree
    for entry in tree.listdir(directory):
        name = entry.name
        if entry.kind == "symlink":
            model.symlinks.append(entry)  # a version, model.yaml or data/ behind a link: MR006
            continue
        if name.startswith(".") or name == MODEL_FILE or name.lower().endswith(".md"):
            continue
        is_dir = entry.kind == "dir"
        if is_dir and name == SHARED_DATA_DIR:
            continue
        if is_dir and (SEMVER_RE.match(name) or tree.is_file(entry.path / METADATA_FILE)):
            model.versions[name] = VersionEntry(model, name, entry.path)
        else:
            model.strays.append(entry.path)
    return model
