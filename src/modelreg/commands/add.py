"""``modelreg add``: create a version directory whose every number modelreg measured."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelreg.errors import ModelregError, UsageError
from modelreg.hashing import sha256_file
from modelreg.isolate import ChildResult, run_child
from modelreg.measure import LatencyTarget, golden_inputs, latency
from modelreg.registry import (
    MODEL_FILE,
    SEMVER_RE,
    SHARED_DATA_DIR,
    ModelEntry,
    Registry,
    VersionEntry,
    discover,
    find_root,
)
from modelreg.storage import model_lock, registry_lock, replace_all, write_temp

ORDER = 30  # place in `modelreg --help`

HELP = "add a model version from an ONNX file, with measured facts"
DESCRIPTION = """\
Create models/MODEL/VERSION/ from an ONNX file: copy the artifact, read its signature
(the same facts `modelreg inspect` prints), copy the evaluation data into the model's shared
data/ directory, measure accuracy and F1 on it, write golden vectors from its first rows,
write metadata.yaml, and list the version as `candidate` in model.yaml's lifecycle.

Latency is measured as `modelreg bench` does (pinned session, warm-up, --runs timed runs,
nearest-rank percentiles) and stored with this machine's fingerprint.

--from PREV takes what rarely changes between versions from PREV's metadata: the training
data set, the evaluation file, the scored output, the F1 averaging and the golden-vector
tolerances; flags override it. Fields that need a human (summary, changes, migration) come
from flags; without them they say TODO, which `modelreg validate` reports (MR508) until
someone writes them.

An ONNX file with external data brings its data files along (same relative locations); they
are hashed into `artifact.external_data`. Only one `add` per model runs at a time (an OS
lock in the git directory, released by the kernel when its holder ends, however it ends).

The version directory appears at once or not at all: it is assembled in a temporary
directory beside it and renamed into place.
"""
EPILOG = """\
examples:
  modelreg add bert-classifier 1.2.0 --onnx build/model.onnx --eval build/eval.npz \\
      --dataset-name sentiment-analysis --dataset-version 1.2 --dataset-samples 9000 \\
      --summary "Longer context" --change "Sequence length 64"
  modelreg add bert-classifier 1.2.0 --onnx build/model.onnx --from 1.1.0 \
      --summary "Longer context" --change "Sequence length 64"
  modelreg add bert-classifier 1.2.0 --onnx model.onnx --from 1.1.0 -n   # dry run
"""


@dataclass(frozen=True)
class Request:
    """A parsed ``add`` invocation (``None``: take it from ``--from``, or the default)."""

    model: str
    version: str
    onnx: Path
    eval: Path | None
    output: str | None
    f1_average: str | None
    sample: int
    runs: int
    date: str
    summary: str | None
    changes: tuple[str, ...]
    migration: str | None
    dataset: dict[str, Any]
    previous: str | None
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
    p.add_argument("--onnx", type=Path, required=True, help="the ONNX file (and its data files)")
    p.add_argument(
        "--eval",
        type=Path,
        help=".npz with one array per model input and an int `labels` array "
        "(default with --from: PREV's evaluation file)",
    )
    p.add_argument(
        "--from",
        dest="previous",
        metavar="PREV",
        help="take data set, evaluation file, output, F1 averaging and tolerances from PREV",
    )
    p.add_argument("--output-name", help="output to score (default: PREV's, else the first)")
    p.add_argument(
        "--f1-average",
        choices=("binary", "macro", "micro", "weighted"),
        default=None,
        help="F1 averaging (default: PREV's, else binary for two labels, else macro)",
    )
    p.add_argument("--sample", type=int, default=8, help="golden vector rows (default 8)")
    p.add_argument(
        "--runs",
        type=int,
        default=1000,
        help="timed runs for the stored latency (default 1000; 0 stores no latency)",
    )
    p.add_argument("--date", default=None, help="release date YYYY-MM-DD (default today)")
    p.add_argument("--summary", default=None, help="one line about this version")
    p.add_argument("--change", action="append", default=[], help="a change (repeatable)")
    p.add_argument("--migration", default=None, help="how to move from the previous version")
    p.add_argument("--dataset-name", help="training data set name (required without --from)")
    p.add_argument("--dataset-version", help="training data set version (idem)")
    p.add_argument("--dataset-samples", type=int, help="training samples (idem)")
    p.add_argument("--dataset-description", default=None, help="what the data is")
    p.add_argument("-n", "--dry-run", action="store_true", help="print, write nothing")
    p.add_argument("--root", type=Path, help="registry root (default: found from cwd)")
    p.set_defaults(handler=from_args)


def from_args(args: argparse.Namespace) -> int:
    """Build the request and run it."""
    dataset = {
        "name": args.dataset_name,
        "version": args.dataset_version,
        "samples": args.dataset_samples,
        "description": args.dataset_description,
    }
    return execute(
        Request(
            model=args.model,
            version=args.version,
            onnx=args.onnx,
            eval=args.eval,
            output=args.output_name,
            f1_average=args.f1_average,
            sample=args.sample,
            runs=args.runs,
            date=args.date or dt.date.today().isoformat(),
            summary=args.summary,
            changes=tuple(args.change),
            migration=args.migration,
            dataset={k: v for k, v in dataset.items() if v is not None},
            previous=args.previous,
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


@dataclass(frozen=True)
class Plan:
    """What ``add`` will write, resolved from flags, ``--from`` and defaults."""

    registry: Registry
    model: ModelEntry
    target: Path
    labels: list[str]
    previous: dict[str, Any] | None
    eval: Path


def _preflight(request: Request) -> Plan:
    """Refuse bad requests before measuring anything."""
    if not SEMVER_RE.match(request.version):
        raise UsageError(f"version `{request.version}` is not a semantic version (e.g. 1.2.0)")
    try:
        dt.date.fromisoformat(request.date)
    except ValueError:
        raise UsageError(f"--date `{request.date}` is not YYYY-MM-DD") from None
    if request.sample < 1 or request.runs < 0:
        raise UsageError("--sample must be at least 1 and --runs at least 0")
    if not request.onnx.is_file():
        raise UsageError(f"{request.onnx}: no such file")
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
    previous = None
    if request.previous is not None:
        entry = registry.version_at(f"{request.model}@{request.previous}")
        previous = registry.metadata(entry)
        if previous is None or "evaluation" not in previous or "training" not in previous:
            raise ModelregError(
                f"{registry.rel(entry.metadata_path)} is missing or incomplete; --from needs a "
                "valid version (run `modelreg validate`)"
            )
    eval_path = request.eval
    if eval_path is None:
        if previous is None:
            raise UsageError("--eval is required (or --from PREV to reuse PREV's evaluation file)")
        assert request.previous is not None
        eval_path = Path(
            os.path.normpath(model.dir / request.previous / previous["evaluation"]["data"]["path"])
        )
    if not eval_path.is_file():
        raise UsageError(f"{eval_path}: no such file")
    missing = [
        f"--dataset-{key}"
        for key in ("name", "version", "samples")
        if key not in request.dataset and previous is None
    ]
    if missing:
        raise UsageError(f"{', '.join(missing)} required (or --from PREV to reuse PREV's)")
    return Plan(registry, model, target, list(model_data["labels"]), previous, eval_path)


def execute(request: Request) -> int:
    """Measure, assemble in a staging directory, rename into place, update model.yaml."""
    plan = _preflight(request)
    with _model_lock(plan.registry.root, plan.model.name, dry_run=request.dry_run):
        return _execute(request, plan)


def _execute(request: Request, plan: Plan) -> int:
    registry, model, target, labels, prev = (
        plan.registry, plan.model, plan.target, plan.labels, plan.previous
    )  # fmt: skip
    if target.exists():  # checked again under the lock: another add may have just made it
        raise ModelregError(f"{registry.rel(target)} already exists")
    facts = _child("inspect", request.onnx.resolve())
    if facts.get("checker"):
        raise ModelregError(f"{request.onnx}: onnx.checker rejects it: {facts['checker']}")
    onnx_facts = facts["facts"]["onnx"]
    external: list[dict[str, Any]] = facts["facts"]["artifact"].get("external_data") or []
    output_names = [o["name"] for o in onnx_facts["outputs"]]
    prev_eval = (prev or {}).get("evaluation") or {}
    output = request.output or prev_eval.get("output") or output_names[0]
    if output not in output_names:
        raise UsageError(f"output `{output}` is not an output of {request.onnx} ({output_names})")
    prev_f1 = (prev_eval.get("metrics") or {}).get("f1") or {}
    average = (
        request.f1_average or prev_f1.get("average") or ("binary" if len(labels) == 2 else "macro")
    )
    positive = len(labels) - 1
    eval_sha, _ = sha256_file(plan.eval)
    eval_name = plan.eval.name
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
            "data": str(plan.eval.resolve()),
            "output": output,
            "classes": len(labels),
            "average": average,
            "positive": positive,
        },
    )
    metadata = _metadata(
        request,
        plan,
        onnx_facts=onnx_facts,
        external=external,
        scores=scores,
        output=output,
        average=average,
        eval_sha=eval_sha,
    )
    parent = Path(tempfile.gettempdir()) if request.dry_run else model.dir
    staging = Path(tempfile.mkdtemp(prefix=f".add-{request.version}-", dir=parent))
    try:
        text = _assemble(request, plan, staging, metadata, external)
        if request.dry_run:
            sys.stdout.write(text)
            sys.stderr.write(f"modelreg: dry run: would create {registry.rel(target)}/\n")
            return 0
        overlay = _commit(
            registry, model, request.version, staging, eval_file=plan.eval, shared=shared
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    latency_note = ""
    if "latency" in metadata["evaluation"]:
        latency_note = f", p99 {metadata['evaluation']['latency']['p99_ms']} ms"
    sys.stderr.write(
        f"modelreg: added {registry.rel(target)}/ as candidate: accuracy "
        f"{scores['accuracy']:.4f}, F1 ({average}) {scores['f1']:.4f} on {scores['samples']} "
        f"samples{latency_note}\n"
    )
    if overlay:
        where = registry.rel(overlay[1])
        sys.stderr.write(f"modelreg: wrote {where}/ (deploy it with `modelreg promote`)\n")
    return 0


def _commit(
    registry: Registry,
    model: ModelEntry,
    version: str,
    staging: Path,
    *,
    eval_file: Path,
    shared: Path,
) -> tuple[Path, Path] | None:
    """Put the staged version in place with its lifecycle entry, overlay and evaluation file.

    One change under the registry lock: all appear together or (killed before the journal's
    commit) none does; see :mod:`modelreg.storage`. Returns the overlay's move, if any.
    """
    with registry_lock(registry.root, "modelreg add"):
        moves: dict[Path, Path] = {}
        if not shared.exists():
            moves[write_temp(shared, eval_file.read_bytes())] = shared
        lifecycle = _with_lifecycle_entry(model.dir / MODEL_FILE, version)
        if lifecycle is not None:
            moves[write_temp(model.dir / MODEL_FILE, lifecycle)] = model.dir / MODEL_FILE
        overlay = _stage_overlay(registry.root, model.name, version, staging)
        if overlay is not None:
            moves[overlay[0]] = overlay[1]
        moves[staging] = model.dir / version
        replace_all(registry.root, moves)
    return overlay


def _stage_overlay(root: Path, model: str, version: str, staging: Path) -> tuple[Path, Path] | None:
    """(assembled directory, final directory) of the version's overlay, generated from the
    staged version, in a registry that deploys with overlays (has overlays/base)."""
    from modelreg.gitops import BASE_DIR, OVERLAYS_DIR
    from modelreg.gitops import overlays as gitops_overlays

    if not (root / OVERLAYS_DIR / BASE_DIR).is_dir():
        return None
    registry = discover(root)
    entry = registry.models[model]
    entry.versions[version] = VersionEntry(entry, version, staging)
    staged, final = registry.rel(staging), registry.rel(entry.dir / version)
    files = {
        name: text.replace(staged, final)  # the header names the version's final place
        for name, text in gitops_overlays.version_overlay_files(registry, model, version).items()
    }
    directory = gitops_overlays.version_overlay_dir(root, model, version)
    directory.parent.mkdir(parents=True, exist_ok=True)
    if directory.exists():  # left over from a version of that name that was removed
        shutil.rmtree(directory)
    assembled = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    for name, text in files.items():
        write_temp(assembled / name, text).replace(assembled / name)
    return assembled, directory


def _metadata(
    request: Request,
    plan: Plan,
    *,
    onnx_facts: dict[str, Any],
    external: list[dict[str, Any]],
    scores: dict[str, Any],
    output: str,
    average: str,
    eval_sha: str,
) -> dict[str, Any]:
    """metadata.yaml's content, in the schema's order, without latency (measured later)."""
    prev = plan.previous
    eval_name = plan.eval.name
    artifact_sha, artifact_size = sha256_file(request.onnx)
    dataset = {**((prev or {}).get("training") or {}).get("dataset", {}), **request.dataset}
    vectors = dict(((prev or {}).get("test_vectors") or [{}])[0])
    vectors.update(path="test_data_set_0")
    vectors.setdefault("rtol", 1e-4)
    vectors.setdefault("atol", 1e-5)
    todo_migration = f"TODO: how to move from v{request.previous}" if request.previous else None
    metadata: dict[str, Any] = {
        "model": request.model,
        "version": request.version,
        "release_date": request.date,
        "summary": request.summary or "TODO: one line about this version",
        "changes": list(request.changes) or ["TODO: what changed"],
    }
    if request.migration or todo_migration:
        metadata["migration"] = request.migration or todo_migration
    artifact: dict[str, Any] = {"path": "model.onnx", "sha256": artifact_sha, "size": artifact_size}
    if external:
        artifact["external_data"] = external
    metadata["artifact"] = artifact
    metadata["onnx"] = onnx_facts
    metadata["training"] = {"dataset": dataset}
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
    metadata["test_vectors"] = [vectors]
    return metadata


def _assemble(
    request: Request,
    plan: Plan,
    staging: Path,
    metadata: dict[str, Any],
    external: list[dict[str, Any]],
) -> str:
    """Fill the staging directory: artifact, data files, golden vectors, latency, metadata."""
    shutil.copyfile(request.onnx, staging / "model.onnx")
    for entry in external:
        source = request.onnx.parent / entry["path"]
        destination = staging / entry["path"]
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
        if sha256_file(destination)[0] != entry["sha256"]:
            raise ModelregError(f"{source} changed while it was being added; try again")
    _child(
        "golden",
        (staging / "model.onnx").resolve(),
        {"data": str(plan.eval.resolve()), "out": str(staging), "rows": request.sample},
    )
    if request.runs:
        target = LatencyTarget(
            request.version, staging / "model.onnx", golden_inputs(staging / "test_data_set_0")
        )
        env, (result,) = latency([target], request.runs)
        metadata["evaluation"]["latency"] = {**result, "environment": env}
    from modelreg.onnxfacts import dump_yaml

    text = (
        "# yaml-language-server: $schema=../../../schemas/metadata.schema.json\n"
        "# Written by `modelreg add`; every number below was measured by modelreg.\n"
        + dump_yaml(metadata)
    )
    (staging / "metadata.yaml").write_text(text, encoding="utf-8")
    return text


@contextmanager
def _model_lock(root: Path, model: str, *, dry_run: bool) -> Iterator[None]:
    """One ``add`` per model at a time (a dry run writes nothing and takes no lock)."""
    if dry_run:
        yield
        return
    with model_lock(root, model, f"modelreg add {model}"):
        yield


def _with_lifecycle_entry(model_yaml: Path, version: str) -> str | None:
    """model.yaml with ``version: {status: candidate}`` under ``lifecycle:``, comments kept.

    None when the version is listed already (e.g. a re-added version whose card came first).
    """
    lines = model_yaml.read_text(encoding="utf-8").splitlines(keepends=True)
    if any(line.strip() in (f"{version}:", f'"{version}":') for line in lines):
        return None
    try:
        start = next(i for i, line in enumerate(lines) if line.rstrip() == "lifecycle:")
    except StopIteration:
        raise ModelregError(f"{model_yaml}: no top-level `lifecycle:` block to add to") from None
    end = start + 1
    while end < len(lines) and (lines[end].startswith((" ", "\t")) or not lines[end].strip()):
        end += 1
    entry = [f"  {version}:\n", "    status: candidate\n"]
    return "".join(lines[:end] + entry + lines[end:])
