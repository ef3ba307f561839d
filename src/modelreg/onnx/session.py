"""The one way modelreg opens an onnxruntime session (CPU, single-threaded, quiet)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

#: onnxruntime 1.2x+ on Linux writes a device id under ``~/.cache/Microsoft`` and may upload
#: telemetry unless told not to before it initialises. A read-only command run by a reviewer on
#: a pull request must write nothing outside the work tree (docs/security.md), so every import
#: of onnxruntime goes through :func:`onnxruntime_module`. Both spellings: the variable was
#: renamed between releases.
TELEMETRY_OFF = {"ORT_DISABLE_TELEMETRY": "1", "ORT_TELEMETRY_DISABLED": "1"}


def onnxruntime_module() -> Any:
    """``import onnxruntime`` with its telemetry (and its files in ``$HOME``) switched off."""
    for key, value in TELEMETRY_OFF.items():
        os.environ.setdefault(key, value)
    import onnxruntime

    return onnxruntime


def cpu_session(path: Path, *, pinned: bool = False, judged: bool = False) -> Any:
    """A CPU session with one intra-op and one inter-op thread, on a file judged safe.

    Raises :class:`~modelreg.onnx.external.UnsafeExternalData` before onnxruntime sees a model
    whose external data references are unsafe.

    ``pinned`` adds what latency figures need: sequential execution, no spinning and full
    graph optimisation, the same on every run.
    """
    from modelreg.onnx.external import guard

    ort = onnxruntime_module()

    if not judged:  # ``judged``: the caller ran the same judgement on this file already
        guard(path)  # onnxruntime opens external data files itself: judge them first
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    if pinned:
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
