"""Accuracy and F1 (a classifier) or MAE, RMSE and R² (a regressor), recomputed from an
evaluation file, without scikit-learn.

The evaluation file is an ``.npz`` archive (loaded with ``allow_pickle=False``: data never
runs code) holding one array per model input, named like the input, plus a ``labels`` array:
integer class indices for a classifier, float targets for a regressor. A version is a
regressor when its metadata claims regression metrics (``evaluation.metrics.mae``, ``rmse``,
``r2``); ``modelreg add`` writes those when ``labels`` holds floats (:func:`labels_kind`).

A classifier's prediction is the argmax over the scored output's last axis, or, for an
integer output of one value per row (a label output, as skl2onnx and onnxmltools emit), its
value. A float output of one column is a regressor's: its argmax is always class 0, so
accuracy and F1 on it are refused, never measured as 1.0. A regressor's prediction is its
scored output's one value per row (``[N]`` or ``[N, 1]``). Runs inside the isolated child
(:mod:`modelreg.onnx.worker`).

Before anything is decompressed, :func:`npz_problems` bounds the file from its zip directory
and each array's ``.npy`` header (dtype, shape): the parent refuses a file that breaks a bound
(MR409) and the child checks again before ``numpy.load``. The child opens the file with
``O_NOFOLLOW``; the parent has refused a symlink anywhere above it (:mod:`modelreg.treefs`).
"""

from __future__ import annotations

import math
import re
import sys
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from modelreg import config
from modelreg.config import Settings
from modelreg.errors import ModelregError
from modelreg.treefs import open_nofollow, printable

#: Rows per session call: bounded memory on large evaluation sets.
BATCH = 256
#: From this many bytes of model (weights included) on, one row per call: a wide model's
#: activations for 256 rows cost more than its weights' share of the session (a BERT-base
#: shape scoring 32 rows in one call peaked at 1.43x the memory of a session running its
#: golden vectors; one row per call at 1.14x, no slower: each call is ~200 ms of compute).
LARGE_MODEL_BYTES = 64 << 20
#: More members than this is not an evaluation file (one per model input, plus labels).
MAX_MEMBERS = 1024
#: Deflate cannot exceed about 1032:1; a member beyond this ratio (and the floor) is a bomb.
MAX_RATIO = 1000
#: Arrays below this size are never refused by ratio or signature (small fixtures stay
#: readable, and MR406 then names an honest sample-count mismatch).
FLOOR_BYTES = 1 << 20
#: numpy's own default cap on a .npy header.
MAX_HEADER = 10_000
#: The member names numpy.savez writes: ``<array name>.npy``, no directories.
_MEMBER = re.compile(r"^[^/\\\x00]{1,255}\.npy\Z")
#: A regression claim matches its recomputation within ``RTOL * |measured| + ATOL * scale``,
#: where scale is 1 for R² and the root mean square of the targets for MAE and RMSE (so the
#: bound does not depend on the targets' unit). Recomputation is deterministic up to float
#: summation order; add writes 6 significant digits (a relative error under 5e-6). Declared
#: in schemas/metadata.schema.json (``evaluation.metrics``).
REGRESSION_RTOL = 1e-4
REGRESSION_ATOL = 1e-6
#: The regression metrics, in the order metadata lists them.
REGRESSION_METRICS = ("mae", "rmse", "r2")
#: Element types of a score (or regression) output.
FLOAT_TYPES = frozenset({"float", "double", "float16", "bfloat16"})


def max_eval_bytes(settings: Settings | None = None) -> int:
    """The cap on the decompressed size of an evaluation file: ``MODELREG_MAX_EVAL_MB``
    (None: this process's environment, as a worker reads it; :mod:`modelreg.config`)."""
    return config.or_env(settings).valid("max_eval_mb").max_eval_mb * 1024 * 1024


def signature(meta: Mapping[str, Any]) -> dict[str, Any]:
    """What metadata allows an evaluation file to hold: rows and each input's dimensions."""
    inputs: dict[str, list[Any]] = {}
    for io in (meta.get("onnx") or {}).get("inputs") or []:
        kind = io.get("type") if isinstance(io, Mapping) else None
        if isinstance(kind, Mapping) and isinstance(kind.get("shape"), list):
            inputs[str(io.get("name"))] = list(kind["shape"])
    rows = ((meta.get("evaluation") or {}).get("data") or {}).get("samples")
    return {"rows": rows if isinstance(rows, int) else None, "inputs": inputs}


def npz_problems(
    fh: IO[bytes], bounds: Mapping[str, Any] | None = None, cap: int | None = None
) -> list[str]:
    """Why the ``.npz`` in ``fh`` must not be loaded, judged without decompressing it.

    Reads the zip directory and each member's ``.npy`` header only. ``bounds`` is
    :func:`signature`'s result (rows and input dimensions; None: the cap alone); ``cap``
    defaults to :func:`max_eval_bytes`.
    """
    cap = max_eval_bytes() if cap is None else cap
    try:
        archive = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        return [f"is not an .npz (zip) archive ({exc})"]
    problems: list[str] = []
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        return [f"has {len(infos)} members; an evaluation file has one array per input"]
    seen: set[str] = set()
    total = 0
    for info in infos:
        name = printable(info.filename)
        if not _MEMBER.match(info.filename) or info.filename in seen or info.is_dir():
            problems.append(f"member `{name}` is not an array numpy.savez writes (`NAME.npy`)")
            continue
        seen.add(info.filename)
        if info.flag_bits & 0x1:
            problems.append(f"member `{name}` is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            problems.append(f"member `{name}` uses compression method {info.compress_type}")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > FLOOR_BYTES and ratio > MAX_RATIO:
            problems.append(
                f"member `{name}` expands {info.compress_size} bytes to {info.file_size} "
                f"(ratio {ratio:.0f}:1 over {MAX_RATIO}:1): a zip bomb"
            )
        total += info.file_size
    if total > cap:
        problems.append(f"expands to {total} bytes, over the cap of {cap} (MODELREG_MAX_EVAL_MB)")
    if problems:
        return problems
    for info in infos:
        problems.extend(_member_problems(archive, info, bounds or {}))
    return problems


#: ``.npy`` type descriptions read without numpy: descr → (item size, numpy's name for it).
#: Anything else (big-endian, structured, object, datetime ...) is read by numpy itself.
_PLAIN_DTYPES: dict[str, tuple[int, str]] = {
    "|b1": (1, "bool"),
    "|i1": (1, "int8"),
    "|u1": (1, "uint8"),
    "<i2": (2, "int16"),
    "<u2": (2, "uint16"),
    "<i4": (4, "int32"),
    "<u4": (4, "uint32"),
    "<i8": (8, "int64"),
    "<u8": (8, "uint64"),
    "<f2": (2, "float16"),
    "<f4": (4, "float32"),
    "<f8": (8, "float64"),
    "<c8": (8, "complex64"),
    "<c16": (16, "complex128"),
}
_TEXT_DTYPE = re.compile(r"(<U|\|S)([1-9][0-9]{0,8})\Z")
_NPY_LENGTH = {(1, 0): 2, (2, 0): 4}


def _plain_header(member: IO[bytes]) -> tuple[tuple[int, ...], int, str, int] | None:
    """(shape, item size, dtype name, data offset) of a ``.npy`` header that numpy would read
    the same way, parsed without importing numpy (a deep run's parent then never imports it);
    None for anything else, which numpy reads (:func:`_numpy_header`)."""
    import ast

    magic = member.read(8)
    if len(magic) != 8 or magic[:6] != b"\x93NUMPY" or sys.byteorder != "little":
        return None
    size = _NPY_LENGTH.get((magic[6], magic[7]))
    raw = member.read(size) if size else b""
    if not size or len(raw) != size:
        return None
    length = int.from_bytes(raw, "little")
    text = member.read(length) if length <= MAX_HEADER else b""
    if length > MAX_HEADER or len(text) != length:
        return None
    try:
        header = ast.literal_eval(text.decode("latin1"))
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        return None
    shape, descr = header["shape"], header["descr"]
    if not isinstance(header["fortran_order"], bool) or not isinstance(shape, tuple):
        return None
    if not all(type(n) is int and n >= 0 for n in shape) or not isinstance(descr, str):
        return None
    if descr in _PLAIN_DTYPES:
        itemsize, name = _PLAIN_DTYPES[descr]
    elif match := _TEXT_DTYPE.match(descr):
        itemsize, name = int(match[2]) * (4 if match[1] == "<U" else 1), descr
        if itemsize >= 2**31:
            return None  # numpy refuses an item this large: let it say so
    else:
        return None
    return shape, itemsize, name, 8 + size + length


def _numpy_header(member: IO[bytes]) -> tuple[tuple[int, ...], int, str, int, bool]:
    """(shape, item size, dtype name, data offset, holds objects) as numpy reads the header."""
    import numpy as np

    version = np.lib.format.read_magic(member)
    read = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    shape, _fortran, dtype = read(member, max_header_size=MAX_HEADER)
    return tuple(shape), dtype.itemsize, str(dtype), member.tell(), bool(dtype.hasobject)


def _member_problems(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, bounds: Mapping[str, Any]
) -> list[str]:
    array = info.filename[: -len(".npy")]
    name = printable(info.filename)
    try:
        with archive.open(info) as member:  # decompresses the header's few bytes only
            plain = _plain_header(member)
        if plain is not None:
            shape, itemsize, dtype, header = plain
            objects = False
        else:
            with archive.open(info) as member:
                shape, itemsize, dtype, header, objects = _numpy_header(member)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, SyntaxError) as exc:
        return [f"member `{name}` has no readable .npy header ({exc})"]
    if objects:
        return [
            f"array `{printable(array)}` holds Python objects (it would need pickle); store "
            "strings as a unicode array, e.g. `np.array(texts, dtype=str)`"
        ]
    declared = math.prod(shape) * itemsize
    if header + declared != info.file_size:
        return [
            f"array `{printable(array)}` declares {declared} bytes of data ({dtype}, "
            f"{list(shape)}) but its member holds {info.file_size - header}"
        ]
    if declared <= FLOOR_BYTES:
        return []
    rows = bounds.get("rows")
    dims = (bounds.get("inputs") or {}).get(array)
    if array == "labels":
        dims = ["rows"]
    elif dims is None:
        return []  # not an input: never loaded
    if isinstance(rows, int) and shape and shape[0] > rows:
        return [
            f"array `{printable(array)}` declares {shape[0]} rows; evaluation.data.samples "
            f"is {rows}"
        ]
    fixed = [d for d in dims[1:] if isinstance(d, int) and not isinstance(d, bool)]
    if isinstance(rows, int) and len(fixed) == len(dims) - 1 and len(shape) == len(dims):
        allowed = rows * math.prod(fixed) * itemsize
        if declared > allowed:
            return [
                f"array `{printable(array)}` declares {declared} bytes ({list(shape)}); "
                f"the signature {dims} and {rows} samples allow {allowed}"
            ]
    return []


def open_checked(data_path: Path, bounds: Mapping[str, Any] | None) -> IO[bytes]:
    """The evaluation file opened, its bounds checked (the parent checked them too; this is
    the child's own look before numpy decompresses).

    With ``bounds`` (a registry's file, from the deep check) a symlink is refused
    (``O_NOFOLLOW``); without (a file the user named to ``add``), the user's link is theirs.
    """
    try:
        fh = open_nofollow(data_path) if bounds is not None else data_path.open("rb")
    except (OSError, ModelregError) as exc:
        raise ValueError(f"{data_path.name} cannot be opened ({exc})") from None
    problems = npz_problems(fh, bounds)
    if problems:
        fh.close()
        raise ValueError(f"{data_path.name} refused before loading: {'; '.join(problems)}")
    fh.seek(0)
    return fh


def score_args(labels: Sequence[Any], f1: Mapping[str, Any]) -> dict[str, Any]:
    """How metadata's ``evaluation.metrics.f1`` block is scored: the class count, the
    averaging, and the index of the positive class (``positive_label``, else the last label)."""
    positive = f1.get("positive_label")
    return {
        "classes": len(labels),
        "average": f1["average"],
        "positive": list(labels).index(positive) if positive in labels else len(labels) - 1,
    }


def is_regression(metrics: Mapping[str, Any]) -> bool:
    """Whether metadata's ``evaluation.metrics`` are a regressor's (MAE, RMSE, R²)."""
    return any(name in metrics for name in REGRESSION_METRICS)


def metric_args(labels: Sequence[Any], metrics: Mapping[str, Any]) -> dict[str, Any]:
    """How the child scores a version whose ``evaluation.metrics`` block is ``metrics``."""
    if is_regression(metrics):
        return {"task": "regression"}
    return {"task": "classification", **score_args(labels, metrics["f1"])}


def regression_tolerance(name: str, measured: float, scale: float) -> float:
    """How far a claimed regression metric may be from its recomputation (see RTOL)."""
    unit = 1.0 if name == "r2" else (scale or 1.0)
    return REGRESSION_RTOL * abs(measured) + REGRESSION_ATOL * unit


def labels_kind(fh: IO[bytes]) -> str | None:
    """``"float"``, ``"integer"`` or None (absent, other dtype): the ``labels`` array's
    element kind, read from its ``.npy`` header without loading any data."""
    import numpy as np

    try:
        archive = zipfile.ZipFile(fh)
        with archive.open("labels.npy") as member:
            version = np.lib.format.read_magic(member)
            read = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            _shape, _fortran, dtype = read(member, max_header_size=MAX_HEADER)
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile, SyntaxError):
        return None
    if np.issubdtype(dtype, np.floating):
        return "float"
    if np.issubdtype(dtype, np.integer):
        return "integer"
    return None


def _tensor(io: Mapping[str, Any]) -> tuple[str | None, list[Any] | None]:
    kind = io.get("type")
    if not isinstance(kind, Mapping) or "tensor" not in kind:
        return None, None
    shape = kind.get("shape")
    return str(kind["tensor"]), list(shape) if isinstance(shape, list) else None


def class_count(outputs: Sequence[Mapping[str, Any]], scored: str) -> tuple[str, int] | None:
    """(output, number of classes) the scored output's labels are counted against, or None.

    A score output ``[N, classes]`` counts its own classes. A label output (integer or
    string, one value per row, e.g. onnxmltools' LightGBM ``label`` declared ``[1]``) has no
    class dimension: its shape is its batch; the classes are counted on the one float output
    of class scores beside it (``probabilities`` ``[N, classes]``), if there is exactly one.
    """
    by_name = {str(io.get("name")): io for io in outputs}
    elem, shape = _tensor(by_name.get(scored, {}))
    if elem is None or shape is None:
        return None
    if elem in FLOAT_TYPES:
        if len(shape) >= 2 and isinstance(shape[-1], int) and not isinstance(shape[-1], bool):
            return scored, shape[-1]
        return None
    scores = []
    for name, io in by_name.items():
        other, dims = _tensor(io)
        if name != scored and other in FLOAT_TYPES and dims is not None and len(dims) == 2:
            scores.append((name, dims[-1]))
    if len(scores) == 1 and isinstance(scores[0][1], int) and not isinstance(scores[0][1], bool):
        return scores[0][0], scores[0][1]
    return None


def one_column_output(outputs: Sequence[Mapping[str, Any]], scored: str) -> bool:
    """Whether the scored output is declared as one float per row (``[N]`` or ``[N, 1]``):
    a regressor's, whose argmax would always be class 0."""
    for io in outputs:
        if io.get("name") == scored:
            elem, shape = _tensor(io)
            return (
                elem in FLOAT_TYPES
                and shape is not None
                and (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1))
            )
    return False


def f1_score(
    predictions: Sequence[int], labels: Sequence[int], n_classes: int, average: str, positive: int
) -> float:
    """F1 as ``sklearn.metrics.f1_score`` computes it with ``zero_division=0``.

    ``binary`` is the F1 of class ``positive``. ``macro`` averages over the classes present in
    the truth or the predictions (scikit-learn's default ``labels``), not over all
    ``n_classes``: a declared class the evaluation set neither holds nor predicts has no F1
    a model could earn, and scikit-learn leaves it out. ``micro`` and ``weighted`` do not
    depend on such a class. tests/test_f1_sklearn.py compares every mode with scikit-learn.
    """
    tp = [0] * n_classes
    fp = [0] * n_classes
    fn = [0] * n_classes
    for p, y in zip(predictions, labels, strict=True):
        if p == y:
            tp[y] += 1
        else:
            fp[p] += 1
            fn[y] += 1

    def f1(c: int) -> float:
        denominator = 2 * tp[c] + fp[c] + fn[c]
        return 2 * tp[c] / denominator if denominator else 0.0

    if average == "binary":
        return f1(positive)
    if average == "micro":
        total = sum(tp) + (sum(fp) + sum(fn)) / 2
        return sum(tp) / total if total else 0.0
    if average == "macro":
        present = [c for c in range(n_classes) if tp[c] or fp[c] or fn[c]]
        return sum(f1(c) for c in present) / len(present) if present else 0.0
    if average == "weighted":
        support = [tp[c] + fn[c] for c in range(n_classes)]
        n = sum(support)
        return sum(f1(c) * support[c] for c in range(n_classes)) / n if n else 0.0
    raise ValueError(f"unknown F1 average {average!r}")


def evaluate(
    model_path: Path, data_path: Path, spec: dict[str, Any], session: Any = None
) -> dict[str, Any]:
    """Predict every row of the evaluation file and score it; raises ValueError on bad data.

    ``session`` reuses an open onnxruntime session on ``model_path`` (one per deep run).
    """
    from modelreg.onnx.isolate import model_bytes
    from modelreg.onnx.session import cpu_session

    rows = 1 if model_bytes(model_path) >= LARGE_MODEL_BYTES else BATCH
    with open_checked(data_path, spec.get("bounds")) as fh:
        return _evaluate(fh, data_path, spec, session or cpu_session(model_path), rows)


def _evaluate(
    fh: IO[bytes], data_path: Path, spec: Mapping[str, Any], session: Any, rows: int = BATCH
) -> dict[str, Any]:
    import numpy as np

    try:
        archive = np.load(fh, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{data_path.name} is not a readable .npz archive ({exc})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{data_path.name} is one array, not an .npz archive of arrays")
    names = [i.name for i in session.get_inputs()]
    missing = [n for n in [*names, "labels"] if n not in archive.files]
    if missing:
        raise ValueError(f"{data_path.name} lacks arrays {missing} (it has {archive.files})")
    labels = archive["labels"]
    n = len(labels) if labels.ndim else 0
    regression = spec.get("task") == "regression"
    if regression:
        if labels.ndim != 1 or n == 0 or not np.issubdtype(labels.dtype, np.number):
            raise ValueError(
                "`labels` must be a non-empty 1-D array of numeric targets (a regressor's)"
            )
        if not np.all(np.isfinite(labels)):
            raise ValueError("`labels` holds NaN or infinite targets; every target must be finite")
    elif labels.ndim != 1 or n == 0 or not np.issubdtype(labels.dtype, np.integer):
        floats = labels.ndim == 1 and n > 0 and np.issubdtype(labels.dtype, np.floating)
        raise ValueError(
            f"`labels` holds floats ({labels.dtype}); this version claims accuracy and F1, "
            "which need integer class indices (a regressor claims MAE, RMSE and R² instead)"
            if floats
            else "`labels` must be a non-empty 1-D integer array of class indices "
            "(or, for a regressor, of float targets)"
        )
    inputs = {name: archive[name] for name in names}
    if any(len(a) != n for a in inputs.values()):
        raise ValueError("every input array must have one row per label")
    batches = (
        np.asarray(
            session.run([spec["output"]], {k: v[s : s + rows] for k, v in inputs.items()})[0]
        )
        for s in range(0, n, rows)
    )
    if regression:
        return _regression(labels, [_values(b, spec["output"]) for b in batches])
    n_classes = int(spec["classes"])
    if labels.min() < 0 or labels.max() >= n_classes:
        wrong = labels.min() if labels.min() < 0 else labels.max()
        raise ValueError(
            f"{data_path.name}: `labels` holds {wrong}, but the model card names {n_classes} "
            f"labels (class indices 0..{n_classes - 1}); name one label per class, in index order"
        )
    predictions: list[int] = []
    for scores in batches:
        predictions.extend(int(p) for p in _classes(scores, spec["output"]))
    if predictions and not 0 <= min(predictions) <= max(predictions) < n_classes:
        raise ValueError(
            f"`{spec['output']}` predicts labels outside 0..{n_classes - 1}; score an output "
            "of class scores, or one whose labels are the class indices"
        )
    truth = [int(y) for y in labels]
    correct = sum(p == y for p, y in zip(predictions, truth, strict=True))
    return {
        "samples": n,
        "accuracy": correct / n,
        "f1": f1_score(predictions, truth, n_classes, spec["average"], int(spec["positive"])),
    }


def _classes(scores: Any, output: str) -> Any:
    """The predicted class index of each row of a classifier's scored output."""
    import numpy as np

    integer = np.issubdtype(scores.dtype, np.integer)
    if integer and (scores.ndim == 1 or (scores.ndim == 2 and scores.shape[1] == 1)):
        return scores.reshape(-1)  # a label output (skl2onnx's, onnxmltools')
    if not np.issubdtype(scores.dtype, np.number) or scores.ndim < 2:
        raise ValueError(
            f"output `{output}` has shape {list(scores.shape)} ({scores.dtype}); score an "
            "output of class scores [N, classes] or of integer labels [N]"
        )
    if scores.shape[-1] == 1:
        raise ValueError(one_column(output))
    return np.argmax(scores, axis=-1)


def one_column(output: str) -> str:
    """Why accuracy and F1 are never measured on a one-column float output."""
    return (
        f"output `{output}` has one column: its argmax is always class 0, so accuracy and F1 "
        "on it mean nothing (a regressor's output); for a regressor, store float targets in "
        "the evaluation file's `labels` (e.g. `labels=y.astype('float32')`) and `modelreg "
        "add` measures MAE, RMSE and R²; for a classifier, score its class scores"
    )


def _values(scores: Any, output: str) -> Any:
    """A regressor's one prediction per row, from its ``[N]`` or ``[N, 1]`` output."""
    import numpy as np

    if not np.issubdtype(scores.dtype, np.number) or not (
        scores.ndim == 1 or (scores.ndim == 2 and scores.shape[1] == 1)
    ):
        raise ValueError(
            f"output `{output}` has shape {list(scores.shape)} ({scores.dtype}); a regressor's "
            "scored output has one number per row ([N] or [N, 1]); multi-output regression "
            "is not supported"
        )
    return scores.reshape(-1).astype(np.float64)


def _regression(labels: Any, batches: list[Any]) -> dict[str, Any]:
    """MAE, RMSE and R² (scikit-learn's definitions, float64), and the targets' scale."""
    import numpy as np

    predictions = np.concatenate(batches) if batches else np.zeros(0)
    truth = labels.astype(np.float64)
    if len(predictions) != len(truth):
        raise ValueError(f"the model gave {len(predictions)} predictions for {len(truth)} rows")
    if not np.all(np.isfinite(predictions)):
        row = int(np.flatnonzero(~np.isfinite(predictions))[0])
        raise ValueError(f"the model predicts {predictions[row]} for row {row}")
    error = predictions - truth
    ss_res = float(np.sum(error * error))
    ss_tot = float(np.sum((truth - truth.mean()) ** 2))
    # scikit-learn's r2_score (force_finite): constant targets score 1.0 if predicted
    # exactly, else 0.0.
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else (1.0 if ss_res == 0 else 0.0)
    return {
        "samples": len(truth),
        "mae": float(np.mean(np.abs(error))),
        "rmse": math.sqrt(ss_res / len(truth)),
        "r2": r2,
        "scale": math.sqrt(float(np.mean(truth * truth))),
    }
