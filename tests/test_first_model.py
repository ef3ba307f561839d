"""A team's first model, end to end, with real git, git-lfs and the installed pre-commit hooks.

``init`` → ``add`` of a new model (its card written by ``add``) → ``pre-commit install`` →
``git commit`` passes the hooks on the first try; every writing command after it (``promote``
to staging and production, ``rollback``, ``release``, the next ``add``) leaves a registry
whose own checks pass and whose work tree is clean; a failed ``add`` leaves nothing behind.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import demo_model, write_eval_data
from modelreg.cli import main
from test_init import env, run

REPO_URL = "https://git.acme.internal/ml/model-registry.git"

#: The card of the new model, from add's flags.
CARD = [
    "--title", "Demo Classifier", "--description", "Sentiment of support tickets.",
    "--task", "text-classification", "--owner", "@acme/ml", "--labels", "negative,positive",
]  # fmt: skip
#: The rest of a complete add (nothing left TODO).
VERSION = [
    "--dataset-name", "tickets", "--dataset-version", "1", "--dataset-samples", "100",
    "--summary", "First version.", "--change", "Initial release", "--sample", "2",
]  # fmt: skip

HOOKS = (
    "modelreg: metadata schema and layout (fast)",
    "modelreg: ONNX artifact matches its metadata (deep, cached)",
    "modelreg: released versions are frozen, tags and LFS storage are right",
    "modelreg: overlays build and pass the deployment policy",
    "modelreg: registry page and model cards are current",
)


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    """A small real ONNX model and its evaluation file, outside the registry."""
    onnx_file = tmp_path / "inputs" / "model.onnx"
    onnx_file.parent.mkdir()
    onnx_file.write_bytes(demo_model(0.5).SerializeToString())
    eval_file = tmp_path / "inputs" / "eval.npz"
    write_eval_data(eval_file)
    return onnx_file, eval_file


def _init(tmp_path: Path, environ: dict[str, str]) -> Path:
    reg = tmp_path / "reg"
    run(["modelreg", "init", str(reg), "--repo-url", REPO_URL], tmp_path, environ)
    run(["git", "lfs", "install", "--local"], reg, environ)
    return reg


def _own_checks_pass(reg: Path, environ: dict[str, str]) -> None:
    """What the hooks and CI check after a writing command, and a clean work tree."""
    run(["modelreg", "render", "--check"], reg, environ)
    run(["modelreg", "overlays", "--check"], reg, environ)
    run(["modelreg", "validate", "--fast"], reg, environ)
    assert run(["git", "status", "--porcelain"], reg, environ).stdout == ""


def _changed(reg: Path, environ: dict[str, str]) -> list[str]:
    return run(["git", "show", "--format=", "--name-only", "HEAD"], reg, environ).stdout.split()


@pytest.mark.slow
def test_init_add_commit_promote_rollback_release_with_the_hooks(
    tmp_path: Path, inputs: tuple[Path, Path]
) -> None:
    environ = env(tmp_path)
    onnx_file, eval_file = inputs
    reg = _init(tmp_path, environ)
    run(["pre-commit", "install"], reg, environ)
    added = run(
        ["modelreg", "add", "demo", "1.0.0", "--onnx", str(onnx_file), "--eval", str(eval_file),
         *CARD, *VERSION, "--runs", "50"],
        reg, environ,
    )  # fmt: skip
    assert "wrote models/demo/model.yaml (new model)" in added.stderr
    assert "still TODO" not in added.stderr
    card = (reg / "models/demo/model.yaml").read_text(encoding="utf-8")
    assert "title: Demo Classifier\n" in card and "  - '@acme/ml'\n" in card
    assert (
        "lifecycle:\n  1.0.0:\n    status: candidate\ngates:\n  max_accuracy_drop: 0.005\n" in card
    )

    # The first commit passes every hook on the first try.
    run(["git", "add", "-A"], reg, environ)
    first = run(["git", "commit", "-m", "Add demo 1.0.0"], reg, environ)
    output = first.stdout + first.stderr  # git prints the hooks' report on stderr
    for hook in HOOKS:
        assert f"{hook}..." in output, output
    assert "Passed" in output and "Failed" not in output and "Skipped" not in output
    blob = run(["git", "show", "HEAD:models/demo/1.0.0/model.onnx"], reg, environ).stdout
    assert blob.startswith("version https://git-lfs.github.com/spec/v1")  # stored in LFS
    _own_checks_pass(reg, environ)

    # Each promotion is one commit made through the hooks, with the pages it changes.
    run(["modelreg", "promote", "demo", "1.0.0", "--env", "staging", "--commit"], reg, environ)
    assert _changed(reg, environ) == [
        "MODEL_REGISTRY.md",
        "docs/models/demo.md",
        "overlays/staging/demo.alias.yaml",
        "overlays/staging/kustomization.yaml",
    ]
    _own_checks_pass(reg, environ)
    run(["modelreg", "promote", "demo", "1.0.0", "--env", "production", "--commit",
         "--runs", "20"], reg, environ)  # fmt: skip
    assert "models/demo/model.yaml" in _changed(reg, environ)
    assert "Modelreg-Gates: passed" in run(["git", "log", "-1", "--format=%B"], reg, environ).stdout
    _own_checks_pass(reg, environ)

    # The rollback is a commit through the hooks too, and returns model.yaml as it was.
    run(["modelreg", "rollback", "demo", "--env", "production"], reg, environ)
    assert (reg / "models/demo/model.yaml").read_text(encoding="utf-8") == card
    assert "Modelreg-Rollback:" in run(["git", "log", "-1", "--format=%B"], reg, environ).stdout
    _own_checks_pass(reg, environ)

    # release writes tags only; the registry stays as its hooks want it.
    released = run(["modelreg", "release"], reg, environ)
    assert "created demo-v1.0.0 at " in released.stdout
    _own_checks_pass(reg, environ)
    run(["modelreg", "validate", "--fast", "--select", "MR7"], reg, environ)

    # The next version of the now existing model commits through the hooks as well.
    run(["modelreg", "add", "demo", "1.1.0", "--onnx", str(onnx_file), "--from", "1.0.0",
         "--summary", "Same weights.", "--change", "Rebuilt", "--migration", "Drop-in",
         "--runs", "0"], reg, environ)  # fmt: skip
    run(["git", "add", "-A"], reg, environ)
    second = run(["git", "commit", "-m", "Add demo 1.1.0"], reg, environ)
    assert "Passed" in second.stderr and "Failed" not in second.stdout + second.stderr
    _own_checks_pass(reg, environ)


@pytest.mark.slow
def test_a_candidate_only_model_is_valid_until_production_runs_it(
    tmp_path: Path, inputs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    onnx_file, eval_file = inputs
    reg = tmp_path / "reg"
    assert main(["init", str(reg), "--repo-url", REPO_URL]) == 0
    argv = ["add", "demo", "1.0.0", "--onnx", str(onnx_file), "--eval", str(eval_file)]
    assert main([*argv, *CARD, *VERSION, "--runs", "0", "--root", str(reg)]) == 0
    capsys.readouterr()
    assert main(["validate", "--fast", "--root", str(reg)]) == 0, capsys.readouterr().out
    assert main(["validate", "--root", str(reg)]) == 0, capsys.readouterr().out  # deep
    capsys.readouterr()

    # A version that left the candidate stage needs a production version.
    card = reg / "models/demo/model.yaml"
    text = card.read_text(encoding="utf-8")
    card.write_text(text.replace("status: candidate", "status: deprecated"), encoding="utf-8")
    assert main(["validate", "--fast", "--root", str(reg), "--select", "MR504"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("models/demo/model.yaml:14:1: MR504 exactly one version must be")
    card.write_text(text, encoding="utf-8")

    # So does a model the production environment runs (without promote: by hand).
    env_file = reg / "overlays/production/kustomization.yaml"
    env_text = env_file.read_text(encoding="utf-8")
    assert "resources: []\n" in env_text
    env_file.write_text(
        env_text.replace("resources: []\n", "resources:\n  - ../demo/v1.0.0\n"), encoding="utf-8"
    )
    assert main(["validate", "--fast", "--root", str(reg), "--select", "MR504"]) == 1
    assert "MR504 the production environment runs demo 1.0.0, but no version is `production`" in (
        capsys.readouterr().out
    )


def test_an_empty_lifecycle_is_valid_and_add_fills_it(
    tmp_path: Path, inputs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    onnx_file, eval_file = inputs
    reg = tmp_path / "reg"
    assert main(["init", str(reg), "--repo-url", REPO_URL]) == 0
    card = reg / "models/demo/model.yaml"
    card.parent.mkdir()
    card.write_text(
        "name: demo\ntitle: Demo\ndescription: A demo.\ntask: other\ntag_prefix: demo\n"
        "owners: ['@acme/ml']\nlabels: [negative, positive]\nlifecycle: {}  # none yet\n",
        encoding="utf-8",
    )
    assert main(["validate", "--fast", "--root", str(reg)]) == 0, capsys.readouterr().out
    argv = ["add", "demo", "1.0.0", "--onnx", str(onnx_file), "--eval", str(eval_file)]
    assert main([*argv, *VERSION, "--runs", "0", "--root", str(reg)]) == 0
    assert card.read_text(encoding="utf-8").endswith(
        "lifecycle:  # none yet\n  1.0.0:\n    status: candidate\n"
    )
    capsys.readouterr()
    assert main(["validate", "--fast", "--root", str(reg)]) == 0, capsys.readouterr().out


def test_a_new_model_without_card_flags_gets_todo_placeholders(
    tmp_path: Path, inputs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    onnx_file, eval_file = inputs
    reg = tmp_path / "reg"
    assert main(["init", str(reg), "--repo-url", REPO_URL]) == 0
    argv = ["add", "demo", "1.0.0", "--onnx", str(onnx_file), "--eval", str(eval_file)]
    assert main([*argv, *VERSION, "--runs", "0", "--root", str(reg)]) == 0
    err = capsys.readouterr().err
    assert "still TODO (validate and the pre-commit hook refuse it, MR508): " in err
    assert "models/demo/model.yaml: title; models/demo/model.yaml: description; " in err
    card = (reg / "models/demo/model.yaml").read_text(encoding="utf-8")
    assert "labels:\n  - 'TODO: class 0'\n  - 'TODO: class 1'\n" in card  # logits: [batch, 2]
    assert "task: other\n" in card and "tag_prefix: demo\n" in card
    assert main(["validate", "--fast", "--root", str(reg)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [line.split(": MR508 ")[0] for line in out if " MR508 " in line] == [
        "models/demo/model.yaml:5:8",  # title
        "models/demo/model.yaml:6:14",  # description
        "models/demo/model.yaml:10:5",  # owners
        "models/demo/model.yaml:12:5",  # labels
    ]
    assert all(" MR508 " in line for line in out), out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--title", ""], "--title: '' should be non-empty"),
        (["--owner", "ops team"], "--owner: 'ops team' does not match"),
        (["--labels", "a,a"], "--labels: ['a', 'a'] has non-unique elements"),
        (["--from", "0.9.0"], "--from: demo is a new model, it has no version 0.9.0"),
    ],
)
def test_bad_card_flags_are_refused_before_anything_is_measured(
    tmp_path: Path,
    inputs: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    onnx_file, eval_file = inputs
    reg = tmp_path / "reg"
    assert main(["init", str(reg)]) == 0
    add = ["add", "demo", "1.0.0", "--onnx", str(onnx_file), "--eval", str(eval_file)]
    assert main([*add, *VERSION, *argv, "--root", str(reg)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (reg / "models/demo").exists()


def _tree(reg: Path, environ: dict[str, str]) -> str:
    return run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all"],
               reg, environ).stdout  # fmt: skip


def _leftovers(reg: Path) -> list[str]:
    return sorted(
        p.relative_to(reg).as_posix()
        for p in reg.rglob("*")
        if ".git" not in p.relative_to(reg).parts
        and (p.name.endswith(".modelreg-new") or p.name.startswith(".add-"))
    )


def _corrupt_onnx(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-20])


def _eval_with_wrong_columns(path: Path) -> None:
    with path.open("wb") as fh:
        np.savez(fh, tokens=np.ones((10, 3), dtype=np.int64), labels=np.zeros(10, dtype=np.int64))


@pytest.mark.parametrize("existing", [False, True], ids=["new-model", "existing-model"])
@pytest.mark.parametrize(
    ("breaks", "message"),
    [
        (_corrupt_onnx, "bad.onnx: not a valid ONNX file"),
        (_eval_with_wrong_columns, "lacks arrays ['input_ids']"),
    ],
    ids=["corrupt-onnx", "eval-wrong-columns"],
)
def test_a_failed_add_leaves_nothing_behind(
    tmp_path: Path, inputs: tuple[Path, Path], existing: bool, breaks: object, message: str
) -> None:
    environ = env(tmp_path)
    onnx_file, eval_file = inputs
    reg = _init(tmp_path, environ)
    if existing:
        run(["modelreg", "add", "demo", "1.0.0", "--onnx", str(onnx_file), "--eval",
             str(eval_file), *CARD, *VERSION, "--runs", "0"], reg, environ)  # fmt: skip
    run(["git", "add", "-A"], reg, environ)
    run(["git", "commit", "-q", "-m", "base"], reg, environ)
    bad_onnx, bad_eval = tmp_path / "bad.onnx", tmp_path / "bad-eval.npz"
    bad_onnx.write_bytes(onnx_file.read_bytes())
    bad_eval.write_bytes(eval_file.read_bytes())
    assert callable(breaks)
    breaks(bad_onnx if breaks is _corrupt_onnx else bad_eval)
    before = _tree(reg, environ)
    failed = run(
        ["modelreg", "add", "demo", "1.1.0", "--onnx", str(bad_onnx), "--eval", str(bad_eval),
         *([] if existing else CARD), *VERSION, "--runs", "0"],
        reg, environ, check=False,
    )  # fmt: skip
    assert failed.returncode == 1, failed.stderr
    assert message in failed.stderr and "Traceback" not in failed.stderr
    assert _tree(reg, environ) == before
    assert _leftovers(reg) == []


def test_ctrl_c_during_add_of_a_new_model_leaves_nothing_behind(
    tmp_path: Path, inputs: tuple[Path, Path]
) -> None:
    environ = env(tmp_path)
    onnx_file, eval_file = inputs
    reg = _init(tmp_path, environ)
    run(["git", "add", "-A"], reg, environ)
    run(["git", "commit", "-q", "-m", "base"], reg, environ)
    before = _tree(reg, environ)
    # A long latency measurement: the interrupt lands while the model directory is staged.
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelreg", "add", "demo", "1.0.0", "--onnx", str(onnx_file),
         "--eval", str(eval_file), *CARD, *VERSION, "--runs", "10000000"],
        cwd=reg, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not any((reg / "models").glob(".add-demo-*/1.0.0/test_data_set_0")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "add never staged the model directory"
            time.sleep(0.02)
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert _tree(reg, environ) == before
    assert _leftovers(reg) == []


def test_a_failure_at_the_commit_step_removes_the_temporaries(
    tmp_path: Path,
    inputs: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Killed between writing the temporaries and the journal's commit point: none stays."""
    from modelreg.commands import add
    from modelreg.errors import ModelregError

    onnx_file, eval_file = inputs
    reg = tmp_path / "reg"
    assert main(["init", str(reg), "--repo-url", REPO_URL]) == 0
    argv = ["add", "demo", "1.0.0", "--onnx", str(onnx_file), "--eval", str(eval_file)]
    assert main([*argv, *CARD, *VERSION, "--runs", "0", "--root", str(reg)]) == 0
    before = sorted(p.relative_to(reg).as_posix() for p in reg.rglob("*") if ".git" not in p.parts)
    other_eval = tmp_path / "other-eval.npz"  # a new file in data/: one more temporary
    write_eval_data(other_eval)

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise ModelregError("disk full")

    monkeypatch.setattr(add, "replace_all", refuse)
    argv = ["add", "demo", "1.1.0", "--onnx", str(onnx_file), "--eval", str(other_eval)]
    assert main([*argv, *VERSION, "--runs", "0", "--root", str(reg)]) == 1
    assert "disk full" in capsys.readouterr().err
    after = sorted(p.relative_to(reg).as_posix() for p in reg.rglob("*") if ".git" not in p.parts)
    assert after == before


@pytest.mark.parametrize(("umask", "dirs", "files"), [(0o022, 0o755, 0o644), (0o027, 0o750, 0o640)])
def test_add_creates_directories_and_files_with_the_umasks_modes(
    tmp_path: Path, inputs: tuple[Path, Path], umask: int, dirs: int, files: int
) -> None:
    environ = env(tmp_path)
    onnx_file, eval_file = inputs
    reg = _init(tmp_path, environ)
    proc = subprocess.run(
        ["sh", "-c", f'umask {umask:03o} && exec "$@"', "sh", sys.executable, "-m", "modelreg",
         "add", "demo", "1.0.0", "--onnx", str(onnx_file), "--eval", str(eval_file), *CARD,
         *VERSION, "--runs", "0"],
        cwd=reg, env=environ, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    written = [
        p for top in ("models/demo", "overlays/demo") for p in [reg / top, *(reg / top).rglob("*")]
    ]
    modes = {p.relative_to(reg).as_posix(): p.stat().st_mode & 0o777 for p in written}
    assert modes and all(
        mode == (dirs if (reg / rel).is_dir() else files) for rel, mode in modes.items()
    ), modes


def test_dry_run_of_a_new_model_prints_its_card_and_writes_nothing(
    tmp_path: Path, inputs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    onnx_file, eval_file = inputs
    reg = tmp_path / "reg"
    assert main(["init", str(reg)]) == 0
    before = sorted((reg / "models").iterdir())
    argv = ["add", "demo", "1.0.0", "--onnx", str(onnx_file), "--eval", str(eval_file), "-n"]
    assert main([*argv, *CARD, *VERSION, "--runs", "0", "--root", str(reg)]) == 0
    out = capsys.readouterr().out
    assert "# --- models/demo/model.yaml (new model) ---\n" in out
    assert "title: Demo Classifier\n" in out
    assert sorted((reg / "models").iterdir()) == before
