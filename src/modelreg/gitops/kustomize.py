"""Rendering overlays with plain kustomize, the way CI, Flux and Argo CD render them.

A ``kustomize`` binary on PATH is used, else ``kubectl kustomize`` (kubectl embeds kustomize).
Only default options: no ``--load-restrictor``, no plugins, no exec functions, no Helm; a
``# Warning:`` on stderr fails the build, because what warns here may break in the cluster's
controller. Rendered output is parsed with a safe loader into objects keyed by
``(apiVersion group, kind, namespace, name)``, the identity Flux uses for its inventory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modelreg.errors import ModelregError

INSTALL_HINT = (
    "neither `kustomize` nor `kubectl` is on PATH; install one: kubectl "
    "(https://kubernetes.io/docs/tasks/tools/) has `kubectl kustomize` built in, or the "
    "standalone kustomize binary (https://kubectl.docs.kubernetes.io/installation/kustomize/)"
)
TIMEOUT_SECONDS = 120
#: Go runtime settings for the short-lived kustomize process, unless the environment sets
#: them: no garbage collection until the heap reaches 512 MiB. A build lives well under a
#: second and its heap stays far below that, so collecting is wasted work; about 20% of
#: the CPU time of a 200-version render (docs/benchmarks.md). The output is the same
#: (tests/test_gitops_overlays.py compares it with a build under Go's defaults).
GO_RUNTIME = {"GOGC": "off", "GOMEMLIMIT": "512MiB"}

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class KustomizeError(ModelregError):
    """An overlay did not build (its message carries kustomize's reason)."""


def command() -> list[str]:
    """The argv prefix that builds a kustomization directory."""
    found = shutil.which("kustomize")
    if found:
        return [found, "build"]
    kubectl = shutil.which("kubectl")
    if kubectl:
        return [kubectl, "kustomize"]
    raise ModelregError(INSTALL_HINT)


def build(directory: Path, *, display: str | None = None) -> str:
    """``kustomize build DIRECTORY`` with default options; a warning or error raises."""
    where = display or directory.as_posix()
    argv = [*command(), str(directory)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUSTOMIZE_")}
    env.update({k: v for k, v in GO_RUNTIME.items() if k not in os.environ})
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            check=False,
            timeout=TIMEOUT_SECONDS,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise KustomizeError(f"{where}: kustomize did not finish in {TIMEOUT_SECONDS} s") from None
    except OSError as exc:
        raise KustomizeError(f"{where}: cannot run {argv[0]}: {exc.strerror}") from None
    stderr = done.stderr.strip()
    if done.returncode != 0:
        reason = stderr.splitlines()[-1] if stderr else f"exit {done.returncode}"
        raise KustomizeError(f"{where}: does not build with plain kustomize: {reason}")
    warnings = [line for line in stderr.splitlines() if "warning" in line.lower()]
    if warnings:
        raise KustomizeError(f"{where}: kustomize warns: {warnings[0].strip()}")
    return done.stdout


ObjectKey = tuple[str, str, str, str]  # (group, kind, namespace, name)


@dataclass(frozen=True)
class RenderedObject:
    """One object of a rendered overlay."""

    key: ObjectKey
    data: dict[str, Any]
    text: str  # the object's YAML as kustomize printed it

    @property
    def label(self) -> str:
        """``Kind/namespace/name`` for messages."""
        _group, kind, namespace, name = self.key
        return f"{kind}/{namespace + '/' if namespace else ''}{name}"


def split_objects(rendered: str, where: str) -> list[RenderedObject]:
    """The documents of a rendered overlay, in output order."""
    objects = []
    chunks = [c for c in rendered.split("\n---\n") if c.strip()]
    for chunk in chunks:
        text = chunk.strip("\n") + "\n"
        try:
            data = yaml.load(text, Loader=_Loader)  # a safe loader (C or pure Python)
        except yaml.YAMLError as exc:
            raise KustomizeError(f"{where}: kustomize printed invalid YAML: {exc}") from None
        if not isinstance(data, dict):
            continue
        metadata = data.get("metadata") or {}
        api = str(data.get("apiVersion", ""))
        group = api.rsplit("/", 1)[0] if "/" in api else ""
        key = (
            group,
            str(data.get("kind", "")),
            str(metadata.get("namespace") or ""),
            str(metadata.get("name", "")),
        )
        objects.append(RenderedObject(key, data, text))
    return objects
