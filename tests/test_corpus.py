"""The bad-input corpus (tests/corpus/cases.yaml) through the real CLI, one child per case.

Each case copies a valid registry, breaks one thing and runs ``python -m modelreg`` in a
child process with a timeout and an address-space limit. It must exit with the status the
case names (1 findings, 2 usage), name the file (and line) with the expected rule or message,
and never print a traceback, report an unexpected error (exit 3) or hang. The run prints
``N cases, N clear findings, 0 crashes, 0 hangs``; set ``MODELREG_CORPUS_REPORT=FILE`` to
also write that line and every case's result there as JSON.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from conftest import Registry, git, git_commit_all
from gitops_support import add_overlays
from modelreg.schemas import load_schema

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "tests" / "corpus"
METADATA = "models/demo/1.1.0/metadata.yaml"
#: Every case's process: wall-clock timeout, and an address-space limit for it and its
#: children (the isolated checker lowers its own limit below this one).
TIMEOUT_S = 120
MEMORY_MB = 4096
CHILD_MEMORY_MB = 2048


def _load_gen_corpus() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_corpus", REPO / "scripts" / "gen_corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen_corpus = _load_gen_corpus()


def _limit_memory() -> None:
    import resource

    limit = MEMORY_MB * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


# -- the cases ---------------------------------------------------------------------------


def committed_cases() -> list[dict[str, Any]]:
    """The cases of tests/corpus/cases.yaml."""
    data = yaml.safe_load((CORPUS / "cases.yaml").read_text(encoding="utf-8"))
    cases: list[dict[str, Any]] = data["cases"]
    return cases


def required_field_cases(base_metadata: str) -> list[dict[str, Any]]:
    """One case per required field of metadata.yaml, each missing in turn."""
    data = yaml.safe_load(base_metadata)
    cases = []
    for path in gen_corpus.required_paths(load_schema("metadata"), data):
        dotted = ".".join(str(p) for p in path)
        text = yaml.safe_dump(gen_corpus.without(data, path), sort_keys=False)
        cases.append(
            {
                "id": f"meta-missing-{dotted}",
                "write": {"file": METADATA, "text": text},
                "exit": 1,
                "expect": f"missing required field `{path[-1]}`",
                "file": METADATA,
            }
        )
    return cases


# -- setups that are git states -----------------------------------------------------------


def _detached_head(root: Path) -> None:
    """HEAD detached at a commit main does not have (a changed released version)."""
    git(root, "checkout", "-q", "--detach")
    meta = root / METADATA
    meta.write_text(meta.read_text("utf-8").replace("Demo release", "Changed"), "utf-8")
    git(root, "commit", "-q", "-am", "change 1.1.0 off main")


def _shallow_clone(root: Path) -> None:
    """Replace the registry by a depth-1 clone of it that has no tags."""
    source = root.with_name(root.name + "-origin")
    root.rename(source)
    git(source, "tag", "-a", "-m", "release", "model-demo-v1.0.0")
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", "--no-tags", source.as_uri(), str(root)],
        check=True,
        capture_output=True,
    )


def _no_git(root: Path) -> None:
    shutil.rmtree(root / ".git")


def _remove_metadata(root: Path) -> None:
    (root / METADATA).unlink()


SETUPS: dict[str, Callable[[Path], None]] = {
    "detached_head": _detached_head,
    "shallow_clone": _shallow_clone,
    "no_git": _no_git,
    "remove_metadata": _remove_metadata,
}


def prepare(case: dict[str, Any], root: Path) -> None:
    """Apply the case's change to a copy of the valid registry at ``root``."""
    if "put" in case:
        shutil.copyfile(CORPUS / case["put"]["from"], root / case["put"]["file"])
    if "write" in case:
        (root / case["write"]["file"]).write_text(case["write"]["text"], encoding="utf-8")
    if "edit" in case:
        target = root / case["edit"]["file"]
        text = target.read_text(encoding="utf-8")
        assert case["edit"]["old"] in text, f"{case['id']}: edit target not found"
        target.write_text(text.replace(case["edit"]["old"], case["edit"]["new"], 1), "utf-8")
    if "gen" in case:
        gen_corpus.generate(case["gen"]["name"], root / case["gen"]["file"])
    if case.get("rehash"):
        artifact = root / "models/demo/1.1.0/model.onnx"
        raw = artifact.read_bytes()
        meta = root / METADATA
        text = re.sub(r"(?m)^  sha256: \S+$", f"  sha256: {hashlib.sha256(raw).hexdigest()}",
                      meta.read_text("utf-8"), count=1)  # fmt: skip
        text = re.sub(r"(?m)^  size: \S+$", f"  size: {len(raw)}", text, count=1)
        meta.write_text(text, encoding="utf-8")
    if "setup" in case:
        SETUPS[case["setup"]](root)


# -- running ------------------------------------------------------------------------------


@dataclass
class Result:
    """One case's outcome."""

    id: str
    verdict: str  # "clear", "unclear", "crash" or "hang"
    detail: str = ""
    seconds: float = 0.0  # recorded in the report, never asserted


def run_case(case: dict[str, Any], base: Path, work: Path) -> Result:
    """Copy, break, run, judge."""
    root = work / case["id"]
    shutil.copytree(base, root, symlinks=True)
    try:
        prepare(case, root)
    except Exception as exc:  # noqa: BLE001 - a broken case is reported with the others
        return Result(case["id"], "unclear", f"the case could not be prepared: {exc!r}")
    argv = [sys.executable, "-m", "modelreg", *case.get("run", ["validate", "--fast"])]
    env = {
        **os.environ,
        "MODELREG_CHILD_TIMEOUT": "60",
        "MODELREG_CHILD_MEMORY_MB": str(CHILD_MEMORY_MB),
        "MODELREG_NO_CACHE": "1",
        "NO_COLOR": "1",
    }
    env.pop("MODELREG_DEBUG", None)
    start = time.monotonic()
    try:
        done = subprocess.run(
            argv,
            cwd=root,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=TIMEOUT_S,
            env=env,
            preexec_fn=_limit_memory,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Result(case["id"], "hang", f"no exit after {TIMEOUT_S} s")
    result = judge(case, root, done)
    result.seconds = round(time.monotonic() - start, 2)
    return result


def judge(case: dict[str, Any], root: Path, done: subprocess.CompletedProcess[str]) -> Result:
    """Whether the run was a clear finding, a crash or an unclear answer."""
    output = done.stdout + done.stderr
    shown = f"exit {done.returncode}\n{output[-3000:]}"
    if done.returncode < 0 or done.returncode == 3 or "Traceback" in output:
        return Result(case["id"], "crash", shown)
    if "unexpected error" in output:
        return Result(case["id"], "crash", shown)
    if done.returncode != case["exit"]:
        return Result(case["id"], "unclear", f"expected exit {case['exit']}; {shown}")
    if (root / "pwned-by-yaml").exists():
        return Result(case["id"], "crash", "a YAML tag ran a command")
    file, expect, line = case["file"], str(case["expect"]), case.get("line")
    for text in output.splitlines():
        if expect not in text or file not in text:
            continue
        if line is not None and not text.startswith(f"{file}:{line}:"):
            continue
        return Result(case["id"], "clear", text)
    where = f"{file}:{line}" if line is not None else file
    return Result(case["id"], "unclear", f"no line naming {where!r} with {expect!r}; {shown}")


@pytest.fixture
def base(make_registry: Callable[[], Registry]) -> Path:
    """A valid registry with overlays, committed; every case starts from a copy of it."""
    reg = make_registry()
    add_overlays(reg.root, {"demo": ["1.1.0"]}, {"demo": "1.1.0"})
    git_commit_all(reg.root, "overlays")
    return reg.root


def test_the_base_registry_is_valid(base: Path) -> None:
    """A case's finding is its own only if the registry it starts from passes."""
    done = subprocess.run(
        [sys.executable, "-m", "modelreg", "validate", "--no-cache"],
        cwd=base,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_every_corpus_case_is_a_clear_finding(
    base: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """N cases, N clear findings, 0 crashes, 0 hangs."""
    cases = committed_cases() + required_field_cases((base / METADATA).read_text("utf-8"))
    ids = [c["id"] for c in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    work = tmp_path / "cases"
    work.mkdir()
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda c: run_case(c, base, work), cases))
    counts = {v: sum(r.verdict == v for r in results) for v in ("clear", "crash", "hang")}
    line = (
        f"{len(results)} cases, {counts['clear']} clear findings, {counts['crash']} crashes, "
        f"{counts['hang']} hangs"
    )
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"corpus: {line}")
    report = os.environ.get("MODELREG_CORPUS_REPORT")
    if report:
        Path(report).write_text(
            json.dumps({"summary": line, "cases": [r.__dict__ for r in results]}, indent=2),
            encoding="utf-8",
        )
    bad = [f"{r.id} [{r.verdict}]: {r.detail}" for r in results if r.verdict != "clear"]
    assert not bad, line + "\n\n" + "\n\n".join(bad)
    assert len(results) >= 100
