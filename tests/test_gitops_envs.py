"""Reading environment overlays: which versions run where, and the production alias."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from modelreg.errors import ModelregError
from modelreg.gitops.envs import (
    alias_version,
    environment_names,
    environments,
    production_version,
    version_refs,
)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")


def _alias(version: str) -> str:
    return f"""\
        apiVersion: v1
        kind: Service
        metadata:
          name: bert
          annotations:
            modelreg.dev/version: "{version}"
        """


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    (tmp_path / "models").mkdir()
    _write(tmp_path / "overlays/base/kustomization.yaml", "resources: [deployment.yaml]\n")
    _write(tmp_path / "overlays/bert/v1.0.0/kustomization.yaml", "resources: [../../base]\n")
    _write(
        tmp_path / "overlays/production/kustomization.yaml",
        """\
        resources:
          # bert
          - ../bert/v1.1.0
          - ../bert/v1.0.0
          - bert.alias.yaml

          # tiny
          - "../tiny/v2.0.0-rc.1"
        """,
    )
    _write(tmp_path / "overlays/production/bert.alias.yaml", _alias("1.1.0"))
    _write(tmp_path / "overlays/staging/kustomization.yaml", "resources:\n  - ../bert/v1.2.0\n")
    return tmp_path


def test_environments_lists_versions_sorted(layout: Path) -> None:
    assert environment_names(layout) == ["production", "staging"]
    assert environments(layout) == {
        "production": [("bert", "1.0.0"), ("bert", "1.1.0"), ("tiny", "2.0.0-rc.1")],
        "staging": [("bert", "1.2.0")],
    }


def test_version_refs_keep_lines(layout: Path) -> None:
    refs = version_refs(layout, "production")
    assert [(r.model, r.version, r.line) for r in refs] == [
        ("bert", "1.1.0", 3),
        ("bert", "1.0.0", 4),
        ("tiny", "2.0.0-rc.1", 8),
    ]


def test_production_version_follows_the_alias(layout: Path) -> None:
    assert production_version(layout, "bert") == "1.1.0"
    assert alias_version(layout, "staging", "bert") is None
    # No alias: the single version listed is unambiguous.
    assert production_version(layout, "tiny") == "2.0.0-rc.1"
    assert production_version(layout, "absent") is None


def test_production_version_without_alias_and_two_versions_is_none(layout: Path) -> None:
    (layout / "overlays/production/bert.alias.yaml").unlink()
    assert production_version(layout, "bert") is None


def test_no_overlays_means_no_environments(tmp_path: Path) -> None:
    assert environments(tmp_path) == {}
    assert production_version(tmp_path, "bert") is None


def test_bad_yaml_names_the_file_and_line(layout: Path) -> None:
    _write(layout / "overlays/staging/kustomization.yaml", "resources:\n  - [unclosed\n")
    with pytest.raises(ModelregError, match=r"overlays/staging/kustomization.yaml:\d+: not valid"):
        environments(layout)


def test_alias_without_version_annotation_is_an_error(layout: Path) -> None:
    _write(layout / "overlays/production/bert.alias.yaml", "kind: Service\nmetadata: {}\n")
    with pytest.raises(ModelregError, match=r"modelreg\.dev/version"):
        production_version(layout, "bert")


def test_unknown_environment_is_an_error(layout: Path) -> None:
    with pytest.raises(ModelregError, match="no such environment overlay"):
        version_refs(layout, "qa")
