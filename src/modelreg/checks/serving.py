"""Serving runtime rules (MR629, MR630): every version can be loaded by the image that would
serve it.

The facts are in files already: a version's ``onnx.ir_version`` and ``onnx.opsets`` in its
metadata.yaml (proven against the ONNX file by the deep structure checks), the serving image
and its runtime declaration in the workload manifests (:mod:`modelreg.gitops.runtimes`). So
the rules need no ONNX bytes and no kustomize, and run in ``validate --fast`` and the
pre-commit hook:

* every version, deployed or not (any version may be promoted), against the serving
  workloads of ``overlays/base`` (what a version overlay deploys);
* MR630 once for a base workload whose image runs an unknown onnxruntime.

The deep run also renders each environment (fenced, as every build is) and judges the
workloads it really deploys, so an environment that patches the image or the declaration is
judged by what it renders; it reports only what differs from the base, which the fast rules
judged already.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelreg.checks import RegistryContext, VersionContext, check
from modelreg.errors import ModelregError
from modelreg.findings import Finding
from modelreg.gitops import BASE_DIR, OVERLAYS_DIR
from modelreg.gitops.envs import KUSTOMIZATION, environment_names
from modelreg.gitops.fence import load_yaml, load_yaml_stream, read_no_follow
from modelreg.gitops.policy import WORKLOAD_KINDS
from modelreg.gitops.runtimes import (
    LIMIT_ANNOTATIONS,
    RUNTIME_ANNOTATION,
    Runtime,
    excesses,
    resolve,
    serving_pod,
)
from modelreg.registry import Registry
from modelreg.rules import rule

_ANNOTATIONS = (RUNTIME_ANNOTATION, *LIMIT_ANNOTATIONS)
#: What identifies a runtime declaration: the image and the annotation values as written.
Key = tuple[str, tuple[object, ...]]


@dataclass(frozen=True)
class Serving:
    """One serving workload of ``overlays/base``: where it is written and what it runs."""

    path: str  # the manifest, relative to the registry root
    line: int | None  # of its serving container's `image:`
    name: str  # ``Deployment/triton``
    key: Key
    runtime: Runtime | None
    problems: tuple[str, ...]


def _key(image: str, annotations: Mapping[str, Any]) -> Key:
    return image, tuple(annotations.get(k) for k in _ANNOTATIONS)


def _judge(data: Mapping[str, Any]) -> tuple[Key, Runtime | None, list[str]] | None:
    pod = serving_pod(data)
    if pod is None:
        return None
    image, annotations = pod
    runtime, problems = resolve(image, annotations)
    return _key(image, annotations), runtime, problems


def _image_line(text: str, image: str) -> int | None:
    pattern = re.compile(r"^\s*(?:-\s*)?image:\s*['\"]?" + re.escape(image) + r"['\"]?\s*(?:#.*)?$")
    for number, line in enumerate(text.splitlines(), 1):
        if pattern.match(line):
            return number
    return None


def base_serving(root: Path) -> list[Serving]:
    """The serving workloads of ``overlays/base`` (the manifests its kustomization lists as
    ``resources``), read without kustomize and without following a symlink. Unreadable files
    are skipped: the fence rules (MR623) and the build (MR610) report them."""
    base = f"{OVERLAYS_DIR}/{BASE_DIR}"
    try:
        data, refused = load_yaml(read_no_follow(root, f"{base}/{KUSTOMIZATION}"), KUSTOMIZATION)
    except ModelregError:
        return []
    resources = data.get("resources") if isinstance(data, dict) and not refused else None
    found: list[Serving] = []
    for entry in resources if isinstance(resources, list) else []:
        if not isinstance(entry, str) or "/" in entry or not entry.endswith((".yaml", ".yml")):
            continue  # a directory or a path elsewhere: the deep run renders it
        rel = f"{base}/{entry}"
        try:
            raw = read_no_follow(root, rel)
        except ModelregError:
            continue
        docs, problems = load_yaml_stream(raw, rel)
        if problems:
            continue
        text = raw.decode("utf-8", "replace")
        for doc in docs:
            if not isinstance(doc, dict) or doc.get("kind") not in WORKLOAD_KINDS:
                continue
            judged = _judge(doc)
            if judged is None:
                continue
            key, runtime, why = judged
            name = f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name', '?')}"
            found.append(Serving(rel, _image_line(text, key[0]), name, key, runtime, tuple(why)))
    return found


#: Registry → its base workloads, read once per run (every version check needs them).
_BASE: dict[int, tuple[weakref.ref[Registry], list[Serving]]] = {}


def _base_of(registry: Registry) -> list[Serving]:
    entry = _BASE.get(id(registry))
    if entry is not None and entry[0]() is registry:
        return entry[1]
    for stale in [k for k, (ref, _) in _BASE.items() if ref() is None]:
        del _BASE[stale]
    serving = base_serving(registry.root)
    _BASE[id(registry)] = (weakref.ref(registry), serving)
    return serving


@check("registry", rules=("MR630",), needs_valid=False)
def serving_runtime_known(ctx: RegistryContext) -> Iterator[Finding]:
    """Every serving image of overlays/base runs a known onnxruntime (table or declaration)."""
    for serving in _base_of(ctx.registry):
        for message in serving.problems:
            yield rule("MR630").finding(serving.path, f"{serving.name}: {message}", serving.line)


@check("version", rules=("MR629",))
def loads_on_serving_runtime(ctx: VersionContext) -> Iterator[Finding]:
    """The version's IR version and opsets are within what the base's serving image loads."""
    onnx = (ctx.meta or {}).get("onnx")
    if not isinstance(onnx, dict):
        return
    seen: set[str] = set()
    for serving in _base_of(ctx.registry):
        if serving.runtime is None:
            continue  # MR630 says why
        for excess in excesses(onnx, serving.runtime):
            if excess.message not in seen:
                seen.add(excess.message)
                line, column = ctx.position(*excess.field)
                yield rule("MR629").finding(ctx.metadata_rel, excess.message, line, column)


@check("registry", rules=("MR629", "MR630"), deep=True, needs_valid=False)
def environments_load_their_versions(ctx: RegistryContext) -> Iterator[Finding]:
    """Each environment's rendered workloads run an image that loads the version they serve
    (only where the environment changes the base's image or declaration)."""
    from modelreg.gitops.fence import Fence
    from modelreg.gitops.kustomize import render, renders
    from modelreg.gitops.policy import served

    root = ctx.registry.root
    judged_in_base = {s.key for s in _base_of(ctx.registry)}
    fence = Fence(root)
    memo = renders(ctx.registry)  # what rendered_policy (checks/gitops.py) built already
    for env in environment_names(root):
        where = f"{OVERLAYS_DIR}/{env}"
        path = f"{where}/{KUSTOMIZATION}"
        if fence.check(where):
            continue  # not built; MR623/MR627 name the problem
        ctx.options.settings.valid("kustomize_timeout_s", "kustomize_memory_mb")  # exit 2, named
        try:
            objects = render(memo, root / OVERLAYS_DIR / env, where, ctx.options.settings)
        except ModelregError:
            continue  # MR610 or MR901 (rendered_policy) reports it
        for obj in objects:
            if obj.data.get("kind") not in WORKLOAD_KINDS:
                continue
            judged = _judge(obj.data)
            if judged is None or judged[0] in judged_in_base:
                continue
            _, runtime, problems = judged
            for message in problems:
                yield rule("MR630").finding(path, f"{obj.label}: {message}")
            identity = served(obj, objects).identity
            if runtime is None or identity is None:
                continue  # MR626 reports a workload whose version is unknown
            model, version = identity
            entry = ctx.registry.models.get(model)
            meta = (
                ctx.registry.metadata(entry.versions[version])
                if entry is not None and version in entry.versions
                else None
            )
            onnx = (meta or {}).get("onnx")
            if not isinstance(onnx, dict):
                continue
            for excess in excesses(onnx, runtime):
                yield rule("MR629").finding(
                    path, f"{obj.label} serves {model} {version}: {excess.message}"
                )
