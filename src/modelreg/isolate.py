"""Run ONNX parsing in a child process with a timeout and a memory limit.

A crafted ONNX file can crash (protobuf or onnx C++ code), hang or allocate without bound.
Every library call on artifact bytes therefore happens in ``python -m modelreg._child``;
the parent turns a signal, a timeout or an exhausted memory limit into a finding and goes
on with the other versions.

The memory limit (``RLIMIT_AS``: address space, not resident memory) scales with the model::

    limit_mb = BASE_MB + PER_MODEL_MB * (MiB of model.onnx + MiB of the files beside it)

capped by the memory the machine (or its cgroup) has available, never below ``BASE_MB``.
"The files beside it" bound the external data: onnx and onnxruntime may only open data files
under the model's directory (:mod:`modelreg.external`), so they are counted when the model
mentions a ``location`` at all. Measured (``MODELREG_CHILD_MEMORY_MB`` bisected to 16 MB
for ``validate --no-cache VERSION`` to pass; onnx 1.x, onnxruntime 1.2x, Python 3.11,
x86-64, 2 cores): this repository's bert-classifier 1.1.0 (0.6 MiB, 2,000 evaluation rows)
needs 318 MB, a synthetic model with no weights 222 MB, with 100 MiB of embedded weights
508 MB, with 300 MiB 953 MB, with 100 and 300 MiB of external data 381 and 778 MB: about
220-320 MB of interpreter, numpy, onnx and onnxruntime, plus 2-2.9 MB per MiB of model (the
file is parsed, checked and copied into the session). ``BASE_MB = 512`` and
``PER_MODEL_MB = 4`` keep a margin of at least 1.4x on every case (the rule gives 515, 912,
1712 MB for 0.6, 100, 300 MiB). The
child's BLAS and OpenMP pools are held to one thread, so the figure does not grow with the
machine's core count (each pool thread reserves address space).

Both settings are read from the environment when a child starts (not at import):
``MODELREG_CHILD_TIMEOUT`` (seconds, default 300) and ``MODELREG_CHILD_MEMORY_MB`` (when set,
the limit itself, for a model the rule underestimates or a machine that must stay small).
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelreg.errors import UsageError

TIMEOUT_ENV = "MODELREG_CHILD_TIMEOUT"
MEMORY_ENV = "MODELREG_CHILD_MEMORY_MB"
DEFAULT_TIMEOUT_S = 300.0
#: The child's fixed need: interpreter, numpy, onnx, onnxruntime (see the module docstring).
BASE_MB = 512
#: Address space per MiB of model bytes (parsed, checked and loaded into a session).
PER_MODEL_MB = 4
#: Files counted beside a model that may reference external data (a bound on the walk).
MAX_COUNTED_FILES = 10_000
#: Thread pools of the libraries the child loads, held to one thread (see above).
SINGLE_THREADED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def timeout_s() -> float:
    """The child timeout in force (``MODELREG_CHILD_TIMEOUT``, default 300 s)."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"{TIMEOUT_ENV}={raw!r}: give a positive number of seconds")
    return value


def memory_limit_mb(model: Path) -> int:
    """The child's address-space limit for ``model``, in MB (see the module docstring)."""
    raw = os.environ.get(MEMORY_ENV, "").strip()
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise UsageError(f"{MEMORY_ENV}={raw!r}: give a whole number of megabytes")
        return int(raw)
    wanted = BASE_MB + PER_MODEL_MB * math.ceil(model_bytes(model) / 2**20)
    available = available_mb()
    return wanted if available is None else min(wanted, max(BASE_MB, available))


def model_bytes(model: Path) -> int:
    """Bytes of ``model`` plus, when it may reference external data, of every regular file
    under its directory (where its data files must be); symbolic links are not followed."""
    try:
        size = model.stat().st_size
    except OSError:
        return 0
    from modelreg.external import may_reference  # small module; no onnx import

    try:
        if not may_reference(model):
            return size
    except (OSError, ValueError):
        return size
    counted = 0
    for dirpath, _dirs, files in os.walk(model.parent, followlinks=False):
        for name in files:
            path = Path(dirpath, name)
            counted += 1
            if counted > MAX_COUNTED_FILES:
                return size
            if path == model:
                continue
            try:
                info = path.lstat()
            except OSError:
                continue
            if not path.is_symlink():
                size += info.st_size
    return size


def available_mb() -> int | None:
    """Memory available to new processes: ``MemAvailable``, lowered by a cgroup v2 limit."""
    found: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) // 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text(encoding="ascii").strip()
        if limit != "max":
            current = Path("/sys/fs/cgroup/memory.current").read_text(encoding="ascii")
            found.append(max(0, int(limit) - int(current)) // 2**20)
    except (OSError, ValueError):
        pass
    return min(found) if found else None


@dataclass(frozen=True)
class ChildResult:
    """What came back: data, a known error, or how the child died."""

    data: dict[str, Any] | None = None  # with ``died``: what the child reported before dying
    error: str | None = None
    died: str | None = None


def _limit_memory(memory_mb: int) -> None:
    import resource

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


#: Children started and not yet finished or cancelled (:func:`stop_all`).
_LIVE: set[subprocess.Popen[bytes]] = set()


@dataclass
class Started:
    """A child already running its task; it reads its spec from stdin when it needs it."""

    proc: subprocess.Popen[bytes]
    memory_mb: int


def start_child(
    task: str,
    path: Path,
    memory_mb: int | None = None,
    *,
    stream_stderr: bool = False,
    spec_on_stdin: bool = True,
) -> Started:
    """Start ``task`` on ``path`` now and hand it its spec later (:func:`finish_child`).

    The child imports its libraries and does the work that needs no spec (parsing, onnx's
    checker, the session) while the parent goes on with its own checks: on two cores the
    parent's hashing then costs no wall time. ``spec_on_stdin=False`` is for tasks that take
    no spec (``inspect``). ``memory_mb`` defaults to :func:`memory_limit_mb` of ``path``.
    """
    limit = memory_limit_mb(path) if memory_mb is None else memory_mb
    cmd = [sys.executable, "-m", "modelreg._child", task, str(path)]
    if spec_on_stdin:
        cmd.append("-")
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=None if stream_stderr else subprocess.PIPE,
        env={**SINGLE_THREADED, **os.environ},
        # modelreg starts children from its main thread only, so preexec_fn is safe here.
        preexec_fn=(lambda: _limit_memory(limit)) if os.name == "posix" else None,  # noqa: PLW1509
    )
    _LIVE.add(proc)
    return Started(proc, limit)


def finish_child(
    started: Started, spec: dict[str, Any] | None, timeout: float | None = None
) -> ChildResult:
    """Give a started child its spec (if it takes one) and wait for its result (``timeout``
    from now; default :func:`timeout_s`)."""
    proc = started.proc
    try:
        timeout = timeout_s() if timeout is None else timeout
        spec_bytes = json.dumps(spec).encode() if spec is not None else None
        try:
            stdout, stderr = proc.communicate(spec_bytes, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, _ = proc.communicate()
            return ChildResult(data=_parse(stdout or b""), died=f"timed out after {timeout:g} s")
    except BaseException:
        # Ctrl-C (KeyboardInterrupt) or a bad setting: no child outlives the run.
        cancel_child(started)
        raise
    finally:
        _LIVE.discard(proc)
    return _judge(proc.returncode, stdout or b"", stderr or b"", started.memory_mb)


def cancel_child(started: Started) -> None:
    """Stop a started child whose result is no longer wanted."""
    if started.proc.poll() is None:
        started.proc.kill()
    started.proc.communicate()
    _LIVE.discard(started.proc)


def stop_all() -> None:
    """Kill and reap every child still running (on Ctrl-C, before modelreg exits)."""
    for proc in list(_LIVE):
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        _LIVE.discard(proc)


def run_child(
    task: str,
    path: Path,
    timeout: float | None = None,
    memory_mb: int | None = None,
    spec: dict[str, Any] | None = None,
    *,
    stream_stderr: bool = False,
) -> ChildResult:
    """Run ``task`` on ``path`` in a child process; never raises for what the child does.

    ``stream_stderr`` lets the child draw a progress bar on the user's terminal; the parent
    then cannot quote the child's last error line, so use it only for long, trusted work.
    """
    started = start_child(
        task, path, memory_mb, stream_stderr=stream_stderr, spec_on_stdin=spec is not None
    )
    return finish_child(started, spec, timeout)


def _judge(returncode: int, stdout: bytes, stderr: bytes, memory_mb: int) -> ChildResult:
    """What a finished child's exit status and output mean."""
    payload = _parse(stdout)
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return ChildResult(data=payload, died=f"signal {-returncode} ({name})")
    if payload is None or returncode != 0:
        tail = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        if b"MemoryError" in stderr:
            return ChildResult(data=payload, died=f"ran out of its {memory_mb} MB memory limit")
        return ChildResult(data=payload, died=f"exit status {returncode}: {tail[0][:200]}")
    if "died" in payload:
        reason = str(payload.pop("died"))
        return ChildResult(data=payload or None, died=reason)
    if "error" in payload:
        return ChildResult(error=str(payload["error"]))
    return ChildResult(data=payload)


def _parse(stdout: bytes) -> dict[str, Any] | None:
    """The child's JSON lines merged into one mapping (a child may report in parts, so that
    what it finished before dying still counts); None when no complete part arrived."""
    merged: dict[str, Any] = {}
    for line in stdout.splitlines():
        if not line.strip():
            continue
        try:
            part = json.loads(line)
        except ValueError:
            break  # a line cut off by the child's death: keep what came before
        if not isinstance(part, dict):
            return None
        merged.update(part)
    return merged or None
