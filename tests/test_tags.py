"""Release tag names (git/tags.py) and the LFS attributes an LFS registry carries."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from modelreg.git.lfs import LFS_ATTRIBUTES
from modelreg.git.tags import tag_name, tag_stem, tag_version

PREFIX = {"name": "bert-classifier", "tag_prefix": "model-bert"}
GTO = {**PREFIX, "tag_format": "gto"}


def test_default_form_is_the_seeds() -> None:
    assert tag_name(PREFIX, "1.1.0") == "model-bert-v1.1.0"
    assert tag_name({**PREFIX, "tag_format": "prefix"}, "1.0.0") == "model-bert-v1.0.0"


def test_gto_form() -> None:
    assert tag_name(GTO, "1.1.0") == "bert-classifier@v1.1.0"


@pytest.mark.parametrize("data", [PREFIX, GTO])
@pytest.mark.parametrize("version", ["1.0.0", "0.0.1", "2.10.3-rc.1", "1.0.0+build.5"])
def test_round_trip(data: dict[str, str], version: str) -> None:
    assert tag_version(data, tag_name(data, version)) == version


@pytest.mark.parametrize(
    "tag",
    [
        "model-bert-v1.1",  # not a semantic version
        "model-bert-v01.1.0",  # leading zero
        "model-bert-x-v1.1.0",  # another prefix that merely starts alike
        "bert-classifier@v1.1.0",  # the other form
        "v1.1.0",
    ],
)
def test_foreign_tags_are_not_ours(tag: str) -> None:
    assert tag_version(PREFIX, tag) is None


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown tag_format"):
        tag_stem({**PREFIX, "tag_format": "semver"})


def test_tags_are_valid_git_ref_names() -> None:
    for data in (PREFIX, GTO):
        name = tag_name(data, "1.2.3-rc.1")
        done = subprocess.run(
            ["git", "check-ref-format", f"refs/tags/{name}"], capture_output=True, check=False
        )
        assert done.returncode == 0, name


def test_lfs_attributes_route_artifacts_to_lfs(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitattributes").write_text("\n".join(LFS_ATTRIBUTES) + "\n")
    paths = [
        "models/m/1.0.0/model.onnx",
        "models/m/1.0.0/model.onnx.data",
        "models/m/1.0.0/weights.onnx_data",
        "models/m/1.0.0/weights.bin",
        "models/m/1.0.0/metadata.yaml",
        "models/m/1.0.0/test_data_set_0/input_0.pb",
    ]
    out = subprocess.run(
        ["git", "check-attr", "filter", "--", *paths],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    filters = dict(line.rsplit(": filter: ", 1) for line in out.splitlines())
    assert filters == {
        "models/m/1.0.0/model.onnx": "lfs",
        "models/m/1.0.0/model.onnx.data": "lfs",
        "models/m/1.0.0/weights.onnx_data": "lfs",
        "models/m/1.0.0/weights.bin": "lfs",
        "models/m/1.0.0/metadata.yaml": "unspecified",
        "models/m/1.0.0/test_data_set_0/input_0.pb": "unspecified",
    }
