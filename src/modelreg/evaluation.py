"""Accuracy and F1 recomputed from an evaluation file, without scikit-learn.

The evaluation file is an ``.npz`` archive (loaded with ``allow_pickle=False``: data never
runs code) holding one array per model input, named like the input, plus a ``labels`` array
of int64 class indices. The prediction is the argmax over the scored output's last axis, or,
for a 1-D integer output (a classifier's label output, as skl2onnx emits), its value.
Runs inside the isolated child (:mod:`modelreg._child`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: Rows per session call: bounded memory on large evaluation sets.
BATCH = 256


def score_args(labels: Sequence[Any], f1: Mapping[str, Any]) -> dict[str, Any]:
    """How metadata's ``evaluation.metrics.f1`` block is scored: the class count, the
    averaging, and the index of the positive class (``positive_label``, else the last label)."""
    positive = f1.get("positive_label")
    return {
        "classes": len(labels),
        "average": f1["average"],
        "positive": list(labels).index(positive) if positive in labels else len(labels) - 1,
    }


def f1_score(
    predictions: Sequence[int], labels: Sequence[int], n_classes: int, average: str, positive: int
) -> float:
    """F1 with scikit-learn's averaging modes (zero where precision and recall are zero)."""
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
        return sum(f1(c) for c in range(n_classes)) / n_classes
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
    import numpy as np

    from modelreg.session import cpu_session

    try:
        archive = np.load(data_path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{data_path.name} is not a readable .npz archive ({exc})") from None
    session = session or cpu_session(model_path)
    names = [i.name for i in session.get_inputs()]
    missing = [n for n in [*names, "labels"] if n not in archive.files]
    if missing:
        raise ValueError(f"{data_path.name} lacks arrays {missing} (it has {archive.files})")
    labels = archive["labels"]
    n = len(labels)
    if labels.ndim != 1 or n == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError("`labels` must be a non-empty 1-D integer array")
    inputs = {name: archive[name] for name in names}
    if any(len(a) != n for a in inputs.values()):
        raise ValueError("every input array must have one row per label")
    n_classes = int(spec["classes"])
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"labels must be class indices 0..{n_classes - 1}")
    predictions: list[int] = []
    for start in range(0, n, BATCH):
        feeds = {k: v[start : start + BATCH] for k, v in inputs.items()}
        (scores,) = session.run([spec["output"]], feeds)
        scores = np.asarray(scores)
        if scores.ndim == 1 and np.issubdtype(scores.dtype, np.integer):
            predictions.extend(int(p) for p in scores)  # a label output (e.g. skl2onnx's)
        else:
            predictions.extend(int(p) for p in np.argmax(scores, axis=-1))
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
