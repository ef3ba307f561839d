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

    data: dict[str, Any] | None = None
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
    except subprocess.TimeoutExpired:
        return ChildResult(died=f"timed out after {timeout:g} s")
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = str(-proc.returncode)
        return ChildResult(died=f"signal {-proc.returncode} ({name})")
    try:
        payload = json.loads(proc.stdout)
    except ValueError:
        stderr = proc.stderr or b""
        tail = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        if b"MemoryError" in stderr:
            return ChildResult(died=f"ran out of its {memory_mb} MB memory limit")
        return ChildResult(died=f"exit status {proc.returncode}: {tail[0][:200]}")
    if not isinstance(payload, dict):
        return ChildResult(died="returned malformed output")
    if "died" in payload:
        return ChildResult(died=str(payload["died"]))
    if "error" in payload:
        return ChildResult(error=str(payload["error"]))
    return ChildResult(data=payload)
