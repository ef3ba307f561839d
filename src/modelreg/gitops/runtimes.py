"""Which ONNX models a serving image can load: the onnxruntime it runs and that runtime's limits.

A model loads only if its IR version and the opset of each standard domain it imports are no
higher than what the serving image's onnxruntime implements: onnxruntime refuses a newer IR
version outright ("Unsupported model IR version: 10, max supported IR version: 9") and an
opset it does not know. The local onnxruntime that ``validate`` runs is not the one that
serves, so the runtime of each serving image is part of the contract.

What serves is read from a workload's pod template: the image of its first container (the
model server; Kubernetes' default container too) and these annotations:

* :data:`RUNTIME_ANNOTATION` (``modelreg.dev/onnxruntime-version: "1.20.1"``): the
  onnxruntime version the image runs. Needed for any image this module does not know; for a
  known image (a Triton release in :data:`TRITON_ONNXRUNTIME`) it must agree with the table.
* :data:`MAX_OPSET_ANNOTATION`, :data:`MAX_ML_OPSET_ANNOTATION`, :data:`MAX_IR_ANNOTATION`:
  the limits, needed only when the runtime's version is not in :data:`ONNXRUNTIME_LIMITS`
  (a release newer than this table); for a version in the table they must agree with it.

Every number below is copied from the page named in the comment above it; nothing is
guessed. A version the pages do not cover is not in the tables, and then the declaration is
required instead (rule MR630).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from modelreg.onnx.facts import DEFAULT_DOMAIN

RUNTIME_ANNOTATION = "modelreg.dev/onnxruntime-version"
MAX_OPSET_ANNOTATION = "modelreg.dev/onnx-max-opset"
MAX_ML_OPSET_ANNOTATION = "modelreg.dev/onnx-ml-max-opset"
MAX_IR_ANNOTATION = "modelreg.dev/onnx-max-ir-version"
LIMIT_ANNOTATIONS = (MAX_OPSET_ANNOTATION, MAX_ML_OPSET_ANNOTATION, MAX_IR_ANNOTATION)
ML_DOMAIN = "ai.onnx.ml"


@dataclass(frozen=True)
class Limits:
    """The highest ``ai.onnx`` opset, ``ai.onnx.ml`` opset and IR version a runtime loads."""

    opset: int
    ml_opset: int
    ir_version: int


# Source: "ONNX Runtime compatibility", section "ONNX opset support", table columns "ONNX
# Runtime version | ONNX version | ONNX opset version | ONNX ML opset version | ONNX IR
# version": https://onnxruntime.ai/docs/reference/compatibility.html#onnx-opset-support
# (file docs/reference/compatibility.md of microsoft/onnxruntime's gh-pages branch, read at
# commit 109c0baa9367a6818c00eb42d160ae3719ffb609). The page lists releases by minor version;
# its newest row is 1.20, so a newer onnxruntime needs the limit annotations until the page
# (and this table) has it.
ONNXRUNTIME_LIMITS: Mapping[str, Limits] = {
    "1.20": Limits(21, 4, 10),
    "1.19": Limits(21, 4, 10),
    "1.18": Limits(21, 4, 10),
    "1.17": Limits(20, 4, 9),
    "1.16": Limits(19, 3, 9),
    "1.15": Limits(19, 3, 8),
    "1.14": Limits(18, 3, 8),
    "1.13": Limits(17, 3, 8),
    "1.12": Limits(17, 3, 8),
    "1.11": Limits(16, 2, 8),
    "1.10": Limits(15, 2, 8),
    "1.9": Limits(15, 2, 8),
    "1.8": Limits(14, 2, 7),
    "1.7": Limits(13, 2, 7),
    "1.6": Limits(13, 2, 7),
    "1.5": Limits(12, 2, 7),
    "1.4": Limits(12, 2, 7),
    "1.3": Limits(12, 2, 7),
    "1.2": Limits(11, 2, 6),
    "1.1": Limits(11, 2, 6),
    "1.0": Limits(11, 2, 6),
}
#: The newest onnxruntime release the table above covers (named in messages).
NEWEST_IN_TABLE = "1.20"

# Source: Triton Inference Server, "Release Compatibility Matrix", section "ONNX Runtime
# Versions" (Triton release version | ONNX Runtime):
# https://github.com/triton-inference-server/server/blob/main/docs/introduction/compatibility.md#onnx-runtime-versions
# (read at commit 0f963c9a8c6913aa4cd9b57ee04f9c2b76ee8d2a). The table starts at 24.04: older
# Triton releases need the runtime annotation. It applies to the `<release>-py3` image, the
# one with the ONNX Runtime backend.
TRITON_ONNXRUNTIME: Mapping[str, str] = {
    "24.04": "1.17.3",
    "24.05": "1.18.0",
    "24.06": "1.18.0",
    "24.07": "1.18.1",
    "24.08": "1.18.1",
    "24.09": "1.19.2",
    "24.10": "1.19.2",
    "24.11": "1.19.2",
    "24.12": "1.20.1",
    "25.01": "1.20.1",
    "25.02": "1.20.1",
    "25.03": "1.21.0",
    "25.04": "1.21.0",
    "25.05": "1.22.0",
    "25.06": "1.22.0",
    "25.07": "1.22.0",
    "25.08": "1.23.0+1d1712fdaf",
    "25.09": "1.23.0",
    "25.10": "1.23.1",
    "25.11": "1.23.2",
    "25.12": "1.23.2",
    "26.01": "1.23.2",
    "26.02": "1.24.1",
    "26.03": "1.24.2",
    "26.04": "1.24.4",
    "26.05": "1.24.4",
    "26.06": "1.24.4",
    "26.07": "1.27.0",
    "26.08": "1.28.0",
}
#: ``nvcr.io/nvidia/tritonserver:<YY.MM>-py3``, optionally pinned by digest.
_TRITON_RE = re.compile(r"^nvcr\.io/nvidia/tritonserver:(?P<release>\d{2}\.\d{2})-py3(?:@.+)?\Z")
_VERSION_RE = re.compile(r"^(?P<minor>\d{1,4}\.\d{1,4})\.\d{1,4}(?:\+[0-9A-Za-z.]{1,64})?\Z")
_INT_RE = re.compile(r"^[1-9][0-9]{0,3}\Z")


@dataclass(frozen=True)
class Runtime:
    """What one serving image loads."""

    image: str
    onnxruntime: str
    limits: Limits
    #: Where the limits come from: ``table`` (this module) or ``declared`` (annotations).
    source: str

    def describe(self) -> str:
        """``onnxruntime 1.17.3: opset ≤ 20, IR ≤ 9`` (the ML opset when asked for)."""
        declared = ", declared" if self.source == "declared" else ""
        return (
            f"onnxruntime {self.onnxruntime}{declared}: opset ≤ {self.limits.opset}, "
            f"IR ≤ {self.limits.ir_version}"
        )


def triton_onnxruntime(image: str) -> tuple[str, str] | None:
    """``(Triton release, onnxruntime version)`` of a known Triton image, else None."""
    match = _TRITON_RE.match(image)
    if match is None or match["release"] not in TRITON_ONNXRUNTIME:
        return None
    return match["release"], TRITON_ONNXRUNTIME[match["release"]]


_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def _shown(value: object, limit: int = 80) -> str:
    """A pull request's value for a one-line message: no control character, bounded."""
    text = _CONTROL_RE.sub("?", str(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def resolve(image: str, annotations: Mapping[str, Any]) -> tuple[Runtime | None, list[str]]:
    """The runtime of ``image`` under a pod template's ``annotations``, or why it is unknown.

    Returns the runtime (None when it cannot be known) and the problems of the declaration
    (each an MR630 message, without the workload's name).
    """
    problems: list[str] = []
    name = _shown(image, 160)
    declared = annotations.get(RUNTIME_ANNOTATION)
    known = triton_onnxruntime(image)
    if declared is not None and (
        not isinstance(declared, str) or _VERSION_RE.match(declared) is None
    ):
        problems.append(
            f"`{RUNTIME_ANNOTATION}: {_shown(declared)}` is not an onnxruntime version "
            '(write it as "MAJOR.MINOR.PATCH", e.g. "1.20.1")'
        )
        declared = None
    if known is not None:
        release, version = known
        if declared is not None and declared != version:
            problems.append(
                f"`{RUNTIME_ANNOTATION}: {_shown(declared)}` contradicts the image: "
                f"{name} (Triton {release}) runs onnxruntime {version} (Triton's release "
                f'compatibility matrix); write "{version}" or deploy the image that runs '
                f"{_shown(declared)}"
            )
            return None, problems
        declared = version
    if declared is None:
        if not problems:
            problems.append(
                f"{name}: which onnxruntime it runs is unknown (not a Triton release modelreg "
                f"knows), so no check can say which models it loads; declare it on the pod "
                f'template: `{RUNTIME_ANNOTATION}: "MAJOR.MINOR.PATCH"`'
            )
        return None, problems
    minor = _VERSION_RE.match(declared)
    assert minor is not None  # checked above, or from the table
    table = ONNXRUNTIME_LIMITS.get(minor["minor"])
    given: dict[str, int] = {}
    for key in LIMIT_ANNOTATIONS:
        value = annotations.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or _INT_RE.match(value) is None:
            problems.append(f'`{key}: {_shown(value)}` is not a version number (e.g. "21")')
        else:
            given[key] = int(value)
    if problems:
        return None, problems
    if table is not None:
        wrong = [
            f"{key}: {given[key]} (the table says {want})"
            for key, want in zip(LIMIT_ANNOTATIONS, _fields(table), strict=True)
            if key in given and given[key] != want
        ]
        if wrong:
            problems.append(
                f"{name}: onnxruntime {declared} loads opset ≤ {table.opset}, ML opset ≤ "
                f"{table.ml_opset}, IR ≤ {table.ir_version} (onnxruntime's compatibility "
                f"table), but the pod template declares {', '.join(wrong)}; remove the "
                "limit annotations (the table knows this release)"
            )
            return None, problems
        return Runtime(image, declared, table, "table"), []
    missing = [key for key in LIMIT_ANNOTATIONS if key not in given]
    if missing:
        problems.append(
            f"{name}: onnxruntime {declared} is newer than modelreg's table (onnxruntime's "
            f"compatibility page, up to {NEWEST_IN_TABLE}), so what it loads is unknown; "
            f"declare it from that release's notes: {', '.join(f'`{k}`' for k in missing)}"
        )
        return None, problems
    limits = Limits(
        given[MAX_OPSET_ANNOTATION], given[MAX_ML_OPSET_ANNOTATION], given[MAX_IR_ANNOTATION]
    )
    return Runtime(image, declared, limits, "declared"), []


def _fields(limits: Limits) -> tuple[int, int, int]:
    return limits.opset, limits.ml_opset, limits.ir_version


@dataclass(frozen=True)
class Excess:
    """One thing a model needs beyond a runtime's limits."""

    #: Where in metadata.yaml: ``("onnx", "opsets", "ai.onnx")`` or ``("onnx", "ir_version")``.
    field: tuple[str, ...]
    message: str


def excesses(onnx: Mapping[str, Any], runtime: Runtime) -> list[Excess]:
    """What the ``onnx`` block of a metadata.yaml needs beyond ``runtime`` (MR629 messages)."""
    opsets = onnx.get("opsets")
    opsets = opsets if isinstance(opsets, Mapping) else {}
    limits = runtime.limits
    where = f"{_shown(runtime.image, 160)} loads ({runtime.describe()})"
    # (field, its value, the runtime's limit, the message for a value over it)
    rows: tuple[tuple[tuple[str, ...], object, int, Callable[[object], str]], ...] = (
        (
            ("onnx", "opsets", DEFAULT_DOMAIN),
            opsets.get(DEFAULT_DOMAIN),
            limits.opset,
            lambda v: (
                f"onnx opset {v} exceeds what {where}; export with "
                f"opset_version={limits.opset} or deploy a newer image"
            ),
        ),
        (
            ("onnx", "opsets", ML_DOMAIN),
            opsets.get(ML_DOMAIN),
            limits.ml_opset,
            lambda v: (
                f"onnx {ML_DOMAIN} opset {v} exceeds what {_shown(runtime.image, 160)} "
                f"loads (onnxruntime {runtime.onnxruntime}: {ML_DOMAIN} opset ≤ "
                f"{limits.ml_opset}); convert with target_opset={{'{ML_DOMAIN}': "
                f"{limits.ml_opset}}} or deploy a newer image"
            ),
        ),
        (
            ("onnx", "ir_version"),
            onnx.get("ir_version"),
            limits.ir_version,
            lambda v: (
                f"onnx IR version {v} exceeds what {where}; export with an onnx release "
                f"that writes IR {limits.ir_version} or deploy a newer image"
            ),
        ),
    )
    return [
        Excess(field, message(value))
        for field, value, limit, message in rows
        if _is_int(value) and value > limit
    ]


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def serving_pod(data: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """``(image, pod template annotations)`` of a workload's serving container (its first
    container), or None when it has none."""
    template = (data.get("spec") or {}).get("template") if isinstance(data, Mapping) else None
    if not isinstance(template, Mapping):
        return None
    spec = template.get("spec")
    containers = spec.get("containers") if isinstance(spec, Mapping) else None
    if not isinstance(containers, list) or not containers or not isinstance(containers[0], dict):
        return None
    image = containers[0].get("image")
    if not isinstance(image, str) or not image:
        return None  # MR611 reports a container without an image
    metadata = template.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    return image, annotations if isinstance(annotations, Mapping) else {}
