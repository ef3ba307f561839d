"""The registry as a table: every version with its status, release tag and environments.

``modelreg list`` and ``modelreg show`` print this. It reads model.yaml files, the
environment overlays and all tags with one ``git for-each-ref``; metadata.yaml files (and so
metrics) only for the versions ``show`` asks about, so listing stays fast with thousands of
versions and tags.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, TypedDict

from modelreg.git.releases import model_tag_data
from modelreg.git.repo import GitError, Tag, open_repo
from modelreg.git.tags import tag_name
from modelreg.registry import Registry, VersionEntry


class DetailMetrics(TypedDict):
    """The headline figures ``show`` prints (None: not claimed)."""

    accuracy: Any
    f1: Any
    p99_ms: Any


class VersionDetails(TypedDict):
    """What ``show MODEL@VERSION`` adds to a row. Values are as metadata.yaml holds them,
    unvalidated (``show`` must work on a file that fails its schema), hence ``Any``."""

    release_date: Any
    summary: Any
    #: ``path``, ``sha256`` and ``size`` of the artifact (None where missing).
    artifact: dict[str, Any]
    metrics: DetailMetrics


@dataclass
class Row:
    """One version of one model."""

    model: str
    version: str
    status: str | None
    tag: str | None
    #: Whether the tag exists in this clone.
    released: bool
    tag_date: str | None
    commit: str | None
    environments: list[str] = field(default_factory=list)
    supported_until: str | None = None
    details: VersionDetails | None = None

    def as_json(self) -> dict[str, Any]:
        """The row as a JSON object (``details`` only when read)."""
        data = asdict(self)
        if data["details"] is None:
            del data["details"]
        return data


def rows(
    registry: Registry,
    envs: Mapping[tuple[str, str], list[str]],
    only: set[tuple[str, str | None]] | None = None,
) -> list[Row]:
    """Every version (or those in ``only``: (model, None) for all of a model's), sorted;
    ``envs`` maps (model, version) to the environments running it
    (:func:`modelreg.gitops.envs.environments_by_version`)."""
    try:
        tags: dict[str, Tag] = open_repo(registry.root).tags(messages=False)
    except GitError:
        tags = {}
    result: list[Row] = []
    for model in sorted(registry.models.values(), key=lambda m: m.name):
        data = model_tag_data(registry, model)
        lifecycle = (data or {}).get("lifecycle") or {}
        for version in model.sorted_versions():
            if only is not None and not {(model.name, None), (model.name, version.name)} & only:
                continue
            entry = lifecycle.get(version.name) or {}
            tag = tag_name(data, version.name) if data else None
            found = tags.get(tag) if tag else None
            result.append(
                Row(
                    model.name,
                    version.name,
                    entry.get("status"),
                    tag,
                    found is not None,
                    found.date if found else None,
                    found.commit if found else None,
                    sorted(envs.get((model.name, version.name), [])),
                    entry.get("supported_until"),
                )
            )
    return result


def details(registry: Registry, version: VersionEntry) -> VersionDetails:
    """What ``show MODEL@VERSION`` adds: dates, summary, artifact and metrics."""
    meta = registry.metadata(version) or {}
    evaluation = meta.get("evaluation") or {}
    metrics = evaluation.get("metrics") or {}
    f1 = metrics.get("f1")
    latency = evaluation.get("latency") or {}
    artifact = meta.get("artifact") or {}
    return {
        "release_date": meta.get("release_date"),
        "summary": meta.get("summary"),
        "artifact": {k: artifact.get(k) for k in ("path", "sha256", "size")},
        "metrics": {
            "accuracy": metrics.get("accuracy"),
            "f1": f1.get("value") if isinstance(f1, dict) else f1,
            "p99_ms": latency.get("p99_ms") if isinstance(latency, dict) else None,
        },
    }
