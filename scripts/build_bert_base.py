"""Build a BERT-base-shaped ONNX classifier (random weights, ~110 M parameters, external data).

What a team's transformer looks like to a registry: an ONNX graph of a few megabytes and
about 440 MB of float32 weights beside it in ``model.onnx.data``. The benchmarks measure
modelreg's deep check and ``add`` on this model (benchmarks/bert_base.py); you can use it
to try a registry at transformer size without downloading anything.

The shape is BERT-base's: 12 encoder layers, hidden size 768, 12 attention heads, feed-forward
size 3072, WordPiece vocabulary of 30,522 tokens, 512 positions, token-type embeddings, a
tanh pooler over the first token and a two-way classifier head: 109.5 M parameters. The
weights are **random** (normal, std 0.02, like BERT's initialisation), drawn from a fixed
seed: nothing is trained and nothing is downloaded, so accuracy and F1 on the evaluation
data are those of chance. The point is the size and the graph, not the skill.

Export: ``torch.onnx.export`` with the torch.export-based exporter (``dynamo=True``),
opset 18, dynamic ``batch`` and ``sequence`` axes on the int64 inputs ``input_ids`` and
``attention_mask``, output ``logits`` float ``[batch, 2]``; then every initializer of 1 KiB
or more is written to one external data file, ``model.onnx.data``, with
``onnx.save_model(..., save_as_external_data=True)``.

Written to OUT (default: a ``modelreg-bert-base`` directory under the system's temporary
directory; never commit these files, a registry keeps them in Git LFS):

* ``model.onnx`` and ``model.onnx.data``: the model;
* ``eval.npz``: evaluation data in the layout ``modelreg add --eval`` reads: one int64 array
  per model input (``input_ids``, ``attention_mask``, ``[rows, seq-len]``, random token ids
  after a [CLS] token, random lengths padded with 0) and an int64 ``labels`` array (random
  classes: the weights are random too);
* it prints the ``modelreg add`` command for the files, with ``--sample`` rows of golden
  vectors.

Deterministic: the same seed gives byte-identical files on the same machine and package
versions (torch single-threaded with deterministic algorithms, the exporter's per-node debug
metadata, which holds absolute source paths, stripped, the npz written with fixed
timestamps). It takes about 30 s and 1.5 GB of memory on 2 cores.

Needs ``torch==2.13.0`` (CPU), ``onnxscript``, ``onnx``, ``onnxruntime`` and ``numpy``
(``pip install -e '.[converters]'``); transformers is not used: this script writes the model
in plain torch.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import math
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
import torch
from torch import Tensor, nn
from torch_export import export_classifier

OPSET = 18
DATA_FILE = "model.onnx.data"
DEFAULT_SEED = 20240611
DEFAULT_OUT = Path(tempfile.gettempdir()) / "modelreg-bert-base"
LABELS = ("negative", "positive")

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Config:
    """The shape of the model (BERT's configuration names in comments)."""

    vocab_size: int = 30522  # vocab_size
    hidden: int = 768  # hidden_size
    layers: int = 12  # num_hidden_layers
    heads: int = 12  # num_attention_heads
    intermediate: int = 3072  # intermediate_size
    max_positions: int = 512  # max_position_embeddings
    type_vocab: int = 2  # type_vocab_size
    labels: int = len(LABELS)


#: BERT-base (bert-base-uncased's configuration).
BASE = Config()
#: The same graph at toy size, for tests and a quick try (about 7,000 parameters).
TINY = Config(vocab_size=100, hidden=16, layers=2, heads=2, intermediate=32, max_positions=32)
SIZES = {"base": BASE, "tiny": TINY}


class EncoderLayer(nn.Module):
    """One post-LN transformer layer, as in BERT: self-attention, then a GELU MLP."""

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.heads = config.heads
        self.head_dim = config.hidden // config.heads
        self.query = nn.Linear(config.hidden, config.hidden)
        self.key = nn.Linear(config.hidden, config.hidden)
        self.value = nn.Linear(config.hidden, config.hidden)
        self.attention_output = nn.Linear(config.hidden, config.hidden)
        self.attention_norm = nn.LayerNorm(config.hidden, eps=1e-12)
        self.intermediate = nn.Linear(config.hidden, config.intermediate)
        self.output = nn.Linear(config.intermediate, config.hidden)
        self.output_norm = nn.LayerNorm(config.hidden, eps=1e-12)

    def _heads(self, x: Tensor) -> Tensor:
        batch, seq, _ = x.shape
        return x.reshape(batch, seq, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x: Tensor, mask_bias: Tensor) -> Tensor:
        batch, seq, hidden = x.shape
        q, k, v = self._heads(self.query(x)), self._heads(self.key(x)), self._heads(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim) + mask_bias
        context = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(batch, seq, hidden)
        x = self.attention_norm(x + self.attention_output(context))
        mlp = self.output(nn.functional.gelu(self.intermediate(x)))
        y: Tensor = self.output_norm(x + mlp)
        return y


class BertClassifier(nn.Module):
    """Word + position + token-type embeddings, encoder layers, [CLS] pooler, linear head.

    There is no ``token_type_ids`` input: every token is of type 0, as in a one-segment
    classifier; the type embeddings are kept so the parameters are BERT-base's.
    """

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden, padding_idx=0)
        self.position_embeddings = nn.Embedding(config.max_positions, config.hidden)
        self.token_type_embeddings = nn.Embedding(config.type_vocab, config.hidden)
        self.embedding_norm = nn.LayerNorm(config.hidden, eps=1e-12)
        self.layers = nn.ModuleList([EncoderLayer(config) for _ in range(config.layers)])
        self.pooler = nn.Linear(config.hidden, config.hidden)
        self.classifier = nn.Linear(config.hidden, config.labels)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        # BERT's initialisation: normal(0, 0.02) weights, zero biases, unit LayerNorm.
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x: Tensor = (
            self.word_embeddings(input_ids)
            + self.position_embeddings(positions)
            + self.token_type_embeddings.weight[0]
        )
        x = self.embedding_norm(x)
        # 0 where a token may be attended to, a large negative number on padding (it fits
        # float16 too: the half-precision export uses the same graph).
        mask_bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -10000.0
        for layer in self.layers:
            x = layer(x, mask_bias)
        pooled = torch.tanh(self.pooler(x[:, 0]))
        logits: Tensor = self.classifier(pooled)
        return logits


def build_model(config: Config, seed: int) -> BertClassifier:
    """The model with its random weights: the same seed gives the same weights."""
    torch.manual_seed(seed)
    model = BertClassifier(config)
    model.eval()  # returns the module, typed Any when torch's stubs are absent (CI)
    return model


def parameter_count(model: nn.Module) -> int:
    return sum(int(p.numel()) for p in model.parameters())


# --------------------------------------------------------------------------- export


def to_onnx(model: BertClassifier, config: Config, *, opset: int = OPSET) -> onnx.ModelProto:
    """Export with dynamic ``batch`` and ``sequence`` axes; the proto holds the weights.

    A model in half precision (``model.half()``) exports the same way: its weights and its
    ``logits`` are float16, its inputs stay int64.
    """
    # An example of 2 rows of 8 tokens: torch.export specialises dimensions of size 0 or 1.
    example = (
        torch.ones((2, 8), dtype=torch.int64),
        torch.ones((2, 8), dtype=torch.int64),
    )
    proto = export_classifier(model, example, max_len=config.max_positions, opset=opset)
    proto.graph.name = "bert-base-classifier"
    proto.doc_string = (
        "BERT-base-shaped classifier with random weights (scripts/build_bert_base.py)"
    )
    entry = proto.metadata_props.add()
    entry.key, entry.value = "labels", ",".join(LABELS[: config.labels])
    return proto


def save(proto: onnx.ModelProto, path: Path, *, external: bool) -> list[Path]:
    """Write the model (and with ``external``, ``model.onnx.data`` beside it); the files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not external:
        path.write_bytes(proto.SerializeToString(deterministic=True))
        return [path]
    data = path.parent / DATA_FILE
    data.unlink(missing_ok=True)  # onnx appends to an existing data file
    onnx.save_model(
        proto,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=DATA_FILE,  # relative to the model: modelreg refuses anything else
        size_threshold=1024,
    )
    return [path, data]


# ---------------------------------------------------------------------------- data


def evaluation_arrays(config: Config, rows: int, seq_len: int, seed: int) -> dict[str, IntArray]:
    """``input_ids``, ``attention_mask`` and ``labels``, as ``modelreg add --eval`` reads them.

    Each row is a [CLS]-like token 1, random token ids and a random length of at least a
    quarter of ``seq_len``, padded with 0 (masked). Labels are random classes.
    """
    rng = np.random.default_rng(seed)
    ids = rng.integers(2, config.vocab_size, size=(rows, seq_len), dtype=np.int64)
    ids[:, 0] = 1
    lengths = rng.integers(max(2, seq_len // 4), seq_len + 1, size=rows)
    mask = (np.arange(seq_len)[None, :] < lengths[:, None]).astype(np.int64)
    ids = ids * mask
    labels = rng.integers(0, config.labels, size=rows, dtype=np.int64)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def npz_bytes(arrays: dict[str, IntArray]) -> bytes:
    """Like ``np.savez`` but byte-reproducible: fixed member timestamps and modes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def onnx_logits(path: Path, arrays: dict[str, IntArray]) -> npt.NDArray[np.float32]:
    """The model's logits in an onnxruntime CPU session (external data resolved by path)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {"input_ids": arrays["input_ids"], "attention_mask": arrays["attention_mask"]}
    logits: npt.NDArray[np.float32] = session.run(["logits"], feeds)[0]
    return logits


# ---------------------------------------------------------------------------- main


def make_deterministic() -> None:
    torch.set_num_threads(1)
    with contextlib.suppress(RuntimeError):  # already set if torch did parallel work
        torch.set_num_interop_threads(1)
    torch.use_deterministic_algorithms(True)


def add_command(out: Path, sample: int) -> str:
    """The ``modelreg add`` command for the built files (run it in a registry)."""
    return (
        f"modelreg add bert-base 1.0.0 --onnx {out / 'model.onnx'} --eval {out / 'eval.npz'} "
        f"--sample {sample} --labels {','.join(LABELS)} --title 'BERT-base-shaped classifier' "
        "--description 'Random weights: a transformer-size artifact, not a useful model.' "
        "--dataset-name none --dataset-version 1 --dataset-samples 1 "
        "--dataset-description 'Not trained: random weights from a fixed seed' "
        "--summary 'BERT-base shape, random weights' --change 'First version'"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__,
        epilog="examples:\n"
        "  python scripts/build_bert_base.py                  # BERT-base into "
        f"{DEFAULT_OUT}\n"
        "  python scripts/build_bert_base.py /tmp/bb --rows 64 --seq-len 128\n"
        "  python scripts/build_bert_base.py /tmp/tiny --size tiny   # the same graph, toy size\n"
        "then, in a registry (modelreg init DIR), the `modelreg add` command it prints.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "out",
        nargs="?",
        type=Path,
        default=DEFAULT_OUT,
        help=f"output directory, created if needed (default: {DEFAULT_OUT})",
    )
    parser.add_argument(
        "--size",
        choices=sorted(SIZES),
        default="base",
        help="base: BERT-base, ~110 M parameters (default); tiny: 2 layers, hidden 16",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    parser.add_argument(
        "--rows", type=int, default=32, help="evaluation rows in eval.npz (default 32)"
    )
    parser.add_argument(
        "--seq-len",
        type=int,
        default=None,
        help="evaluation sequence length (default 64, at most the model's positions)",
    )
    parser.add_argument(
        "--sample",
        type=int,
        default=2,
        help="golden vector rows for the printed `modelreg add` command (default 2)",
    )
    args = parser.parse_args(argv)
    config = SIZES[args.size]
    if args.seq_len is None:
        args.seq_len = min(64, config.max_positions)
    if args.rows < 1 or args.sample < 1 or args.sample > args.rows:
        parser.error("--rows must be at least 1 and --sample between 1 and --rows")
    if not 2 <= args.seq_len <= config.max_positions:
        parser.error(f"--seq-len must be between 2 and {config.max_positions}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out: Path = args.out
    config = SIZES[args.size]
    started = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    make_deterministic()
    model = build_model(config, args.seed)
    log(f"{args.size}: {parameter_count(model):,} parameters, seed {args.seed}")
    log(f"exporting to ONNX (opset {OPSET}, dynamic batch and sequence)")
    proto = to_onnx(model, config)
    arrays = evaluation_arrays(config, args.rows, args.seq_len, args.seed)
    try:
        files = save(proto, out / "model.onnx", external=True)
        (out / "eval.npz").write_bytes(npz_bytes(arrays))
    except OSError as exc:
        print(f"build_bert_base: cannot write to {out}: {exc}", file=sys.stderr)
        return 1
    files.append(out / "eval.npz")
    del proto

    log(f"checking onnxruntime against torch on {args.rows} rows of {args.seq_len} tokens")
    with torch.no_grad():
        expected = model(
            torch.from_numpy(arrays["input_ids"]), torch.from_numpy(arrays["attention_mask"])
        ).numpy()
    got = onnx_logits(out / "model.onnx", arrays)
    diff = float(np.abs(got - expected).max())
    if diff > 1e-3:
        raise SystemExit(f"onnxruntime and torch logits differ by {diff}")
    log(f"max |onnxruntime - torch| logit difference {diff:.1e}")

    print(f"wrote {out} in {time.monotonic() - started:.0f} s:", file=sys.stderr)
    for path in files:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        size = path.stat().st_size
        print(f"  {path.name:18} {size:>11,} bytes  sha256 {digest.hexdigest()}", file=sys.stderr)
    print(add_command(out, args.sample))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
