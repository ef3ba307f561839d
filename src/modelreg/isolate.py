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
    cmd = [sys.executable, "-m", "modelreg._child", task, str(path)]
    if spec is not None:
        cmd.append(json.dumps(spec))
    try:
        proc = subprocess.run(
            cmd,
            stdout=subprocess.PIPE,
            stderr=None if stream_stderr else subprocess.PIPE,
            timeout=timeout,
            check=False,
            preexec_fn=(lambda: _limit_memory(memory_mb)) if os.name == "posix" else None,
        )
    except subprocess.TimeoutExpired as exc:
        partial = _parse(exc.stdout or b"")
        return ChildResult(data=partial, died=f"timed out after {timeout:g} s")
    payload = _parse(proc.stdout)
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = str(-proc.returncode)
        return ChildResult(data=payload, died=f"signal {-proc.returncode} ({name})")
    if payload is None or proc.returncode != 0:
        stderr = proc.stderr or b""
        tail = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        if b"MemoryError" in stderr:
            return ChildResult(data=payload, died=f"ran out of its {memory_mb} MB memory limit")
        return ChildResult(data=payload, died=f"exit status {proc.returncode}: {tail[0][:200]}")
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
