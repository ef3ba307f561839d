"""Promotion gates: may a candidate version replace the production version?

The gates live in ``model.yaml`` (``gates:``), MLflow-style: a floor for a metric, the largest
accepted drop against production, a p99 budget, and the largest accepted p99 slowdown against
production. Nothing is taken from metadata on trust: both versions' artifacts are hashed against
their metadata, both are scored on the candidate's evaluation file in this run, and both are
timed interleaved in one child process, so the comparison holds on a noisy machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelreg.errors import ModelregError, UsageError
from modelreg.git.lfs import looks_like_pointer, read_head
from modelreg.gitops.signature import signature_diff
from modelreg.hashing import sha256_file
from modelreg.onnx.evaluation import is_regression, metric_args
from modelreg.onnx.measure import LatencyTarget, golden_inputs, latency, scores
from modelreg.registry import Registry, VersionEntry, discover, find_root
from modelreg.treefs import symlink_message

#: Gates in the order the table shows them.
GATE_ORDER = (
    "min_accuracy",
    "min_f1",
    "max_accuracy_drop",
    "max_f1_drop",
    "min_r2",
    "max_mae",
    "max_rmse",
    "max_r2_drop",
    "max_rmse_increase",
    "p99_latency_budget_ms",
    "max_p99_regression",
    "compatible_signature",
)
_LATENCY_GATES = ("p99_latency_budget_ms", "max_p99_regression")
#: Gates that judge a classifier's scores, and a regressor's.
_CLASSIFIER_GATES = ("min_accuracy", "min_f1", "max_accuracy_drop", "max_f1_drop")
_REGRESSOR_GATES = ("min_r2", "max_mae", "max_rmse", "max_r2_drop", "max_rmse_increase")


@dataclass(frozen=True)
class GateRow:
    """One gate judged: the figures it compared and whether it held."""

    gate: str
    rule: str
    candidate: str
    production: str
    passed: bool | None  # None: not applicable (e.g. no production version to compare with)
    note: str = ""


@dataclass
class GateReport:
    """The outcome of ``modelreg gate`` for one candidate."""

    model: str
    candidate: str
    production: str | None
    rows: list[GateRow] = field(default_factory=list)
    measured: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when no gate failed (gates that do not apply do not fail)."""
        return all(row.passed is not False for row in self.rows)

    def table(self) -> str:
        """A Markdown table: one row per gate, candidate and production side by side."""
        prod = f"production {self.production}" if self.production else "production (none)"
        lines = [
            f"| Gate | Rule | candidate {self.candidate} | {prod} | Result |",
            "|---|---|---|---|---|",
        ]
        for row in self.rows:
            result = {True: "pass", False: "**FAIL**", None: "n/a"}[row.passed]
            if row.note:
                result += f" ({row.note})"
            lines.append(
                f"| {row.gate} | {row.rule} | {row.candidate} | {row.production} | {result} |"
            )
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """The report as data (``--output json``)."""
        return {
            "version": 1,
            "model": self.model,
            "candidate": self.candidate,
            "production": self.production,
            "status": "pass" if self.passed else "fail",
            "gates": [row.__dict__ for row in self.rows],
            "measured": self.measured,
        }


def _regression_row(
    gate: str, limit: float, cand: dict[str, Any], prod: dict[str, Any] | None
) -> GateRow:
    """A regressor's gate: a floor for R², a ceiling for MAE/RMSE, or a change against
    production (R² drop in absolute terms, RMSE increase relative)."""
    key = gate.removeprefix("min_").removeprefix("max_").removesuffix("_drop")
    key = key.removesuffix("_increase")
    shown = f"{prod[key]:.6g}" if prod else "-"
    if gate == "min_r2":
        return GateRow(gate, f">= {limit:g}", f"{cand[key]:.6g}", shown, cand[key] >= limit)
    if gate in ("max_mae", "max_rmse"):
        return GateRow(gate, f"<= {limit:g}", f"{cand[key]:.6g}", shown, cand[key] <= limit)
    if prod is None:
        # The same rule text as with a production version (the increase is relative: a %).
        rule = f"drop <= {limit:g}" if gate == "max_r2_drop" else f"increase <= {_pct(limit)}"
        return GateRow(gate, rule, f"{cand[key]:.6g}", "-", None,
                       "no production version")  # fmt: skip
    if gate == "max_r2_drop":
        drop = prod[key] - cand[key]
        return GateRow(gate, f"drop <= {limit:g}", f"{cand[key]:.6g} ({-drop:+.4g})", shown,
                       drop <= limit + 1e-12)  # fmt: skip
    base = prod[key]
    change = cand[key] / base - 1 if base else (0.0 if cand[key] == 0 else float("inf"))
    return GateRow(gate, f"increase <= {_pct(limit)}", f"{cand[key]:.6g} ({change * 100:+.1f}%)",
                   shown, change <= limit + 1e-12)  # fmt: skip


def _pct(value: float) -> str:
    return f"{value * 100:.2f}%"


def _verified_artifact(registry: Registry, version: VersionEntry, meta: dict[str, Any]) -> Path:
    """The artifact path, refusing a pointer or bytes that differ from the metadata."""
    path = version.dir / str(meta["artifact"]["path"])
    rel = registry.rel(path)
    # Read through the registry's tree: a symlink on the path is refused, never followed.
    tree = registry.tree
    _refuse_symlink(registry, path)
    if not tree.is_file(path):
        raise ModelregError(f"{rel}: missing; run `modelreg validate`")
    if looks_like_pointer(read_head(path, tree=tree)):
        raise ModelregError(f'{rel} is a Git LFS pointer; run: git lfs pull --include="{rel}"')
    digest, _size = sha256_file(path, tree=tree)
    if digest != meta["artifact"]["sha256"]:
        raise ModelregError(f"{rel}: sha256 differs from its metadata; run `modelreg validate`")
    return path


def _refuse_symlink(registry: Registry, path: Path) -> None:
    """An error naming the first symlink on ``path`` (MR006's message), if there is one."""
    found = registry.tree.symlink_on(path)
    if found is not None:
        raise ModelregError(symlink_message(*found))


def _metadata(registry: Registry, version: VersionEntry) -> dict[str, Any]:
    meta = registry.metadata(version)
    if meta is None or not {"artifact", "evaluation"} <= meta.keys():
        raise ModelregError(
            f"{registry.rel(version.metadata_path)} is missing or incomplete; run "
            "`modelreg validate`"
        )
    return meta


def production_of(model_data: dict[str, Any]) -> str | None:
    """The version whose lifecycle status is ``production``, if any."""
    lifecycle = model_data.get("lifecycle") or {}
    found = [v for v, entry in lifecycle.items() if (entry or {}).get("status") == "production"]
    return str(found[0]) if len(found) == 1 else None


def evaluate(
    root: Path,
    model: str,
    version: str,
    *,
    runs: int = 1000,
    against: str | None = None,
    no_production: bool = False,
    gates_from: dict[str, Any] | None = None,
) -> GateReport:
    """Judge ``model@version`` against the production version (or ``against``).

    ``no_production`` judges the floors only, whatever model.yaml says now: CI's gate on a pull
    request that makes the model's first production version (the merge already names it).
    ``gates_from`` is the model.yaml whose ``gates:`` judge (CI: the base branch's), so a pull
    request cannot loosen the gates it is judged by.
    """
    registry = discover(find_root(root))
    candidate = registry.version_at(f"{model}@{version}")
    model_data = registry.model_data(candidate.model)
    if model_data is None:
        raise ModelregError(f"models/{model}/model.yaml is missing or invalid")
    gates: dict[str, Any] = (model_data if gates_from is None else gates_from).get("gates") or {}
    if not gates:
        raise ModelregError(
            f"models/{model}/model.yaml declares no `gates:`; add at least one (see "
            "docs/schema-reference.md) so a promotion is judged by something"
        )
    prod_name = None if no_production else against or production_of(model_data)
    if prod_name == version:
        raise UsageError(f"{model}@{version} is already the production version")
    production = registry.version_at(f"{model}@{prod_name}") if prod_name else None

    cand_meta = _metadata(registry, candidate)
    evaluation = cand_meta["evaluation"]
    data = Path(os.path.normpath(candidate.dir / evaluation["data"]["path"]))
    _refuse_symlink(registry, data)
    if not registry.tree.is_file(data):
        raise ModelregError(f"{registry.rel(data)}: evaluation file missing")
    digest, _ = sha256_file(data, tree=registry.tree)
    if digest != evaluation["data"]["sha256"]:
        raise ModelregError(f"{registry.rel(data)}: sha256 differs from the candidate's metadata")
    _refuse_other_kind(model, gates, is_regression(evaluation["metrics"]))
    score_args = metric_args(model_data.get("labels") or [], evaluation["metrics"])
    report = GateReport(model, version, prod_name)
    measured: dict[str, dict[str, Any]] = {}
    cand_path = _verified_artifact(registry, candidate, cand_meta)
    measured["candidate"] = scores(cand_path, data, output=evaluation["output"], **score_args)
    prod_path: Path | None = None
    if production is not None:
        prod_meta = _metadata(registry, production)
        prod_path = _verified_artifact(registry, production, prod_meta)
        # The same evaluation file for both: a fair comparison, whatever each claims.
        output = prod_meta["evaluation"]["output"]
        measured["production"] = scores(prod_path, data, output=output, **score_args)
    if any(g in gates for g in _LATENCY_GATES):
        targets = [_target(registry, candidate, cand_meta, cand_path, "candidate")]
        if production is not None and prod_path is not None:
            targets.append(_target(registry, production, prod_meta, prod_path, "production"))
        env, results = latency(targets, runs)
        for target, result in zip(targets, results, strict=True):
            measured[target.label]["latency"] = result
        report.measured["environment"] = env
    report.measured.update(measured)
    report.rows = _judge(gates, measured)
    if gates.get("compatible_signature") is True:
        report.rows.append(_signature_row(cand_meta, prod_meta if production else None))
    return report


def _signature_row(cand_meta: dict[str, Any], prod_meta: dict[str, Any] | None) -> GateRow:
    """``compatible_signature``: the candidate keeps every call to production working
    (:mod:`modelreg.gitops.signature`, the rule the catalog site's compare pages show)."""
    gate, rule = "compatible_signature", "callers of production keep working"
    if prod_meta is None:
        return GateRow(gate, rule, "-", "-", None, "no production version")
    broken = [r for r in signature_diff(prod_meta, cand_meta) if r.incompatible]
    if not broken:
        return GateRow(gate, rule, "compatible", "-", True)
    shown = "; ".join(f"{r.side} {r.name}: {r.why}" for r in broken)
    return GateRow(gate, rule, f"breaks callers: {shown}", "-", False)


def _refuse_other_kind(model: str, gates: dict[str, Any], regression: bool) -> None:
    """A classifier's gate on a regressor (or the reverse) cannot be judged: say so."""
    wrong = [g for g in (_CLASSIFIER_GATES if regression else _REGRESSOR_GATES) if g in gates]
    if wrong:
        kind, other = ("a regressor", "MAE/RMSE/R²") if regression else ("a classifier", "")
        fix = (
            f"use min_r2, max_mae, max_rmse, max_r2_drop or max_rmse_increase ({other})"
            if regression
            else "use min_accuracy, min_f1, max_accuracy_drop or max_f1_drop"
        )
        raise ModelregError(
            f"models/{model}/model.yaml: gates {', '.join(wrong)} cannot judge {kind}; {fix}"
        )


def _target(
    registry: Registry, version: VersionEntry, meta: dict[str, Any], path: Path, label: str
) -> LatencyTarget:
    vectors = meta.get("test_vectors") or []
    inputs = golden_inputs(version.dir / vectors[0]["path"]) if vectors else ()
    if not inputs:
        raise ModelregError(
            f"{registry.rel(version.dir)}: no golden inputs to time it on (test_vectors)"
        )
    return LatencyTarget(label, path, inputs)


def _judge(gates: dict[str, Any], measured: dict[str, dict[str, Any]]) -> list[GateRow]:
    cand = measured["candidate"]
    prod = measured.get("production")
    rows: list[GateRow] = []
    for gate in GATE_ORDER:
        if gate not in gates or gate == "compatible_signature":
            continue  # (compatible_signature compares signatures, not measurements)
        limit = float(gates[gate])
        if gate in ("min_accuracy", "min_f1"):
            key = gate.removeprefix("min_")
            rows.append(
                GateRow(
                    gate,
                    f">= {_pct(limit)}",
                    _pct(cand[key]),
                    _pct(prod[key]) if prod else "-",
                    cand[key] >= limit,
                )
            )
        elif gate in ("max_accuracy_drop", "max_f1_drop"):
            key = gate.removeprefix("max_").removesuffix("_drop")
            if prod is None:
                rows.append(GateRow(gate, f"drop <= {_pct(limit)}", _pct(cand[key]), "-", None,
                                    "no production version"))  # fmt: skip
                continue
            drop = prod[key] - cand[key]
            rows.append(
                GateRow(
                    gate,
                    f"drop <= {_pct(limit)}",
                    f"{_pct(cand[key])} ({-drop * 100:+.2f} pp)",
                    _pct(prod[key]),
                    drop <= limit + 1e-12,
                )
            )
        elif gate in _REGRESSOR_GATES:
            rows.append(_regression_row(gate, limit, cand, prod))
        elif gate == "p99_latency_budget_ms":
            p99 = cand["latency"]["p99_ms"]
            prod_p99 = f"{prod['latency']['p99_ms']:.3f} ms" if prod else "-"
            rows.append(GateRow(gate, f"p99 <= {limit:g} ms", f"{p99:.3f} ms", prod_p99,
                                p99 <= limit))  # fmt: skip
        else:  # max_p99_regression
            p99 = cand["latency"]["p99_ms"]
            if prod is None:
                rows.append(GateRow(gate, f"slowdown <= {_pct(limit)}", f"{p99:.3f} ms", "-",
                                    None, "no production version"))  # fmt: skip
                continue
            base = prod["latency"]["p99_ms"]
            change = p99 / base - 1 if base else 0.0
            rows.append(
                GateRow(
                    gate,
                    f"slowdown <= {_pct(limit)}",
                    f"{p99:.3f} ms ({change * 100:+.1f}%)",
                    f"{base:.3f} ms",
                    change <= limit,
                )
            )
    return rows
