"""``modelreg add``: a version whose facts were measured, that validate passes unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import Registry, demo_model
from modelreg.cli import main

ARGS = [
    "--dataset-name", "demo-data", "--dataset-version", "2.0", "--dataset-samples", "100",
    "--summary", "Heavier weights.", "--change", "Retrained", "--migration", "Drop-in",
    "--date", "2024-02-01", "--sample", "4",
]  # fmt: skip


@pytest.fixture
def onnx_file(tmp_path: Path) -> Path:
    path = tmp_path / "candidate.onnx"
    path.write_bytes(demo_model(2.0).SerializeToString())
    return path


@pytest.mark.slow
def test_added_version_validates_unchanged(
    registry: Registry, onnx_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    eval_file = registry.path("models/demo/data/eval.npz")
    code = main(["add", "demo", "1.2.0", "--onnx", str(onnx_file), "--eval", str(eval_file), *ARGS])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "added models/demo/1.2.0/ as candidate: accuracy 0.8000, F1 (binary) 0.8000" in err
    meta = registry.read("models/demo/1.2.0/metadata.yaml")
    assert "accuracy: 0.8\n" in meta and "version: '2.0'" in meta
    assert registry.read("models/demo/model.yaml").endswith("  1.2.0:\n    status: candidate\n")
    assert sorted(p.name for p in registry.path("models/demo/1.2.0/test_data_set_0").iterdir()) == [
        "input_0.pb",
        "output_0.pb",
    ]
    assert main(["validate"]) == 0, capsys.readouterr().out
    # The measured claim is really checked: editing it past 1/N fails.
    registry.replace("models/demo/1.2.0/metadata.yaml", "accuracy: 0.8", "accuracy: 0.95")
    assert main(["validate"]) == 1
    assert " MR405 accuracy claims 0.95" in capsys.readouterr().out


def test_dry_run_writes_nothing(
    registry: Registry, onnx_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = registry.read("models/demo/model.yaml")
    eval_file = registry.path("models/demo/data/eval.npz")
    argv = ["add", "demo", "1.2.0", "--onnx", str(onnx_file), "--eval", str(eval_file), "-n"]
    assert main([*argv, *ARGS]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("# yaml-language-server") and "would create models/demo/1.2.0/" in err
    assert not registry.path("models/demo/1.2.0").exists()
    assert registry.read("models/demo/model.yaml") == before


def test_existing_version_is_refused(
    registry: Registry, onnx_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    eval_file = registry.path("models/demo/data/eval.npz")
    code = main(["add", "demo", "1.1.0", "--onnx", str(onnx_file), "--eval", str(eval_file), *ARGS])
    assert code == 1
    assert "models/demo/1.1.0 already exists; released versions are immutable" in (
        capsys.readouterr().err
    )


def test_failure_leaves_no_half_version(
    registry: Registry, onnx_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np

    bad_eval = tmp_path / "eval-without-inputs.npz"
    with bad_eval.open("wb") as fh:
        np.savez(fh, labels=np.zeros(3, dtype=np.int64))
    code = main(["add", "demo", "1.2.0", "--onnx", str(onnx_file), "--eval", str(bad_eval), *ARGS])
    assert code == 1
    assert "lacks arrays ['input_ids']" in capsys.readouterr().err
    leftovers = [p.name for p in registry.path("models/demo").iterdir()]
    assert sorted(leftovers) == ["1.0.0", "1.1.0", "data", "model.yaml"]


@pytest.mark.parametrize(
    ("version", "message"), [("1.2", "not a semantic version"), ("01.2.0", "not a semantic")]
)
def test_bad_version_is_a_usage_error(
    registry: Registry,
    onnx_file: Path,
    capsys: pytest.CaptureFixture[str],
    version: str,
    message: str,
) -> None:
    code = main(["add", "demo", version, "--onnx", str(onnx_file), "--eval", "x.npz", *ARGS])
    assert code == 2
    assert message in capsys.readouterr().err


def test_failure_while_assembling_removes_the_staging_directory(
    registry: Registry,
    onnx_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from modelreg.commands import add
    from modelreg.errors import ModelregError

    real_child = add._child

    def failing_golden(
        task: str, path: Path, spec: dict[str, object] | None = None, **kwargs: Any
    ) -> object:
        if task == "golden":
            assert path.parent.name.startswith(".add-1.2.0-")  # inside the staging directory
            raise ModelregError("golden vectors failed")
        return real_child(task, path, spec, **kwargs)

    monkeypatch.setattr(add, "_child", failing_golden)
    eval_file = registry.path("models/demo/data/eval.npz")
    code = main(["add", "demo", "1.2.0", "--onnx", str(onnx_file), "--eval", str(eval_file), *ARGS])
    assert code == 1
    assert "golden vectors failed" in capsys.readouterr().err
    leftovers = sorted(p.name for p in registry.path("models/demo").iterdir())
    assert leftovers == ["1.0.0", "1.1.0", "data", "model.yaml"]


def _add(registry: Registry, onnx_file: Path, *extra: str, version: str = "1.2.0") -> list[str]:
    eval_file = registry.path("models/demo/data/eval.npz")
    return ["add", "demo", version, "--onnx", str(onnx_file), "--eval", str(eval_file), *extra]


def test_latency_is_measured_and_stored_with_the_fingerprint(
    registry: Registry, onnx_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelreg.onnx.timing import environment
    from modelreg.yamlload import load_file

    assert main(_add(registry, onnx_file, *ARGS, "--runs", "200")) == 0
    assert ", p99 " in capsys.readouterr().err
    meta = load_file(registry.path("models/demo/1.2.0/metadata.yaml"), "metadata.yaml").data
    stored = meta["evaluation"]["latency"]
    assert stored["runs"] == 200 and stored["warmup"] == 50 and stored["batch_size"] == 1
    assert 0 < stored["p50_ms"] <= stored["p90_ms"] <= stored["p99_ms"] <= stored["max_ms"]
    assert stored["input_shapes"] == {"input_ids": [1, 3]}
    assert stored["environment"]["fingerprint"] == environment()["fingerprint"]


def test_runs_zero_stores_no_latency(
    registry: Registry, onnx_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_add(registry, onnx_file, *ARGS, "--runs", "0")) == 0
    assert "latency:" not in registry.read("models/demo/1.2.0/metadata.yaml")


def test_from_previous_takes_data_set_eval_and_tolerances_and_marks_todo(
    registry: Registry, onnx_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["add", "demo", "1.2.0", "--onnx", str(onnx_file), "--from", "1.1.0", "--runs", "50"]
    assert main([*argv, "--date", "2024-02-01"]) == 0, capsys.readouterr().err
    meta = registry.read("models/demo/1.2.0/metadata.yaml")
    assert "name: sentiment-analysis\n    version: '1.0'\n    samples: 50000" in meta
    assert "path: ../data/eval.npz" in meta
    assert "rtol: 1.0e-05\n    atol: 1.0e-06" in meta  # 1.1.0's tolerances, not the defaults
    assert "summary: 'TODO: one line about this version'" in meta
    assert "migration: 'TODO: how to move from v1.1.0'" in meta
    assert main(["validate", "models/demo/1.2.0"]) == 1
    out = capsys.readouterr().out
    assert "MR508" in out and "summary" in out


def test_without_from_the_data_set_is_required(
    registry: Registry, onnx_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_add(registry, onnx_file, "--summary", "x")) == 2
    err = capsys.readouterr().err
    assert "--dataset-name, --dataset-version, --dataset-samples required" in err


def test_a_held_lock_refuses_a_second_add_and_a_killed_holders_lock_is_free(
    registry: Registry, onnx_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import subprocess
    import sys

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from modelreg import "
         "storage\nwith storage.model_lock(Path(sys.argv[1]), 'demo', 'modelreg add demo'):\n"
         "    print('locked', flush=True); time.sleep(120)", str(registry.root)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        assert main(_add(registry, onnx_file, *ARGS, "--runs", "10")) == 1
        assert f"another `modelreg add` (pid {holder.pid}: " in capsys.readouterr().err
        assert not registry.path("models/demo/1.2.0").exists()
    finally:
        holder.kill()  # SIGKILL: the kernel releases its lock, nothing is left to take over
        holder.communicate()
    assert main(_add(registry, onnx_file, *ARGS, "--runs", "10")) == 0
    assert not registry.path("models/demo/.add.lock").exists()


def test_concurrent_adds_never_lose_a_lifecycle_entry(registry: Registry, onnx_file: Path) -> None:
    import subprocess
    import sys

    commands = [
        [sys.executable, "-m", "modelreg", *_add(registry, onnx_file, *ARGS, version=v)]
        for v in ("1.2.0", "1.3.0")
    ]
    procs = [
        subprocess.Popen(c, cwd=registry.root, stderr=subprocess.PIPE, text=True) for c in commands
    ]
    errors = [p.communicate()[1] for p in procs]
    results = [(p.returncode, err) for p, err in zip(procs, errors, strict=True)]
    added = [v for v, (code, _) in zip(("1.2.0", "1.3.0"), results, strict=True) if code == 0]
    for code, err in results:
        assert code == 0 or "another `modelreg add`" in err, err
    assert added  # at least one got through
    model_yaml = registry.read("models/demo/model.yaml")
    for version in ("1.2.0", "1.3.0"):
        listed = f"  {version}:\n    status: candidate\n" in model_yaml
        assert listed == (version in added) == registry.path(f"models/demo/{version}").is_dir()
    assert main(["validate", "--fast"]) == 0


def test_external_data_is_copied_hashed_and_validates(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import onnx

    source = tmp_path / "ext"
    (source / "weights").mkdir(parents=True)
    model = demo_model(2.0)
    onnx.save_model(model, source / "model.onnx", save_as_external_data=True,
                    all_tensors_to_one_file=True, location="weights/model.data",
                    size_threshold=0)  # fmt: skip
    assert main(_add(registry, source / "model.onnx", *ARGS, "--runs", "20")) == 0, (
        capsys.readouterr().err
    )
    meta = registry.read("models/demo/1.2.0/metadata.yaml")
    assert "external_data:\n    - path: weights/model.data\n" in meta
    copied = registry.path("models/demo/1.2.0/weights/model.data")
    assert copied.read_bytes() == (source / "weights/model.data").read_bytes()
    assert main(["validate", "models/demo/1.2.0"]) == 0, capsys.readouterr().out


@pytest.mark.slow
def test_skl2onnx_classifier_with_zipmap_validates_unchanged(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    np = pytest.importorskip("numpy")
    sklearn_linear = pytest.importorskip("sklearn.linear_model")
    skl2onnx = pytest.importorskip("skl2onnx")
    from sklearn.metrics import accuracy_score, f1_score

    rng = np.random.default_rng(7)
    x = rng.normal(size=(300, 4)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.5, size=300) > 0).astype(np.int64)
    clf = sklearn_linear.LogisticRegression().fit(x[:200], y[:200])
    onx = skl2onnx.to_onnx(clf, x[:1], target_opset={"": 17, "ai.onnx.ml": 3})
    model_file = tmp_path / "clf.onnx"
    model_file.write_bytes(onx.SerializeToString())
    eval_file = tmp_path / "tabular-eval.npz"
    np.savez(eval_file, X=x[200:], labels=y[200:])
    argv = ["add", "demo", "2.0.0", "--onnx", str(model_file), "--eval", str(eval_file),
            "--output-name", "output_label", *ARGS, "--runs", "50"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    meta = registry.read("models/demo/2.0.0/metadata.yaml")
    assert "sequence:\n          map:\n            key: int64\n" in meta
    # The metrics agree with scikit-learn's on the same rows.
    predicted = clf.predict(x[200:])
    assert f"accuracy: {round(accuracy_score(y[200:], predicted), 6)}" in meta
    assert f"value: {round(f1_score(y[200:], predicted), 6)}" in meta
    assert main(["validate", "models/demo/2.0.0"]) == 0, capsys.readouterr().out
    # The ZipMap output's golden vector is really compared: perturb one probability.
    from onnx import SequenceProto, numpy_helper

    pb = registry.path("models/demo/2.0.0/test_data_set_0/output_1.pb")
    seq = SequenceProto()
    seq.ParseFromString(pb.read_bytes())
    probs = numpy_helper.to_list(seq)
    probs[2][1] = np.asarray(probs[2][1] + 0.25, dtype=np.float32)
    pb.write_bytes(numpy_helper.from_list(probs, seq.name).SerializeToString())
    assert main(["validate", "models/demo/2.0.0"]) == 1
    out = capsys.readouterr().out
    assert "output_1.pb: `output_probability` differs beyond" in out and "at [2][1]" in out


def test_in_a_registry_with_overlays_add_writes_the_version_overlay(
    registry: Registry, onnx_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gitops_support import add_overlays

    add_overlays(registry.root, {"demo": ["1.1.0"]}, {"demo": "1.1.0"})
    assert main(_add(registry, onnx_file, *ARGS, "--runs", "10")) == 0
    assert "wrote overlays/demo/v1.2.0/ (deploy it with `modelreg promote`)" in (
        capsys.readouterr().err
    )
    assert registry.path("overlays/demo/v1.2.0/kustomization.yaml").is_file()
    assert "1.2.0" in registry.read("overlays/demo/v1.2.0/kustomization.yaml")
    # The overlay is exactly what the generator makes: no stale-overlay finding.
    assert main(["validate", "--fast", "--select", "MR6"]) == 0, capsys.readouterr().out


def test_metadata_the_schema_refuses_is_refused_before_anything_is_written(
    registry: Registry, onnx_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by a user: --dataset-samples 0 was measured, written, and failed only at the page
    # render, leaving the version behind. Now the assembled metadata is checked first.
    def tree() -> dict[Path, bytes]:  # the work tree (the lock file in .git/ stays, by design)
        files = sorted(registry.root.rglob("*"))
        return {p: p.read_bytes() for p in files if p.is_file() and ".git" not in p.parts}

    before = tree()
    args = [a if a != "100" else "0" for a in ARGS]
    assert main(_add(registry, onnx_file, *args, "--runs", "0")) == 2
    assert capsys.readouterr().err == (
        "modelreg: error: --dataset-samples: 0 is less than the minimum of 1; nothing was written\n"
    )
    assert tree() == before
