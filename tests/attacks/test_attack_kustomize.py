"""Kustomize input a pull request chooses: refused before kustomize starts (MR623, MR627).

Each case edits the registry the way a PR author would, commits it, and runs the commands CI
runs. A ``kustomize`` wrapper first on PATH records every directory it is asked to build, so
the tests prove that kustomize never started on the refused directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from attack_support import PullRequest, Result
from modelreg.gitops import kustomize

REMOTE_URL = "https://example.invalid/x.yaml"
REMOTE_GITHUB = "github.com/org/repo//path?ref=main"
PROD = "overlays/production/kustomization.yaml"
STAGING = "overlays/staging/kustomization.yaml"


@pytest.fixture
def builds(pr: PullRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``kustomize`` (``MODELREG_KUSTOMIZE``) that logs the directory, then really builds."""
    # The kubectl modelreg itself would use: the gitops extra's pinned wheel.
    kubectl = kustomize.command()[0]
    # Beside the guarded tree (the guard would see the log change).
    bindir = tmp_path_factory.mktemp("kustomize-wrapper")
    log = bindir / "kustomize.log"
    sub = "kustomize" if kubectl.endswith("kubectl") else "build"
    wrapper = bindir / "kustomize"
    wrapper.write_text(
        f'#!/bin/sh\necho "$2" >> "{log}"\nexec "{kubectl}" {sub} "$2"\n', encoding="utf-8"
    )
    wrapper.chmod(0o755)
    log.write_text("", encoding="utf-8")
    pr.env["MODELREG_KUSTOMIZE"] = str(wrapper)
    return log


def _built(log: Path) -> list[str]:
    return [Path(line).as_posix() for line in log.read_text(encoding="utf-8").splitlines()]


def _found(result: Result, rule: str, path: str, text: str) -> None:
    lines = [line for line in result.out.splitlines() if f" {rule} " in line]
    assert any(line.startswith(path) and text in line for line in lines), str(result)


def _attack(
    pr: PullRequest,
    log: Path,
    path: str,
    rule: str,
    text: str,
    *,
    unbuilt: str = "overlays/staging",
) -> None:
    """Commit, then validate (fast and deep MR6) and overlays --check fail with the finding,
    kustomize never builds the attacked directory ``unbuilt``, nothing outside changes."""
    pr.commit()
    pr.snapshot()
    for argv in (("validate", "--fast"), ("validate", "--select", "MR6"), ("overlays", "--check")):
        result = pr.run(*argv)
        assert result.code == 1, str(result)
        _found(result, rule, path, text)
        pr.assert_untouched(str(result))
    built = _built(log)
    assert built, "kustomize built nothing at all: the wrapper is not used"
    assert [b for b in built if b.endswith(unbuilt)] == [], built


def test_kustomization_yml_with_remote_resources(pr: PullRequest, builds: Path) -> None:
    pr.write(
        "overlays/extra/kustomization.yml",
        f"resources:\n  - {REMOTE_URL}\n  - {REMOTE_GITHUB}\n",
    )
    pr.replace(
        PROD, "  - bert-classifier.alias.yaml\n", "  - bert-classifier.alias.yaml\n  - ../extra\n"
    )
    _attack(
        pr,
        builds,
        "overlays/extra/kustomization.yml",
        "MR623",
        "rename it to kustomization.yaml",
        unbuilt="overlays/production",
    )
    result = pr.run("validate", "--fast")
    _found(result, "MR624", PROD, "'../extra' is not `../<model>/v<version>`")


@pytest.mark.parametrize("entry", [REMOTE_URL, REMOTE_GITHUB])
def test_remote_resource_in_an_environment(pr: PullRequest, builds: Path, entry: str) -> None:
    pr.write("overlays/extra/kustomization.yaml", f"resources:\n  - {entry}\n")
    pr.replace(
        STAGING,
        "  - bert-classifier.alias.yaml\n",
        "  - bert-classifier.alias.yaml\n  - ../extra\n",
    )
    _attack(pr, builds, "overlays/extra/kustomization.yaml", "MR623", f"entry {entry!r}: is remote")


def test_capital_kustomization_file_name(pr: PullRequest, builds: Path) -> None:
    pr.write("overlays/extra/Kustomization", f"resources:\n  - {REMOTE_URL}\n")
    pr.replace(
        STAGING,
        "  - bert-classifier.alias.yaml\n",
        "  - bert-classifier.alias.yaml\n  - ../extra\n",
    )
    _attack(pr, builds, "overlays/extra/Kustomization", "MR623", "kustomize reads Kustomization")


def test_two_kustomization_files(pr: PullRequest, builds: Path) -> None:
    pr.write("overlays/staging/kustomization.yml", f"resources:\n  - {REMOTE_URL}\n")
    _attack(
        pr, builds, "overlays/staging", "MR623", "holds kustomization.yaml and kustomization.yml"
    )


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("../../outside", "is outside overlays/ (outside)"),
        ("../../../outside/canary.txt", "leaves the repository"),
        ("/etc/passwd", "is an absolute path"),
        ("../../models/bert-classifier/model.yaml", "is outside overlays/"),
    ],
)
def test_paths_leaving_overlays(pr: PullRequest, builds: Path, entry: str, why: str) -> None:
    pr.replace(
        STAGING,
        "  - bert-classifier.alias.yaml\n",
        f"  - bert-classifier.alias.yaml\n  - {entry}\n",
    )
    _attack(pr, builds, STAGING, "MR623", f"entry {entry!r}: {why}")


def test_symlinked_directory_under_overlays(pr: PullRequest, builds: Path) -> None:
    """The version overlay production runs is a symlink to another version's overlay."""
    pr.symlink("overlays/bert-classifier/v1.1.0", "v1.0.0")
    _attack(
        pr, builds, "overlays/bert-classifier/v1.1.0", "MR623", "is a symlink", unbuilt="production"
    )
    for argv in (("plan", "--base", "main"), ("plan", "--base", "main", "--head", "pr")):
        result = pr.run(*argv)  # no traceback (pr.run fails on one)
        assert result.code == 1, str(result)
        assert "kustomize was not started" in result.err, str(result)
        assert "overlays/bert-classifier/v1.1.0: MR623 is a symlink" in result.err, str(result)
        pr.assert_untouched(str(result))
    assert not [b for b in _built(builds) if "production" in b or "staging" in b]


def test_symlink_to_a_file_outside(pr: PullRequest, builds: Path) -> None:
    pr.symlink("overlays/production/bert-classifier.alias.yaml", pr.outside / "canary.txt")
    alias = "overlays/production/bert-classifier.alias.yaml"
    _attack(pr, builds, alias, "MR623", "is a symlink", unbuilt="overlays/production")
    result = pr.run("plan", "--base", "main", "--head", "pr")
    assert result.code == 1 and "secret beside" not in result.out + result.err, str(result)


def test_helm_charts(pr: PullRequest, builds: Path) -> None:
    pr.replace(
        STAGING,
        "resources:\n",
        "helmCharts:\n  - name: evil\n    repo: https://charts.example.invalid\nresources:\n",
    )
    _attack(pr, builds, STAGING, "MR627", "`helmCharts` makes kustomize run Helm")


def test_transformer_with_a_function_annotation(pr: PullRequest, builds: Path) -> None:
    marker = pr.outside / "exec-ran"
    pr.write("overlays/staging/gen.sh", f"#!/bin/sh\ntouch {marker}\ncat\n")
    pr.path("overlays/staging/gen.sh").chmod(0o755)
    pr.write(
        "overlays/staging/transformer.yaml",
        "apiVersion: builtin\nkind: LabelTransformer\nmetadata:\n  name: t\n  annotations:\n"
        "    config.kubernetes.io/function: |\n      exec:\n        path: ./gen.sh\n",
    )
    pr.replace(STAGING, "resources:\n", "transformers:\n  - transformer.yaml\nresources:\n")
    _attack(pr, builds, STAGING, "MR627", "carries a `config.kubernetes.io/function` annotation")
    assert not marker.exists()


def test_transformer_of_a_non_builtin_kind(pr: PullRequest, builds: Path) -> None:
    pr.write(
        "overlays/staging/t.yaml", "apiVersion: example.com/v1\nkind: Evil\nmetadata:\n  name: t\n"
    )
    pr.replace(STAGING, "resources:\n", "generators:\n  - t.yaml\nresources:\n")
    _attack(pr, builds, STAGING, "MR627", "is not a builtin plugin")


def _bomb(levels: int = 7, width: int = 8) -> str:
    lines = [f"    a: &a [{','.join('x' * width)}]"]
    prev = "a"
    for name in "bcdefghij"[: levels - 1]:
        lines.append(f"    {name}: &{name} [{','.join([f'*{prev}'] * width)}]")
        prev = name
    return "\n".join(lines) + "\n"


@pytest.mark.slow
def test_alias_bomb_in_a_kustomization(pr: PullRequest, builds: Path) -> None:
    bomb = "commonAnnotations:\n" + _bomb()
    assert len(bomb) < 483
    pr.replace(STAGING, "resources:\n", bomb + "resources:\n")
    started = time.monotonic()
    _attack(pr, builds, STAGING, "MR623", "uses a YAML alias")
    assert time.monotonic() - started < 60


def test_alias_bomb_in_a_manifest(pr: PullRequest, builds: Path) -> None:
    pr.write(
        "overlays/staging/bomb.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\n  annotations:\n" + _bomb(),
    )
    pr.replace(
        STAGING,
        "  - bert-classifier.alias.yaml\n",
        "  - bert-classifier.alias.yaml\n  - bomb.yaml\n",
    )
    _attack(pr, builds, STAGING, "MR623", "entry 'bomb.yaml': uses a YAML alias")
    # The whole deep run stays small: the bomb never reaches kustomize nor the parent's YAML.
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelreg", "overlays", "--check"],
        cwd=pr.root,
        env=pr.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, for its rusage
    assert proc.returncode == 1
    assert usage.ru_maxrss < 400 * 1024, f"{usage.ru_maxrss} KiB"


def test_kustomize_itself_runs_under_a_memory_limit(tmp_path: Path) -> None:
    """The backstop: a bomb kustomize is started on anyway dies at the limit, quickly."""
    if not (shutil.which("kubectl") or shutil.which("kustomize")):
        pytest.skip("needs kubectl or kustomize")
    (tmp_path / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  annotations:\n" + _bomb(),
        encoding="utf-8",
    )
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - cm.yaml\n", encoding="utf-8")
    # The peak is read by the process that started kustomize, from its reaped children: a
    # process's own peak RSS carries the high-water mark of what it was forked from (pytest,
    # which may hold torch), a forked child's starts from its parent's current size.
    code = (
        "import resource, sys; from pathlib import Path; from modelreg.gitops import kustomize\n"
        "try:\n    kustomize.build(Path(sys.argv[1]))\n"
        "except kustomize.KustomizeError as exc:\n    print(exc)\n"
        "print('maxrss', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    env = {**os.environ, "MODELREG_KUSTOMIZE_MEMORY_MB": "256"}
    env.pop("GOMEMLIMIT", None)
    env.pop("GOGC", None)
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.stdout.close()
    proc.wait()
    assert "ran out of its 256 MiB memory limit" in out
    peak = int(out.split("maxrss ")[1])
    assert peak < 320 * 1024, f"{peak} KiB"
    assert time.monotonic() - started < 30
