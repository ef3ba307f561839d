"""External validity: modelreg's deep checks on the models and test data inside the onnx wheel.

For every model in ``onnx/backend/test/data/{simple,pytorch-converted,pytorch-operator}``
this writes a registry in which each model is one model with one version: the ONNX file, its
``test_data_set_N`` directories as golden vectors (the onnx backend runner's tolerances,
rtol 1e-3 and atol 1e-7), and metadata whose ``artifact`` and ``onnx`` blocks come from
``modelreg inspect``'s code. The schema requires an ``evaluation`` block; these models come
without labelled data, so it is a minimal valid one and the metric rules (MR405-MR408) are
ignored. One deep ``modelreg validate --output json`` checks them all (each version in its own
isolated child, as always), and every version with an error is classified by running the
same model and vectors with a bare onnxruntime session: if that fails too, the failure is an
onnxruntime limitation, otherwise it is a modelreg defect.

    python benchmarks/backend.py          # prints the pass rate and every failure
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUITES = ("simple", "pytorch-converted", "pytorch-operator")
RTOL, ATOL = 1e-3, 1e-7
IGNORED = "MR405,MR406,MR407,MR408"


@dataclass
class Case:
    """One backend test model and what happened to it."""

    suite: str
    test: str
    name: str  # model name in the registry
    error: str = ""  # why metadata could not be written, if so
    findings: list[str] | None = None  # error findings of the deep validate
    bare: str = ""  # "" when a bare onnxruntime session reproduces the vectors, else why not

    @property
    def passed(self) -> bool:
        """Deep validate reported no error for this version."""
        return not self.error and not self.findings

    @property
    def verdict(self) -> str:
        """pass, onnxruntime limitation, or modelreg defect."""
        if self.passed:
            return "pass"
        return "onnxruntime limitation" if self.bare else "modelreg defect"


def data_root() -> Path:
    """``onnx/backend/test/data`` of the installed onnx wheel."""
    import onnx

    return Path(onnx.__file__).parent / "backend" / "test" / "data"


def _registry_name(suite: str, test: str) -> str:
    stem = re.sub(r"[^a-z0-9]+", "-", test.lower().removeprefix("test_")).strip("-")
    prefix = {"simple": "s", "pytorch-converted": "c", "pytorch-operator": "o"}[suite]
    return f"{prefix}-{stem}"[:40].rstrip("-")


def _labels_for(outputs: list[dict[str, Any]]) -> tuple[str, int]:
    """The scored output (first tensor output) and a label count its last dim accepts."""
    for io in outputs:
        vtype = io["type"]
        if "tensor" in vtype:
            shape = vtype.get("shape") or []
            last = shape[-1] if shape else None
            return io["name"], last if isinstance(last, int) and last > 0 else 1
    return outputs[0]["name"], 1


def _write_version(root: Path, case: Case, source: Path) -> None:
    from modelreg.onnx.facts import dump_yaml, inspect_file

    mdir = root / "models" / case.name
    vdir = mdir / "1.0.0"
    vdir.mkdir(parents=True)
    shutil.copyfile(source / "model.onnx", vdir / "model.onnx")
    sets = sorted(p for p in source.iterdir() if p.is_dir() and p.name.startswith("test_data_set"))
    for s in sets:
        shutil.copytree(s, vdir / s.name)
    facts = inspect_file(vdir / "model.onnx")
    scored, classes = _labels_for(facts["onnx"]["outputs"])
    (mdir / "data").mkdir()
    (mdir / "data" / "eval.npz").write_bytes(b"no labelled data for backend test models\n")
    meta = {
        "model": case.name,
        "version": "1.0.0",
        "release_date": "2024-01-01",
        "summary": f"onnx backend test {case.suite}/{case.test}.",
        "changes": ["Imported from the onnx wheel"],
        "artifact": facts["artifact"],
        "onnx": facts["onnx"],
        "training": {"dataset": {"name": "none", "version": "0", "samples": 1}},
        "evaluation": {
            "data": {"path": "../data/eval.npz", "sha256": "0" * 64, "samples": 1},
            "output": scored,
            "metrics": {"accuracy": 0, "f1": {"value": 0, "average": "macro"}},
        },
        "test_vectors": [{"path": s.name, "rtol": RTOL, "atol": ATOL} for s in sets],
    }
    (vdir / "metadata.yaml").write_text(dump_yaml(meta), encoding="utf-8")
    labels = ", ".join(f"c{i}" for i in range(classes))
    (mdir / "model.yaml").write_text(
        f"name: {case.name}\ntitle: {case.test}\ndescription: onnx backend test model.\n"
        f"task: other\ntag_prefix: {case.name}\nowners: ['@bench/ml']\nlabels: [{labels}]\n"
        "lifecycle:\n  1.0.0:\n    status: production\n",
        encoding="utf-8",
    )


BARE = (
    textwrap.dedent(
        """\
    import sys, glob, os
    import numpy as np, onnx, onnxruntime as ort
    from onnx import numpy_helper
    d = sys.argv[1]
    def load(path, tp):
        data = open(path, "rb").read()
        kind = tp.WhichOneof("value")
        if kind == "sequence_type":
            p = onnx.SequenceProto(); p.ParseFromString(data)
            return numpy_helper.to_list(p)
        if kind == "optional_type":
            p = onnx.OptionalProto(); p.ParseFromString(data)
            return numpy_helper.to_optional(p)
        p = onnx.TensorProto(); p.ParseFromString(data)
        return numpy_helper.to_array(p)
    try:
        model = onnx.load(os.path.join(d, "model.onnx"))
        inits = {i.name for i in model.graph.initializer}
        ins = [i for i in model.graph.input if i.name not in inits]
        sess = ort.InferenceSession(os.path.join(d, "model.onnx"),
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:
        print(f"session: {type(exc).__name__}: {str(exc).splitlines()[0][:600]}"); sys.exit()
    for s in sorted(glob.glob(os.path.join(d, "test_data_set_*"))):
        feeds = {i.name: load(os.path.join(s, f"input_{k}.pb"), i.type)
                 for k, i in enumerate(ins) if os.path.exists(os.path.join(s, f"input_{k}.pb"))}
        try:
            got = sess.run(None, feeds)
        except Exception as exc:
            print(f"run: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"); sys.exit()
        for k, o in enumerate(model.graph.output):
            want = load(os.path.join(s, f"output_{k}.pb"), o.type)
            a, e = (got[k], want) if isinstance(want, list) else ([got[k]], [want])
            for x, y in zip(a, e):
                try:
                    np.testing.assert_allclose(
                        np.asarray(x), np.asarray(y), rtol=@RTOL@, atol=@ATOL@)
                except AssertionError:
                    print(f"mismatch in {os.path.basename(s)} output {k}"); sys.exit()
    """
    )
    .replace("@RTOL@", repr(RTOL))
    .replace("@ATOL@", repr(ATOL))
)


def bare_check(version_dir: Path) -> str:
    """Run the model and its vectors with a bare onnxruntime session; "" when they agree."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", BARE, str(version_dir)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return "timeout"
    if done.returncode != 0:
        return f"crashed (exit {done.returncode})"
    return done.stdout.strip()


def run(workdir: Path | None = None, suites: Sequence[str] = SUITES) -> list[Case]:
    """Build the registry, validate it deep, classify every failure."""
    with tempfile.TemporaryDirectory() as tmp:
        root = (workdir or Path(tmp)) / "backend-registry"
        (root / "models").mkdir(parents=True)
        cases: list[Case] = []
        for suite in suites:
            for source in sorted((data_root() / suite).iterdir()):
                if not (source / "model.onnx").is_file():
                    continue
                case = Case(suite, source.name, _registry_name(suite, source.name))
                cases.append(case)
                try:
                    _write_version(root, case, source)
                except Exception as exc:  # noqa: BLE001 - a model inspect cannot read is a result
                    case.error = f"inspect: {type(exc).__name__}: {exc}"
                    shutil.rmtree(root / "models" / case.name, ignore_errors=True)
        env = dict(os.environ, MODELREG_NO_CACHE="1", NO_COLOR="1")
        # One shard per core (`validate --shard`, as a CI matrix would split it), at once.
        shards = max(1, os.cpu_count() or 1)
        base = [sys.executable, "-m", "modelreg", "validate", "--output", "json",
                "--ignore", IGNORED, "--root", str(root)]  # fmt: skip
        procs = [
            subprocess.Popen(
                [*base, "--shard", f"{i}/{shards}"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for i in range(1, shards + 1)
        ]
        findings: list[dict[str, Any]] = []
        for proc in procs:
            stdout, stderr = proc.communicate()
            try:
                findings += json.loads(stdout)["findings"]
            except (json.JSONDecodeError, KeyError):
                raise SystemExit(f"validate printed no JSON report: {stderr[-2000:]}") from None
        errors: dict[str, list[str]] = {}
        for f in findings:
            if f["severity"] != "error":
                continue
            parts = Path(f["path"]).parts
            name = parts[1] if len(parts) > 1 and parts[0] == "models" else ""
            errors.setdefault(name, []).append(f"{f['rule']} {f['message']}")
        for case in cases:
            if not case.error:
                case.findings = errors.get(case.name, [])
        failed = [c for c in cases if not c.passed]
        with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
            verdicts = pool.map(lambda c: bare_check(root / "models" / c.name / "1.0.0"), failed)
            for case, verdict in zip(failed, verdicts, strict=True):
                case.bare = verdict
        if errors.get(""):
            raise SystemExit(f"findings outside any model: {errors['']}")
    return cases


def main(argv: Sequence[str] | None = None) -> int:
    """Print the pass rate and every failure."""
    del argv
    cases = run()
    passed = sum(c.passed for c in cases)
    sys.stdout.write(f"{passed}/{len(cases)} passed\n")
    for c in cases:
        if not c.passed:
            why = c.error or "; ".join(c.findings or [])
            sys.stdout.write(f"{c.suite}/{c.test}: {c.verdict}: {why[:300]} | bare: {c.bare}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
