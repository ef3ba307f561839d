"""``modelreg add``: create a version directory whose every number modelreg measured."""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelreg.errors import ModelregError, UsageError
from modelreg.hashing import sha256_file
from modelreg.isolate import ChildResult, run_child
from modelreg.registry import (
    MODEL_FILE,
    SEMVER_RE,
    SHARED_DATA_DIR,
    ModelEntry,
    Registry,
    discover,
    find_root,
)

ORDER = 30  # place in `modelreg --help`

HELP = "add a model version from an ONNX file, with measured facts"
DESCRIPTION = """\
Create models/MODEL/VERSION/ from an ONNX file: copy the artifact, read its signature
(the same facts `modelreg inspect` prints), copy the evaluation data into the model's shared
data/ directory, measure accuracy and F1 on it, write golden vectors from its first rows,
write metadata.yaml, and list the version as `candidate` in model.yaml's lifecycle.

Fields that need a human (summary, changes, migration) come from flags; without them they
say TODO, which `modelreg validate` reports (MR508) until someone writes them.

The version directory appears at once or not at all: it is assembled in a temporary
directory beside it and renamed into place.
"""
EPILOG = """\
examples:
  modelreg add bert-classifier 1.2.0 --onnx build/model.onnx --eval build/eval.npz \\
      --dataset-name sentiment-analysis --dataset-version 1.2 --dataset-samples 9000 \\
      --summary "Longer context" --change "Sequence length 64"
  modelreg add bert-classifier 1.2.0 --onnx model.onnx --eval eval.npz ... -n   # dry run
"""


@dataclass(frozen=True)
class Request:
    """A parsed ``add`` invocation."""

    model: str
    version: str
    onnx: Path
    eval: Path
    output: str | None
    f1_average: str
    sample: int
    date: str
    summary: str
    changes: tuple[str, ...]
    migration: str | None
    dataset: dict[str, Any]
    dry_run: bool
    root: Path | None


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``add``."""
    p = subparsers.add_parser(
        "add",
        help=HELP,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="model name (models/MODEL/model.yaml must exist)")
    p.add_argument("version", help="new semantic version, e.g. 1.2.0")
    p.add_argument("--onnx", type=Path, required=True, help="the ONNX file (single file)")
    p.add_argument(
        "--eval",
        type=Path,
        required=True,
        help=".npz with one array per model input and an int `labels` array",
    )
    p.add_argument("--output-name", help="output to score (default: the first output)")
    p.add_argument(
        "--f1-average",
        choices=("binary", "macro", "micro", "weighted"),
        default=None,
        help="F1 averaging (default: binary for two labels, else macro)",
    )
    p.add_argument("--sample", type=int, default=8, help="golden vector rows (default 8)")
    p.add_argument("--date", default=None, help="release date YYYY-MM-DD (default today)")
    p.add_argument("--summary", default="TODO: one line about this version")
    p.add_argument("--change", action="append", default=[], help="a change (repeatable)")
    p.add_argument("--migration", default=None, help="how to move from the previous version")
    p.add_argument("--dataset-name", required=True, help="training data set name")
    p.add_argument("--dataset-version", required=True, help="training data set version")
    p.add_argument("--dataset-samples", type=int, required=True, help="training samples")
    p.add_argument("--dataset-description", default=None, help="what the data is")
    p.add_argument("-n", "--dry-run", action="store_true", help="print, write nothing")
    p.add_argument("--root", type=Path, help="registry root (default: found from cwd)")
    p.set_defaults(handler=from_args)


def from_args(args: argparse.Namespace) -> int:
    """Build the request and run it."""
    dataset: dict[str, Any] = {
        "name": args.dataset_name,
        "version": args.dataset_version,
        "samples": args.dataset_samples,
    }
    if args.dataset_description:
        dataset["description"] = args.dataset_description
    return execute(
        Request(
            model=args.model,
            version=args.version,
            onnx=args.onnx,
            eval=args.eval,
            output=args.output_name,
            f1_average=args.f1_average or "",
            sample=args.sample,
            date=args.date or dt.date.today().isoformat(),
            summary=args.summary,
            changes=tuple(args.change) or ("TODO: what changed",),
            migration=args.migration,
            dataset=dataset,
            dry_run=args.dry_run,
            root=args.root,
        )
    )


def _child(task: str, path: Path, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    result: ChildResult = run_child(task, path, spec=spec)
    if result.died:
        raise ModelregError(f"{path}: {task} died: {result.died}")
    if result.error is not None or result.data is None:
        raise ModelregError(str(result.error))
    if "error" in result.data:
        raise ModelregError(str(result.data["error"]))
    return result.data


def _preflight(request: Request) -> tuple[Registry, ModelEntry, Path, list[str]]:
    """Refuse bad requests before measuring anything."""
    if not SEMVER_RE.match(request.version):
        raise UsageError(f"version `{request.version}` is not a semantic version (e.g. 1.2.0)")
    try:
        dt.date.fromisoformat(request.date)
    except ValueError:
        raise UsageError(f"--date `{request.date}` is not YYYY-MM-DD") from None
    for path in (request.onnx, request.eval):
        if not path.is_file():
            raise UsageError(f"{path}: no such file")
    registry = discover(find_root(request.root or Path.cwd()))
    model = registry.models.get(request.model)
    if model is None or not model.model_path.is_file():
        raise ModelregError(
            f"models/{request.model}/{MODEL_FILE} does not exist: write the model card first"
        )
    target = model.dir / request.version
    if target.exists():
        raise ModelregError(
            f"{registry.rel(target)} already exists; released versions are immutable, "
            "add a new version instead"
        )
    model_data = registry.model_data(model)
    if model_data is None or not isinstance(model_data.get("labels"), list):
        raise ModelregError(f"{registry.rel(model.model_path)} is not valid; run validate")
    labels: list[str] = model_data["labels"]
    return registry, model, target, labels


def execute(request: Request) -> int:
    """Measure, assemble in a temporary directory, rename into place, update model.yaml."""
    registry, model, target, labels = _preflight(request)
    facts = _child("inspect", request.onnx.resolve())
    if facts.get("checker"):
        raise ModelregError(f"{request.onnx}: onnx.checker rejects it: {facts['checker']}")
    onnx_facts = facts["facts"]["onnx"]
    if facts["facts"]["artifact"].get("external_data"):
        raise ModelregError("models with external data are not supported by `add` yet")
    output = request.output or onnx_facts["outputs"][0]["name"]
    average = request.f1_average or ("binary" if len(labels) == 2 else "macro")
    positive = len(labels) - 1
    eval_sha, _ = sha256_file(request.eval)
    eval_name = request.eval.name
    shared = model.dir / SHARED_DATA_DIR / eval_name
    if shared.exists() and sha256_file(shared)[0] != eval_sha:
        raise ModelregError(
            f"{registry.rel(shared)} exists with other content; evaluation files are "
            "content-addressed by name: rename yours"
        )
    scores = _child(
        "evaluate",
        request.onnx.resolve(),
        {
            "data": str(request.eval.resolve()),
            "output": output,
            "classes": len(labels),
            "average": average,
            "positive": positive,
        },
    )
    artifact_sha, artifact_size = sha256_file(request.onnx)
    metadata: dict[str, Any] = {
        "model": request.model,
        "version": request.version,
        "release_date": request.date,
        "summary": request.summary,
        "changes": list(request.changes),
    }
    if request.migration:
        metadata["migration"] = request.migration
    metadata["artifact"] = {"path": "model.onnx", "sha256": artifact_sha, "size": artifact_size}
    metadata["onnx"] = onnx_facts
    metadata["training"] = {"dataset": request.dataset}
    metadata["evaluation"] = {
        "data": {
            "path": f"../{SHARED_DATA_DIR}/{eval_name}",
            "sha256": eval_sha,
            "samples": scores["samples"],
        },
        "output": output,
        "metrics": {
            "accuracy": round(scores["accuracy"], 6),
            "f1": {"value": round(scores["f1"], 6), "average": average},
        },
    }
    metadata["test_vectors"] = [{"path": "test_data_set_0", "rtol": 1e-4, "atol": 1e-5}]
    from modelreg.onnxfacts import dump_yaml

    text = (
        "# yaml-language-server: $schema=../../../schemas/metadata.schema.json\n"
        "# Written by `modelreg add`; every number below was measured by modelreg.\n"
        + dump_yaml(metadata)
    )
    if request.dry_run:
        sys.stdout.write(text)
        sys.stderr.write(f"modelreg: dry run: would create {registry.rel(target)}/\n")
        return 0
    _write(request, model.dir, target, text, shared)
    sys.stderr.write(
        f"modelreg: added {registry.rel(target)}/ as candidate: accuracy "
        f"{scores['accuracy']:.4f}, F1 ({average}) {scores['f1']:.4f} on {scores['samples']} "
        "samples\n"
    )
    return 0


def _write(request: Request, model_dir: Path, target: Path, text: str, shared: Path) -> None:
    """Assemble the version beside its final place, then rename it in one step."""
    staging = Path(tempfile.mkdtemp(prefix=f".add-{request.version}-", dir=model_dir))
    try:
        shutil.copyfile(request.onnx, staging / "model.onnx")
        _child(
            "golden",
            (staging / "model.onnx").resolve(),
            {"data": str(request.eval.resolve()), "out": str(staging), "rows": request.sample},
        )
        (staging / "metadata.yaml").write_text(text, encoding="utf-8")
        if not shared.exists():
            shared.parent.mkdir(exist_ok=True)
            tmp = shared.with_name(f".{shared.name}.tmp")
            shutil.copyfile(request.eval, tmp)
            tmp.replace(shared)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _add_to_lifecycle(model_dir / MODEL_FILE, request.version)


def _add_to_lifecycle(model_yaml: Path, version: str) -> None:
    """Append ``version: {status: candidate}`` under ``lifecycle:``, keeping comments."""
    lines = model_yaml.read_text(encoding="utf-8").splitlines(keepends=True)
    if any(line.strip() in (f"{version}:", f'"{version}":') for line in lines):
        return  # already listed (e.g. a re-added version whose card came first)
    try:
        start = next(i for i, line in enumerate(lines) if line.rstrip() == "lifecycle:")
    except StopIteration:
        raise ModelregError(f"{model_yaml}: no top-level `lifecycle:` block to add to") from None
    end = start + 1
    while end < len(lines) and (lines[end].startswith((" ", "\t")) or not lines[end].strip()):
        end += 1
    entry = [f"  {version}:\n", "    status: candidate\n"]
    new = lines[:end] + entry + lines[end:]
    tmp = model_yaml.with_name(f".{model_yaml.name}.tmp")
    tmp.write_text("".join(new), encoding="utf-8")
    tmp.replace(model_yaml)
