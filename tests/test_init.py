"""`modelreg init`, and real pre-commit refusing a corrupted model in the new registry."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import MODEL_HEAD, demo_model, write_eval_data
from modelreg import scaffold
from modelreg.cli import main
from modelreg.git.lfs import LFS_ATTRIBUTES
from modelreg.render import hooks

ROOT = Path(__file__).resolve().parents[1]
BIN = str(Path(sys.executable).parent)

MODEL_YAML = "# yaml-language-server: $schema=../../schemas/model.schema.json\n" + MODEL_HEAD


def env(tmp_path: Path) -> dict[str, str]:
    """A hermetic environment: our modelreg first on PATH, pre-commit's store in tmp_path."""
    return {
        **os.environ,
        "PATH": BIN + os.pathsep + os.environ.get("PATH", ""),
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "NO_COLOR": "1",
    }


def run(
    cmd: list[str], cwd: Path, environ: dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, env=environ, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


# -- init itself -------------------------------------------------------------------------------


def test_init_writes_a_wired_registry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "reg"
    assert main(["init", str(target)]) == 0
    written = capsys.readouterr().out.split()
    assert set(written) == set(scaffold.registry_files())
    assert (target / ".git").is_dir()
    assert (target / "models").is_dir()
    attributes = (target / ".gitattributes").read_text(encoding="utf-8").splitlines()
    assert set(LFS_ATTRIBUTES) <= set(attributes)
    config = (target / ".pre-commit-config.yaml").read_text(encoding="utf-8")
    for hook in hooks.HOOKS:
        assert f"id: {hook.id}" in config
    for name in ("model", "metadata", "report"):
        copied = (target / "schemas" / f"{name}.schema.json").read_text(encoding="utf-8")
        assert copied == (ROOT / "schemas" / f"{name}.schema.json").read_text(encoding="utf-8")
    assert main(["validate", "--root", str(target)]) == 0  # an empty registry is valid
    # ... and passes its own render hook: the pages of a registry without models are there.
    assert main(["render", "--check", "--root", str(target)]) == 0
    # The registry lock and write journal live in the git directory, not in the work tree.
    from modelreg import storage

    assert ".modelreg" not in (target / ".gitignore").read_text(encoding="utf-8")
    assert storage.state_dir(target) == (target / ".git" / "modelreg").resolve()


def test_dry_run_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", str(tmp_path / "reg"), "-n"]) == 0
    assert ".github/workflows/pr.yml" in capsys.readouterr().out.split()
    assert not (tmp_path / "reg").exists()


def test_existing_files_are_never_overwritten_and_update_keeps_user_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "reg"
    assert main(["init", str(target)]) == 0
    (target / "README.md").write_text("# ours\n", encoding="utf-8")
    workflow = target / ".github/workflows/pr.yml"
    workflow.write_text("stale\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["init", str(target)]) == 1
    assert "already has" in capsys.readouterr().err
    assert workflow.read_text(encoding="utf-8") == "stale\n"
    page = target / "MODEL_REGISTRY.md"  # render keeps it current once models exist
    page.write_text("# rendered with models\n", encoding="utf-8")
    assert main(["init", str(target), "--update"]) == 0
    assert (target / "README.md").read_text(encoding="utf-8") == "# ours\n"
    assert page.read_text(encoding="utf-8") == "# rendered with models\n"
    assert workflow.read_text(encoding="utf-8") != "stale\n"


def test_the_new_registry_has_normal_directory_modes(tmp_path: Path) -> None:
    # Assembled in a staging directory (mkdtemp: 0700) and renamed in: the mode is fixed up.
    old = os.umask(0o022)
    try:
        assert main(["init", str(tmp_path / "reg")]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "reg").stat().st_mode & 0o777 == 0o755


def test_remote_hooks_need_a_rev(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", str(tmp_path / "r"), "--hooks-repo", "https://x.invalid/m"]) == 2
    assert "--hooks-rev" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


# -- acceptance: init, add a real model, commit; a corrupted model is refused ------------------


def scaffold_with_model(tmp_path: Path, environ: dict[str, str], *init_args: str) -> Path:
    """``modelreg init`` + a real model added with ``modelreg add``, rendered, validated."""
    reg = tmp_path / "reg"
    run(["modelreg", "init", str(reg), *init_args], tmp_path, environ)
    run(["git", "lfs", "install", "--local"], reg, environ)
    (reg / "models" / "demo").mkdir()
    (reg / "models" / "demo" / "model.yaml").write_text(MODEL_YAML, encoding="utf-8")
    onnx_file = tmp_path / "candidate.onnx"
    onnx_file.write_bytes(demo_model(0.5).SerializeToString())
    eval_file = tmp_path / "eval.npz"
    write_eval_data(eval_file)
    run(
        ["modelreg", "add", "demo", "1.0.0", "--onnx", str(onnx_file), "--eval", str(eval_file),
         "--dataset-name", "demo-data", "--dataset-version", "1.0", "--dataset-samples", "100",
         "--summary", "First release.", "--change", "Initial release", "--migration", "None",
         "--date", "2024-02-01", "--sample", "2", "--runs", "0"],
        reg, environ,
    )  # fmt: skip
    # init wired the deployment side: the production version runs in overlays/production
    # (the lifecycle and the environment change together; the card declares no gates).
    run(["modelreg", "promote", "demo", "1.0.0", "--env", "production", "--skip-gates"],
        reg, environ)  # fmt: skip
    run(["modelreg", "render"], reg, environ)
    run(["modelreg", "validate"], reg, environ)
    return reg


@pytest.mark.slow
def test_precommit_accepts_a_good_model_and_refuses_a_corrupted_one(tmp_path: Path) -> None:
    environ = env(tmp_path)
    reg = scaffold_with_model(tmp_path, environ)
    run(["pre-commit", "install"], reg, environ)
    run(["git", "add", "-A"], reg, environ)
    first = run(["git", "commit", "-m", "demo 1.0.0"], reg, environ)
    assert "modelreg: ONNX artifact matches its metadata" in first.stdout + first.stderr
    # The artifact went to LFS: the commit holds a pointer, the work tree the bytes.
    blob = run(["git", "show", "HEAD:models/demo/1.0.0/model.onnx"], reg, environ).stdout
    assert blob.startswith("version https://git-lfs.github.com/spec/v1")

    onnx_path = reg / "models/demo/1.0.0/model.onnx"
    data = bytearray(onnx_path.read_bytes())
    data[-1] ^= 0x01
    onnx_path.write_bytes(bytes(data))
    run(["git", "add", "-A"], reg, environ)
    refused = run(["git", "commit", "-m", "corrupt"], reg, environ, check=False)
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert "models/demo/1.0.0/metadata.yaml" in output and "MR201" in output
    assert run(["git", "rev-list", "--count", "HEAD"], reg, environ).stdout.strip() == "1"


@pytest.mark.slow
def test_a_commit_touching_no_model_file_starts_no_modelreg(tmp_path: Path) -> None:
    environ = env(tmp_path)
    reg = scaffold_with_model(tmp_path, environ)
    run(["git", "add", "-A"], reg, environ)
    run(["git", "commit", "-q", "--no-verify", "-m", "base"], reg, environ)
    (reg / "NOTES.txt").write_text("notes\n", encoding="utf-8")
    run(["git", "add", "NOTES.txt"], reg, environ)
    proc = run(["pre-commit", "run"], reg, environ)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("modelreg")]
    assert len(lines) == len(hooks.HOOKS)
    assert all("(no files to check)Skipped" in line for line in lines), proc.stdout


@pytest.mark.slow
def test_try_repo_installs_the_published_hooks(tmp_path: Path) -> None:
    """`pre-commit try-repo` on this repository: the hooks as another registry consumes them.

    pre-commit installs modelreg from a clean clone (committed files only) into a hook
    environment, as it would from a tag.
    """
    environ = env(tmp_path)
    hooks_repo = tmp_path / "modelreg-hooks"
    run(["git", "clone", "-q", "--no-local", str(ROOT), str(hooks_repo)], tmp_path, environ)
    reg = scaffold_with_model(tmp_path, environ)
    run(["git", "add", "-A"], reg, environ)
    proc = run(
        ["pre-commit", "try-repo", str(hooks_repo), "modelreg-metadata", "--all-files"],
        reg,
        environ,
    )
    assert "modelreg: metadata schema and layout (fast)" in proc.stdout
    assert "Passed" in proc.stdout


@pytest.mark.slow
def test_this_repository_passes_its_own_precommit_config(tmp_path: Path) -> None:
    """Every hook of .pre-commit-config.yaml passes on a clean clone of this repository."""
    environ = env(tmp_path)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", "--no-local", str(ROOT), str(clone)], tmp_path, environ)
    environ["PYTHONPATH"] = str(clone / "src")  # the clone's modelreg, not this work tree's
    cache = ROOT / ".mypy_cache"
    if cache.is_dir():  # mypy validates its cache by content hash; reuse saves a cold run
        shutil.copytree(cache, clone / ".mypy_cache")
    proc = run(["pre-commit", "run", "--all-files"], clone, environ, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for hook in ("ruff check", "mypy --strict", "check-jsonschema: GitHub workflows"):
        assert hook in proc.stdout
