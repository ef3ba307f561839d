"""The deep-check cache skips work on unchanged bytes and never turns a failure into a pass."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from conftest import Registry
from modelreg.checks.cache import CACHE_DIRNAME, DeepCache, git_dir
from modelreg.cli import main
from modelreg.findings import Finding
from modelreg.registry import VersionEntry, discover

VERSION = "models/demo/1.1.0"


@pytest.fixture
def repo(registry: Registry) -> Registry:
    """The demo registry inside a real git repository (the cache lives in its .git/)."""
    if not (registry.root / ".git").exists():
        subprocess.run(["git", "init", "-q", str(registry.root)], check=True)
    return registry


def entries(reg: Registry) -> list[Path]:
    return sorted(p for p in (reg.root / ".git" / CACHE_DIRNAME).rglob("*") if p.is_file())


def validate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["validate", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def flip_byte(path: Path, offset: int = -1) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_pass_is_cached_and_the_next_run_is_a_hit(
    repo: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = validate(capsys, VERSION)
    assert code == 0 and "cached" not in err
    assert len(entries(repo)) == 1
    code, _, err = validate(capsys, VERSION)
    assert code == 0
    assert "1 cached" in err


def test_cache_a_pass_flip_a_byte_of_the_artifact_must_fail(
    repo: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    assert validate(capsys, VERSION)[0] == 0
    flip_byte(repo.path(f"{VERSION}/model.onnx"))
    code, out, err = validate(capsys, VERSION)
    assert code == 1
    assert "MR201" in out  # sha256 mismatch
    assert "cached" not in err


def test_cache_a_pass_flip_a_byte_of_a_golden_vector_must_fail(
    repo: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    # Golden vectors are read only by the deep (cached) checks: the key must cover them.
    assert validate(capsys, VERSION)[0] == 0
    flip_byte(repo.path(f"{VERSION}/test_data_set_0/output_0.pb"))
    code, out, _ = validate(capsys, VERSION)
    assert code == 1
    assert "MR40" in out


def test_cache_a_pass_change_shared_eval_data_must_fail(
    repo: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    assert validate(capsys, VERSION)[0] == 0
    flip_byte(repo.path("models/demo/data/eval.npz"), offset=100)
    code, out, _ = validate(capsys, VERSION)
    assert code == 1
    assert "MR406" in out or "MR405" in out


def test_a_failure_is_never_stored(repo: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    flip_byte(repo.path(f"{VERSION}/test_data_set_0/output_0.pb"))
    assert validate(capsys, VERSION)[0] == 1
    assert entries(repo) == []
    assert validate(capsys, VERSION)[0] == 1  # and stays a failure


def test_the_rule_selection_is_part_of_the_key(
    repo: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    assert validate(capsys, VERSION, "--select", "MR3")[0] == 0
    code, _, err = validate(capsys, VERSION)
    assert code == 0 and "cached" not in err  # a run of MR3 only proves nothing about MR4
    assert len(entries(repo)) == 2


def test_no_cache_outside_git_or_when_disabled(
    registry: Registry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = registry.root.parent / "plain"
    (plain / "models").mkdir(parents=True)
    if git_dir(plain) is None:  # tmp_path may itself sit inside a repository
        assert DeepCache.for_registry(plain) is None
    if not (registry.root / ".git").exists():
        subprocess.run(["git", "init", "-q", str(registry.root)], check=True)
    monkeypatch.setenv("MODELREG_NO_CACHE", "1")
    assert DeepCache.for_registry(registry.root) is None
    assert validate(capsys, VERSION)[0] == 0
    assert entries(registry) == []
    monkeypatch.delenv("MODELREG_NO_CACHE")
    assert validate(capsys, VERSION, "--no-cache")[0] == 0
    assert entries(registry) == []


def test_fast_runs_do_not_touch_the_cache(
    repo: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    assert validate(capsys, "--fast", VERSION)[0] == 0
    assert entries(repo) == []


def test_worktree_git_file_is_followed(tmp_path: Path) -> None:
    main = tmp_path / "main"
    main.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", str(main)], check=True)
    subprocess.run([*git, "-C", str(main), "commit", "-q", "--allow-empty", "-m", "c"], check=True)
    tree = tmp_path / "tree"
    subprocess.run([*git, "-C", str(main), "worktree", "add", "-q", str(tree)], check=True)
    (tree / "models").mkdir()
    assert (tree / ".git").is_file()  # a worktree: ".git" is a file naming its git dir
    assert git_dir(tree / "models") == (main / ".git" / "worktrees" / "tree").resolve()


def test_an_eval_file_outside_the_keyed_trees_is_in_the_key(
    repo: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    # evaluation.data.path may name any file of the model directory, here one in another
    # version's directory: changing its bytes (metadata unchanged) must not reuse the pass.
    shutil.copy(repo.path("models/demo/data/eval.npz"), repo.path("models/demo/1.0.0/eval.npz"))
    repo.replace(f"{VERSION}/metadata.yaml", "../data/eval.npz", "../1.0.0/eval.npz")
    assert validate(capsys, VERSION)[0] == 0
    assert "1 cached" in validate(capsys, VERSION)[2]
    flip_byte(repo.path("models/demo/1.0.0/eval.npz"), offset=100)
    code, out, err = validate(capsys, VERSION)
    assert "cached" not in err
    assert code == 1 and "MR406" in out


def _key(reg: Registry, meta_changes: Mapping[str, object] | None = None) -> str:
    registry = discover(reg.root)
    model = registry.model("demo")
    assert model is not None
    version = model.versions["1.1.0"]
    meta = dict(registry.metadata(version) or {})
    meta.update(meta_changes or {})
    return DeepCache(reg.root / "unused").key(model, version, "salt", meta)


@pytest.mark.parametrize(
    "path",
    [
        f"{VERSION}/metadata.yaml",
        f"{VERSION}/model.onnx",
        f"{VERSION}/test_data_set_0/input_0.pb",
        f"{VERSION}/model.data",  # external data (beside model.onnx, as modelreg requires)
        "models/demo/model.yaml",
        "models/demo/data/eval.npz",
        "models/demo/1.0.0/eval.npz",  # an evaluation file named from anywhere in the model
    ],
)
def test_every_file_a_deep_check_reads_is_in_the_key(repo: Registry, path: str) -> None:
    repo.write(f"{VERSION}/model.data", "weights")
    repo.write("models/demo/1.0.0/eval.npz", "other evaluation data")
    artifact = dict((discover(repo.root).metadata(_v11(repo)) or {})["artifact"])
    artifact["external_data"] = [{"path": "model.data", "sha256": "0" * 64, "size": 7}]
    changes = {
        "artifact": artifact,
        "evaluation": {"data": {"path": "../1.0.0/eval.npz", "sha256": "0" * 64, "samples": 1}},
    }
    before = _key(repo, changes)
    assert _key(repo, changes) == before  # stable
    flip_byte(repo.path(path), offset=0)
    assert _key(repo, changes) != before


def test_the_runtime_versions_are_in_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    import modelreg.checks.cache as cache_module

    before = cache_module.environment()
    assert "onnxruntime " in before and "onnx " in before
    assert cache_module.code_digest()  # modelreg's version and source
    monkeypatch.setattr(cache_module, "_machine", lambda: "other onnxruntime")
    assert cache_module.environment() != before


def _v11(reg: Registry) -> VersionEntry:
    model = discover(reg.root).model("demo")
    assert model is not None
    return model.versions["1.1.0"]


@pytest.fixture
def noting_check() -> Iterator[None]:
    """A deep check that only ever reports a note, as the latency check does for a claim
    measured on another machine (MR408)."""
    from modelreg import checks
    from modelreg.rules import rule

    checks.load_checks()

    def elsewhere(ctx: checks.VersionContext) -> Iterator[Finding]:
        yield rule("MR408").finding(ctx.metadata_rel, "measured on another machine", line=3)

    checks.CHECKS.append(checks.Check("elsewhere", "version", elsewhere, ("MR408",), True, True))
    try:
        yield
    finally:
        checks.CHECKS.pop()


@pytest.mark.usefixtures("noting_check")
def test_a_pass_with_notes_is_cached_and_its_notes_reported_again(
    repo: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by the benchmarks: a version whose latency was measured on another machine was
    # never cached (its MR408 note counted as a finding), so every run re-ran it.
    first = validate(capsys, VERSION)
    assert first[0] == 0 and " MR408 " in first[1] and "cached" not in first[2]
    second = validate(capsys, VERSION)
    assert "1 cached" in second[2]
    assert second[:2] == first[:2]  # the same report, the note included


def test_an_entry_that_is_not_a_pass_with_notes_is_a_miss(tmp_path: Path) -> None:
    from modelreg.findings import Severity

    cache = DeepCache(tmp_path)
    note = Finding("models/m/1.0.0/metadata.yaml", 3, 1, "MR408", Severity.NOTE, "elsewhere")
    cache.store("ab" * 32, "m@1.0.0", [note])
    assert cache.lookup("ab" * 32) == [note]
    assert cache.lookup("cd" * 32) is None
    entry = tmp_path / "ab" / ("ab" * 32)
    # An error smuggled into an entry, a malformed note or bad JSON: the checks run again.
    for text in (
        entry.read_text().replace('"note"', '"error"'),
        entry.read_text().replace('"line": 3', '"line": "3"'),
        "{not json",
    ):
        entry.write_text(text)
        assert cache.lookup("ab" * 32) is None
