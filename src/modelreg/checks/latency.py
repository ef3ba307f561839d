"""Latency (MR407, MR408): a stored p99 is re-measured only where it is comparable.

Timings depend on the machine. A claim is re-checked only when this machine's fingerprint
(CPU model, relevant CPU flags, onnxruntime version, platform) equals the stored one;
otherwise a note says so. On a match the version is timed exactly as ``modelreg bench`` does.

The check guards against a claim that is faster than the artifact. A busy machine only ever
makes runs slower, and it inflates the tail most: a re-measured p99 on a shared CI runner can
be twenty times the quiet figure. So the robust question is asked: is the re-measured
*median* slower than the claimed *p99* by more than ``claim * p99_tolerance +
p99_tolerance_ms`` (defaults 50% and 1 ms, from model.yaml's ``gates``), twice in a row? On
an honest claim the median sits below the p99, so only a claim that is wrong by a wide margin
fails; a noisy moment, or two checks timing at once (pre-commit runs hooks in parallel),
does not. A claim slower than the artifact is pessimistic, not dangerous, and passes.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from modelreg.checks import VersionContext, check, missing_dependency
from modelreg.checks.integrity import local_artifact
from modelreg.errors import ModelregError
from modelreg.findings import Finding
from modelreg.measure import LatencyTarget, golden_inputs, latency
from modelreg.rules import rule

DEFAULT_TOLERANCE = 0.5
DEFAULT_TOLERANCE_MS = 1.0


@functools.cache
def this_machine() -> dict[str, Any]:
    """This machine's fingerprint (imports onnxruntime, reads no artifact)."""
    from modelreg.latency import environment

    return environment()


@check("version", rules=("MR407", "MR408", "MR901", "MR902"), deep=True)
def latency_claim(ctx: VersionContext) -> Iterator[Finding]:
    """Re-measure the stored p99 on a machine with the same fingerprint."""
    assert ctx.meta is not None
    claim = ctx.meta["evaluation"].get("latency")
    if not claim:
        return
    line, col = ctx.position("evaluation", "latency", "p99_ms")
    if absent := missing_dependency(ctx.metadata_rel, "latency not re-measured", "onnxruntime"):
        yield absent
        return
    stored = claim["environment"]
    here = this_machine()
    if stored["fingerprint"] != here["fingerprint"]:
        differs = [
            key
            for key in ("cpu", "cpu_flags", "onnxruntime", "platform")
            if stored.get(key) != here.get(key)
        ]
        yield rule("MR408").finding(
            ctx.metadata_rel,
            f"p99 {claim['p99_ms']} ms was measured on fingerprint {stored['fingerprint']}; "
            f"this machine is {here['fingerprint']} (differs in {', '.join(differs) or 'hash'})"
            ": not comparable, not re-checked",
            line,
            col,
        )
        return
    model_path = local_artifact(ctx)
    vectors = ctx.meta.get("test_vectors") or []
    inputs = golden_inputs(ctx.version.dir / vectors[0]["path"]) if vectors else ()
    if model_path is None or not inputs:
        return  # integrity and vector findings already explain
    gates = (ctx.model_data or {}).get("gates") or {}
    tolerance = float(gates.get("p99_tolerance", DEFAULT_TOLERANCE))
    slack_ms = float(gates.get("p99_tolerance_ms", DEFAULT_TOLERANCE_MS))
    limit = float(claim["p99_ms"]) * (1 + tolerance) + slack_ms
    target = LatencyTarget(ctx.version.name, model_path, inputs)
    measured: list[float] = []
    for _attempt in range(2):
        try:
            _env, (result,) = latency([target], int(claim["runs"]), int(claim.get("warmup", 50)))
        except ModelregError as exc:
            yield rule("MR902").finding(ctx.registry.rel(model_path), f"{exc}")
            return
        measured.append(float(result["p50_ms"]))
        if measured[-1] <= limit:
            return
    yield rule("MR407").finding(
        ctx.metadata_rel,
        f"p99 claims {claim['p99_ms']} ms, but even the median re-measured on the same "
        f"fingerprint is {' and '.join(f'{m:.4f}' for m in measured)} ms ({claim['runs']} runs "
        f"each), above the limit {limit:.4f} ms (claim + {tolerance:.0%} + {slack_ms:g} ms)",
        line,
        col,
    )
