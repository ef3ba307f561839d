"""Worker-process entry for :mod:`modelreg.onnx.isolate`: tasks in, JSON lines out.

``python -m modelreg.onnx.worker serve`` imports numpy, onnx and onnxruntime once, then runs the
tasks its pool sends (:func:`serve`). A task's result is ``{"error": "..."}`` for a known
failure or its data (``inspect``: ``{"facts": ..., "checker": null|str}``); anything else (a
signal, a timeout, the memory limit) is judged by the parent, which then replaces the worker.

Settings: the timeout and the memory limit come with each request (the parent's
:class:`modelreg.config.Settings`); the caps the tasks apply (``MODELREG_MAX_EVAL_MB``,
``MODELREG_MAX_EXTERNAL_TENSORS``, ``MODELREG_MAX_FILE_MB``) are this process's own
:meth:`~modelreg.config.Settings.from_env`, read where applied: the pool starts a worker
with a copy of the parent's environment, so both read the same values.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from modelreg.errors import ModelregError


def inspect_task(path: Path, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Facts of the file plus the result of onnx's full checker, by path.

    ``spec["hash"] = False`` skips hashing (the parent already hashed every file).
    """
    import onnx

    from modelreg.onnx.external import UnsafeExternalData
    from modelreg.onnx.facts import inspect_file

    try:
        # Judges external data before onnx's checker opens it.
        facts = inspect_file(path, hash_files=spec.get("hash", True))
    except UnsafeExternalData as exc:
        return {"unsafe": exc.problems}
    checker: str | None = None
    try:
        # By path, so external data resolves against the model's directory, not the cwd.
        onnx.checker.check_model(str(path), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        checker = str(exc).strip().splitlines()[0][:500] if str(exc).strip() else repr(exc)
    return {"facts": facts, "checker": checker}


#: How an ``evaluate`` or ``golden`` error starts when onnxruntime could not load the model
#: (the caller names the file: the child may only see a staging copy).
LOAD_ERROR = "onnxruntime could not load the model: "


def _session_or_error(path: Path) -> tuple[Any, dict[str, Any] | None]:
    """(session, None), or (None, ``{"error": LOAD_ERROR + reason}``) when onnxruntime
    cannot load the model (e.g. a StringNormalizer locale this machine lacks): a result, not
    a crash with onnxruntime's log on stderr."""
    from modelreg.onnx.session import cpu_session
    from modelreg.onnx.vectors import first_line

    try:
        return cpu_session(path), None
    except ModelregError:
        raise
    except MemoryError:
        raise  # the worker ran out of its limit: MR902, not a verdict on the model
    except Exception as exc:  # noqa: BLE001 - onnxruntime's load errors are untyped
        return None, {"error": LOAD_ERROR + first_line(exc)}


def evaluate_task(path: Path, spec: Mapping[str, Any]) -> dict[str, Any]:
    """The metrics of the model on the evaluation file (accuracy and F1, or MAE/RMSE/R²)."""
    from modelreg.onnx.evaluation import evaluate
    from modelreg.onnx.vectors import first_line

    session, failed = _session_or_error(path)
    if failed is not None:
        return failed
    try:
        return evaluate(path, Path(spec["data"]), dict(spec), session=session)
    except ValueError as exc:
        return {"error": str(exc)}
    except MemoryError:
        raise  # the worker ran out of its limit: MR902, not a verdict on the model
    except Exception as exc:  # noqa: BLE001 - onnxruntime's run errors are untyped
        return {"error": f"onnxruntime failed: {first_line(exc)}"}


def golden_task(path: Path, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Write golden vectors for the model from its evaluation file."""
    from modelreg.onnx.vectors import first_line, write_sets

    session, failed = _session_or_error(path)
    if failed is not None:
        return failed
    try:
        return write_sets(
            path, Path(spec["data"]), Path(spec["out"]), int(spec["rows"]), session=session
        )
    except ValueError as exc:
        return {"error": str(exc)}
    except MemoryError:
        raise  # the worker ran out of its limit: MR902, not a verdict on the model
    except Exception as exc:  # noqa: BLE001 - onnxruntime's run errors are untyped
        return {"error": f"onnxruntime failed: {first_line(exc)}"}


#: Where results go: the worker's private copy of its stdout (:func:`main`).
_REPLIES: list[TextIO] = [sys.stdout]


def emit(part: dict[str, Any]) -> None:
    """Report part of a result now, so that it survives if the process dies later."""
    _REPLIES[0].write(json.dumps(part) + "\n")
    _REPLIES[0].flush()


def deep_task(path: Path, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Every deep fact of one version in one process: one parse, one session.

    ``{"inspect": <inspect_task result or {"error"}>, "run": <run_sets result>,
    "evaluate": <scores or {"error"}>}``, each part emitted as soon as it is known (a crash
    in onnxruntime then still leaves the structure facts); ``run`` and ``evaluate`` are
    absent when the file did not parse or its external data was refused (no session may
    open it then).
    """
    from modelreg.onnx.evaluation import evaluate
    from modelreg.onnx.session import cpu_session
    from modelreg.onnx.vectors import first_line, run_sets

    if path.is_symlink():
        # The parent refuses links (treefs); this is the child's own look before any library
        # opens the path by name. Vectors and evaluation data are opened with O_NOFOLLOW.
        return {"inspect": {"error": f"{path.name} is a symlink; modelreg never follows one"}}
    try:
        inspected = inspect_task(path, {"hash": False})
    except ModelregError as exc:
        return {"inspect": {"error": str(exc)}}

    emit({"inspect": inspected})
    if "unsafe" in inspected:
        return {}
    try:
        # inspect_file refused unsafe external data above; no second judgement needed.
        session = cpu_session(path, judged=True)
    except ModelregError as exc:
        return {"run": {"session_error": str(exc)}}
    except MemoryError:
        raise  # the worker ran out of its limit: MR902, not a verdict on the model
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors
        return {"run": {"session_error": first_line(exc)}}
    emit({"run": run_sets(path, Path(spec["version_dir"]), spec["sets"], session=session)})
    if not spec.get("evaluate"):
        return {}
    try:
        data = Path(spec["evaluate"]["data"])
        return {"evaluate": evaluate(path, data, spec["evaluate"], session=session)}
    except ValueError as exc:
        return {"evaluate": {"error": str(exc)}}
    except MemoryError:
        raise  # the worker ran out of its limit: MR902, not a verdict on the model
    except Exception as exc:  # noqa: BLE001 - onnxruntime's run errors are untyped
        return {"evaluate": {"error": f"onnxruntime failed: {first_line(exc)}"}}


def bench_task(_path: Path, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Interleaved latency of several models."""
    from modelreg.onnx.timing import measure

    return measure(
        spec["targets"], int(spec["runs"]), int(spec["warmup"]), bool(spec.get("progress"))
    )


#: Task name -> function of the model's path and the task's spec.
TASKS: dict[str, Callable[[Path, Mapping[str, Any]], dict[str, Any]]] = {
    "inspect": inspect_task,
    "evaluate": evaluate_task,
    "golden": golden_task,
    "bench": bench_task,
    "deep": deep_task,
}


def serve(requests: BinaryIO, replies: TextIO) -> int:
    """Run task after task: one JSON request per line in, result lines then an end line out.

    A request is ``{"task", "path", "spec", "memory_mb", "alarm_s"}``. The task runs under an
    address-space limit of ``memory_mb`` (lifted after it), so a model that needs more gets a
    ``MemoryError`` here or is killed, as a one-off child was; the parent replaces a worker
    that died or grew. After each task comes ``{"~end": {"vm_mb": N}}`` with this process's
    address space, which the parent uses to decide whether to keep it.
    """
    _REPLIES[0] = replies
    signal.signal(signal.SIGALRM, signal.SIG_DFL)  # an ignored SIGALRM is inherited on exec
    # Ctrl-C at a terminal reaches every process of the foreground group, workers included.
    # The parent decides what it means (it kills its workers and says "interrupted" once); a
    # worker's own KeyboardInterrupt only added a traceback (which bench's progress stream
    # shows on the terminal) or a death the parent could judge as the version's.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _preload()
    for line in requests:
        try:
            request = json.loads(line)
            task = TASKS[request["task"]]
            path = Path(request["path"])
            spec = request.get("spec") or {}
            memory_mb = int(request["memory_mb"])
            alarm_s = int(request.get("alarm_s", 0))
        except (ValueError, KeyError, TypeError):
            sys.stderr.write("modelreg worker: malformed request\n")
            return 2
        # A backstop for a parent that is gone (SIGTERM or SIGKILL: no Ctrl-C cleanup ran).
        # The parent kills a task at its timeout; alarm_s comes later, so SIGALRM (whose
        # default action ends the process, whatever C++ code is running) only fires when no
        # parent did: a hung task of an orphaned worker would otherwise spin forever.
        signal.alarm(alarm_s)
        with _memory_limit(memory_mb):
            result = run_task(task, path, spec)
        signal.alarm(0)
        emit(result)
        replies.write(json.dumps({"~end": {"vm_mb": _vm_mb()}}) + "\n")
        replies.flush()
    return 0


def run_task(
    task: Callable[[Path, Mapping[str, Any]], dict[str, Any]], path: Path, spec: Mapping[str, Any]
) -> dict[str, Any]:
    """One task's result; the failures a task may meet become a result, never a traceback."""
    try:
        return task(path, spec)
    except ModelregError as exc:
        return {"error": str(exc)}
    except MemoryError:
        return {"died": "ran out of its memory limit"}
    except ImportError as exc:
        if importlib.util.find_spec("onnx") is None:
            return {"error": "onnx is not installed: pip install 'modelreg[onnx]'"}
        # Installed but not loadable here: under RLIMIT_AS this is the memory limit.
        detail = str(exc).strip().splitlines()[-1][:200]
        return {"died": f"could not load onnx within its memory limit ({detail})"}


@contextlib.contextmanager
def _memory_limit(memory_mb: int) -> Iterator[None]:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    wanted = memory_mb * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _vm_mb() -> int:
    """This process's address space (``VmSize``), in MB; 0 where /proc is absent."""
    try:
        with Path("/proc/self/status").open(encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _preload() -> None:
    """Import the libraries every task needs once, before the first task (the point of a
    warm worker). A failure here is left for the task that needs the library to report."""
    try:
        import numpy  # noqa: F401 - imported for its side effect: loaded once per worker
        import onnx  # noqa: F401 - idem

        from modelreg.onnx.session import onnxruntime_module

        onnxruntime_module()
        import modelreg.onnx.evaluation
        import modelreg.onnx.facts
        import modelreg.onnx.vectors  # noqa: F401 - idem
    except Exception:  # noqa: BLE001 - the task that needs the library reports it
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m modelreg.onnx.worker serve``: a worker of :class:`modelreg.onnx.isolate.Pool`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args != ["serve"]:
        sys.stderr.write(
            "usage: python -m modelreg.onnx.worker serve (started by modelreg.onnx.isolate)\n"
        )
        return 2
    # The protocol gets private copies of stdin and stdout; the standard descriptors point
    # elsewhere, so a library that prints cannot corrupt a reply or read a request.
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    return serve(requests, replies)


if __name__ == "__main__":
    raise SystemExit(main())
