"""Benchmark runner: whole-process timings, medians of several runs, ratios to a floor.

Writes ``docs/benchmarks.md`` (generated; do not edit by hand). Each scenario is timed as
the user feels it: a fresh process from start to exit. Baselines run in the same session,
interleaved with modelreg, so a noisy machine moves both alike. Synthetic registries come
from ``synthetic.py`` (N models x M versions of small real ONNX files) and
``synthetic_tags.py`` (10,000 tags); ``backend.py`` runs the onnx wheel's backend test models.

    python benchmarks/run.py                 # full run (issue sizes; GTO if --gto or on PATH)
    python benchmarks/run.py --quick         # smaller sizes, fewer repetitions, for CI
    python benchmarks/run.py --only schema --runs 1 --output /tmp/b.md
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import backend
import bert_base
import pool
import scenarios
from timing import ROOT, Result, time_commands

OUT = ROOT / "docs" / "benchmarks.md"
OUT_QUICK = ROOT / "docs" / "benchmarks-quick.md"
#: How long a whole run may take (the benchmark issue's acceptance), by mode.
RUN_BUDGET_S = {"full": 15 * 60.0, "quick": 2 * 60.0}


def bench_validate_fast(runs: int) -> Result:
    """`modelreg validate --fast` on this repository vs importing its two dependencies."""
    modelreg = [sys.executable, "-m", "modelreg", "validate", "--fast"]
    floor = [sys.executable, "-c", "import yaml, jsonschema"]
    ours, base = time_commands([modelreg, floor], runs, ROOT)
    return Result(
        name="validate --fast, this repository (whole process)",
        command="python -m modelreg validate --fast",
        median_s=ours,
        baseline="python -c 'import yaml, jsonschema' (import floor)",
        baseline_median_s=base,
        target="median < 0.3 s",
        met=ours < 0.3,
        note="onnx/onnxruntime not imported on this path (tests/test_fast_path.py)",
    )


_PLAIN_LOOP = """\
import math, sys, time
from pathlib import Path
import numpy as np, onnx, onnxruntime as ort
from onnx import numpy_helper
version, n = Path(sys.argv[1]), int(sys.argv[2])
# The same session configuration as `bench` (pinned: one thread each, sequential, no
# spinning, full optimisation, warnings off), so the ratio measures the harness, not the
# options.
options = ort.SessionOptions()
options.intra_op_num_threads = 1
options.inter_op_num_threads = 1
options.log_severity_level = 3
options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
options.add_session_config_entry("session.intra_op.allow_spinning", "0")
session = ort.InferenceSession(str(version / "model.onnx"), options,
                               providers=["CPUExecutionProvider"])
feeds = {}
for k, arg in enumerate(session.get_inputs()):
    tensor = onnx.TensorProto()
    tensor.ParseFromString((version / f"test_data_set_0/input_{k}.pb").read_bytes())
    feeds[arg.name] = np.ascontiguousarray(numpy_helper.to_array(tensor)[:1])
for _ in range(50):
    session.run(None, feeds)
times = []
for _ in range(n):
    start = time.perf_counter_ns()
    session.run(None, feeds)
    times.append(time.perf_counter_ns() - start)
times.sort()
print(times[math.ceil(n / 2) - 1] / 1e6)  # nearest-rank p50, bench's statistic
"""


def bench_p50_vs_plain_loop(runs: int) -> Result:
    """`modelreg bench` p50 vs an independent perf_counter_ns loop over the same model.

    Each side runs in a fresh process (a loop inside this long-lived runner compares process
    state, not the harness). On the shared 2-core VM the cost of a call itself (thread CPU
    time too, so not preemption) moves between ~190 and ~250-330 µs for seconds at a time,
    while one side's 1,000 runs last ~0.25 s, so the median of seven p50s per side compared
    which level each side happened to hit: the same plain loop against itself read 0.78-1.19x
    that way, and modelreg read 1.04x, 0.66x and 0.82x in three full runs. Pairing adjacent
    processes was not enough under load either (the plain loop against itself 0.91-1.45x,
    median 1.03x, over 11 triplets at load average 6).

    So the figure compares the fastest p50 of each side over several fresh processes: load
    only adds time, and anything the harness added to or removed from a call would show in
    every process, the fastest included. The processes run in triplets (modelreg, plain loop,
    plain loop again; order rotating); the second plain loop against the first, judged the
    same way, is the design's noise floor in this run, and the paired ratios go in the note.
    """
    import json

    version = ROOT / "models" / "bert-classifier" / "1.1.0"
    n = 1000

    def modelreg() -> float:
        proc = subprocess.run(
            [sys.executable, "-m", "modelreg", "bench", "bert-classifier@1.1.0", "--output",
             "json", "--runs", str(n)],
            cwd=ROOT, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return float(json.loads(proc.stdout)["results"][0]["p50_ms"])

    def plain() -> float:
        loop = subprocess.run(
            [sys.executable, "-c", _PLAIN_LOOP, str(version), str(n)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return float(loop.stdout)

    # In a 30-triplet trial run, the fastest of 7 kept the plain loop against itself within
    # 0.93-1.09x in every window, the fastest of 11 within 0.98-1.01x.
    triplets = max(7, 2 * runs + 1)
    sides = (modelreg, plain, plain)
    rows: list[list[float]] = []
    for t in range(triplets):
        row = [0.0, 0.0, 0.0]
        for k in range(3):
            side = (t + k) % 3
            row[side] = sides[side]()
        rows.append(row)
    ours, base, again = (min(r[k] for r in rows) for k in range(3))

    def paired(k: int) -> str:
        ratios = sorted(r[k] / r[1] for r in rows)
        return f"{statistics.median(ratios):.2f}x ({ratios[0]:.2f}-{ratios[-1]:.2f})"

    def us(values: Sequence[float]) -> str:
        return f"{min(values) * 1000:.1f}-{max(values) * 1000:.1f} µs"

    return Result(
        name="bench p50, bert-classifier 1.1.0, batch 1 (1,000 runs)",
        command="python -m modelreg bench bert-classifier@1.1.0 --output json",
        median_s=ours / 1000,
        baseline="plain perf_counter_ns loop, same session options, inputs and warm-up",
        baseline_median_s=base / 1000,
        target="ratio within 0.9-1.1",
        met=0.9 <= ours / base <= 1.1,
        note=f"fastest p50 of {triplets} fresh processes per side, in rotating triplets "
        f"(modelreg, plain loop, plain loop again); noise floor, the second plain loop against "
        f"the first: {again / base:.2f}x; median of the per-triplet ratios: modelreg "
        f"{paired(0)}, plain loop against itself {paired(2)}; p50s ranged modelreg "
        f"{us([r[0] for r in rows])}, plain loop {us([r[1] for r in rows])}. Both sides time "
        "only `session.run` between two perf_counter_ns reads (1,000 runs after 50 warm-up, "
        "nearest-rank p50, same session options and inputs); the spread is this shared VM, "
        "whose cost per call (CPU time too) moves between two levels about 1.3x apart for "
        "seconds at a time; load only adds time, so the fastest process of each side is "
        "compared (docs/latency-check.md)",
    )


def _hook_registry(root: Path, versions: int) -> None:
    """A registry of ``versions`` versions (pointer artifacts) made by `modelreg init`."""
    import hashlib
    import shutil

    subprocess.run([sys.executable, "-m", "modelreg", "init", str(root)], check=True,
                   capture_output=True)  # fmt: skip
    template = (ROOT / "models/bert-classifier/1.1.0/metadata.yaml").read_text(encoding="utf-8")
    per_model = 10
    for m in range(versions // per_model):
        mdir = root / "models" / f"model-{m:02d}"
        mdir.mkdir(parents=True)
        card = (ROOT / "models/bert-classifier/model.yaml").read_text(encoding="utf-8")
        card = card.split("lifecycle:")[0].replace("bert-classifier", mdir.name)
        card = card.replace("tag_prefix: model-bert", f"tag_prefix: {mdir.name}")
        lifecycle = ["lifecycle:"]
        for v in range(per_model):
            version = f"1.{v}.0"
            vdir = mdir / version
            vdir.mkdir()
            oid = hashlib.sha256(f"{m}-{v}".encode()).hexdigest()
            (vdir / "model.onnx").write_text(
                f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize 670284\n"
            )
            meta = template.replace("bert-classifier", mdir.name).replace("1.1.0", version)
            (vdir / "metadata.yaml").write_text(meta, encoding="utf-8")
            shutil.copytree(ROOT / "models/bert-classifier/1.1.0/test_data_set_0",
                            vdir / "test_data_set_0")  # fmt: skip
            status = "production" if v == per_model - 1 else "candidate"
            lifecycle += [f"  {version}:", f"    status: {status}"]
        (mdir / "model.yaml").write_text(card + "\n".join(lifecycle) + "\n", encoding="utf-8")
    env = dict(os.environ, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@example.com",
               GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@example.com")  # fmt: skip
    for cmd in (["git", "add", "-A"], ["git", "commit", "-q", "--no-verify", "-m", "registry"]):
        subprocess.run(cmd, cwd=root, env=env, check=True, capture_output=True)
    (root / "NOTES.md").write_text("a commit that touches no model file\n", encoding="utf-8")
    subprocess.run(["git", "add", "NOTES.md"], cwd=root, check=True)


def bench_hooks_no_model_change(runs: int) -> Result:
    """The pre-commit hook run of a commit that touches no model file, 200 versions."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "registry"
        _hook_registry(root, 200)
        bindir = str(Path(sys.executable).parent)
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
        os.environ["PRE_COMMIT_HOME"] = str(Path(tmp) / "pre-commit-home")
        hook = ["pre-commit", "run", "--hook-stage", "pre-commit"]
        floor = ["pre-commit", "--version"]
        subprocess.run(hook, cwd=root, check=True, capture_output=True)  # store initialised
        ours, base = time_commands([hook, floor], runs, root)
    return Result(
        name="pre-commit hooks, commit touching no model file, 200 versions (whole process)",
        command="pre-commit run (the .pre-commit-config.yaml `modelreg init` writes)",
        median_s=ours,
        baseline="pre-commit --version (interpreter and pre-commit start-up)",
        baseline_median_s=base,
        target="median < 0.5 s",
        met=ours < 0.5,
        note="every modelreg hook is skipped by its `files:` pattern: no modelreg process starts",
    )


def bench_deep_cache_hit(runs: int) -> Result:
    """A deep validate of an unchanged version: cache hit vs the full deep run."""
    import tempfile

    target = "models/bert-classifier/1.1.0"
    with tempfile.TemporaryDirectory() as tmp:
        env_on = dict(os.environ, MODELREG_NO_CACHE="")
        # A clone has its own .git/, so the cache starts empty.
        root = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", "--no-local", str(ROOT), str(root)], check=True)
        hit = [sys.executable, "-m", "modelreg", "validate", target]
        miss = [*hit, "--no-cache"]
        first, second = (
            subprocess.run(hit, cwd=root, env=env_on, capture_output=True, text=True, check=False)
            for _ in range(2)
        )
        if "1 cached" not in second.stderr:
            raise SystemExit(f"no cache hit on the second run: {first.stderr}{second.stderr}")
        ours, base = time_commands([hit, miss], runs, root)
    return Result(
        name="deep validate of an unchanged version, second run (cache hit)",
        command=f"python -m modelreg validate {target}",
        median_s=ours,
        baseline="the same with --no-cache (every deep check re-run)",
        baseline_median_s=base,
        target="second run is a cache hit",
        met=True,
        note="the second run printed `1 cached`; the key covers every byte the deep checks read",
    )


def machine() -> str:
    """CPU model, cores, Python and OS: enough to compare figures across runs."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def _value(value: float, unit: str) -> str:
    if unit != "s":
        return f"{value:.0f} {unit}"
    return f"{value:.3f} s" if value >= 0.01 else f"{value * 1e6:.1f} µs"


def render(
    results: Sequence[Result],
    runs: int,
    *,
    quick: bool,
    curve: Sequence[tuple[int, float]],
    cases: Sequence[backend.Case] | None,
    sha_mib_s: float | None,
) -> str:
    """The Markdown page."""
    met = sum(r.met for r in results)
    lines = [
        "<!-- Generated by benchmarks/run.py; do not edit by hand. -->",
        "# Benchmarks",
        "",
        "Whole-process wall time (or peak RSS where the unit says MiB), median of interleaved",
        "runs; a baseline measured in the same run gives the ratio. Regenerate with",
        "`nox -s bench` (or `python benchmarks/run.py`; `--quick` for the CI-sized run, written to",
        "docs/benchmarks-quick.md).",
        "",
        f"Machine: {machine()}. Runs per scenario: {runs}"
        + (" (heavy scenarios fewer, as noted)" if runs > 3 else "")
        + f". Mode: {'--quick (smaller registries, named in each row)' if quick else 'full'}.",
        "The machine is a shared virtual machine, so absolute figures are noisy (the same",
        "command varies by 10-20% between minutes); ratios against a baseline run interleaved",
        "in the same session are the figures to read. Every target is listed, met or not.",
        "",
        f"Targets met: {met} of {len(results)}.",
        "",
        "| Scenario | modelreg | Baseline | Baseline figure | Ratio | Target | Met |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if r.baseline_median_s:
            base, ratio = (
                _value(r.baseline_median_s, r.unit),
                f"{r.median_s / r.baseline_median_s:.2f}x",
            )
        else:
            base, ratio = "-", "-"
        lines.append(
            f"| {r.name} | {_value(r.median_s, r.unit)} | {r.baseline or '-'} | {base} | "
            f"{ratio} | {r.target} | {'yes' if r.met else '**no**'} |"
        )
    lines += ["", "Commands and notes:", ""]
    for r in results:
        lines.append(f"- {r.name}: `{r.command}`. {r.note}.")
    if cases is not None:
        lines += ["", *backend_section(cases)]
    lines += ["", *scaling_note(curve, sha_mib_s)]
    lines.append("")
    return "\n".join(lines)


def backend_section(cases: Sequence[backend.Case]) -> list[str]:
    """External validity: the onnx backend test models, pass rate and every failure."""
    passed = sum(c.passed for c in cases)
    lines = [
        "## External validity: the onnx wheel's backend test models",
        "",
        "Every model in `onnx/backend/test/data/{simple,pytorch-converted,pytorch-operator}` "
        "of the installed onnx wheel becomes one version of a registry: metadata from "
        "`modelreg inspect`'s code, its `test_data_set_N` as golden vectors (rtol 1e-3, "
        "atol 1e-7, the onnx backend runner's defaults), a minimal evaluation block (the "
        "schema requires one; these models have no labelled data, so MR405-MR408 are "
        "ignored). One deep `modelreg validate` checks them (`python benchmarks/backend.py`). "
        "Each failure is classified by running the same model and vectors in a bare "
        "onnxruntime session: if that fails too, it is an onnxruntime limitation.",
        "",
        f"**Pass rate: {passed} of {len(cases)} ({100 * passed / max(1, len(cases)):.0f}%).**",
        "",
        "| Suite | Models | Pass | onnxruntime limitation | modelreg defect |",
        "|---|---|---|---|---|",
    ]
    for suite in backend.SUITES:
        mine = [c for c in cases if c.suite == suite]
        if not mine:
            continue
        count = {v: sum(c.verdict == v for c in mine)
                 for v in ("pass", "onnxruntime limitation", "modelreg defect")}  # fmt: skip
        lim, bug = count["onnxruntime limitation"], count["modelreg defect"]
        lines.append(f"| {suite} | {len(mine)} | {count['pass']} | {lim} | {bug} |")
    groups: dict[tuple[str, str], list[str]] = {}
    for c in cases:
        if c.passed:
            continue
        reason = c.bare if c.bare else (c.error or "; ".join(c.findings or []))
        groups.setdefault((c.verdict, _short_reason(reason)), []).append(f"{c.suite}/{c.test}")
    if groups:
        lines += ["", "Failures, grouped by cause:", ""]
    for (verdict, reason), tests in sorted(groups.items()):
        lines.append(f"- {verdict}: {reason} ({len(tests)}): {', '.join(f'`{t}`' for t in tests)}")
    return lines


def _short_reason(text: str) -> str:
    """The stable part of an onnxruntime error (no paths, no source locations)."""
    if "Failed to construct locale" in text:
        return "StringNormalizer: the locale it names is not installed on this machine"
    if "Could not find an implementation for" in text:
        rest = text[text.find("Could not") :]
        return rest.split(" node with name", maxsplit=1)[0]
    if "is not a registered function/op" in text:
        return text[text.find("Fatal error: ") + 13 :].split(" is not", maxsplit=1)[0] + (
            " is not a registered function/op"
        )
    return text[:200].replace("|", "/")


def scaling_note(curve: Sequence[tuple[int, float]], sha_mib_s: float | None) -> list[str]:
    """How cost grows with versions, artifact size and tags, and what to do past one machine."""
    lines = [
        "## Scaling",
        "",
        "- **Versions.** `validate --fast` reads every metadata.yaml and model.yaml once "
        "(one YAML load and one schema validation per file, validators built once per process) "
        "and compares LFS pointers without their objects, so it should grow linearly with "
        "versions; measured:",
    ]
    lines += [f"  - {n:,} versions: {t:.2f} s ({t / n * 1e3:.2f} ms per version)" for n, t in curve]
    if len(curve) > 1 and curve[-1][1] / curve[-1][0] > 1.25 * curve[0][1] / curve[0][0]:
        lines.append(
            "  The cost per version grows with the registry: some registry-wide rule is "
            "superlinear (see the linearity row); that is a defect to fix, not a property."
        )
    lines += [
        "  A pre-commit hook passes only the changed files, so its cost should follow what "
        "changed, not the registry's size; the changed-only row says whether it does.",
        "- **Artifact size.** A deep check reads the bytes twice at most: a streamed sha256 "
        + (f"(about {sha_mib_s:.0f} MiB/s on this machine) " if sha_mib_s else "")
        + "and onnxruntime's own load; onnx's checker reads the file by path. Peak memory is "
        "the onnxruntime session's (the memory rows). Unchanged versions are not re-checked: "
        "the deep-check cache is keyed by content (the cache-hit row).",
        "- **Tags.** `list`/`show` read every tag with one `git for-each-ref`, so they cost the "
        "floor plus a constant; GTO parses tags in Python per call.",
        "- **Past one machine.** `modelreg ci-matrix --base REF` lists only the versions a pull "
        "request touches, and `modelreg ci-matrix --shards N` with `modelreg validate --shard "
        "i/N` splits a full deep run across N CI runners balanced by artifact size "
        "(docs/ci.md); each runner pulls only its shard's LFS objects.",
    ]
    return lines


SCENARIOS = ("fast", "p50", "hooks", "cache", "schema", "thisrepo", "deep", "scaling",
             "changed", "overlays", "tags", "memory", "backend", "bert", "pool",
             "site")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Run every scenario and write docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, few repetitions (CI)")
    parser.add_argument("--runs", type=int, help="repetitions per scenario")
    parser.add_argument("--output", type=Path,
                        help=f"Markdown file to write (default: {OUT.relative_to(ROOT)}, "
                        f"with --quick {OUT_QUICK.relative_to(ROOT)})")  # fmt: skip
    parser.add_argument("--only", action="append", choices=SCENARIOS, metavar="NAME",
                        help=f"run only these scenarios ({', '.join(SCENARIOS)})")  # fmt: skip
    parser.add_argument("--gto", help="the `gto` executable (default: `gto` on PATH)")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    _scratch_outside_checkout()
    output: Path = args.output or (OUT_QUICK if args.quick else OUT)
    runs = args.runs or (3 if args.quick else 5)
    heavy = max(1, min(runs, 3))
    sizes = scenarios.QUICK if args.quick else scenarios.Sizes()
    # --quick leaves out the BERT-base rows: building and checking a 417 MiB model takes
    # about 2.5 minutes, more than the quick run's whole budget (ask with --only bert).
    default = set(SCENARIOS) - ({"bert"} if args.quick else set())
    only = set(args.only or default)
    gto = args.gto or shutil.which("gto")
    if gto and os.sep in gto:
        gto = str(Path(gto).resolve())  # scenarios run in other directories
    # Installed wheels ship byte-code; an editable checkout under PYTHONDONTWRITEBYTECODE
    # would otherwise recompile every module on every run and time the compiler.
    compileall.compile_dir(ROOT / "src", quiet=1)
    results: list[Result] = []
    curve: list[tuple[int, float]] = []
    cases: list[backend.Case] | None = None
    sha_mib_s: float | None = None
    with scenarios.workdir() as tmp_name:
        tmp = Path(tmp_name)
        plan: list[tuple[str, Callable[[], object]]] = [
            ("fast", lambda: results.append(bench_validate_fast(runs))),
            ("thisrepo", lambda: results.append(scenarios.fast_this_repo(runs))),
            ("schema", lambda: results.extend(scenarios.schema_1000(tmp, heavy, sizes))),
            ("scaling", lambda: curve.extend(_scaling(results, tmp, heavy, sizes))),
            ("changed", lambda: results.append(scenarios.changed_only(tmp, runs, sizes))),
            ("deep", lambda: results.extend(scenarios.deep_big_model(tmp, heavy, sizes))),
            ("memory", lambda: results.extend(scenarios.memory_external(tmp, sizes))),
            ("overlays", lambda: results.append(scenarios.overlays(tmp, heavy, sizes))),
            ("tags", lambda: results.extend(scenarios.tags_list_show(tmp, runs, sizes, gto))),
            ("p50", lambda: results.append(bench_p50_vs_plain_loop(runs))),
            ("hooks", lambda: results.append(bench_hooks_no_model_change(runs))),
            ("cache", lambda: results.append(bench_deep_cache_hit(heavy))),
            ("bert", lambda: results.extend(bert_base.rows(tmp, heavy))),
            ("pool", lambda: results.extend(pool.rows(tmp, heavy, sizes))),
            ("site", lambda: results.extend(scenarios.site(tmp, heavy, sizes))),
        ]
        for name, step in plan:
            if name in only:
                start = time.perf_counter()
                step()
                sys.stderr.write(f"bench: {name} done in {time.perf_counter() - start:.0f} s\n")
        if "backend" in only:
            cases = backend.run(tmp, suites=("simple",) if args.quick else backend.SUITES)
        if "deep" in only:
            sha_mib_s = scenarios.sha256_throughput(tmp)
    if only == default:
        results.append(_run_time(time.perf_counter() - began, quick=args.quick))
    text = render(results, runs, quick=args.quick, curve=curve, cases=cases, sha_mib_s=sha_mib_s)
    tmp_out = output.with_suffix(".tmp")
    tmp_out.write_text(text, encoding="utf-8")
    tmp_out.replace(output)
    sys.stdout.write(text)
    return 0


def _scratch_outside_checkout() -> None:
    """Scratch registries are git repositories of their own, so they must not sit inside this
    checkout: nox points TMPDIR into .nox/, which this repository ignores (a file added there
    is an ignored path of the checkout, not a file of the scratch registry)."""
    import tempfile

    if Path(tempfile.gettempdir()).resolve().is_relative_to(ROOT):
        for name in ("TMPDIR", "TEMP", "TMP"):
            os.environ.pop(name, None)
        tempfile.tempdir = None
        if Path(tempfile.gettempdir()).resolve().is_relative_to(ROOT):
            raise SystemExit("benchmarks: no temporary directory outside the checkout")


def _run_time(elapsed: float, *, quick: bool) -> Result:
    """The run itself against its budget (only when every scenario ran)."""
    mode = "quick" if quick else "full"
    budget = RUN_BUDGET_S[mode]
    return Result(
        name=f"this benchmark run, every scenario of {mode} mode, end to end",
        command="python benchmarks/run.py" + (" --quick" if quick else ""),
        median_s=elapsed, baseline="", baseline_median_s=None,
        target=f"< {budget / 60:.0f} min", met=elapsed < budget,
        note="one run, not a median; building the synthetic registries included, installing "
        "the tools (`nox -s bench` creates a venv and GTO's) not",
    )  # fmt: skip


def _scaling(
    results: list[Result], tmp: Path, runs: int, sizes: scenarios.Sizes
) -> list[tuple[int, float]]:
    rows, curve = scenarios.fast_scaling(tmp, runs, sizes)
    results.extend(rows)
    return curve


if __name__ == "__main__":
    raise SystemExit(main())
