"""Checks: the runner, the deep-check cache, CI selection, and the rule families' checks.

:mod:`~modelreg.checks.runner` runs the registered checks over a selection,
:mod:`~modelreg.checks.cache` skips deep work that passed before on the same bytes, and
:mod:`~modelreg.checks.ci` says which versions a pull request touches and balances shards.
Every other module of this package is a rule family.

This module is the plug-in point: small functions that yield findings, registered by scope.

A check is a function decorated with :func:`check`. It receives a context for one version,
one model or the whole registry and yields :class:`~modelreg.findings.Finding` objects with
rule ids from :mod:`modelreg.rules`. Adding a check family means adding a module to this
package: it is found by listing the package, so no shared list changes, and neither do the
runner or the reporters (findings are sorted before they are reported).

Checks marked ``deep`` need the artifact's bytes or onnx/onnxruntime and are skipped by
``--fast``; they import heavy libraries inside the function, never at module level.
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from modelreg.config import Settings, or_env
from modelreg.findings import Finding
from modelreg.registry import ModelEntry, Registry, RunScope, VersionEntry
from modelreg.rules import rule
from modelreg.types import ModelCard, VersionMetadata, valid_card, valid_metadata

if TYPE_CHECKING:  # annotations only: the worker pool is imported where deep checks run
    from modelreg.onnx.isolate import ChildResult, Job

Scope = Literal["version", "model", "registry"]


@dataclass(frozen=True)
class Options:
    """What the user asked for that checks may need to know."""

    fast: bool = False
    today: dt.date = field(default_factory=dt.date.today)
    #: The versions and models a limited run checks (None: the whole registry); facts
    #: gathered for many versions at once (git state) are gathered for these only.
    scope: RunScope | None = None
    #: The environment's settings (kustomize, Kubernetes version), read once by the command
    #: line; a library caller without them gets the process environment's.
    settings: Settings = field(default_factory=lambda: or_env(None))


@dataclass
class VersionMemo:
    """What one version's checks share, so that each is computed once (a field, not a string
    key: a misspelt name is a type error)."""

    #: sha256 of a file of the version, by path.
    sha256: dict[Path, str] = field(default_factory=dict)
    #: Why an evaluation file must not be decompressed (MR409), by path.
    eval_bounds: dict[Path, list[str]] = field(default_factory=dict)
    #: The deep task queued early (model path, job); None when not queued or taken.
    deep_job: tuple[Path, Job] | None = None
    #: Whether the deep task was queued or its result taken (it is never started twice).
    deep_started: bool = False
    #: The deep task's result, once a check asked for it.
    deep: ChildResult | None = None
    #: A bug of the pool met by the first check that asked; later checks get it again.
    deep_bug: Exception | None = None
    #: Whether the deep task's death was reported (one MR902 per version).
    died_reported: bool = False


@dataclass
class VersionContext:
    """Everything a version check may read."""

    registry: Registry
    model: ModelEntry
    version: VersionEntry
    options: Options
    #: metadata.yaml as parsed, before or without schema validation (None: missing or not a
    #: mapping); checks that need a valid file read :attr:`metadata`.
    meta: dict[str, Any] | None
    #: model.yaml as parsed; its schema validity is the model checks' business, not known here.
    model_data: dict[str, Any] | None
    valid: bool
    #: Results shared by this version's checks (e.g. the one deep child run, file hashes).
    memo: VersionMemo = field(default_factory=VersionMemo)
    #: Run by the runner once this version's checks are done (e.g. stop an unused child).
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def rel(self, *parts: str) -> str:
        """A path inside the version directory, relative to the registry root."""
        return self.registry.rel(self.version.dir.joinpath(*parts))

    def position(self, *path: str | int) -> tuple[int | None, int | None]:
        """Line and column of a metadata field."""
        doc = self.registry.document(self.version.metadata_path)
        return doc.position(tuple(path))

    @property
    def metadata_rel(self) -> str:
        """metadata.yaml relative to the registry root."""
        return self.registry.rel(self.version.metadata_path)

    @property
    def metadata(self) -> VersionMetadata:
        """metadata.yaml, schema-valid: for checks registered with ``needs_valid`` (the
        runner runs them only then)."""
        if not self.valid or self.meta is None:
            raise RuntimeError(f"{self.metadata_rel} is not schema-valid; check needs_valid")
        return valid_metadata(self.meta)


@dataclass
class ModelContext:
    """Everything a model check may read."""

    registry: Registry
    model: ModelEntry
    options: Options
    #: model.yaml as parsed, before or without schema validation; see :attr:`card`.
    data: dict[str, Any] | None
    valid: bool

    @property
    def card(self) -> ModelCard:
        """model.yaml, schema-valid: for checks registered with ``needs_valid`` (the runner
        runs them only then)."""
        if not self.valid or self.data is None:
            raise RuntimeError(f"{self.model_rel} is not schema-valid; check needs_valid")
        return valid_card(self.data)

    @property
    def model_rel(self) -> str:
        """model.yaml relative to the registry root."""
        return self.registry.rel(self.model.model_path)

    def position(self, *path: str | int) -> tuple[int | None, int | None]:
        """Line and column of a model.yaml field."""
        return self.registry.document(self.model.model_path).position(tuple(path))

    def key_position(self, *path: str | int) -> tuple[int | None, int | None]:
        """Line and column of the key of a model.yaml field."""
        return self.registry.document(self.model.model_path).key_position(tuple(path))


@dataclass
class RegistryContext:
    """Everything a registry-wide check may read."""

    registry: Registry
    options: Options


@dataclass(frozen=True)
class Check:
    """A registered check."""

    name: str
    scope: Scope
    #: Takes the context of ``scope`` (:func:`check` makes sure of it).
    func: Callable[[Any], Iterable[Finding]]
    rules: tuple[str, ...]
    deep: bool
    needs_valid: bool
    #: Started before any of the version's checks run, so that slow work (a child process
    #: parsing the model) overlaps the other checks; the check itself collects the result.
    prepare: Callable[[Any], None] | None = None


CHECKS: list[Check] = []

_V = TypeVar("_V", bound=Callable[[VersionContext], Iterable[Finding]])
_M = TypeVar("_M", bound=Callable[[ModelContext], Iterable[Finding]])
_R = TypeVar("_R", bound=Callable[[RegistryContext], Iterable[Finding]])


@overload
def check(
    scope: Literal["version"],
    *,
    rules: tuple[str, ...],
    deep: bool = False,
    needs_valid: bool = True,
    prepare: Callable[[VersionContext], None] | None = None,
) -> Callable[[_V], _V]: ...
@overload
def check(
    scope: Literal["model"], *, rules: tuple[str, ...], deep: bool = False, needs_valid: bool = True
) -> Callable[[_M], _M]: ...
@overload
def check(
    scope: Literal["registry"],
    *,
    rules: tuple[str, ...],
    deep: bool = False,
    needs_valid: bool = True,
) -> Callable[[_R], _R]: ...
def check(
    scope: Scope,
    *,
    rules: tuple[str, ...],
    deep: bool = False,
    needs_valid: bool = True,
    prepare: Callable[[VersionContext], None] | None = None,
) -> Callable[[Any], Any]:
    """Register a check. ``needs_valid`` checks run only on schema-clean files; ``prepare``
    (version checks) is called with the context before any check of the version runs.

    Typed by scope: a ``"version"`` check takes a :class:`VersionContext`, a ``"model"`` check
    a :class:`ModelContext`, a ``"registry"`` check a :class:`RegistryContext`; anything else
    is a mypy error at the decorator."""

    def register(func: Callable[[Any], Iterable[Finding]]) -> Callable[[Any], Iterable[Finding]]:
        CHECKS.append(Check(func.__name__, scope, func, rules, deep, needs_valid, prepare))
        return func

    return register


def missing_modules(*modules: str) -> list[str]:
    """The modules that are not installed (found without importing them)."""
    return [m for m in modules if importlib.util.find_spec(m) is None]


def missing_dependency(where: str, what: str, *modules: str) -> Finding | None:
    """An MR901 finding when a deep check's modules are absent (found without importing)."""
    missing = missing_modules(*modules)
    if not missing:
        return None
    return rule("MR901").finding(
        where, f"{what}: {', '.join(missing)} not installed (pip install 'modelreg[onnx]')"
    )


#: Modules of this package that run checks rather than define them.
MACHINERY = frozenset({"cache", "ci", "runner"})


def load_checks() -> list[Check]:
    """Import every check module once and return the registered checks."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.name.startswith("_") and info.name not in MACHINERY:
            importlib.import_module(f"{__name__}.{info.name}")
    return CHECKS
