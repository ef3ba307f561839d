"""Generated overlays: one per version, and the environment overlays' version lines and aliases.

Everything here is text generated from the registry's files, deterministic byte for byte, so
``modelreg overlays --check`` (and ``validate --fast``) can tell a stale overlay without running
kustomize, and reverting a promotion commit restores exactly the bytes it replaced.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from modelreg.errors import ModelregError
from modelreg.git.tags import tag_name
from modelreg.gitops import BASE_DIR, OVERLAYS_DIR
from modelreg.gitops.envs import (
    ALIAS_SUFFIX,
    ALIAS_VERSION_ANNOTATION,
    KUSTOMIZATION,
    VERSION_REF_RE,
    alias_version,
    version_refs,
)
from modelreg.gitops.triton import config_pbtxt
from modelreg.registry import Registry, semver_key

#: Annotations on generated ConfigMaps: their names carry a content hash, so each change makes
#: a new object; the old one must outlive the rollout (pods still starting reference it), so
#: neither Flux nor Argo CD prunes them. Clean them up with a label query when needed.
KEEP_ANNOTATIONS = {
    "kustomize.toolkit.fluxcd.io/prune": "disabled",
    "argocd.argoproj.io/sync-options": "Prune=false",
    "argocd.argoproj.io/compare-options": "IgnoreExtraneous",
}
INSTANCE_LABEL = "app.kubernetes.io/instance"
#: Namespace each environment overlay deploys into (set when modelreg creates the overlay).
NAMESPACE_PREFIX = "models-"


_RESOURCES_PATH = "/spec/template/spec/containers/0/resources"


def version_slug(version: str) -> str:
    """``1.1.0`` → ``1-1-0``: a version inside a DNS-1123 object name."""
    return re.sub(r"[^a-z0-9]+", "-", version.lower()).strip("-")


def instance(model: str, version: str) -> str:
    """The per-version instance label value (and Service/Deployment name stem)."""
    return f"{model}-v{version_slug(version)}"


def label_value(version: str) -> str:
    """A version as a label value (build metadata's ``+`` is not allowed there)."""
    return version.replace("+", "_")


def version_overlay_dir(root: Path, model: str, version: str) -> Path:
    """``overlays/<model>/v<version>``."""
    return root / OVERLAYS_DIR / model / f"v{version}"


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


#: The file of the ``model-config`` ConfigMap that lists a version's external data for the
#: fetch step (``MODEL_EXTERNAL_DATA``), one ``<sha256>  <path>`` line per file.
EXTERNAL_DATA_LIST = "external-data.sha256"
#: A path component the fetch step lays out (overlays/base/fetch-model.sh, ``safe_path``):
#: nothing a shell, git-lfs's comma-separated --include list or a glob would read twice.
_DEPLOYABLE_COMPONENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+@-]*\Z")
_SHA256 = re.compile(r"[0-9a-f]{64}\Z")


def deployable(path: str) -> bool:
    """Whether the fetch step accepts ``path`` (a relative POSIX path) as a file to lay out."""
    return all(_DEPLOYABLE_COMPONENT.match(part) for part in path.split("/"))


def external_data_list(artifact: dict[str, Any], where: str) -> str | None:
    """The fetch step's list of ``artifact``'s external data files, or None when it has none.

    Each path is written relative to the ONNX file's directory, as the model references it
    and as the fetch step lays it out beside ``1/model.onnx``. A file the fetch step could not
    fetch and verify exactly is refused here, so it never reaches an overlay.
    """
    entries = artifact.get("external_data") or []
    if not entries:
        return None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ModelregError(f"{where}: artifact.external_data is not a list of files")
    if artifact.get("storage_uri"):
        raise ModelregError(
            f"{where}: artifact.storage_uri is one file, but the version has external data: "
            "the fetch step takes all of its files from git; remove storage_uri"
        )
    base = PurePosixPath(str(artifact.get("path") or "model.onnx")).parent.as_posix()
    prefix = "" if base == "." else base + "/"
    lines = []
    for index, entry in enumerate(entries):
        path, sha = str(entry.get("path", "")), str(entry.get("sha256", ""))
        shown = f"{where}: artifact.external_data[{index}] `{path}`"
        if not path.startswith(prefix):
            raise ModelregError(f"{shown} is not inside the ONNX file's directory `{base}`")
        rel = path[len(prefix) :]
        if not deployable(rel):
            raise ModelregError(
                f"{shown} cannot be deployed: the fetch step lays out only plain names "
                "(letters, digits, `._+@-`, not starting with `.` or `-`); save the model "
                "with another external data location and add the version again"
            )
        if rel == "model.onnx":
            raise ModelregError(f"{shown} would replace the model itself in the layout")
        if not _SHA256.match(sha):
            raise ModelregError(f"{shown} has no sha256 to verify it by")
        lines.append(f"{sha}  {rel}\n")
    return "".join(lines)


def version_overlay_files(registry: Registry, model: str, version: str) -> dict[str, str]:
    """File name → content of ``overlays/<model>/v<version>/``."""
    entry = registry.models.get(model)
    if entry is None or version not in entry.versions:
        raise ModelregError(f"models/{model}/{version} does not exist")
    vdir = entry.versions[version]
    meta = registry.metadata(vdir)
    model_data = registry.model_data(entry)
    where = registry.rel(vdir.metadata_path)
    if meta is None or model_data is None:
        raise ModelregError(f"{where}: cannot generate the overlay from unreadable metadata")
    artifact = meta.get("artifact") or {}
    deployment = meta.get("deployment") or {}
    files = {"config.pbtxt": config_pbtxt(model, meta, where)}
    model_path = f"models/{model}/{version}/{artifact.get('path', 'model.onnx')}"
    literals = [
        f"MODEL_NAME={model}",
        f"MODEL_VERSION={version}",
        f"MODEL_SHA256={artifact.get('sha256', '')}",
        f"MODEL_REF={tag_name(model_data, version)}",
        f"MODEL_PATH={model_path}",
    ]
    if artifact.get("storage_uri"):
        literals.append(f"MODEL_STORAGE_URI={artifact['storage_uri']}")
    if not deployable(model_path):
        raise ModelregError(
            f"{where}: artifact.path `{artifact.get('path')}` cannot be deployed: the fetch "
            "step fetches only plain names (letters, digits, `._+@-`, not starting with `.` "
            "or `-`)"
        )
    config_files = ["config.pbtxt"]
    # Deployed = validated: every external data file is fetched and verified by sha256 too.
    external = external_data_list(artifact, where)
    if external is not None:
        literals.append(f"MODEL_EXTERNAL_DATA={EXTERNAL_DATA_LIST}")
        files[EXTERNAL_DATA_LIST] = external
        config_files.append(EXTERNAL_DATA_LIST)
    extra = deployment.get("config")
    if extra:
        source = vdir.dir / extra
        if not source.is_file():
            raise ModelregError(f"{where}: deployment.config {extra} does not exist")
        name = "production-" + Path(extra).name
        files[name] = source.read_text(encoding="utf-8")
        config_files.append(name)
    annotations = [f"        {k}: {_quote(v)}" for k, v in KEEP_ANNOTATIONS.items()]
    lines = [
        f"# Generated by `modelreg overlays` from {where}; do not edit.",
        "# Frozen once the version's release tag exists: a released version never changes here.",
        "apiVersion: kustomize.config.k8s.io/v1beta1",
        "kind: Kustomization",
        "resources:",
        f"  - ../../{BASE_DIR}",
        f"namePrefix: {model}-",
        f"nameSuffix: -v{version_slug(version)}",
        "labels:",
        "  # On pods and objects, never in selectors: `kubectl get pods -l model=...` works",
        "  # and a selector (immutable on a Deployment) never names a version.",
        "  - pairs:",
        f"      model: {model}",
        f"      version: {_quote(label_value(version))}",
        "    includeTemplates: true",
        "  # Keeps this version's pods apart from other versions of the same model.",
        "  - pairs:",
        f"      {INSTANCE_LABEL}: {instance(model, version)}",
        "    includeSelectors: true",
        "configMapGenerator:",
        "  - name: model",
        "    literals:",
        *(f"      - {_quote(item)}" for item in literals),
        "    options:",
        "      annotations:",
        *annotations,
        "  - name: model-config",
        "    files:",
        *(f"      - {name}" for name in config_files),
        "    options:",
        "      annotations:",
        *annotations,
    ]
    if deployment.get("replicas") is not None:
        lines += ["replicas:", "  - name: triton", f"    count: {int(deployment['replicas'])}"]
    resources = deployment.get("resources") or {}
    ops = [
        f"      - op: replace\n        path: {_RESOURCES_PATH}/{kind}/{key}\n"
        f"        value: {_quote(str(value))}"
        for kind in ("requests", "limits")
        for key, value in sorted((resources.get(kind) or {}).items())
    ]
    if ops:
        lines += [
            "patches:",
            "  - target:",
            "      kind: Deployment",
            "      name: triton",
            "    patch: |-",
            *ops,
        ]
    files[KUSTOMIZATION] = "\n".join(lines) + "\n"
    return files


@dataclass(frozen=True)
class Stale:
    """A version overlay that differs from what its metadata generates."""

    model: str
    version: str
    path: str  # relative to the root
    reason: str


def stale_version_overlays(
    registry: Registry, frozen: frozenset[tuple[str, str]] = frozenset()
) -> list[Stale]:
    """Every version overlay that is missing, stale or stray (no subprocess).

    ``frozen`` versions (released: tagged) keep the overlay they were released with even when
    the generator has changed since; MR701 guards them instead, so the two rules never ask for
    opposite things.
    """
    found: list[Stale] = []
    root = registry.root
    for model, entry in sorted(registry.models.items()):
        for version in sorted(entry.versions):
            directory = version_overlay_dir(root, model, version)
            rel = directory.relative_to(root).as_posix()
            try:
                want = version_overlay_files(registry, model, version)
            except ModelregError as exc:
                found.append(Stale(model, version, rel, f"cannot generate: {exc}"))
                continue
            if not directory.is_dir():
                found.append(Stale(model, version, rel, "missing"))
                continue
            if (model, version) in frozen:
                continue
            have = {p.name for p in directory.iterdir() if p.is_file()}
            for name, text in sorted(want.items()):
                path = directory / name
                if not path.is_file():
                    found.append(Stale(model, version, f"{rel}/{name}", "missing"))
                elif path.read_text(encoding="utf-8") != text:
                    found.append(Stale(model, version, f"{rel}/{name}", "stale"))
            for name in sorted(have - set(want)):
                found.append(Stale(model, version, f"{rel}/{name}", "not generated by modelreg"))
        model_dir = root / OVERLAYS_DIR / model
        if model_dir.is_dir():
            for child in sorted(model_dir.iterdir()):
                if child.is_dir() and child.name[1:] not in entry.versions:
                    rel = child.relative_to(root).as_posix()
                    found.append(Stale(model, child.name[1:], rel, "no such version in models/"))
    return found


# -- environment overlays -----------------------------------------------------------------


def alias_text(model: str, env: str, version: str) -> str:
    """The stable Service ``<model>`` of ``env``, selecting ``version``'s pods only."""
    return f"""\
# The stable address of {model} in {env}: selects the pods of one version ({version}).
# Written by `modelreg promote`; change it with `modelreg promote`, not by hand.
apiVersion: v1
kind: Service
metadata:
  name: {model}
  labels:
    model: {model}
    app.kubernetes.io/component: model-alias
  annotations:
    {ALIAS_VERSION_ANNOTATION}: {_quote(version)}
spec:
  type: ClusterIP
  selector:
    app.kubernetes.io/name: triton
    {INSTANCE_LABEL}: {instance(model, version)}
  ports:
    - name: http
      port: 8000
      targetPort: http
    - name: grpc
      port: 8001
      targetPort: grpc
"""


def env_header(env: str) -> str:
    """The part of a new environment overlay before ``resources:``."""
    return f"""\
# Environment `{env}`: which model versions run here, one line per version, one block per model.
# `modelreg promote` and `modelreg rollback` edit the resources below; review them like code.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: {NAMESPACE_PREFIX}{env}
"""


def env_kustomization_text(
    current: str | None,
    env: str,
    running: Mapping[str, list[str]],
    aliases: Mapping[str, str],
) -> str:
    """``overlays/<env>/kustomization.yaml`` listing ``running`` (model → versions).

    Everything outside ``resources:`` is kept byte for byte, and so are resource lines that are
    not modelreg's (other manifests a team adds), listed first. Each model is one block,
    ``# <model>`` then its version lines then its alias, with a blank line between blocks: two
    promotions of different models never touch adjacent lines, so they merge and revert
    without textual conflicts.
    """
    text = current if current is not None else env_header(env) + "resources: []\n"
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(r"^resources:", line)), None)
    if start is None:
        head, tail, others = lines, [], list[str]()
    else:
        end = start + 1
        while end < len(lines) and (
            not lines[end].strip() or lines[end].startswith((" ", "-", "#"))
        ):
            end += 1
        # Trailing blank or comment lines belong to what follows, not to resources.
        while end > start + 1 and not lines[end - 1].strip():
            end -= 1
        head, tail = lines[:start], lines[end:]
        others = []
        for line in lines[start + 1 : end]:
            item = line.strip()
            if not item.startswith("-"):
                continue
            value = item[1:].strip().strip("'\"")
            if VERSION_REF_RE.match(value) or value.endswith(ALIAS_SUFFIX):
                continue
            others.append(value)
    body: list[str] = [f"  - {value}" for value in others]
    for model in sorted(set(running) | set(aliases)):
        versions = sorted(set(running.get(model, [])), key=semver_key)
        if not versions and model not in aliases:
            continue
        if body:
            body.append("")
        body.append(f"  # {model}")
        body += [f"  - ../{model}/v{v}" for v in versions]
        if model in aliases:
            body.append(f"  - {model}{ALIAS_SUFFIX}")
    out = [*head, "resources:" if body else "resources: []", *body, *tail]
    return "\n".join(out) + "\n"


def running_versions(root: Path, env: str) -> dict[str, list[str]]:
    """Model → versions listed in ``overlays/<env>/kustomization.yaml`` (empty if none)."""
    path = root / OVERLAYS_DIR / env / KUSTOMIZATION
    running: dict[str, list[str]] = {}
    if path.is_file():
        for ref in version_refs(root, env):
            running.setdefault(ref.model, []).append(ref.version)
    return running


def env_aliases(root: Path, env: str) -> dict[str, str]:
    """Model → version of every alias file in ``overlays/<env>/``."""
    directory = root / OVERLAYS_DIR / env
    aliases: dict[str, str] = {}
    if directory.is_dir():
        for path in sorted(directory.glob(f"*{ALIAS_SUFFIX}")):
            model = path.name[: -len(ALIAS_SUFFIX)]
            version = alias_version(root, env, model)
            if version is not None:
                aliases[model] = version
    return aliases
