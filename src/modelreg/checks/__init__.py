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
from typing import Any, Literal

from modelreg.findings import Finding
from modelreg.registry import ModelEntry, Registry, RunScope, VersionEntry
from modelreg.rules import rule

Scope = Literal["version", "model", "registry"]


@dataclass(frozen=True)
class Options:
    """What the user asked for that checks may need to know."""

    fast: bool = False
    today: dt.date = field(default_factory=dt.date.today)
    #: The versions and models a limited run checks (None: the whole registry); facts
    #: gathered for many versions at once (git state) are gathered for these only.
    scope: RunScope | None = None


@dataclass
class VersionContext:
    """Everything a version check may read."""

    registry: Registry
    model: ModelEntry
    version: VersionEntry
    options: Options
    meta: dict[str, Any] | None
    model_data: dict[str, Any] | None
    valid: bool
    #: Results shared by this version's checks (e.g. the one deep child run, file hashes).
    memo: dict[str, Any] = field(default_factory=dict)
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


@dataclass
class ModelContext:
    """Everything a model check may read."""

    registry: Registry
    model: ModelEntry
    options: Options
    data: dict[str, Any] | None
    valid: bool

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
    func: Callable[[Any], Iterable[Finding]]
    rules: tuple[str, ...]
    deep: bool
    needs_valid: bool
    #: Started before any of the version's checks run, so that slow work (a child process
    #: parsing the model) overlaps the other checks; the check itself collects the result.
    prepare: Callable[[Any], None] | None = None


CHECKS: list[Check] = []


def check(
    scope: Scope,
    *,
    rules: tuple[str, ...],
    deep: bool = False,
    needs_valid: bool = True,
    prepare: Callable[[Any], None] | None = None,
) -> Callable[[Callable[[Any], Iterable[Finding]]], Callable[[Any], Iterable[Finding]]]:
    """Register a check. ``needs_valid`` checks run only on schema-clean files; ``prepare``
    (version checks) is called with the context before any check of the version runs."""

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
