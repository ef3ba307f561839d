"""``modelreg add``: create a version directory whose every number modelreg measured."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelreg.commands._options import add_dry_run, add_root
from modelreg.config import Settings
from modelreg.errors import ModelregError, UsageError
from modelreg.gitops.lifecycle import add_entry
from modelreg.hashing import sha256_file
from modelreg.onnx.evaluation import REGRESSION_METRICS, class_count, one_column, one_column_output
from modelreg.onnx.isolate import ChildResult, run_child
from modelreg.onnx.measure import LatencyTarget, golden_inputs, latency
from modelreg.registry import (
    METADATA_FILE,
    MODEL_FILE,
    SEMVER_RE,
    SHARED_DATA_DIR,
    ModelEntry,
    Registry,
    VersionEntry,
    discover,
    find_root,
)
from modelreg.storage import (
    discard,
    model_lock,
    registry_lock,
    replace_all,
    staging_dir,
    temp_beside,
    write_temp,
)

ORDER = 30  # place in `modelreg --help`

_TODO = re.compile(r"\bTODO\b")  # as rule MR508 finds it

HELP = "add a model version from an ONNX file, with measured facts"
DESCRIPTION = """\
Create models/MODEL/VERSION/ from an ONNX file: copy the artifact, read its signature
(the same facts `modelreg inspect` prints), copy the evaluation data into the model's shared
data/ directory, measure accuracy and F1 on it (a regressor, whose evaluation `labels` are
float targets: MAE, RMSE and R²), write golden vectors from its first rows,
write metadata.yaml, and list the version as `candidate` in model.yaml's lifecycle.

A new model (no models/MODEL/model.yaml yet) gets its model card too, from --title,
--description, --task, --owner, --labels and --tag-prefix; a card field without its flag says
TODO (`modelreg validate` reports it, MR508, until someone writes it), the labels default to
one TODO per class of the scored output, the task to `other` (`tabular-regression` for a
regressor), the tag prefix to MODEL, the promotion gates to no accuracy or F1 drop over 0.5
points (a regressor gets none). A model whose versions are all
candidates needs no production version until one is promoted there.

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

The version directory (for a new model, the whole model directory) appears at once or not
at all: it is assembled in a temporary directory beside it and renamed into place; a failure
or Ctrl-C at any step leaves no file behind. Then, under the same registry lock, the pages
(`modelreg render`) and the version overlay (`modelreg overlays`) are brought up to date, so
the registry passes its own hooks: commit everything `git status` lists.

What validate would fail at once is refused, naming the fix, before anything is written: in a
registry that deploys with overlays, an input or output that is not a tensor (skl2onnx's
ZipMap: convert with `zipmap=False`) and a model whose IR version or opset the serving image
of overlays/base cannot load (MR629: export with the opset it names); labels that do not
count the scored output's classes (MR310); integer labels scored on a one-column output. What
each converter (skl2onnx, onnxmltools, torch.onnx) needs: docs/converters.md.
"""
EPILOG = """\
examples:
  modelreg add demo 1.0.0 --onnx model.onnx --eval eval.npz \\
      --title "Demo Classifier" --description "Sentiment of support tickets." \\
      --task text-classification --owner @acme/ml --labels negative,positive \\
      --dataset-name tickets --dataset-version 1 --dataset-samples 5000 \\
      --summary "First version" --change "Initial release"          # a new model
  modelreg add bert-classifier 1.2.0 --onnx build/model.onnx --eval build/eval.npz \\
      --dataset-name sentiment-analysis --dataset-version 1.2 --dataset-samples 9000 \\
      --summary "Longer context" --change "Sequence length 64"
  modelreg add bert-classifier 1.2.0 --onnx build/model.onnx --from 1.1.0 \\
      --summary "Longer context" --change "Sequence length 64"
  modelreg add bert-classifier 1.2.0 --onnx model.onnx --from 1.1.0 -n   # dry run
  modelreg add price 1.0.0 --onnx gbr.onnx --eval eval.npz --labels price \\
      --dataset-name sales --dataset-version 3 --dataset-samples 8000   # a regressor:
      # eval.npz's `labels` are float targets; add min_r2 or max_rmse_increase gates after
"""


#: The schema's pattern for a model name (schemas/model.schema.json, `$defs.name`).
MODEL_NAME_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?")
#: A new model's promotion gates: no drop in accuracy or F1 of more than 0.5 points.
DEFAULT_GATES = {"max_accuracy_drop": 0.005, "max_f1_drop": 0.005}
#: A new regressor's one label without --labels: what it predicts, for a human to name.
REGRESSION_LABEL = "TODO: the predicted quantity"
#: model.yaml's `task` vocabulary (the schema's enum).
TASKS = (
    "text-classification", "token-classification", "image-classification", "object-detection",
    "tabular-classification", "tabular-regression", "embedding", "other",
)  # fmt: skip


@dataclass(frozen=True)
class Card:
    """Model card fields for a new model, from flags (unset: a TODO placeholder or default)."""

    title: str | None = None
    description: str | None = None
    task: str | None = None
    owners: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    tag_prefix: str | None = None

    def flags(self) -> list[str]:
        """The card flags that were given (they apply to a new model only)."""
        given = {
            "--title": self.title,
            "--description": self.description,
            "--task": self.task,
            "--owner": self.owners,
            "--labels": self.labels,
            "--tag-prefix": self.tag_prefix,
        }
        return [flag for flag, value in given.items() if value not in (None, ())]


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
    card: Card = field(default_factory=Card)
    #: What the environment says (:mod:`modelreg.config`); None: read it when run.
    settings: Settings | None = None


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``add``."""
    p = subparsers.add_parser(
        "add",
        help=HELP,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="model name (a new one gets models/MODEL/model.yaml)")
    p.add_argument("version", help="new semantic version, e.g. 1.2.0")
    p.add_argument("--onnx", type=Path, required=True, help="the ONNX file (and its data files)")
    p.add_argument(
        "--eval",
        type=Path,
        help=".npz with one array per model input and a `labels` array: int class indices, "
        "or float targets for a regressor "
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
    card = p.add_argument_group("model card (a new model only; unset fields say TODO)")
    card.add_argument("--title", help="title shown on the registry page")
    card.add_argument("--description", help="one or two sentences: what it does, for whom")
    card.add_argument("--task", choices=TASKS, help="kind of prediction (default other)")
    card.add_argument(
        "--owner",
        dest="owners",
        action="append",
        default=[],
        help="reviewer: @user, @org/team or e-mail (repeatable)",
    )
    card.add_argument(
        "--labels",
        help="class labels in output index order, comma-separated (e.g. negative,positive); "
        "for a regressor, the quantity it predicts (e.g. price)",
    )
    card.add_argument("--tag-prefix", help="release tags are TAG_PREFIX-vVERSION (default MODEL)")
    add_dry_run(p, "print, write nothing")
    add_root(p)
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
            card=Card(
                title=args.title,
                description=args.description,
                task=args.task,
                owners=tuple(args.owners),
                labels=tuple(x.strip() for x in args.labels.split(",")) if args.labels else (),
                tag_prefix=args.tag_prefix,
            ),
            settings=args.settings,
        )
    )


def _child(
    task: str, path: Path, spec: dict[str, Any] | None = None, *, shown: Path | None = None
) -> dict[str, Any]:
    """Run ``task`` on ``path`` out of process; errors name ``shown`` (the user's file, not
    the copy in the staging directory)."""
    shown = shown or path
    result: ChildResult = run_child(task, path, spec=spec)
    if result.died:
        raise ModelregError(f"{shown}: {task} died: {result.died}")
    error = result.error if result.data is None else result.data.get("error", result.error)
    if error is not None or result.data is None:
        from modelreg.onnx.worker import LOAD_ERROR

        message = str(error)
        if message.startswith(LOAD_ERROR):
            reason = message.removeprefix(LOAD_ERROR)
            message = f"onnxruntime could not load {shown}: {reason}{_load_hint(reason)}"
        raise ModelregError(message)
    return result.data


def _load_hint(reason: str) -> str:
    """The converter option that avoids a known load failure, if ``reason`` is one."""
    if "StringNormalizer" in reason and "locale" in reason:
        return (
            "; the model's StringNormalizer names a locale this machine lacks (without a "
            "`locale` attribute, onnxruntime uses en_US.UTF-8; the serving image may lack it "
            "too): convert with a locale every machine has, e.g. skl2onnx's "
            "`options={TfidfVectorizer: {'locale': 'C.UTF-8'}}` (or CountVectorizer)"
        )
    return ""


def _refuse_non_tensors(onnx_facts: dict[str, Any], onnx_file: Path, root: Path) -> None:
    """In a registry that deploys with overlays (Triton), refuse inputs and outputs that are
    not tensors, naming the converter option; before this, such an add failed while writing
    the overlay, naming a staging path. A registry without overlays keeps them: golden
    vectors and metrics handle sequences and maps."""
    from modelreg.gitops import BASE_DIR, OVERLAYS_DIR

    if not (root / OVERLAYS_DIR / BASE_DIR).is_dir():
        return
    for side in ("inputs", "outputs"):
        for io in onnx_facts[side]:
            kind = io["type"]
            if "tensor" in kind:
                continue
            inner = kind.get("sequence")
            if side == "outputs" and isinstance(inner, dict) and "map" in inner:
                raise ModelregError(
                    f"{onnx_file}: output `{io['name']}` is a sequence of maps (skl2onnx's "
                    "ZipMap), which this registry cannot deploy: Triton's ONNX Runtime backend "
                    "serves tensors only; convert without ZipMap so the probabilities are a "
                    "[N, classes] tensor: "
                    "`to_onnx(model, X, options={id(model): {'zipmap': False}})` (or "
                    "`options={'zipmap': False}`; onnxmltools: `zipmap=False`)"
                )
            what = next(iter(kind))
            raise ModelregError(
                f"{onnx_file}: {side[:-1]} `{io['name']}` is a {what}, not a tensor, which "
                "this registry cannot deploy: Triton's ONNX Runtime backend serves tensors "
                "only; export it as a tensor"
            )


def _refuse_beyond_serving(onnx_facts: dict[str, Any], onnx_file: Path, root: Path) -> None:
    """Refuse a model the serving image of overlays/base cannot load (what validate reports
    as MR629, same messages), before anything is written: accepted, it was a version that
    validate and the pre-commit hook refused at once, with no command to take it back. An
    image of unknown onnxruntime is MR630's to report, not a reason to refuse here."""
    from modelreg.checks.serving import base_serving
    from modelreg.gitops.runtimes import excesses
    from modelreg.onnx.facts import DEFAULT_DOMAIN

    for serving in base_serving(root):
        if serving.runtime is None:
            continue
        found = excesses(onnx_facts, serving.runtime)
        if found:
            hint = ""
            producer = str((onnx_facts.get("producer") or {}).get("name", ""))
            if producer == "skl2onnx" and any(e.field[-1] == DEFAULT_DOMAIN for e in found):
                # MR629 names torch's parameter; skl2onnx's default is its newest opset.
                hint = f" (skl2onnx: `to_onnx(..., target_opset={serving.runtime.limits.opset})`)"
            raise ModelregError(
                f"{onnx_file}: {serving.name} in {serving.path}, which serves every version, "
                f"cannot load it (MR629): {'; '.join(e.message for e in found)}{hint}"
            )


@dataclass(frozen=True)
class Plan:
    """What ``add`` will write, resolved from flags, ``--from`` and defaults."""

    registry: Registry
    model: ModelEntry
    target: Path
    labels: list[str]  # empty for a new model without --labels: counted from the output
    previous: dict[str, Any] | None
    eval: Path
    new: bool = False  # no model.yaml yet: the whole model directory is written


def _preflight(request: Request) -> Plan:
    """Refuse bad requests before measuring anything."""
    _check_flags(request)
    registry = discover(find_root(request.root or Path.cwd()))
    model = registry.models.get(request.model)
    new = model is None or not os.path.lexists(model.model_path)
    if new:
        model = _new_model_entry(registry, request)
    assert model is not None
    target = model.dir / request.version
    if os.path.lexists(target):
        raise ModelregError(
            f"{registry.rel(target)} already exists; released versions are immutable, "
            "add a new version instead"
        )
    labels = list(request.card.labels) if new else _existing_labels(registry, model, request)
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
    return Plan(registry, model, target, labels, previous, eval_path, new=new)


def _check_flags(request: Request) -> None:
    """Refuse a version, date, sample or run count that is malformed, or no ONNX file."""
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


def _existing_labels(registry: Registry, model: ModelEntry, request: Request) -> list[str]:
    """The labels of an existing model's card; its card flags are refused (edit the card)."""
    if request.card.flags():
        raise UsageError(
            f"{', '.join(request.card.flags())}: only for a new model; "
            f"{registry.rel(model.model_path)} exists, edit it instead"
        )
    model_data = registry.model_data(model)
    if model_data is None or not isinstance(model_data.get("labels"), list):
        raise ModelregError(f"{registry.rel(model.model_path)} is not valid; run validate")
    return list(model_data["labels"])


def _new_model_entry(registry: Registry, request: Request) -> ModelEntry:
    """The (not yet existing) directory of a new model, after checking the card flags."""
    name, card = request.model, request.card
    if not MODEL_NAME_RE.fullmatch(name):
        raise UsageError(
            f"`{name}` is not a model name: lowercase letters, digits and dashes, at most "
            "40 characters, starting and ending with a letter or digit (e.g. bert-classifier)"
        )
    directory = registry.models_dir / name
    if os.path.lexists(directory):
        if directory.is_symlink() or not directory.is_dir():
            raise ModelregError(f"{registry.rel(directory)} is in the way (not a directory)")
        if any(directory.iterdir()):
            raise ModelregError(
                f"{registry.rel(directory)}/ has no {MODEL_FILE} but is not empty; write the "
                "model card there (or move the directory away) and add again"
            )
    if request.previous is not None:
        raise UsageError(f"--from: {name} is a new model, it has no version {request.previous}")
    _check_card(card_data(request, list(card.labels) or ["TODO"]))
    return ModelEntry(registry, name, directory)


def card_data(request: Request, labels: list[str], *, regression: bool = False) -> dict[str, Any]:
    """A new model's model.yaml content: flags, else TODO placeholders (MR508) or defaults.

    A regressor's default task is ``tabular-regression`` and it gets no default gates (the
    gates judge accuracy and F1, which a regressor does not claim).
    """
    card, name = request.card, request.model
    data = {
        "name": name,
        "title": f"TODO: a title for {name}" if card.title is None else card.title,
        "description": (
            "TODO: what the model does, for whom" if card.description is None else card.description
        ),
        "task": card.task or ("tabular-regression" if regression else "other"),
        "tag_prefix": name if card.tag_prefix is None else card.tag_prefix,
        "owners": list(card.owners) or ["@TODO"],
        "labels": labels,
        "lifecycle": {request.version: {"status": "candidate"}},
        # `modelreg promote --env production` refuses a card without gates; these judge every
        # later version against production (the first one has none to compare with).
        "gates": dict(DEFAULT_GATES),
    }
    if regression:
        del data["gates"]
    return data


def _check_card(data: dict[str, Any]) -> None:
    """Refuse card flags the schema would refuse, naming the flag (nothing is written yet)."""
    from modelreg.schemas import validator

    flags = {"title": "--title", "description": "--description", "task": "--task",
             "tag_prefix": "--tag-prefix", "owners": "--owner", "labels": "--labels"}  # fmt: skip
    for error in validator("model").iter_errors(data):
        key = str(error.absolute_path[0]) if error.absolute_path else ""
        raise UsageError(f"{flags.get(key, key or 'model card')}: {error.message}")


def _check_metadata(metadata: dict[str, Any]) -> None:
    """Refuse metadata the schema would refuse before anything is written (a value from a
    flag, e.g. ``--dataset-samples 0``, would otherwise fail only at the page render)."""
    from modelreg.schemas import validator

    for error in validator("metadata").iter_errors(metadata):
        where = ".".join(str(p) for p in error.absolute_path) or "metadata"
        flag = {"training.dataset.samples": "--dataset-samples",
                "training.dataset.name": "--dataset-name",
                "training.dataset.version": "--dataset-version"}.get(where)  # fmt: skip
        raise UsageError(f"{flag or where}: {error.message}; nothing was written")


def execute(request: Request) -> int:
    """Measure, assemble in a staging directory, rename into place, update model.yaml."""
    plan = _preflight(request)
    with _model_lock(plan.registry.root, plan.model.name, dry_run=request.dry_run):
        return _execute(request, plan)


def _execute(request: Request, plan: Plan) -> int:
    registry, model, target, prev = plan.registry, plan.model, plan.target, plan.previous
    if os.path.lexists(target):  # checked again under the lock: another add may have made it
        raise ModelregError(f"{registry.rel(target)} already exists")
    if plan.new and os.path.lexists(model.model_path):
        raise ModelregError(f"{registry.rel(model.model_path)} appeared meanwhile; add again")
    facts = _child("inspect", request.onnx.resolve(), shown=request.onnx)
    if facts.get("checker"):
        raise ModelregError(f"{request.onnx}: onnx.checker rejects it: {facts['checker']}")
    onnx_facts = facts["facts"]["onnx"]
    external: list[dict[str, Any]] = facts["facts"]["artifact"].get("external_data") or []
    _refuse_non_tensors(onnx_facts, request.onnx, registry.root)
    _refuse_beyond_serving(onnx_facts, request.onnx, registry.root)
    output_names = [o["name"] for o in onnx_facts["outputs"]]
    prev_eval = (prev or {}).get("evaluation") or {}
    output = request.output or prev_eval.get("output") or output_names[0]
    if output not in output_names:
        raise UsageError(f"output `{output}` is not an output of {request.onnx} ({output_names})")
    regression = _is_regressor(plan.eval)
    if not regression and one_column_output(onnx_facts["outputs"], output):
        raise ModelregError(f"{request.onnx}: {one_column(output)}")
    labels = plan.labels or (
        [REGRESSION_LABEL] if regression else _placeholder_labels(onnx_facts, output)
    )
    if not regression:
        _refuse_label_count(request, plan, onnx_facts, output, labels)
    card = card_data(request, labels, regression=regression) if plan.new else None
    if card is not None:
        _check_card(card)
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
    task: dict[str, Any] = (
        {"task": "regression"}
        if regression
        else {
            "task": "classification",
            "classes": len(labels),
            "average": average,
            "positive": positive,
        }
    )
    scores = _child(
        "evaluate",
        request.onnx.resolve(),
        {"data": str(plan.eval.resolve()), "output": output, **task},
        shown=request.onnx,
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
    _check_metadata(metadata)
    measured = Measured(metadata, scores, average, card, external)
    if request.dry_run:
        return _dry_run(request, plan, measured)
    regenerated = _write(request, plan, measured, shared)
    _report(request, plan, measured, regenerated)
    return 0


@dataclass(frozen=True)
class Measured:
    """What ``add`` measured and will write."""

    metadata: dict[str, Any]
    scores: dict[str, Any]
    average: str
    card: dict[str, Any] | None  # a new model's model.yaml
    external: list[dict[str, Any]]


def _dry_run(request: Request, plan: Plan, measured: Measured) -> int:
    """Assemble in a temporary directory and print; write nothing in the registry."""
    registry = plan.registry
    staging = staging_dir(Path(tempfile.gettempdir()), f".add-{request.version}-")
    try:
        text = _assemble(request, plan, staging, measured.metadata, measured.external)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    sys.stdout.write(text)
    if measured.card is not None:
        where = registry.rel(plan.model.model_path)
        sys.stdout.write(f"# --- {where} (new model) ---\n{_card_text(measured.card)}")
    sys.stderr.write(f"modelreg: dry run: would create {registry.rel(plan.target)}/\n")
    return 0


def _write(request: Request, plan: Plan, measured: Measured, shared: Path) -> list[Path]:
    """Assemble beside the target, rename into place, regenerate; the regenerated paths."""
    registry, model = plan.registry, plan.model
    metadata, external = measured.metadata, measured.external
    if plan.new:
        # The whole model directory is assembled beside its place and renamed in: a new
        # model appears complete (card, version, data) or not at all.
        assert measured.card is not None
        staging_model = staging_dir(registry.models_dir, f".add-{model.name}-")
        try:
            staging = staging_model / request.version
            staging.mkdir()
            _assemble(request, plan, staging, metadata, external)
            (staging_model / MODEL_FILE).write_text(_card_text(measured.card), encoding="utf-8")
            (staging_model / SHARED_DATA_DIR).mkdir()
            shutil.copyfile(plan.eval, staging_model / SHARED_DATA_DIR / shared.name)
            with registry_lock(registry.root, f"modelreg add {model.name}", request.settings):
                _commit_new_model(registry, model, staging_model)
                regenerated = _regenerate(registry.root)
        finally:
            discard(staging_model)  # gone already when renamed into place
    else:
        staging = staging_dir(model.dir, f".add-{request.version}-")
        try:
            _assemble(request, plan, staging, metadata, external)
            with registry_lock(registry.root, f"modelreg add {model.name}", request.settings):
                overlay = _commit(
                    registry, model, request.version, staging, eval_file=plan.eval, shared=shared
                )
                regenerated = [*overlay, *_regenerate(registry.root)]
        finally:
            discard(staging)
    return regenerated


def _report(request: Request, plan: Plan, measured: Measured, regenerated: list[Path]) -> None:
    """What was written, and what a human still has to write before the hooks pass."""
    registry, metadata, scores, card = (
        plan.registry,
        measured.metadata,
        measured.scores,
        measured.card,
    )
    latency_note = ""
    if "latency" in metadata["evaluation"]:
        latency_note = f", p99 {metadata['evaluation']['latency']['p99_ms']} ms"
    if "r2" in scores:
        figures = f"MAE {scores['mae']:.6g}, RMSE {scores['rmse']:.6g}, R² {scores['r2']:.4f}"
    else:
        figures = f"accuracy {scores['accuracy']:.4f}, F1 ({measured.average}) {scores['f1']:.4f}"
    sys.stderr.write(
        f"modelreg: added {registry.rel(plan.target)}/ as candidate: {figures} on "
        f"{scores['samples']} samples{latency_note}\n"
    )
    if card is not None:
        sys.stderr.write(f"modelreg: wrote {registry.rel(plan.model.model_path)} (new model)\n")
    overlay = [p for p in regenerated if p.name == f"v{request.version}"]
    for path in overlay:
        sys.stderr.write(
            f"modelreg: wrote {registry.rel(path)}/ (deploy it with `modelreg promote`)\n"
        )
    pages = [registry.rel(p) for p in regenerated if p not in overlay]
    if pages:
        sys.stderr.write(f"modelreg: regenerated {', '.join(pages)}\n")
    todo = [f"{registry.rel(plan.target)}/{METADATA_FILE}: {k}" for k in _todo_fields(metadata)]
    if card is not None:
        todo += [f"{registry.rel(plan.model.model_path)}: {k}" for k in _todo_fields(card)]
    if todo:
        sys.stderr.write(
            "modelreg: still TODO (validate and the pre-commit hook refuse it, MR508): "
            + "; ".join(todo)
            + "\n"
        )


def _todo_fields(data: dict[str, Any]) -> list[str]:
    """Top-level fields whose text (or an item of it) still says TODO."""
    found = []
    for key, value in data.items():
        items = value if isinstance(value, list) else [value]
        if any(isinstance(item, str) and _TODO.search(item) for item in items):
            found.append(key)
    return found


def _refuse_label_count(
    request: Request, plan: Plan, onnx_facts: dict[str, Any], output: str, labels: list[str]
) -> None:
    """Refuse labels that validate would report as MR310 (counted the same way), naming
    where they come from; before this, `add` wrote the version and validate failed it."""
    counted = class_count(onnx_facts["outputs"], output)
    if counted is None or counted[1] == len(labels):
        return
    name, classes = counted
    beside = "" if name == output else f" (the class scores beside label output `{output}`)"
    if plan.new:
        source, fix = "--labels names", "name one label per class, in index order"
    else:
        source = f"{plan.registry.rel(plan.model.model_path)} lists"
        fix = "a model's versions share its labels: a model with other classes is a new model"
    raise ModelregError(
        f"{request.onnx}: {source} {len(labels)} labels, but output `{name}`{beside} has "
        f"{classes} classes; {fix}"
    )


def _placeholder_labels(onnx_facts: dict[str, Any], output: str) -> list[str]:
    """One TODO label per class of the scored output (a new model without --labels)."""
    counted = class_count(onnx_facts["outputs"], output)
    if counted is None or counted[1] < 1:
        raise UsageError(
            f"--labels is required: output `{output}` has no fixed class dimension to count "
            "the classes from; name them in index order, e.g. --labels negative,positive"
        )
    return [f"TODO: class {i}" for i in range(counted[1])]


def _card_text(card: dict[str, Any]) -> str:
    from modelreg.onnx.facts import dump_yaml

    # Three comment lines either way (findings in a new card keep their line numbers).
    if "gates" in card:
        about = (
            "# Written by `modelreg add` for a new model. Edit the card and the gates (add floors\n"
            "# such as min_accuracy); the lifecycle changes by `modelreg promote` and `rollback`.\n"
        )
    else:  # a regressor gets none (card_data): name its own, which promotion needs
        about = (
            "# Written by `modelreg add` for a new regressor: add `gates:` (min_r2, max_mae,\n"
            "# max_rmse, max_r2_drop, max_rmse_increase) before promoting it to production;\n"
        )
        about += "# the lifecycle changes by `modelreg promote` and `rollback`.\n"
    schema = "# yaml-language-server: $schema=../../schemas/model.schema.json\n"
    return schema + about + dump_yaml(card)


def _journal_committed(root: Path) -> bool:
    """Whether a write's journal is committed (its temporaries must stay for the replay)."""
    from modelreg.storage import JOURNAL_FILE, STATE_DIR, git_dir

    return os.path.lexists(git_dir(root) / STATE_DIR / JOURNAL_FILE)


@contextmanager
def _cleanup_on_failure(root: Path) -> Iterator[tuple[list[Path], list[Path]]]:
    """Collect temporaries and directories this write creates; remove them if it fails
    before its journal's commit point (after it, the next writer finishes the renames)."""
    temps: list[Path] = []
    new_dirs: list[Path] = []
    try:
        yield temps, new_dirs
    except BaseException:
        if not _journal_committed(root):
            for path in temps:
                discard(path)
            for directory in reversed(new_dirs):
                with contextlib.suppress(OSError):
                    directory.rmdir()  # only if still empty
        raise


def _missing_parents(path: Path, stop: Path) -> list[Path]:
    """The directories above ``path`` (up to ``stop``) that do not exist yet, outermost first."""
    missing = []
    for parent in path.parents:
        if parent == stop or os.path.lexists(parent):
            break
        missing.append(parent)
    return list(reversed(missing))


def _commit_new_model(registry: Registry, model: ModelEntry, staging_model: Path) -> None:
    """Rename the assembled model directory into place (needs the registry lock)."""
    if model.dir.is_dir() and not model.dir.is_symlink():
        try:
            model.dir.rmdir()  # an empty leftover directory (checked empty in preflight)
        except OSError:
            raise ModelregError(f"{registry.rel(model.dir)}/ is not empty any more") from None
    replace_all(registry.root, {staging_model: model.dir})


def _commit(
    registry: Registry,
    model: ModelEntry,
    version: str,
    staging: Path,
    *,
    eval_file: Path,
    shared: Path,
) -> list[Path]:
    """Put the staged version in place with its lifecycle entry, overlay and evaluation file.

    One change under the registry lock (which the caller holds): all appear together or
    (killed before the journal's commit) none does; see :mod:`modelreg.storage`. Returns
    the version overlay's directory, if one was written.
    """
    with _cleanup_on_failure(registry.root) as (temps, new_dirs):
        moves: dict[Path, Path] = {}
        if not shared.exists():
            new_dirs.extend(_missing_parents(shared, model.dir))
            temps.append(temp_beside(shared))
            moves[write_temp(shared, eval_file.read_bytes())] = shared
        lifecycle = _with_lifecycle_entry(model.dir / MODEL_FILE, version)
        if lifecycle is not None:
            temps.append(temp_beside(model.dir / MODEL_FILE))
            moves[write_temp(model.dir / MODEL_FILE, lifecycle)] = model.dir / MODEL_FILE
        overlay = _stage_overlay(registry.root, model.name, version, staging, (temps, new_dirs))
        if overlay is not None:
            moves[overlay[0]] = overlay[1]
        moves[staging] = model.dir / version
        replace_all(registry.root, moves)
    return [overlay[1]] if overlay is not None else []


def _stage_overlay(
    root: Path, model: str, version: str, staging: Path, created: tuple[list[Path], list[Path]]
) -> tuple[Path, Path] | None:
    """(assembled directory, final directory) of the version's overlay, generated from the
    staged version, in a registry that deploys with overlays (has overlays/base). What it
    creates is appended to ``created`` (temporaries, new directories) for the cleanup."""
    temps, new_dirs = created
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
    new_dirs.extend(_missing_parents(directory, root))
    directory.parent.mkdir(parents=True, exist_ok=True)
    if directory.exists():  # left over from a version of that name that was removed
        shutil.rmtree(directory)
    assembled = staging_dir(directory.parent, f".{directory.name}.")
    temps.append(assembled)
    for name, text in files.items():
        write_temp(assembled / name, text).replace(assembled / name)
    return assembled, directory


def _regenerate(root: Path) -> list[Path]:
    """Pages and overlays made stale by this add, rewritten under the lock still held."""
    from modelreg.render.regenerate import regenerate

    return regenerate(root)


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
        "metrics": _metrics(scores, average),
    }
    metadata["test_vectors"] = [vectors]
    return metadata


def _metrics(scores: dict[str, Any], average: str) -> dict[str, Any]:
    """metadata's ``evaluation.metrics``: a regressor's MAE, RMSE and R² (6 significant
    digits, well inside the check's tolerance), else accuracy and F1."""
    if "r2" in scores:
        return {name: float(f"{scores[name]:.6g}") for name in REGRESSION_METRICS}
    return {
        "accuracy": round(scores["accuracy"], 6),
        "f1": {"value": round(scores["f1"], 6), "average": average},
    }


def _is_regressor(eval_file: Path) -> bool:
    """Whether the evaluation file's ``labels`` are float targets (read from the array's
    header, nothing loaded): then the model is scored as a regressor."""
    from modelreg.onnx.evaluation import labels_kind

    with eval_file.open("rb") as fh:
        return labels_kind(fh) == "float"


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
        shown=request.onnx,
    )
    if request.runs:
        target = LatencyTarget(
            request.version, staging / "model.onnx", golden_inputs(staging / "test_data_set_0")
        )
        env, (result,) = latency([target], request.runs)
        metadata["evaluation"]["latency"] = {**result, "environment": env}
    from modelreg.onnx.facts import dump_yaml

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
    """model.yaml with ``version: {status: candidate}`` under ``lifecycle:``, comments kept;
    None when the version is listed already (e.g. a re-added version whose card came first)."""
    return add_entry(model_yaml.read_text(encoding="utf-8"), str(model_yaml), version)
