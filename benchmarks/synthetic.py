"""A synthetic registry of N models x M versions of small real ONNX files, for benchmarks.

Every version is a real model made with ``onnx.helper`` (``x`` float [batch, 4] -> MatMul ->
Add -> ``logits`` float [batch, 2], weights drawn from a seeded generator), with golden
vectors, a shared labelled evaluation file per model and metadata whose every number is
computed here, so a deep ``modelreg validate`` passes on the result. Options make the
artifacts Git LFS pointers (metadata keeps the real sha256 and size, as after a
``GIT_LFS_SKIP_SMUDGE`` clone), add a large weight table embedded in ``model.onnx`` or stored
as external data, commit the tree to git, and write the overlays. The same arguments give
the same bytes (no timestamps anywhere, the evaluation ``.npz`` included).

    python benchmarks/synthetic.py DIR --models 200 --versions 10 --lfs
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FEATURES = 4
CLASSES = 2
EVAL_ROWS = 64
BASE_DAY = 738886  # 2024-01-01 as a proleptic ordinal; version v is released on day v
DATA_FILE = "weights.bin"
CHUNK = 8 << 20
IDENTITY = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@modelreg.invalid",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@modelreg.invalid",
    "GIT_AUTHOR_DATE": "1700000000 +0000",
    "GIT_COMMITTER_DATE": "1700000000 +0000",
}


@dataclass
class Built:
    """What :func:`build` wrote."""

    root: Path
    versions: list[tuple[str, str]] = field(default_factory=list)  # (model, version)

    def version_dir(self, model: str, version: str) -> Path:
        """``models/<model>/<version>``."""
        return self.root / "models" / model / version

    def metadata_files(self) -> list[Path]:
        """Every version's metadata.yaml, in build order."""
        return [self.version_dir(m, v) / "metadata.yaml" for m, v in self.versions]


def model_name(m: int) -> str:
    """The name of model number ``m``."""
    return f"model-{m:04d}"


def version_name(v: int) -> str:
    """The name of version number ``v`` (1.0.0, 1.1.0, ...)."""
    return f"1.{v}.0"


def _weights(m: int, v: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([m, v])
    w = rng.standard_normal((FEATURES, CLASSES)).astype(np.float32)
    b = rng.standard_normal((CLASSES,)).astype(np.float32)
    return w, b


def _table_rows(table_bytes: int) -> int:
    return max(1, table_bytes // (4 * CLASSES))


def _table_chunks(rows: int) -> Iterator[bytes]:
    """The weight table's bytes in bounded chunks: a cheap deterministic pattern."""
    per_chunk = CHUNK // (4 * CLASSES)
    pattern = (np.arange(per_chunk * CLASSES, dtype=np.float32) % 251.0) / 251.0
    done = 0
    while done < rows:
        n = min(per_chunk, rows - done)
        yield pattern[: n * CLASSES].tobytes()
        done += n


def _table_row0() -> np.ndarray:
    return (np.arange(CLASSES, dtype=np.float32) % 251.0) / 251.0


def make_model(m: int, v: int, table_bytes: int = 0, external: bool = False) -> bytes:
    """The serialized ModelProto of version ``v`` of model ``m``.

    With ``table_bytes``, a float table of about that size feeds a Gather whose row 0 is
    added to the logits; it is embedded, or with ``external`` stored in ``weights.bin``
    (written by :func:`write_table`).
    """
    from onnx import TensorProto, helper, numpy_helper

    w, b = _weights(m, v)
    inits = [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")]
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["xw"]),
        helper.make_node("Add", ["xw", "B"], ["logits" if not table_bytes else "pre"]),
    ]
    if table_bytes:
        rows = _table_rows(table_bytes)
        table = TensorProto()
        table.name = "T"
        table.data_type = TensorProto.FLOAT
        table.dims.extend([rows, CLASSES])
        if external:
            table.data_location = TensorProto.EXTERNAL
            for key, value in (("location", DATA_FILE), ("offset", "0"),
                               ("length", str(rows * CLASSES * 4))):  # fmt: skip
                entry = table.external_data.add()
                entry.key, entry.value = key, value
        else:
            table.raw_data = b"".join(_table_chunks(rows))
        inits += [table, numpy_helper.from_array(np.array([0], dtype=np.int64), "I")]
        nodes += [
            helper.make_node("Gather", ["T", "I"], ["row"], axis=0),
            helper.make_node("Add", ["pre", "row"], ["logits"]),
        ]
    graph = helper.make_graph(
        nodes,
        f"synthetic_{m}_{v}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", FEATURES])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", CLASSES])],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="modelreg-bench"
    )
    model.producer_version = "1"
    model.ir_version = 8
    return bytes(model.SerializeToString())


def write_table(path: Path, table_bytes: int) -> tuple[str, int]:
    """Write the external weight table in bounded memory; return its sha256 and size."""
    digest = hashlib.sha256()
    size = 0
    with path.open("wb") as fh:
        for chunk in _table_chunks(_table_rows(table_bytes)):
            fh.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def logits(m: int, v: int, x: np.ndarray, table_bytes: int = 0) -> np.ndarray:
    """What the model computes, in numpy."""
    w, b = _weights(m, v)
    out: np.ndarray = (x @ w + b).astype(np.float32)
    if table_bytes:
        out = (out + _table_row0()).astype(np.float32)
    return out


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    """An ``.npz`` without timestamps (``np.savez`` stamps the current time)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, array, allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            zf.writestr(info, member.getvalue())
    return buf.getvalue()


def _eval_set(m: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([m, 1_000_000])
    x = rng.standard_normal((EVAL_ROWS, FEATURES)).astype(np.float32)
    labels = rng.integers(0, CLASSES, EVAL_ROWS).astype(np.int64)
    return x, labels


def _metrics(pred: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    accuracy = float(np.mean(pred == labels))
    tp = int(np.sum((pred == 1) & (labels == 1)))
    fp = int(np.sum((pred == 1) & (labels == 0)))
    fn = int(np.sum((pred == 0) & (labels == 1)))
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return round(accuracy, 6), round(f1, 6)


def pointer(sha256: str, size: int) -> bytes:
    """A Git LFS pointer file."""
    return (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()
    )


def _tensor(array: np.ndarray, name: str) -> bytes:
    from onnx import numpy_helper

    return bytes(numpy_helper.from_array(array, name).SerializeToString())


def _metadata(
    m: int, v: int, sha: str, size: int, *, eval_sha: str, metrics: tuple[float, float],
    external: list[tuple[str, str, int]],
) -> str:  # fmt: skip
    import datetime as dt

    name, version = model_name(m), version_name(v)
    day = dt.date.fromordinal(BASE_DAY + v).isoformat()
    ext = "".join(f"\n    - path: {p}\n      sha256: {s}\n      size: {n}" for p, s, n in external)
    return (
        f"model: {name}\nversion: {version}\nrelease_date: '{day}'\n"
        f"summary: Synthetic version {version}.\nchanges:\n  - Retrained with seed {v}\n"
        f"artifact:\n  path: model.onnx\n  sha256: {sha}\n  size: {size}\n"
        + (f"  external_data:{ext}\n" if external else "")
        + "onnx:\n  ir_version: 8\n  opsets:\n    ai.onnx: 17\n  producer:\n"
        "    name: modelreg-bench\n    version: '1'\n  inputs:\n    - name: x\n      type:\n"
        f"        tensor: float\n        shape: [batch, {FEATURES}]\n  outputs:\n"
        "    - name: logits\n      type:\n        tensor: float\n"
        f"        shape: [batch, {CLASSES}]\n"
        "training:\n  dataset:\n    name: synthetic\n    version: '1'\n    samples: 1000\n"
        "    description: Synthetic weights from a seeded generator; no training data.\n"
        f"evaluation:\n  data:\n    path: ../data/eval.npz\n    sha256: {eval_sha}\n"
        f"    samples: {EVAL_ROWS}\n  output: logits\n  metrics:\n"
        f"    accuracy: {metrics[0]}\n    f1:\n      value: {metrics[1]}\n"
        "      average: binary\n"
        "test_vectors:\n  - path: test_data_set_0\n    rtol: 0.0001\n    atol: 1.0e-05\n"
    )


def _model_yaml(m: int, versions: int) -> str:
    name = model_name(m)
    lifecycle = "".join(
        f"  {version_name(v)}:\n    status: {'production' if v == versions - 1 else 'candidate'}\n"
        for v in range(versions)
    )
    return (
        f"name: {name}\ntitle: Synthetic model {m}\ndescription: A benchmark model.\n"
        f"task: other\ntag_prefix: {name}\nowners:\n  - '@bench/ml'\n"
        f"labels: [negative, positive]\nlifecycle:\n{lifecycle}"
    )


def build(
    root: Path,
    models: int,
    versions: int,
    *,
    lfs: bool = False,
    table_bytes: int = 0,
    external: bool = False,
    git: bool = False,
    overlays: bool = False,
) -> Built:
    """Write the registry at ``root`` (which must not exist) and return what was written."""
    root.mkdir(parents=True)
    built = Built(root)
    (root / "models").mkdir()
    if lfs:
        from modelreg.git.lfs import LFS_ATTRIBUTES

        (root / ".gitattributes").write_text("\n".join(LFS_ATTRIBUTES) + "\n", encoding="utf-8")
    golden = np.array([[0.5, -1.0, 2.0, 0.25], [1.5, 0.0, -0.5, 3.0]], dtype=np.float32)
    table_sha = ""
    table_size = 0
    first: Path | None = None
    for m in range(models):
        mdir = root / "models" / model_name(m)
        (mdir / "data").mkdir(parents=True)
        (mdir / "model.yaml").write_text(_model_yaml(m, versions), encoding="utf-8")
        x_eval, labels = _eval_set(m)
        npz = _npz({"x": x_eval, "labels": labels})
        (mdir / "data" / "eval.npz").write_bytes(npz)
        eval_sha = hashlib.sha256(npz).hexdigest()
        for v in range(versions):
            vdir = mdir / version_name(v)
            (vdir / "test_data_set_0").mkdir(parents=True)
            data = make_model(m, v, table_bytes, external)
            sha = hashlib.sha256(data).hexdigest()
            ext: list[tuple[str, str, int]] = []
            if table_bytes and external:
                if first is None:
                    first = vdir / DATA_FILE
                    table_sha, table_size = write_table(first, table_bytes)
                elif not lfs:
                    _copy(first, vdir / DATA_FILE)
                if lfs:
                    (vdir / DATA_FILE).write_bytes(pointer(table_sha, table_size))
                ext.append((DATA_FILE, table_sha, table_size))
            (vdir / "model.onnx").write_bytes(pointer(sha, len(data)) if lfs else data)
            (vdir / "test_data_set_0" / "input_0.pb").write_bytes(_tensor(golden, "x"))
            (vdir / "test_data_set_0" / "output_0.pb").write_bytes(
                _tensor(logits(m, v, golden, table_bytes), "logits")
            )
            pred = np.argmax(logits(m, v, x_eval, table_bytes), axis=1)
            meta = _metadata(
                m,
                v,
                sha,
                len(data),
                eval_sha=eval_sha,
                metrics=_metrics(pred, labels),
                external=ext,
            )
            (vdir / "metadata.yaml").write_text(meta, encoding="utf-8")
            built.versions.append((model_name(m), version_name(v)))
    if overlays:
        shutil.copytree(Path(__file__).resolve().parents[1] / "overlays" / "base",
                        root / "overlays" / "base")  # fmt: skip
        # modelreg writes a registry only inside a git repository (its lock and journal live
        # in the git directory), so the repository exists before the overlays are written.
        if not (root / ".git").exists():
            subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
        subprocess.run([sys.executable, "-m", "modelreg", "overlays", "--root", str(root)],
                       check=True, capture_output=True)  # fmt: skip
    if git:
        commit_all(root, "synthetic registry")
    return built


def _copy(src: Path, dst: Path) -> None:
    """Copy a large file in bounded memory."""
    with src.open("rb") as fin, dst.open("wb") as fout:
        while chunk := fin.read(CHUNK):
            fout.write(chunk)


def commit_all(root: Path, message: str) -> None:
    """``git init`` (once) and commit everything with a fixed identity and date."""
    env = {**os.environ, **IDENTITY}
    if not (root / ".git").exists():
        subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True, env=env)
    for cmd in (["add", "-A"], ["commit", "-q", "--no-verify", "-m", message]):
        subprocess.run(["git", "-C", str(root), *cmd], check=True, env=env, capture_output=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Build a synthetic registry from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("root", type=Path)
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--lfs", action="store_true", help="artifacts as Git LFS pointers")
    parser.add_argument("--table-mb", type=float, default=0, help="weight table size (MiB)")
    parser.add_argument("--external", action="store_true", help="table as external data")
    parser.add_argument("--git", action="store_true", help="commit the registry")
    parser.add_argument("--overlays", action="store_true", help="write the overlays")
    args = parser.parse_args(argv)
    built = build(
        args.root, args.models, args.versions, lfs=args.lfs,
        table_bytes=int(args.table_mb * (1 << 20)), external=args.external, git=args.git,
        overlays=args.overlays,
    )  # fmt: skip
    sys.stdout.write(f"{len(built.versions)} versions in {built.root}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
