"""Benchmark runner: whole-process timings, medians of several runs, ratios to a floor.

Writes ``docs/benchmarks.md`` (generated; do not edit by hand). Each scenario is timed as
the user feels it: a fresh process from start to exit. Baselines run in the same session,
interleaved with modelreg, so a noisy machine moves both alike.

    python benchmarks/run.py            # full run
    python benchmarks/run.py --quick    # fewer repetitions, for CI
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "benchmarks.md"


@dataclass(frozen=True)
class Result:
    """One scenario's figures."""

    name: str
    command: str
    median_s: float
    baseline: str
    baseline_median_s: float
    target: str
    met: bool
    note: str


def time_commands(commands: Sequence[Sequence[str]], runs: int, cwd: Path) -> list[float]:
    """Median wall time of each command, run interleaved ``runs`` times."""
    samples: list[list[float]] = [[] for _ in commands]
    env = dict(os.environ, NO_COLOR="1")
    for _ in range(runs):
        for i, cmd in enumerate(commands):
            start = time.perf_counter()
            subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, check=False)
            samples[i].append(time.perf_counter() - start)
    return [statistics.median(s) for s in samples]


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


def bench_p50_vs_plain_loop(runs: int) -> Result:
    """`modelreg bench` p50 vs an independent perf_counter_ns loop over the same model."""
    import json

    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    version = ROOT / "models" / "bert-classifier" / "1.1.0"
    n = 1000
    medians: list[float] = []
    plain: list[float] = []
    for _ in range(max(3, runs // 7)):
        proc = subprocess.run(
            [sys.executable, "-m", "modelreg", "bench", "bert-classifier@1.1.0", "--output",
             "json", "--runs", str(n)],
            cwd=ROOT, capture_output=True, text=True, check=True,
        )  # fmt: skip
        medians.append(json.loads(proc.stdout)["results"][0]["p50_ms"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(
            str(version / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
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
        plain.append(statistics.median(times) / 1e6)
    ours, base = statistics.median(medians), statistics.median(plain)
    return Result(
        name="bench p50, bert-classifier 1.1.0, batch 1 (1,000 runs)",
        command="python -m modelreg bench bert-classifier@1.1.0 --output json",
        median_s=ours / 1000,
        baseline="plain perf_counter_ns loop, same model and inputs",
        baseline_median_s=base / 1000,
        target="ratio within 0.9-1.1",
        met=0.9 <= ours / base <= 1.1,
        note=f"medians of {len(medians)} interleaved repetitions; figures in seconds per call",
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


def _seconds(value: float) -> str:
    return f"{value:.3f} s" if value >= 0.01 else f"{value * 1e6:.1f} µs"


def render(results: Sequence[Result], runs: int) -> str:
    """The Markdown page."""
    lines = [
        "<!-- Generated by benchmarks/run.py; do not edit by hand. -->",
        "# Benchmarks",
        "",
        "Whole-process wall time, median of interleaved runs; a baseline measured in the same",
        "run gives the ratio. Regenerate with `nox -s bench` (or `python benchmarks/run.py`).",
        "",
        f"Machine: {machine()}. Runs per scenario: {runs}.",
        "",
        "| Scenario | modelreg median | Baseline | Baseline median | Ratio | Target | Met |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        ratio = r.median_s / r.baseline_median_s if r.baseline_median_s else float("nan")
        lines.append(
            f"| {r.name} | {_seconds(r.median_s)} | {r.baseline} | "
            f"{_seconds(r.baseline_median_s)} | {ratio:.2f}x | {r.target} | "
            f"{'yes' if r.met else '**no**'} |"
        )
    lines.append("")
    for r in results:
        lines.append(f"- {r.name}: `{r.command}`. {r.note}.")
    lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every scenario and write docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="few repetitions (CI)")
    parser.add_argument("--runs", type=int, help="repetitions per scenario")
    parser.add_argument("--output", type=Path, default=OUT, help="Markdown file to write")
    args = parser.parse_args(argv)
    runs = args.runs or (5 if args.quick else 21)
    # Installed wheels ship byte-code; an editable checkout under PYTHONDONTWRITEBYTECODE
    # would otherwise recompile every module on every run and time the compiler.
    compileall.compile_dir(ROOT / "src", quiet=1)
    results = [
        bench_validate_fast(runs),
        bench_p50_vs_plain_loop(runs),
        bench_hooks_no_model_change(runs),
        bench_deep_cache_hit(max(3, runs // 3)),
    ]
    text = render(results, runs)
    tmp = args.output.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(args.output)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
