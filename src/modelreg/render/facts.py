"""The facts a generated page shows, read once from the registry and checked for sense.

Everything here comes from ``model.yaml``, each version's ``metadata.yaml``, the environment
overlays and one date (see :mod:`modelreg.render.asof`); nothing is measured at render time.
Numbers stay :class:`~decimal.Decimal` built from the YAML text, so ``0.958 - 0.945`` is
exactly ``0.013`` and the page never shows float noise.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from modelreg import schemas
from modelreg.errors import ModelregError
from modelreg.git.tags import tag_name
from modelreg.registry import ModelEntry, Registry, VersionEntry
from modelreg.types import (
    Dataset,
    EvaluationData,
    Gates,
    LatencyClaim,
    LifecycleEntry,
    ModelCard,
    VersionMetadata,
    valid_card,
    valid_metadata,
)


@dataclass(frozen=True)
class Latency:
    """``evaluation.latency`` of one version: what was measured, how and where."""

    p50_ms: Decimal
    p90_ms: Decimal
    p99_ms: Decimal
    runs: int
    warmup: int
    batch_size: int
    fingerprint: str
    cpu: str
    onnxruntime: str
    intra_op_threads: int | None


class EvalFacts(EvaluationData):
    """``evaluation.data`` with the file's repository-relative path."""

    repo_path: str


@dataclass(frozen=True)
class VersionFacts:
    """One version as the pages show it."""

    model: str
    version: str
    release_date: str
    status: str
    note: str | None
    supported_until: str | None
    expired: bool
    summary: str
    changes: tuple[str, ...]
    migration: str | None
    tag: str
    artifact: str  # repository-relative path of the ONNX file
    sha256: str
    size: int
    dataset: Dataset
    eval_data: EvalFacts
    accuracy: Decimal | None  # None: a regressor (see ``regression``)
    f1: Decimal | None
    f1_average: str | None
    regression: dict[str, Decimal] | None  # a regressor's mae, rmse, r2; None: a classifier
    latency: Latency | None
    overlay: str | None  # repository-relative overlay directory, when it exists
    environments: tuple[str, ...] | None  # None: no GitOps package to ask
    meta: VersionMetadata

    @property
    def label(self) -> str:
        """``v1.1.0``."""
        return f"v{self.version}"

    @property
    def deployable(self) -> bool:
        """Production, or supported with a window that has not ended."""
        return self.status == "production" or (self.status == "supported" and not self.expired)


@dataclass(frozen=True)
class ModelFacts:
    """One model with its versions, lowest version first."""

    name: str
    title: str
    description: str
    task: str
    owners: tuple[str, ...]
    labels: tuple[str, ...]
    gates: Gates
    versions: tuple[VersionFacts, ...]
    data: ModelCard

    @property
    def production(self) -> VersionFacts | None:
        """The production version (the schema and MR504 make it exactly one)."""
        return next((v for v in self.versions if v.status == "production"), None)

    @property
    def newest(self) -> VersionFacts:
        """The highest version."""
        return self.versions[-1]

    def previous(self, version: VersionFacts) -> VersionFacts | None:
        """The version just below ``version``, or None for the first."""
        index = self.versions.index(version)
        return self.versions[index - 1] if index else None

    def rollback_target(self) -> VersionFacts | None:
        """The highest version below production that may still be deployed, if any."""
        production = self.production
        if production is None:
            return None
        below = self.versions[: self.versions.index(production)]
        for candidate in reversed(below):
            if candidate.status == "supported":
                return candidate
        return None


def decimal(value: Any) -> Decimal:
    """A YAML number as the Decimal of its shortest text (``0.958``, not 0.95799999...)."""
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(int(value))


EnvironmentsFn = Callable[[Path], dict[str, list[tuple[str, str]]]]


def environments_function() -> EnvironmentsFn | None:
    """``modelreg.gitops.envs.environments`` when the GitOps package is installed.

    Imported by name so the page renders (without environments) in a tree without it;
    environments are never guessed.
    """
    try:
        module = importlib.import_module("modelreg.gitops.envs")
    except ImportError:
        return None
    func = getattr(module, "environments", None)
    return cast(EnvironmentsFn, func) if callable(func) else None


Environments = dict[tuple[str, str], tuple[str, ...]]


def version_environments(root: Path) -> Environments | None:
    """(model, version) → the environments whose overlay lists it; None without GitOps."""
    func = environments_function()
    if func is None:
        return None
    found: dict[tuple[str, str], list[str]] = {}
    for env, entries in sorted(func(root).items()):
        for model, version in entries:
            found.setdefault((model, version), []).append(env)
    return {key: tuple(sorted(envs)) for key, envs in found.items()}


def _load(registry: Registry, path: Path, schema: str) -> dict[str, Any]:
    """The document at ``path``; an error unless it passed ``schema``."""
    doc = registry.document(path)
    problems = [*doc.findings, *schemas.validate_document(doc, schema)]
    if problems or not isinstance(doc.data, dict):
        first = problems[0] if problems else None
        where = first.location if first else registry.rel(path)
        what = f"{first.rule} {first.message}" if first else "not a mapping"
        raise ModelregError(
            f"{where}: {what}; the pages are rendered from valid files only "
            "(run `modelreg validate` and fix what it reports)"
        )
    return doc.data


def collect(registry: Registry, today: dt.date, envs: Environments | None) -> list[ModelFacts]:
    """Every model of the registry, sorted by name, with its versions' facts.

    ``envs`` is :func:`version_environments`' answer; None means "unknown", not "nowhere".
    """
    return [
        _model(registry, model, today, envs)
        for _, model in sorted(registry.models.items())
        if model.model_path.is_file()
    ]


def _model(
    registry: Registry,
    model: ModelEntry,
    today: dt.date,
    envs: Environments | None,
) -> ModelFacts:
    data = valid_card(_load(registry, model.model_path, "model"))
    lifecycle = data["lifecycle"]
    versions = []
    for entry in model.sorted_versions():
        if entry.name not in lifecycle:
            raise ModelregError(
                f"{registry.rel(model.model_path)}: lifecycle has no entry for {entry.name} "
                "(MR502); add it before rendering"
            )
        versions.append(
            _version(
                registry,
                entry,
                model_data=data,
                life=lifecycle[entry.name],
                today=today,
                envs=envs,
            )
        )
    if not versions:
        raise ModelregError(f"{registry.rel(model.dir)}: the model has no version directory")
    return ModelFacts(
        name=model.name,
        title=str(data["title"]),
        description=str(data["description"]),
        task=str(data["task"]),
        owners=tuple(str(o) for o in data["owners"]),
        labels=tuple(str(label) for label in data["labels"]),
        gates=Gates(**data.get("gates", {})),
        versions=tuple(versions),
        data=data,
    )


def _version(
    registry: Registry,
    entry: VersionEntry,
    *,
    model_data: ModelCard,
    life: LifecycleEntry,
    today: dt.date,
    envs: Environments | None,
) -> VersionFacts:
    meta = valid_metadata(_load(registry, entry.metadata_path, "metadata"))
    evaluation = meta["evaluation"]
    metrics = evaluation["metrics"]
    until = life.get("supported_until")
    until_text = str(until) if until is not None else None
    expired = until_text is not None and dt.date.fromisoformat(until_text) < today
    overlay_rel = f"overlays/{entry.model.name}/v{entry.name}"
    overlay = overlay_rel if (registry.root / overlay_rel).is_dir() else None
    return VersionFacts(
        model=entry.model.name,
        version=entry.name,
        release_date=str(meta["release_date"]),
        status=str(life["status"]),
        note=str(life["note"]) if life.get("note") else None,
        supported_until=until_text,
        expired=expired,
        summary=str(meta["summary"]),
        changes=tuple(str(c) for c in meta["changes"]),
        migration=str(meta["migration"]) if meta.get("migration") else None,
        tag=tag_name(model_data, entry.name),
        artifact=registry.rel(entry.dir / str(meta["artifact"]["path"])),
        sha256=str(meta["artifact"]["sha256"]),
        size=int(meta["artifact"]["size"]),
        dataset=meta["training"]["dataset"].copy(),
        eval_data={
            **evaluation["data"],
            "repo_path": registry.rel(
                Path(os.path.normpath(entry.dir / str(evaluation["data"]["path"])))
            ),
        },
        accuracy=decimal(metrics["accuracy"]) if "accuracy" in metrics else None,
        f1=decimal(metrics["f1"]["value"]) if "f1" in metrics else None,
        f1_average=str(metrics["f1"]["average"]) if "f1" in metrics else None,
        regression=(
            {k: decimal(metrics[k]) for k in ("mae", "rmse", "r2")} if "r2" in metrics else None
        ),
        latency=_latency(evaluation.get("latency")),
        overlay=overlay,
        environments=None if envs is None else envs.get((entry.model.name, entry.name), ()),
        meta=meta,
    )


def _latency(block: LatencyClaim | None) -> Latency | None:
    if not block:
        return None
    env = block["environment"]
    session = block.get("session", {})
    threads = session.get("intra_op_threads")
    return Latency(
        p50_ms=decimal(block["p50_ms"]),
        p90_ms=decimal(block["p90_ms"]),
        p99_ms=decimal(block["p99_ms"]),
        runs=int(block["runs"]),
        warmup=int(block["warmup"]),
        batch_size=int(block["batch_size"]),
        fingerprint=str(env["fingerprint"]),
        cpu=str(env["cpu"]),
        onnxruntime=str(env["onnxruntime"]),
        intra_op_threads=int(threads) if threads is not None else None,
    )
