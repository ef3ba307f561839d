"""The one way modelreg opens an onnxruntime session (CPU, single-threaded, quiet)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def cpu_session(path: Path, *, pinned: bool = False, judged: bool = False) -> Any:
    """A CPU session with one intra-op and one inter-op thread, on a file judged safe.

    Raises :class:`~modelreg.external.UnsafeExternalData` before onnxruntime sees a model
    whose external data references are unsafe.

    ``pinned`` adds what latency figures need: sequential execution, no spinning and full
    graph optimisation, the same on every run.
    """
    import onnxruntime as ort

    from modelreg.external import guard

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
