"""Release tag names: the one place that derives a version's git tag.

A version's tag is never stored: it follows from ``model.yaml``. The default form is the
seed's ``<tag_prefix>-v<version>`` (``model-bert-v1.1.0``); ``tag_format: gto`` selects GTO's
registration form ``<name>@v<version>`` (``bert-classifier@v1.1.0``), so GTO and the tools that
read it see the same releases as modelreg.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelreg.registry import SEMVER_RE

PREFIX_FORMAT = "prefix"
GTO_FORMAT = "gto"
TAG_FORMATS = (PREFIX_FORMAT, GTO_FORMAT)


def tag_stem(model_data: Mapping[str, Any]) -> str:
    """What every release tag of this model starts with, up to the version digits.

    ``model-bert-v`` for the prefix form, ``bert-classifier@v`` for the GTO form.
    """
    fmt = model_data.get("tag_format", PREFIX_FORMAT)
    if fmt == GTO_FORMAT:
        return f"{model_data['name']}@v"
    if fmt != PREFIX_FORMAT:
        raise ValueError(f"unknown tag_format {fmt!r}; expected one of {', '.join(TAG_FORMATS)}")
    return f"{model_data['tag_prefix']}-v"


def tag_name(model_data: Mapping[str, Any], version: str) -> str:
    """The release tag of ``version``: ``<tag_prefix>-v<version>`` or ``<name>@v<version>``."""
    return tag_stem(model_data) + version


def tag_version(model_data: Mapping[str, Any], tag: str) -> str | None:
    """The version a tag releases for this model, or None when the tag is not one of its.

    The inverse of :func:`tag_name`: ``tag_version(d, tag_name(d, v)) == v`` for every
    semantic version ``v``.
    """
    stem = tag_stem(model_data)
    if not tag.startswith(stem):
        return None
    version = tag[len(stem) :]
    return version if SEMVER_RE.match(version) else None
