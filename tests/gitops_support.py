"""Helpers for the GitOps tests: a demo registry with overlays, rendered with real kustomize."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelreg import storage
from modelreg.gitops import overlays
from modelreg.gitops.kustomize import build
from modelreg.registry import discover

REPO = Path(__file__).resolve().parents[1]
#: The registry's clone URL in test registries: not a placeholder (MR619), never contacted.
TEST_REPO_URL = "https://git.acme.internal/ml/model-registry.git"


#: The committer of commits modelreg makes itself (promote, rollback) in these tests.
IDENTITY = {
    "GIT_AUTHOR_NAME": "modelreg tests",
    "GIT_AUTHOR_EMAIL": "tests@modelreg.invalid",
    "GIT_COMMITTER_NAME": "modelreg tests",
    "GIT_COMMITTER_EMAIL": "tests@modelreg.invalid",
}


def use_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commits made in-process by modelreg get the test committer."""
    for key, value in IDENTITY.items():
        monkeypatch.setenv(key, value)


#: With :func:`edited`: remove the field instead of setting it.
DELETE = object()


def edited(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``data`` with the dotted ``path`` set to ``value`` (:data:`DELETE` removes
    it); a number indexes a list, and missing mappings on the way are created."""
    data = copy.deepcopy(data)
    node: Any = data
    *parents, last = path.split(".")
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    key: Any = int(last) if isinstance(node, list) else last
    if value is DELETE:
        del node[key]
    else:
        node[key] = value
    return data


def add_overlays(root: Path, production: dict[str, list[str]], alias: dict[str, str]) -> None:
    """Copy overlays/base from this repository and generate version and env overlays."""
    shutil.copytree(REPO / "overlays" / "base", root / "overlays" / "base")
    (root / "overlays" / "base" / "registry.env").write_text(
        f"MODEL_SOURCE_URL={TEST_REPO_URL}\n", encoding="utf-8"
    )
    registry = discover(root)
    for model, entry in registry.models.items():
        for version in entry.versions:
            storage.write_tree(
                root,
                overlays.version_overlay_dir(root, model, version),
                overlays.version_overlay_files(registry, model, version),
            )
    for env in ("staging", "production"):
        running = production if env == "production" else {}
        aliases = alias if env == "production" else {}
        text = overlays.env_kustomization_text(None, env, running, aliases)
        storage.write_atomic(root / "overlays" / env / "kustomization.yaml", text)
        for model, version in aliases.items():
            storage.write_atomic(
                root / "overlays" / env / f"{model}.alias.yaml",
                overlays.alias_text(model, env, version),
            )


def render(root: Path, env: str) -> list[dict[str, Any]]:
    """The objects of ``overlays/<env>`` as plain kustomize renders them."""
    return [d for d in yaml.safe_load_all(build(root / "overlays" / env)) if d]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """Kubernetes equality-based selector semantics."""
    return all(labels.get(k) == v for k, v in selector.items())


def clone_model(root: Path, source: str, target: str) -> None:
    """Copy ``models/<source>`` to ``models/<target>`` under the new name."""
    shutil.copytree(root / "models" / source, root / "models" / target)
    card = root / "models" / target / "model.yaml"
    card.write_text(
        card.read_text()
        .replace(f"name: {source}\n", f"name: {target}\n")
        .replace(f"tag_prefix: model-{source}", f"tag_prefix: model-{target}"),
        encoding="utf-8",
    )
    for meta in (root / "models" / target).glob("*/metadata.yaml"):
        meta.write_text(
            meta.read_text().replace(f"model: {source}\n", f"model: {target}\n"),
            encoding="utf-8",
        )


def add_candidate(root: Path, model: str, source: str, version: str) -> None:
    """A new candidate version of ``model``, a copy of ``source`` under another number."""
    src, dst = root / "models" / model / source, root / "models" / model / version
    shutil.copytree(src, dst)
    meta = dst / "metadata.yaml"
    meta.write_text(
        meta.read_text().replace(f"version: {source}\n", f"version: {version}\n"),
        encoding="utf-8",
    )
    card = root / "models" / model / "model.yaml"
    card.write_text(card.read_text() + f"  {version}:\n    status: candidate\n", encoding="utf-8")
