"""Deployment policy over kustomizations (static) and rendered objects (after kustomize).

Static rules read ``kustomization.yaml`` files only (no process, ``validate --fast``): no
remote resources, nothing that needs ``--load-restrictor``, no plugins, Helm or exec functions.
Rendered rules read what kustomize printed: images tagged (never ``:latest``) and, where a
digest is given, a well-formed one (unpinned tags are reported, never guessed), resource
limits, a restrictive securityContext (no added capabilities), no host namespaces or hostPath
volumes, probes, and the ``model``/``version`` labels outside selectors. Each function
returns ``(rule id, message)`` pairs; the check module adds paths.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelreg.errors import ModelregError
from modelreg.gitops.fence import load_yaml, read_no_follow, shown
from modelreg.gitops.kustomize import RenderedObject

Problem = tuple[str, str]  # (rule id, message)

#: Fields that load plugins or run programs; plain kustomize builds must not need them.
PLUGIN_FIELDS = ("generators", "transformers", "validators", "helmCharts", "helmGlobals")
#: Fields whose entries are files (must stay inside the kustomization directory).
_REMOTE_RE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|git@|github\.com/|gitlab\.com/|bitbucket\.org/)")
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job")
VERSION_LABEL = "version"
MODEL_LABEL = "model"


def _file_entries(data: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(field, value) of every entry naming a file or directory to load."""
    for key in ("resources", "components", "crds", "bases"):
        for item in data.get(key) or []:
            if isinstance(item, str):
                yield key, item
    for key in ("configMapGenerator", "secretGenerator"):
        for gen in data.get(key) or []:
            if not isinstance(gen, dict):
                continue
            for item in [*(gen.get("files") or []), *(gen.get("envs") or [])]:
                if isinstance(item, str):
                    # `key=path` names the key; the file is after the `=`.
                    yield key, item.split("=", 1)[-1]
            if isinstance(gen.get("env"), str):
                yield key, gen["env"]
    for key in ("patches", "patchesStrategicMerge", "patchesJson6902"):
        for patch in data.get(key) or []:
            path = patch.get("path") if isinstance(patch, dict) else patch
            if isinstance(path, str) and "\n" not in path:
                yield key, path


def static_problems(path: Path) -> list[Problem]:
    """What in one kustomization.yaml breaks a plain, default ``kustomize build``."""
    try:
        raw = read_no_follow(path.parent, path.name)
    except ModelregError as exc:
        return [("MR606", f"cannot be read: {str(exc).split(': ', 1)[-1]}")]
    data, refused = load_yaml(raw, path.name)  # bounded: aliases, depth, duplicate keys
    if refused:
        return [("MR606", f"cannot be read as YAML: {refused[0].message}")]
    if not isinstance(data, dict):
        return [("MR606", "is not a kustomization (a YAML mapping)")]
    problems: list[Problem] = []
    for key in PLUGIN_FIELDS:
        if data.get(key):
            problems.append(
                ("MR606", f"`{key}` needs kustomize plugins or --enable-helm; Flux and Argo CD "
                 "render with default options, so inline the generated manifests instead")
            )  # fmt: skip
    directory = path.parent
    for key, entry in _file_entries(data):
        if _REMOTE_RE.match(entry):
            problems.append(
                ("MR606", f"`{key}` entry {entry} is remote; remote bases make the render depend "
                 "on the network and on a moving target: vendor it into the repository")
            )  # fmt: skip
            continue
        target = (directory / entry).resolve()
        inside = target == directory.resolve() or directory.resolve() in target.parents
        if not target.exists():
            problems.append(("MR606", f"`{key}` entry {entry} does not exist"))
        elif target.is_file() and not inside:
            problems.append(
                ("MR606", f"`{key}` entry {entry} is a file outside the kustomization directory: "
                 "it only builds with --load-restrictor=LoadRestrictionsNone; move the file "
                 "into the directory or make its directory a kustomization")
            )  # fmt: skip
    return problems


def _containers(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            if isinstance(container, dict):
                yield key, container


def image_problems(image: str) -> list[Problem]:
    """Tag and digest of one image reference."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else None
    if digest:
        if not _DIGEST_RE.match(digest):
            return [("MR611", f"image {image}: digest {digest} is not `sha256:` + 64 hex digits")]
        if tag == "latest":
            return [("MR611", f"image {image}: `:latest` beside a digest misleads readers")]
        return []
    if tag is None:
        return [("MR611", f"image {image} has no tag: it means `:latest`, a moving target")]
    if tag == "latest":
        return [("MR611", f"image {image} uses `:latest`, a moving target")]
    return [
        ("MR612", f"image {image} is pinned by tag only, not by digest (tags can be moved); "
         "pin `@sha256:...` once you have verified the digest of the image you run")
    ]  # fmt: skip


#: Where a registry lists the image registries its workloads may pull from (MR622).
POLICY_FILE = "policy.yaml"


def image_registry(image: str) -> str:
    """The registry host of an image reference (Docker Hub for ``alpine/git:2.45.2``)."""
    first, sep, _rest = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def allowed_registries(overlays_dir: Path) -> tuple[list[str] | None, str]:
    """``allowed_image_registries`` from ``overlays/policy.yaml`` (None: no allow-list), or
    why the file is unusable."""
    path = overlays_dir / POLICY_FILE
    if not os.path.lexists(path):
        return None, ""
    try:
        raw = read_no_follow(overlays_dir, POLICY_FILE)
    except ModelregError as exc:
        return None, f"cannot be read: {str(exc).split(': ', 1)[-1]}"
    data, refused = load_yaml(raw, POLICY_FILE)
    if refused:
        return None, f"cannot be read: {refused[0].message}"
    allowed = data.get("allowed_image_registries") if isinstance(data, dict) else None
    if not isinstance(allowed, list) or not all(isinstance(a, str) and a for a in allowed):
        return None, "needs `allowed_image_registries:` with a list of registry hosts"
    return list(allowed), ""


def allowlist_problems(obj: RenderedObject, allowed: list[str]) -> list[Problem]:
    """MR622 for every container image of a workload from a registry not on the list."""
    data = obj.data
    if data.get("kind") not in WORKLOAD_KINDS:
        return []
    pod = ((data.get("spec") or {}).get("template") or {}).get("spec") or {}
    problems: list[Problem] = []
    for where, container in _containers(pod):
        image = str(container.get("image") or "")
        host = image_registry(image) if image else ""
        if image and host not in allowed:
            cname = f"{obj.label} {where[:-1]} {container.get('name', '?')}"
            problems.append(
                ("MR622", f"{cname}: image {image} comes from {host}, which "
                 f"overlays/{POLICY_FILE} does not allow ({', '.join(allowed)})")
            )  # fmt: skip
    return problems


def object_problems(obj: RenderedObject) -> list[Problem]:
    """Policy findings for one rendered object."""
    data = obj.data
    kind = data.get("kind")
    spec = data.get("spec") or {}
    problems = _selector_problems(obj, kind, spec)
    if kind not in WORKLOAD_KINDS:
        return problems
    template = spec.get("template") or {}
    problems += _pod_label_problems(obj, template)
    pod = template.get("spec") or {}
    problems += _host_access_problems(obj, pod)
    pod_security = pod.get("securityContext") or {}
    for where, container in _containers(pod):
        problems += _container_problems(obj, where, container, pod_security)
    return problems


def _selector_problems(obj: RenderedObject, kind: Any, spec: dict[str, Any]) -> list[Problem]:
    """MR616 when a workload's or Service's selector uses the version label."""
    selector = spec.get("selector") or {}
    labels_selector = selector.get("matchLabels", selector) if isinstance(selector, dict) else {}
    if (
        isinstance(labels_selector, dict)
        and VERSION_LABEL in labels_selector
        and (kind in WORKLOAD_KINDS or kind == "Service")
    ):
        return [
            ("MR616", f"{obj.label}: selector uses the `{VERSION_LABEL}` label; selectors are "
             "immutable on workloads and a version in them breaks the next version's rollout "
             "(select the per-version instance label instead)")
        ]  # fmt: skip
    return []


def _pod_label_problems(obj: RenderedObject, template: dict[str, Any]) -> list[Problem]:
    """MR616 for each of the model and version labels the pod template lacks."""
    pod_labels = (template.get("metadata") or {}).get("labels") or {}
    return [
        ("MR616", f"{obj.label}: pod template has no `{label}` label "
         f"(`kubectl get pods -l {label}=...` would not find its pods)")
        for label in (MODEL_LABEL, VERSION_LABEL)
        if label not in pod_labels
    ]  # fmt: skip


def _host_access_problems(obj: RenderedObject, pod: dict[str, Any]) -> list[Problem]:
    """MR620 for host namespaces and hostPath volumes in the pod spec."""
    problems: list[Problem] = [
        ("MR620", f"{obj.label}: {field} is true")
        for field in ("hostNetwork", "hostPID", "hostIPC")
        if pod.get(field) is True
    ]
    for volume in pod.get("volumes") or []:
        if isinstance(volume, dict) and "hostPath" in volume:
            problems.append(
                ("MR620", f"{obj.label}: volume {volume.get('name', '?')} is a hostPath "
                 f"({(volume['hostPath'] or {}).get('path', '?')})")
            )  # fmt: skip
    return problems


def _container_problems(
    obj: RenderedObject, where: str, container: dict[str, Any], pod_security: dict[str, Any]
) -> list[Problem]:
    """Image (MR611/MR612), limits (MR613), security (MR614/MR621), probes (MR615)."""
    cname = f"{obj.label} {where[:-1]} {container.get('name', '?')}"
    problems: list[Problem] = []
    image = container.get("image")
    if not image:
        problems.append(("MR611", f"{cname}: no image"))
    else:
        problems += [(r, f"{cname}: {m}") for r, m in image_problems(str(image))]
    limits = (container.get("resources") or {}).get("limits") or {}
    missing = [k for k in ("cpu", "memory") if k not in limits]
    if missing:
        problems.append(("MR613", f"{cname}: no {' and no '.join(missing)} limit"))
    problems += _security_context_problems(cname, container, pod_security)
    if where == "containers":
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            if not container.get(probe):
                problems.append(("MR615", f"{cname}: no {probe}"))
    return problems


def _security_context_problems(
    cname: str, container: dict[str, Any], pod_security: dict[str, Any]
) -> list[Problem]:
    """MR614 for a permissive securityContext, MR621 for added capabilities."""
    problems: list[Problem] = []
    security = container.get("securityContext") or {}
    non_root = security.get("runAsNonRoot", pod_security.get("runAsNonRoot"))
    if non_root is not True:
        problems.append(("MR614", f"{cname}: runAsNonRoot is not true"))
    if security.get("readOnlyRootFilesystem") is not True:
        problems.append(("MR614", f"{cname}: readOnlyRootFilesystem is not true"))
    if security.get("allowPrivilegeEscalation") is not False:
        problems.append(("MR614", f"{cname}: allowPrivilegeEscalation is not false"))
    if security.get("privileged") is True:
        problems.append(("MR614", f"{cname}: privileged"))
    added = (security.get("capabilities") or {}).get("add") or []
    if added:
        problems.append(("MR621", f"{cname}: adds capabilities {', '.join(map(str, added))}"))
    return problems


# -- Flux and Argo CD manifests -----------------------------------------------------------

#: (apiVersion prefix, kind) → dotted paths that must be present.
REQUIRED_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("source.toolkit.fluxcd.io/", "GitRepository"): (
        "metadata.name",
        "spec.url",
        "spec.interval",
        "spec.ref",
    ),
    ("kustomize.toolkit.fluxcd.io/", "Kustomization"): (
        "metadata.name",
        "spec.interval",
        "spec.path",
        "spec.prune",
        "spec.sourceRef.kind",
        "spec.sourceRef.name",
    ),
    ("argoproj.io/", "Application"): (
        "metadata.name",
        "spec.project",
        "spec.source.repoURL",
        "spec.source.path",
        "spec.source.targetRevision",
        "spec.destination.server|spec.destination.name",
    ),
}


def _get(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


#: Domains reserved for examples and tests (RFC 2606, RFC 6761): a URL there is a placeholder.
_PLACEHOLDER_HOST_RE = re.compile(
    r"(?:^|\.)(?:example\.(?:com|net|org)|example|invalid|test)$", re.IGNORECASE
)
_URL_HOST_RE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://(?:[^@/]*@)?|[^@/:]+@)(?P<host>[^/:?#]+)", re.I)


def is_placeholder_url(url: str) -> bool:
    """Whether ``url``'s host is a reserved example domain (``git.example.com``, ``x.invalid``)."""
    match = _URL_HOST_RE.match(url.strip())
    return bool(match and _PLACEHOLDER_HOST_RE.search(match["host"]))


def placeholder_message(where: str, url: str) -> str:
    """The MR619 message for a placeholder ``url`` found at ``where``."""
    return (
        f"{where} is {url}, a placeholder (reserved example domain): write the registry's "
        "clone URL (or scaffold with `modelreg init --repo-url URL`)"
    )


def cluster_problems(data: dict[str, Any], root: Path) -> list[Problem]:
    """Required fields of a Flux or Argo CD object, and that its path is an overlay here."""
    api, kind = str(data.get("apiVersion", "")), data.get("kind")
    name = _get(data, "metadata.name") or "?"
    problems: list[Problem] = []
    for (prefix, want_kind), fields in REQUIRED_FIELDS.items():
        if not api.startswith(prefix) or kind != want_kind:
            continue
        for spec in fields:
            if all(_get(data, alt) in (None, "") for alt in spec.split("|")):
                problems.append(("MR617", f"{kind} {name}: `{spec}` is required"))
        path = _get(data, "spec.path") or _get(data, "spec.source.path")
        if isinstance(path, str) and not (root / path / "kustomization.yaml").is_file():
            problems.append(("MR617", f"{kind} {name}: path {path} has no kustomization.yaml"))
        if kind == "Kustomization" and _get(data, "spec.prune") is not True:
            problems.append(
                ("MR617", f"{kind} {name}: spec.prune must be true (revert = rollback)")
            )
        for field in ("spec.url", "spec.source.repoURL"):
            url = _get(data, field)
            if isinstance(url, str) and is_placeholder_url(url):
                problems.append(("MR619", placeholder_message(f"{kind} {name}: `{field}`", url)))
        if kind == "Application":
            automated = _get(data, "spec.syncPolicy.automated")
            if not isinstance(automated, dict) or automated.get("prune") is not True:
                problems.append(
                    ("MR617", f"{kind} {name}: syncPolicy.automated.prune must be true")
                )
    return problems


# -- what an environment serves, judged from the rendered objects (MR625, MR626) ----------

#: The init container that fetches and verifies the artifact (overlays/base/deployment.yaml).
FETCH_CONTAINER = "fetch-model"
#: What the fetch step reads to decide which bytes to serve (overlays/base/fetch-model.sh).
FETCH_KEYS = (
    "MODEL_NAME",
    "MODEL_VERSION",
    "MODEL_SHA256",
    "MODEL_REF",
    "MODEL_PATH",
    "MODEL_STORAGE_URI",
)
#: (model, version) → the fetch values its metadata gives (None for an unset key), or None
#: when the registry has no such version.
Expected = Callable[[str, str], Mapping[str, str | None] | None]


@dataclass
class Served:
    """What one rendered workload's fetch step would read, after every patch and override."""

    obj: RenderedObject
    values: dict[str, str] = dataclasses.field(default_factory=dict)
    #: key → why it cannot be known
    unknown: dict[str, str] = dataclasses.field(default_factory=dict)
    problem: str = ""  # why nothing can be said (no fetch container)

    @property
    def identity(self) -> tuple[str, str] | None:
        """(model, version) the fetch step would fetch, when both are known."""
        model, version = self.values.get("MODEL_NAME"), self.values.get("MODEL_VERSION")
        if self.problem or not model or not version:
            return None
        if "MODEL_NAME" in self.unknown or "MODEL_VERSION" in self.unknown:
            return None
        return model, version


def _source_data(
    objects: list[RenderedObject], kind: str, namespace: str, name: str
) -> dict[str, str] | None:
    for obj in objects:
        if obj.key[1] == kind and obj.key[2] == namespace and obj.key[3] == name:
            data: dict[str, str] = {}
            if kind == "Secret":
                for key, value in (obj.data.get("data") or {}).items():
                    try:
                        data[str(key)] = base64.b64decode(str(value)).decode("utf-8", "replace")
                    except (binascii.Error, ValueError):
                        data[str(key)] = "<undecodable>"
                for key, value in (obj.data.get("stringData") or {}).items():
                    data[str(key)] = str(value)
            else:
                data = {str(k): str(v) for k, v in (obj.data.get("data") or {}).items()}
            return data
    return None


def served(obj: RenderedObject, objects: list[RenderedObject]) -> Served:
    """The fetch values of workload ``obj`` as Kubernetes would set them: ``envFrom`` sources
    in order (a later one wins), then ``env`` entries (they win over ``envFrom``)."""
    result = Served(obj)
    pod = ((obj.data.get("spec") or {}).get("template") or {}).get("spec") or {}
    fetch = [c for where, c in _containers(pod) if where == "initContainers"]
    fetch = [c for c in fetch if c.get("name") == FETCH_CONTAINER]
    if len(fetch) != 1:
        result.problem = f"has {len(fetch)} `{FETCH_CONTAINER}` init containers, not one"
        return result
    container, namespace = fetch[0], obj.key[2]
    for source in container.get("envFrom") or []:
        if not isinstance(source, dict):
            continue
        prefix = str(source.get("prefix") or "")
        for ref_field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            ref = source.get(ref_field)
            if not isinstance(ref, dict):
                continue
            name = str(ref.get("name", ""))
            data = _source_data(objects, kind, namespace, name)
            if data is None:
                for key in FETCH_KEYS:
                    result.unknown[key] = f"envFrom {kind} {name} is not rendered here"
                continue
            for key, value in data.items():
                result.values[prefix + key] = value
                result.unknown.pop(prefix + key, None)
    for entry in container.get("env") or []:
        if not isinstance(entry, dict) or entry.get("name") not in FETCH_KEYS:
            continue
        key = str(entry["name"])
        ref = (entry.get("valueFrom") or {}).get("configMapKeyRef") or (
            entry.get("valueFrom") or {}
        ).get("secretKeyRef")
        if "valueFrom" not in entry:
            result.values[key] = str(entry.get("value") or "")
            result.unknown.pop(key, None)
        elif isinstance(ref, dict):
            kind = "ConfigMap" if "configMapKeyRef" in entry["valueFrom"] else "Secret"
            data = _source_data(objects, kind, namespace, str(ref.get("name", ""))) or {}
            if str(ref.get("key")) in data:
                result.values[key] = data[str(ref.get("key"))]
                result.unknown.pop(key, None)
            else:
                result.unknown[key] = f"env {key} comes from a {kind} key not rendered here"
        else:
            result.unknown[key] = f"env {key} comes from a field reference"
    return result


def serving_problems(
    objects: list[RenderedObject], expected: Expected, label_value: Callable[[str], str]
) -> tuple[list[Problem], dict[tuple[str, str, str], Served]]:
    """MR626 for every workload of one rendered environment whose fetch step would read
    anything but its version's metadata; also the workloads by ``(namespace, kind, name)``."""
    problems: list[Problem] = []
    by_key: dict[tuple[str, str, str], Served] = {}
    for obj in objects:
        if obj.data.get("kind") not in WORKLOAD_KINDS:
            continue
        result = served(obj, objects)
        by_key[(obj.key[2], obj.key[1], obj.key[3])] = result
        if result.problem:
            problems.append(("MR626", f"{obj.label} {result.problem}: what it serves is unknown"))
            continue
        identity = result.identity
        if identity is None:
            why = result.unknown.get("MODEL_NAME") or result.unknown.get("MODEL_VERSION")
            problems.append(
                ("MR626", f"{obj.label}: which model version its `{FETCH_CONTAINER}` step "
                 f"fetches is unknown ({why or 'MODEL_NAME or MODEL_VERSION unset'})")
            )  # fmt: skip
            continue
        model, version = identity
        labels = ((obj.data["spec"].get("template") or {}).get("metadata") or {}).get("labels")
        labels = labels if isinstance(labels, dict) else {}
        if (labels.get(MODEL_LABEL), labels.get(VERSION_LABEL)) != (model, label_value(version)):
            problems.append(
                ("MR626", f"{obj.label}: its pods are labelled model={labels.get(MODEL_LABEL)} "
                 f"version={labels.get(VERSION_LABEL)}, but its `{FETCH_CONTAINER}` step "
                 f"fetches {model} {version}")
            )  # fmt: skip
        want = expected(model, version)
        if want is None:
            problems.append(
                ("MR626", f"{obj.label}: fetches {shown(model)} {shown(version)}, which is "
                 "not a version in models/")
            )  # fmt: skip
            continue
        meta = f"models/{model}/{version}/metadata.yaml"
        for key in FETCH_KEYS:
            if key in result.unknown:
                problems.append(("MR626", f"{obj.label}: {key} is unknown ({result.unknown[key]})"))
                continue
            have = result.values.get(key) or None
            if have != want.get(key):
                problems.append(
                    ("MR626", f"{obj.label}: {key} is {shown(have) if have else 'unset'}, but "
                     f"{meta} gives {shown(want.get(key)) if want.get(key) else 'none'}; an "
                     "environment must not change what a version fetches")
                )  # fmt: skip
    return problems, by_key


def alias_problems(
    objects: list[RenderedObject],
    workloads: Mapping[tuple[str, str, str], Served],
    model: str,
    want: str,
) -> list[Problem]:
    """MR625: the rendered Service ``model`` must select the pods of ``model`` ``want`` and
    of nothing else, judged by its ``spec.selector`` against the pod template labels."""
    problems: list[Problem] = []
    for obj in objects:
        if obj.key[1] != "Service" or obj.key[3] != model:
            continue
        selector = (obj.data.get("spec") or {}).get("selector")
        if not isinstance(selector, dict) or not selector:
            problems.append(("MR625", f"{obj.label}: has no selector, so it serves no pods"))
            continue
        picked: set[str] = set()
        for (namespace, _kind, _name), result in workloads.items():
            if namespace != obj.key[2]:
                continue
            template = (result.obj.data.get("spec") or {}).get("template") or {}
            labels = (template.get("metadata") or {}).get("labels") or {}
            if isinstance(labels, dict) and all(
                str(labels.get(k)) == str(v) and k in labels for k, v in selector.items()
            ):
                identity = result.identity
                picked.add(f"{identity[0]} {identity[1]}" if identity else result.obj.label)
        wanted = f"{model} {want}"
        if picked != {wanted}:
            chosen = ", ".join(sorted(picked)) or "no pods"
            problems.append(
                ("MR625", f"{obj.label}: its selector {_selector_text(selector)} selects "
                 f"{chosen}; it must select exactly the pods of {wanted}")
            )  # fmt: skip
    return problems


def _selector_text(selector: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}={v}" for k, v in sorted(selector.items())) + "}"
