"""Deep checks of a whole registry on the warm worker pool vs one plain process (issue #19)."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import synthetic
from scenarios import MODELREG, PY, Sizes, _ratio
from timing import Result, time_commands

#: One process that imports onnx and onnxruntime once and, per version, does what a deep
#: check must at least do: hash the file, run onnx's full checker, open a session and run the
#: golden vectors. No isolation, no metadata, no evaluation: the floor, not a competitor.
FLOOR = textwrap.dedent(
    """\
    import hashlib, sys
    from pathlib import Path
    import numpy as np, onnx, onnxruntime as ort
    from onnx import numpy_helper
    for vdir in sorted(Path("models").glob("*/*.*.*")):
        model = vdir / "model.onnx"
        hashlib.sha256(model.read_bytes()).hexdigest()
        onnx.checker.check_model(str(model), full_check=True)
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        s = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        for case in sorted(vdir.glob("test_data_set_*")):
            feeds = {}
            for i, meta in enumerate(s.get_inputs()):
                t = onnx.load_tensor(str(case / f"input_{i}.pb"))
                feeds[meta.name] = numpy_helper.to_array(t)
            got = s.run(None, feeds)
            want = numpy_helper.to_array(onnx.load_tensor(str(case / "output_0.pb")))
            assert np.allclose(got[0], want, rtol=1e-4, atol=1e-5)
    """
)


def rows(tmp: Path, runs: int, sizes: Sizes) -> list[Result]:
    """The registry-scale deep rows: 100 small versions vs the floor, and 100 vs 400."""
    small, large = sizes.pool_versions
    timed: dict[int, tuple[float, float, str]] = {}
    for count in (small, large):
        built = synthetic.build(tmp / f"pool-{count}", count // 10, 10, git=True)
        ours = [*MODELREG, "validate", "--no-cache"]
        jobs1 = [*MODELREG, "validate", "--no-cache", "--jobs", "1"]
        floor = [PY, "-c", FLOOR]
        for cmd in (ours, jobs1, floor):
            done = subprocess.run(cmd, cwd=built.root, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"{' '.join(cmd[2:])} failed on {count} versions: {done.stderr}")
        t_ours, t_one, t_floor = time_commands([ours, jobs1, floor], runs, built.root)
        timed[count] = (t_ours, t_floor, f"`--jobs 1`: {t_one:.2f} s")
    t_small, floor_small, one_small = timed[small]
    t_large, floor_large, one_large = timed[large]
    per_small, per_large = t_small / small, t_large / large
    return [
        Result(
            name=f"deep `validate --no-cache` of {small} small versions vs one plain process",
            command=f"modelreg validate --no-cache (synthetic {small // 10}x10, 2 workers)",
            median_s=t_small,
            baseline="one process: import onnx+onnxruntime once; per version sha256, "
            "check_model(full_check=True), session, golden vectors",
            baseline_median_s=floor_small,
            target="ratio <= 3.0",
            met=_ratio(t_small, floor_small) <= 3.0,
            note=f"{one_small}; modelreg also validates every YAML file against its schema, "
            "scores the evaluation data and runs the registry-wide checks, in isolated workers "
            "(issue #19 measured 89x with one fresh interpreter per version)",
        ),
        Result(
            name=f"deep validate cost per version at {small} vs {large} versions",
            command=f"modelreg validate --no-cache (synthetic {small // 10}x10, {large // 10}x10)",
            median_s=per_large,
            baseline=f"cost per version at {small} versions",
            baseline_median_s=per_small,
            target="ratio <= 1.2 (flat)",
            met=_ratio(per_large, per_small) <= 1.2,
            note=f"{large} versions: {t_large:.2f} s ({one_large}); plain process "
            f"{floor_large:.2f} s, i.e. {t_large / floor_large:.2f}x",
        ),
    ]
