"""Run the checks over a selection of the registry and collect the findings.

Data flow: discover → pick targets from the paths given → per model: load model.yaml,
schema, model checks → per version: load metadata.yaml, schema, version checks (deep ones
unless ``--fast``) → registry-wide checks when the whole registry was asked for.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelreg import schemas
from modelreg.checks import (
    Check,
    ModelContext,
    Options,
    RegistryContext,
    VersionContext,
    load_checks,
)
from modelreg.checks.cache import DeepCache
from modelreg.checks.cache import salt as cache_salt
from modelreg.errors import UsageError
from modelreg.findings import Finding, Severity
from modelreg.onnx import isolate
from modelreg.registry import METADATA_FILE, ModelEntry, Registry, RunScope, VersionEntry
from modelreg.rules import matches, rule

#: Findings that say a check did not happen (it crashed, or its isolated child died, timed
#: out or ran out of memory). They are errors of the run, not verdicts of a rule, so no
#: ``--select``/``--ignore`` filters them out: a filter that hid them would turn "nothing
#: was proven" into a pass.
UNFILTERED = frozenset({"MR901", "MR902", "MR005", "MR006"})
#: MR005 (a modelreg lock or journal planted in the work tree) and MR006 (a symlink where
#: modelreg reads a registry file) are kept for the same reason: a file that was refused was
#: not checked, so ``--select MR2`` on a symlinked ``model.onnx`` must not read as a pass.
#: Registry-wide checks of these rules are cheap (a few ``lstat`` calls), so they run on every
#: selection, not only on whole-registry runs: a pre-commit hook given one file reports them.
ALWAYS = frozenset({"MR005"})


@dataclass
class Selection:
    """What to check: the whole registry, or some models and versions."""

    whole: bool = False
    models: set[str] = field(default_factory=set)
    versions: set[tuple[str, str]] = field(default_factory=set)

    def __bool__(self) -> bool:
        return self.whole or bool(self.models) or bool(self.versions)


def select(registry: Registry, paths: Sequence[Path]) -> Selection:
    """Map command-line paths to models and versions.

    A metadata file or anything inside a version directory selects that version; model.yaml
    selects the model's own rules; a model directory selects the model and all its versions;
    the root or ``models/`` selects everything. Paths elsewhere in the registry (overlays,
    docs) select nothing here, so hooks may pass broad file lists.
    """
    selection = Selection()
    if not paths:
        selection.whole = True
        return selection
    models_dir = registry.models_dir
    for raw in paths:
        path = raw.resolve() if raw.is_absolute() else (Path.cwd() / raw).resolve()
        if not path.exists() and not path.is_symlink():
            raise UsageError(f"{raw}: no such file or directory")
        if path in (registry.root, models_dir):
            selection.whole = True
            continue
        try:
            parts = path.relative_to(models_dir).parts
        except ValueError:
            try:
                path.relative_to(registry.root)
            except ValueError:
                raise UsageError(
                    f"{raw} is outside the registry at {registry.root}; "
                    "validate one registry at a time"
                ) from None
            continue
        model = registry.model(parts[0])
        if model is None:
            continue  # a stray file directly under models/: the registry check reports it
        if len(parts) == 1:
            selection.models.add(model.name)
            selection.versions.update((model.name, v) for v in model.versions)
        elif parts[1] in model.versions:
            selection.versions.add((model.name, parts[1]))
        else:
            selection.models.add(model.name)
    return selection


def run(
    registry: Registry,
    selection: Selection,
    options: Options,
    select_rules: tuple[str, ...] = ("MR",),
    ignore_rules: tuple[str, ...] = (),
    *,
    cache: DeepCache | None = None,
) -> list[Finding]:
    """All findings for the selection, filtered by rule and sorted.

    With a ``cache``, a version's deep checks are skipped when they passed before on the same
    bytes (see :mod:`modelreg.checks.cache`).
    """
    checks = [
        c
        for c in load_checks()
        if not (c.deep and options.fast)
        and any(r in ALWAYS or wanted(r, select_rules, ignore_rules) for r in c.rules)
    ]
    by_scope: dict[str, list[Check]] = {"version": [], "model": [], "registry": []}
    for c in checks:
        by_scope[c.scope].append(c)

    findings: list[Finding] = []
    if not selection.whole:
        scope = RunScope(frozenset(selection.versions), frozenset(selection.models))
        options = dataclasses.replace(options, scope=scope)
    model_names = set(registry.models) if selection.whole else selection.models
    version_keys = (
        {(m.name, v) for m in registry.models.values() for v in m.versions}
        if selection.whole
        else selection.versions
    )
    ctx = RegistryContext(registry, options)
    for c in by_scope["registry"]:
        if selection.whole or ALWAYS.intersection(c.rules):
            findings.extend(_guard(c, ctx, registry.rel(registry.models_dir)))
    for name in sorted(model_names):
        model = registry.model(name)
        assert model is not None  # selected from what exists
        findings.extend(_run_model(registry, model, options, by_scope["model"]))
    deep = [c.name for c in by_scope["version"] if c.deep]
    if not deep:
        cache = None
    salt = cache_salt(deep, select_rules, ignore_rules, options) if cache else ""
    # Versions are prepared (their deep tasks queued on the worker pool) a window ahead of
    # the version whose checks run, so every worker has work while the parent checks; the
    # findings are the same whatever the window, since each version's are its own.
    pool = isolate.current() if deep else None
    window = 2 * pool.jobs if pool is not None else 1
    if pool is not None and version_keys and cache is None:
        pool.warm()  # its imports overlap the parent's loading and hashing
    pending: collections.deque[_Started] = collections.deque()
    try:
        for model_name, version_name in sorted(version_keys):
            model = registry.model(model_name)
            assert model is not None  # selected from what exists
            version = model.versions[version_name]
            pending.append(
                _begin_version(
                    registry, model, version, options, by_scope["version"], cache=cache, salt=salt
                )
            )
            if len(pending) >= window:
                findings.extend(_finish_version(pending.popleft(), cache))
        while pending:
            findings.extend(_finish_version(pending.popleft(), cache))
    finally:
        for started in pending:  # an error stopped the run: no queued task is wanted
            _cleanup(started.ctx)
    kept = {
        f for f in findings if f.rule in UNFILTERED or wanted(f.rule, select_rules, ignore_rules)
    }
    return sorted(kept, key=Finding.sort_key)


def wanted(rule_id: str, select_rules: tuple[str, ...], ignore_rules: tuple[str, ...]) -> bool:
    """Whether ``--select``/``--ignore`` keep ``rule_id`` (:data:`UNFILTERED` aside)."""
    return matches(rule_id, select_rules) and not matches(rule_id, ignore_rules)


def _run_model(
    registry: Registry, model: ModelEntry, options: Options, checks: list[Check]
) -> list[Finding]:
    findings: list[Finding] = []
    data = None
    valid = False
    if model.model_path.is_file():
        doc = registry.document(model.model_path)
        findings.extend(doc.findings)
        schema_findings = schemas.validate_document(doc, "model")
        findings.extend(schema_findings)
        data = registry.model_data(model)
        valid = data is not None and doc.loaded and not _errors(schema_findings)
    ctx = ModelContext(registry, model, options, data, valid)
    for c in checks:
        if c.needs_valid and not valid:
            continue
        findings.extend(_guard(c, ctx, registry.rel(model.model_path)))
    return findings


@dataclass
class _Started:
    """A version whose files are loaded and whose checks are prepared, not yet run."""

    ctx: VersionContext
    findings: list[Finding]
    runnable: list[Check]
    where: str
    key: str | None
    cached: list[Finding] | None  # the notes of a recorded pass; None: not cached
    salt: str


def _begin_version(
    registry: Registry,
    model: ModelEntry,
    version: VersionEntry,
    options: Options,
    checks: list[Check],
    *,
    cache: DeepCache | None = None,
    salt: str = "",
) -> _Started:
    """Load the version, validate its schema and run its checks' preparations."""
    findings: list[Finding] = []
    meta = None
    valid = False
    if version.has_metadata:
        doc = registry.document(version.metadata_path)
        findings.extend(doc.findings)
        schema_findings = schemas.validate_document(doc, "metadata")
        findings.extend(schema_findings)
        meta = registry.metadata(version)
        valid = meta is not None and doc.loaded and not _errors(schema_findings)
    ctx = VersionContext(registry, model, version, options, meta, registry.model_data(model), valid)
    key = cache.key(model, version, salt, meta) if cache is not None and valid else None
    cached = cache.lookup(key) if key is not None and cache is not None else None
    if cached is not None:
        findings.extend(cached)  # the pass's notes, as the run that recorded it reported them
    elif key is not None and (pool := isolate.current()) is not None:
        pool.warm()  # a miss: deep work is coming (no-op once a worker runs)
    runnable = [
        c for c in checks if not ((c.needs_valid and not valid) or (c.deep and cached is not None))
    ]
    where = registry.rel(version.dir / METADATA_FILE)
    started = _Started(ctx, findings, runnable, where, key, cached, salt)
    try:
        for prepare in dict.fromkeys(c.prepare for c in runnable if c.prepare is not None):
            findings.extend(_guard_prepare(prepare, ctx, where))
    except BaseException:
        _cleanup(ctx)
        raise
    return started


def _finish_version(started: _Started, cache: DeepCache | None) -> list[Finding]:
    """Run a prepared version's checks; record a clean deep pass in the cache."""
    ctx, findings = started.ctx, started.findings
    deep_findings: list[Finding] = []
    try:
        for c in started.runnable:
            found = _guard(c, ctx, started.where)
            findings.extend(found)
            if c.deep:
                deep_findings.extend(found)
    finally:
        _cleanup(ctx)
    # Only a pass (notes at most) is recorded, and only if no input changed while the checks
    # ran; its notes are stored with it and reported again on a hit.
    key = started.key
    if (
        cache is not None
        and key is not None
        and started.cached is None
        and all(f.severity is Severity.NOTE for f in deep_findings)
        and cache.key(ctx.model, ctx.version, started.salt, ctx.meta) == key
    ):
        cache.store(key, f"{ctx.model.name}@{ctx.version.name}", deep_findings)
    return findings


def _cleanup(ctx: VersionContext) -> None:
    cleanups, ctx.cleanups = ctx.cleanups, []
    for cleanup in cleanups:
        cleanup()


def _errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity.value == "error" for f in findings)


def _guard(c: Check, ctx: object, where: str) -> list[Finding]:
    """Run one check; a crash inside it is a finding, never a traceback or a silent pass."""
    return _guarded(f"check `{c.name}`", lambda: list(c.func(ctx)), where, "; nothing was proven")


def _guard_prepare(prepare: Callable[[Any], None], ctx: object, where: str) -> list[Finding]:
    """Run a check's preparation; a crash in it is a finding (the checks still run)."""

    def call() -> list[Finding]:
        prepare(ctx)
        return []

    return _guarded(f"preparing `{getattr(prepare, '__name__', prepare)}`", call, where, "")


def _guarded(
    what: str, call: Callable[[], list[Finding]], where: str, consequence: str
) -> list[Finding]:
    try:
        return call()
    except UsageError:
        raise  # the command line or environment is wrong (a bad MODELREG_* value), not a check
    except Exception as exc:  # noqa: BLE001 - any bug in a check must surface as a finding
        return [
            rule("MR901").finding(
                where,
                f"{what} crashed ({type(exc).__name__}: {exc}){consequence}. "
                "This is a modelreg bug: please report it",
            )
        ]
