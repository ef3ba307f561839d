"""Run ONNX parsing in a child process with a timeout and a memory limit.

A crafted ONNX file can crash (protobuf or onnx C++ code), hang or allocate without bound.
Every library call on artifact bytes therefore happens in ``python -m modelreg._child``;
the parent turns a signal, a timeout or an exhausted memory limit into a finding and goes
on with the other versions.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Defaults, overridable by environment for very large models.
TIMEOUT_S = float(os.environ.get("MODELREG_CHILD_TIMEOUT", "300"))
MEMORY_MB = int(os.environ.get("MODELREG_CHILD_MEMORY_MB", "8192"))


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


@dataclass
class Started:
    """A child already running its task; it reads its spec from stdin when it needs it."""

    proc: subprocess.Popen[bytes]
    memory_mb: int


def start_child(
    task: str,
    path: Path,
    memory_mb: int = MEMORY_MB,
    *,
    stream_stderr: bool = False,
    spec_on_stdin: bool = True,
) -> Started:
    """Start ``task`` on ``path`` now and hand it its spec later (:func:`finish_child`).

    The child imports its libraries and does the work that needs no spec (parsing, onnx's
    checker, the session) while the parent goes on with its own checks: on two cores the
    parent's hashing then costs no wall time. ``spec_on_stdin=False`` is for tasks that take
    no spec (``inspect``).
    """
    cmd = [sys.executable, "-m", "modelreg._child", task, str(path)]
    if spec_on_stdin:
        cmd.append("-")
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=None if stream_stderr else subprocess.PIPE,
        # modelreg starts children from its main thread only, so preexec_fn is safe here.
        preexec_fn=(lambda: _limit_memory(memory_mb)) if os.name == "posix" else None,  # noqa: PLW1509
    )
    return Started(proc, memory_mb)


def finish_child(
    started: Started, spec: dict[str, Any] | None, timeout: float = TIMEOUT_S
) -> ChildResult:
    """Give a started child its spec (if it takes one) and wait for its result (``timeout``
    from now)."""
    proc = started.proc
    spec_bytes = json.dumps(spec).encode() if spec is not None else None
    try:
        stdout, stderr = proc.communicate(spec_bytes, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, _ = proc.communicate()
        return ChildResult(data=_parse(stdout or b""), died=f"timed out after {timeout:g} s")
    return _judge(proc.returncode, stdout or b"", stderr or b"", started.memory_mb)


def cancel_child(started: Started) -> None:
    """Stop a started child whose result is no longer wanted."""
    if started.proc.poll() is None:
        started.proc.kill()
    started.proc.communicate()


def run_child(
    task: str,
    path: Path,
    timeout: float = TIMEOUT_S,
    memory_mb: int = MEMORY_MB,
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
