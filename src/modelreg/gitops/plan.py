"""What a merge would deploy: every environment rendered at two revisions, object by object.

A revision's ``overlays/`` is exported with ``git archive`` into a temporary directory (the
work tree and the index are never touched), rendered with plain kustomize, and compared by
object identity ``(group, kind, namespace, name)`` — the identity Flux's inventory and Argo
CD's diff use: objects only at head are *added*, only at base *pruned*, in both with other bytes
*changed* (with a unified diff). An object only at base whose annotations tell both Flux
(``kustomize.toolkit.fluxcd.io/prune: disabled``) and Argo CD (``argocd.argoproj.io/
sync-options: Prune=false``) to leave it is *kept*, not pruned: it stays in the cluster (the
hash-named ConfigMaps of a version, which pods still starting reference). The version each
alias selects, and the accuracy, F1 and p99 latency recorded in that version's metadata, give
the metrics delta table.
"""

from __future__ import annotations

import difflib
import io
import re
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from modelreg import escape
from modelreg.config import Settings
from modelreg.errors import ModelregError
from modelreg.git.repo import Repo
from modelreg.gitops import OVERLAYS_DIR
from modelreg.gitops.envs import environment_names
from modelreg.gitops.fence import INPUT_RULE, Fence, FenceError, Problem
from modelreg.gitops.kustomize import build, split_objects
from modelreg.gitops.overlays import env_aliases
from modelreg.reporters import printable

#: GitHub refuses comments above 65,536 characters; stay well below.
MARKDOWN_LIMIT = 60_000
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class EnvPlan:
    """The difference of one environment between base and head."""

    env: str
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    #: Gone from Git but left in the cluster: both controllers' prune is disabled on it.
    kept: list[str] = field(default_factory=list)
    diff: str = ""

    @property
    def changes(self) -> bool:
        """Whether anything differs."""
        return bool(self.added or self.changed or self.pruned or self.kept)


@dataclass(frozen=True)
class MetricRow:
    """A model whose alias moved to another version in one environment."""

    env: str
    model: str
    base: str | None
    head: str | None
    figures: dict[str, tuple[float | None, float | None]]  # name → (base, head)


@dataclass
class Plan:
    """The whole plan."""

    base: str
    head: str
    envs: list[EnvPlan]
    metrics: list[MetricRow]

    @property
    def changes(self) -> bool:
        """Whether any environment differs."""
        return any(e.changes for e in self.envs)


#: Tree entry modes git archive would write as something other than a file or directory.
_LINK_MODES = {"120000": "a symlink", "160000": "a submodule"}


@contextmanager
def checkout(repo: Repo, ref: str, prefix: str) -> Iterator[Path]:
    """``overlays/`` of ``ref`` exported to a temporary registry root.

    Only regular files and directories are written: a symlink (or submodule) in the tree is
    left out and refused with :class:`FenceError` before anything is rendered, instead of
    being extracted (or crashing the extraction when it points outside).
    """
    if repo.resolve(ref) is None:
        raise ModelregError(f"no such revision: {ref}")
    spec = f"{prefix}{OVERLAYS_DIR}"
    listing = repo.run_bytes("ls-tree", "-r", "-z", "--full-tree", ref, "--", spec)
    refused = []
    for record in listing.decode("utf-8", "surrogateescape").split("\0"):
        meta, _, path = record.partition("\t")
        mode = meta.split(" ", 1)[0]
        if mode in _LINK_MODES:
            rel = path[len(prefix) :] if path.startswith(prefix) else path
            why = (
                f"is {_LINK_MODES[mode]} at {ref}; modelreg and kustomize must not follow "
                "it: commit the file or directory itself"
            )
            refused.append(Problem(INPUT_RULE, rel, why))
    if refused:
        raise FenceError(refused)
    with tempfile.TemporaryDirectory(prefix="modelreg-plan-") as tmp:
        target = Path(tmp)
        if listing.strip():
            data = repo.run_bytes("archive", "--format=tar", ref, "--", spec)
            with tarfile.open(fileobj=io.BytesIO(data)) as archive:
                _extract_files(archive, target)
        yield target / prefix if prefix else target


def _extract_files(archive: tarfile.TarFile, target: Path) -> None:
    """Regular files and directories only, each strictly inside ``target``.

    Written by hand rather than with ``extractall(filter="data")``: that filter exists from
    Python 3.11.4 on, and Debian 12's python3 is 3.11.2. No link, device or absolute or ``..``
    name is ever created (git archive writes none for a tree the fence accepted, but the
    extraction does not rely on it).
    """
    for member in archive.getmembers():
        parts = Path(member.name).parts
        if not parts or Path(member.name).is_absolute() or ".." in parts:
            continue
        path = target.joinpath(*parts)
        if member.isdir():
            path.mkdir(parents=True, exist_ok=True)
        elif member.isfile():
            source = archive.extractfile(member)
            if source is None:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            with source, path.open("xb") as out:
                shutil.copyfileobj(source, out)


#: The annotations that make each controller leave an object that is no longer in Git.
FLUX_PRUNE = "kustomize.toolkit.fluxcd.io/prune"
ARGOCD_SYNC_OPTIONS = "argocd.argoproj.io/sync-options"


def kept_on_prune(data: dict[str, Any]) -> bool:
    """Whether Flux and Argo CD both leave ``data`` in the cluster once it leaves Git.

    Flux reads ``kustomize.toolkit.fluxcd.io/prune: disabled``; Argo CD reads ``Prune=false``
    among the comma-separated ``argocd.argoproj.io/sync-options``. An object only one of them
    keeps is pruned by the other, so it counts as pruned.
    """
    metadata = data.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    if not isinstance(annotations, dict):
        return False
    flux = str(annotations.get(FLUX_PRUNE, "")) == "disabled"
    options = str(annotations.get(ARGOCD_SYNC_OPTIONS, "")).split(",")
    return flux and "Prune=false" in (o.strip() for o in options)


#: An object of a rendered environment: label, text, and whether a prune leaves it.
_Rendered = tuple[str, str, bool]


def _render(
    root: Path, env: str, fence: Fence, settings: Settings | None
) -> dict[tuple[str, str, str, str], _Rendered]:
    if env not in environment_names(root):
        return {}
    where = f"{OVERLAYS_DIR}/{env}"
    fence.require(where)  # kustomize is never started on refused input
    rendered = build(root / OVERLAYS_DIR / env, display=where, settings=settings)
    return {o.key: (o.label, o.text, kept_on_prune(o.data)) for o in split_objects(rendered, where)}


def _figures(meta: dict[str, Any] | None) -> dict[str, float | None]:
    evaluation = (meta or {}).get("evaluation") or {}
    metrics = evaluation.get("metrics") or {}
    f1 = metrics.get("f1")
    latency = evaluation.get("latency") or {}
    return {
        "accuracy": metrics.get("accuracy"),
        "f1": f1.get("value") if isinstance(f1, dict) else f1,
        "p99_ms": latency.get("p99_ms"),
    }


def _metadata(
    repo: Repo, ref: str | None, root: Path, prefix: str, model_version: tuple[str, str]
) -> dict[str, Any] | None:
    model, version = model_version
    rel = f"models/{model}/{version}/metadata.yaml"
    try:
        if ref is None:
            text = (root / rel).read_text(encoding="utf-8")
        else:
            text = repo.run("show", f"{ref}:{prefix}{rel}")
        data = yaml.load(text, Loader=_Loader)  # a safe loader (C or pure Python)
    except (OSError, ModelregError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def make_plan(
    repo: Repo, root: Path, base: str, head: str | None, settings: Settings | None = None
) -> Plan:
    """Render every environment at ``base`` and at ``head`` (None: the work tree), with
    kustomize as ``settings`` say (None: this process's environment)."""
    prefix = repo.relpath(root)
    prefix = "" if prefix == "." else prefix + "/"
    envs: list[EnvPlan] = []
    metrics: list[MetricRow] = []
    with (
        checkout(repo, base, prefix) as base_root,
        _head_root(repo, head, prefix, root) as head_root,
    ):
        if head is None:  # the work tree: symlinks are found by walking it (no git tree)
            refused = list(Fence(head_root).tree_problems())
            if refused:
                raise FenceError(refused)
        base_fence, head_fence = Fence(base_root), Fence(head_root)
        names = sorted(set(environment_names(base_root)) | set(environment_names(head_root)))
        for env in names:
            old = _render(base_root, env, base_fence, settings)
            new = _render(head_root, env, head_fence, settings)
            plan = EnvPlan(env)
            diffs: list[str] = []
            for key in sorted(set(old) | set(new)):
                if key not in old:
                    plan.added.append(new[key][0])
                elif key not in new:
                    # The base's annotations decide: they are what the cluster holds.
                    (plan.kept if old[key][2] else plan.pruned).append(old[key][0])
                elif old[key][1] != new[key][1]:
                    label = new[key][0]
                    plan.changed.append(label)
                    diffs += difflib.unified_diff(
                        old[key][1].splitlines(keepends=True),
                        new[key][1].splitlines(keepends=True),
                        f"{env}: {label} ({base})",
                        f"{env}: {label} ({head or 'work tree'})",
                    )
            plan.diff = "".join(diffs)
            envs.append(plan)
            old_alias, new_alias = env_aliases(base_root, env), env_aliases(head_root, env)
            for model in sorted(set(old_alias) | set(new_alias)):
                was, now = old_alias.get(model), new_alias.get(model)
                if was == now:
                    continue
                before = _figures(_metadata(repo, base, root, prefix, (model, was))) if was else {}
                after = _figures(_metadata(repo, head, root, prefix, (model, now))) if now else {}
                figures = {k: (before.get(k), after.get(k)) for k in ("accuracy", "f1", "p99_ms")}
                metrics.append(MetricRow(env, model, was, now, figures))
    return Plan(base, head or "work tree", envs, metrics)


@contextmanager
def _head_root(repo: Repo, head: str | None, prefix: str, root: Path) -> Iterator[Path]:
    if head is None:
        yield root
    else:
        with checkout(repo, head, prefix) as path:
            yield path


# -- output -------------------------------------------------------------------------------


def _num(value: float | None, scale: float = 1.0, unit: str = "") -> str:
    return "—" if value is None else f"{value * scale:.2f}{unit}"


def _delta(pair: tuple[float | None, float | None], scale: float, unit: str) -> str:
    a, b = pair
    if a is None or b is None:
        return "—"
    return f"{(b - a) * scale:+.2f}{unit}"


def metric_lines(plan: Plan, quote: Callable[[str], str] = escape.code) -> list[str]:
    """The metrics delta table; ``quote`` writes an environment, model or version in a cell.

    The default (Markdown code spans) is for the pull-request comment; :func:`to_text` passes
    :func:`~modelreg.reporters.printable`.
    """
    if not plan.metrics:
        return []
    lines = [
        "| Env | Model | Version | Accuracy | F1 | p99 latency |",
        "|---|---|---|---|---|---|",
    ]
    for row in plan.metrics:
        cells = [
            quote(row.env),
            quote(row.model),
            f"{quote(row.base) if row.base else '—'} → {quote(row.head) if row.head else '—'}",
        ]
        for name, scale, unit in (("accuracy", 100, "%"), ("f1", 100, "%"), ("p99_ms", 1, " ms")):
            pair = row.figures[name]
            delta_unit = " pp" if unit == "%" else unit
            cells.append(
                f"{_num(pair[0], scale, unit)} → {_num(pair[1], scale, unit)} "
                f"({_delta(pair, scale, delta_unit)})"
            )
        lines.append("| " + " | ".join(escape.cell(c) for c in cells) + " |")
    return lines


def to_text(plan: Plan) -> str:
    """Plain text: per environment the object changes, then the diffs.

    Names are one line each (:func:`~modelreg.reporters.printable`); the diffs are verbatim.
    """
    out = [f"plan {printable(plan.base)} -> {printable(plan.head)}"]
    for env in plan.envs:
        out.append(
            f"\n{printable(env.env)}: {len(env.added)} added, {len(env.changed)} changed, "
            f"{len(env.pruned)} pruned, {len(env.kept)} kept"
        )
        out += [f"  + {printable(label)}" for label in env.added]
        out += [f"  ~ {printable(label)}" for label in env.changed]
        out += [f"  - {printable(label)}" for label in env.pruned]
        out += [f"  = {printable(label)} (kept: prune disabled)" for label in env.kept]
    table = metric_lines(plan, printable)
    if table:
        out += ["", *table]
    for env in plan.envs:
        if env.diff:
            out += ["", env.diff.rstrip("\n")]
    return "\n".join(out) + "\n"


def _fence(text: str) -> str:
    """A backtick fence longer than any backtick run in ``text`` (at least three)."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def to_markdown(plan: Plan, limit: int = MARKDOWN_LIMIT) -> str:
    """A pull-request comment, shorter than ``limit`` characters.

    Every name, path and revision from the pull request is a code span it cannot close
    (:func:`modelreg.escape.code`), every diff a fenced block longer than any
    backtick run in it; the only HTML is modelreg's own ``<details>``. So no value adds
    markup, a mention, a table cell or a line outside its block, and the comment's first
    line is always modelreg's heading (the workflow's ``<!-- modelreg-plan -->`` marker
    cannot be forged at the start of the comment).
    """
    lines = [f"### modelreg plan: {escape.code(plan.base)} → {escape.code(plan.head)}", ""]
    lines += ["| Environment | Added | Changed | Pruned | Kept |", "|---|---|---|---|---|"]
    for env in plan.envs:
        cells = (escape.code(env.env), str(len(env.added)), str(len(env.changed)))
        counts = f" | {len(env.pruned)} | {len(env.kept)} |"
        lines.append("| " + " | ".join(escape.cell(c) for c in cells) + counts)
    table = metric_lines(plan)
    if table:
        lines += ["", "Metrics as recorded in each version's metadata.yaml:", "", *table]
    # Each diff block as (index of its <details> line, of its opening fence, of </details>).
    blocks: list[tuple[int, int, int]] = []
    for env in plan.envs:
        if not env.changes:
            continue
        lines += ["", f"#### {escape.code(env.env)}", ""]
        lines += [f"- added {escape.code(label)}" for label in env.added]
        lines += [f"- changed {escape.code(label)}" for label in env.changed]
        lines += [f"- pruned {escape.code(label)}" for label in env.pruned]
        lines += [f"- kept {escape.code(label)} (prune disabled)" for label in env.kept]
        if env.diff:
            diff = env.diff.rstrip("\n")
            fence = _fence(diff)
            details = len(lines) + 1
            lines += ["", "<details><summary>diff</summary>", "", f"{fence}diff"]
            lines += [*diff.split("\n"), fence, "", "</details>"]
            blocks.append((details, details + 2, len(lines) - 1))
    text = "\n".join(lines) + "\n"
    if len(text) < limit:
        return text
    note = (
        "\n\n… truncated: the plan is longer than a comment allows; run "
        f"`modelreg plan --base {escape.one_line(plan.base)}` to see all of it.\n"
    )
    return _truncate(lines, blocks, limit - len(note)) + note


def _truncate(lines: list[str], blocks: list[tuple[int, int, int]], budget: int) -> str:
    """The first lines that fit in ``budget`` characters, closing the diff block cut into."""
    size = 0
    cut = len(lines)
    for i, line in enumerate(lines):
        block = next((b for b in blocks if b[0] <= i <= b[2]), None)
        reserve = len(lines[block[1]]) + 16 if block else 0
        if size + len(line) + 1 + reserve > budget:
            cut = i
            break
        size += len(line) + 1
    kept = lines[:cut]
    block = next((b for b in blocks if b[0] < cut <= b[2]), None)
    if block is not None:
        _details, opening, end = block
        fence = lines[opening].removesuffix("diff")
        if cut <= opening:
            kept.append("</details>")
        else:
            kept += [fence, "", "</details>"][max(0, cut - (end - 2)) :]
    return "\n".join(kept)


def to_json(plan: Plan) -> dict[str, Any]:
    """The versioned machine form."""
    return {
        "version": 1,
        "base": plan.base,
        "head": plan.head,
        "changes": plan.changes,
        "environments": {
            e.env: {
                "added": e.added,
                "changed": e.changed,
                "pruned": e.pruned,
                "kept": e.kept,
                "diff": e.diff,
            }
            for e in plan.envs
        },
        "metrics": [
            {
                "environment": r.env,
                "model": r.model,
                "base": r.base,
                "head": r.head,
                "figures": {k: {"base": a, "head": b} for k, (a, b) in r.figures.items()},
            }
            for r in plan.metrics
        ],
    }
