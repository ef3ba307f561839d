"""Child-process entry for :mod:`modelreg.isolate`: one task, JSON on stdout.

``python -m modelreg._child inspect FILE`` prints ``{"facts": ..., "checker": null|str}`` or
``{"error": "..."}``. Anything else (a signal, a timeout) is judged by the parent.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from modelreg.errors import ModelregError


def inspect_task(path: Path, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Facts of the file plus the result of onnx's full checker, by path.

    ``spec["hash"] = False`` skips hashing (the parent already hashed every file).
    """
    import onnx

    from modelreg.external import UnsafeExternalData
    from modelreg.onnxfacts import inspect_file

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
    from modelreg.session import cpu_session
    from modelreg.vectors import first_line

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
    from modelreg.evaluation import evaluate
    from modelreg.vectors import first_line

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
    from modelreg.vectors import first_line, write_sets

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


def emit(part: dict[str, Any]) -> None:
    """Report part of a result now, so that it survives if the process dies later."""
    sys.stdout.write(json.dumps(part) + "\n")
    sys.stdout.flush()


def deep_task(path: Path, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Every deep fact of one version in one process: one parse, one session.

    ``{"inspect": <inspect_task result or {"error"}>, "run": <run_sets result>,
    "evaluate": <scores or {"error"}>}``, each part emitted as soon as it is known (a crash
    in onnxruntime then still leaves the structure facts); ``run`` and ``evaluate`` are
    absent when the file did not parse or its external data was refused (no session may
    open it then).
    """
    from modelreg.evaluation import evaluate
    from modelreg.session import cpu_session
    from modelreg.vectors import first_line, run_sets

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
    except Exception as exc:  # noqa: BLE001 - onnxruntime's run errors are untyped
        return {"evaluate": {"error": f"onnxruntime failed: {first_line(exc)}"}}


def bench_task(_path: Path, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Interleaved latency of several models."""
    from modelreg.latency import measure

    return measure(
        spec["targets"], int(spec["runs"]), int(spec["warmup"]), bool(spec.get("progress"))
    )


#: Task name -> (function, whether it takes a SPEC argument).
TASKS: dict[str, tuple[Callable[[Path, Mapping[str, Any]], dict[str, Any]], bool]] = {
    "inspect": (inspect_task, False),
    "evaluate": (evaluate_task, True),
    "golden": (golden_task, True),
    "bench": (bench_task, True),
    "deep": (deep_task, True),
}


class _StdinSpec(Mapping[str, Any]):
    """The spec as JSON on stdin (SPEC ``-``), read when a task first looks at it: a child
    started ahead of time does its spec-free work (parsing, the session) before that."""

    def __init__(self) -> None:
        self._data: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if self._data is None:
            loaded = json.loads(sys.stdin.buffer.read() or b"{}")
            self._data = loaded if isinstance(loaded, dict) else {}
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def main(argv: Sequence[str] | None = None) -> int:
    """Run one task and print its JSON result."""
    args = list(sys.argv[1:] if argv is None else argv)
    task = TASKS.get(args[0]) if args else None
    if task is None or len(args) != (3 if task[1] else 2):
        sys.stderr.write("usage: python -m modelreg._child inspect FILE | TASK FILE SPEC|-\n")
        return 2
    try:
        spec: Mapping[str, Any] = {}
        if task[1]:
            spec = _StdinSpec() if args[2] == "-" else json.loads(args[2])
        result = task[0](Path(args[1]), spec)
    except ModelregError as exc:
        result = {"error": str(exc)}
    except MemoryError:
        result = {"died": "ran out of its memory limit"}
    except ImportError as exc:
        if importlib.util.find_spec("onnx") is None:
            result = {"error": "onnx is not installed: pip install 'modelreg[onnx]'"}
        else:
            # Installed but not loadable here: under RLIMIT_AS this is the memory limit.
            detail = str(exc).strip().splitlines()[-1][:200]
            result = {"died": f"could not load onnx within its memory limit ({detail})"}
    sys.stdout.write(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
