"""The GitHub Pages workflow (issue #21, point 7): this repository's and the one `modelreg init`
writes. Its policy is read from the YAML; its build job runs for real in
tests/workflow_harness.py on a fresh `modelreg init` registry pushed to a bare origin.

zizmor, actionlint and the vendored schema check both copies with the other workflows
(tests/test_hooks.py lists every file of ``.github/workflows/`` and every scaffold workflow).
"""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

import pytest

from conftest import MODEL_HEAD, demo_model, write_eval_data
from modelreg import scaffold
from workflow_harness import ROOT, Origin, Runner, git, load, push_event, run, tool_env

PAGES = "pages.yml"
UPLOAD = "actions/upload-pages-artifact@fc324d3547104276b827a68afc52ff2a11cc49c9"
DEPLOY = "actions/deploy-pages@cd2ce8fcbc39b97be8ca5fce6e763baed58fa128"


def _scaffold_pages(tmp_path: Path) -> Path:
    path = tmp_path / PAGES
    path.write_text(
        scaffold.workflows(scaffold.DEFAULT_INSTALL, "# scaffold")[f".github/workflows/{PAGES}"],
        encoding="utf-8",
    )
    return path


@pytest.fixture(params=["repository", "scaffold"])
def pages(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """pages.yml as loaded: this repository's, and the one `init` writes."""
    if request.param == "repository":
        return load(ROOT / ".github" / "workflows" / PAGES)
    return load(_scaffold_pages(tmp_path))


def test_init_writes_the_pages_workflow() -> None:
    files = scaffold.registry_files()
    text = files[f".github/workflows/{PAGES}"]
    assert text.startswith("# Written by modelreg init ")
    assert f'run: "{scaffold.DEFAULT_INSTALL}"' in text


def test_runs_on_push_to_main_and_by_hand(pages: dict[str, Any]) -> None:
    assert pages["on"] == {"push": {"branches": ["main"]}, "workflow_dispatch": None}
    assert pages["concurrency"] == {"group": "pages", "cancel-in-progress": False}


def test_only_the_deploy_job_can_publish(pages: dict[str, Any]) -> None:
    assert pages["permissions"] == {}
    jobs = pages["jobs"]
    assert set(jobs) == {"build", "deploy"}
    assert jobs["build"]["permissions"] == {"contents": "read"}
    assert jobs["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    assert jobs["deploy"]["needs"] == "build"
    assert jobs["deploy"]["environment"]["name"] == "github-pages"
    # The job holding the tokens runs no code from the repository: one pinned action.
    assert jobs["deploy"]["steps"] == [{"uses": DEPLOY, "id": "deployment"}]


def test_build_job_renders_the_site_and_uploads_it(pages: dict[str, Any]) -> None:
    steps = pages["jobs"]["build"]["steps"]
    checkout = steps[0]
    assert checkout["uses"].startswith("actions/checkout@")
    # History and tags for the timeline and release tags; no credentials left on disk.
    assert checkout["with"] == {"persist-credentials": False, "fetch-depth": 0}
    runs = [s for s in steps if "run" in s and s.get("name") != "Install modelreg"]
    assert [s["name"] for s in runs] == ["modelreg render --site _site"]
    assert "modelreg render --site _site\n" in runs[0]["run"]
    assert steps[-1] == {"uses": UPLOAD, "with": {"path": "_site"}}


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Origin, dict[str, str]]:
    """A fresh `modelreg init` registry with demo 1.0.0 in production, pushed to origin."""
    tmp = tmp_path_factory.mktemp("pages")
    env = tool_env(tmp)
    dev = tmp / "dev"
    run(["modelreg", "init", str(dev), "--repo-url", "https://github.com/acme/registry.git"],
        tmp, env)  # fmt: skip
    run(["git", "lfs", "install", "--local"], dev, env)
    origin = Origin.create(tmp / "origin.git", env)
    run(["git", "remote", "add", "origin", origin.url], dev, env)
    (dev / "models/demo").mkdir()
    # A card with a floor: `promote --env production` needs something to judge by.
    card = MODEL_HEAD.replace("lifecycle:\n", "gates:\n  min_accuracy: 0.7\nlifecycle:\n")
    (dev / "models/demo/model.yaml").write_text(card, encoding="utf-8")
    onnx_file = tmp / "m.onnx"
    onnx_file.write_bytes(demo_model(0.5).SerializeToString())
    write_eval_data(tmp / "eval.npz")
    run(
        ["modelreg", "add", "demo", "1.0.0", "--onnx", str(onnx_file), "--eval",
         str(tmp / "eval.npz"), "--dataset-name", "d", "--dataset-version", "1",
         "--dataset-samples", "10", "--summary", "First release.", "--change", "First",
         "--migration", "None", "--date", "2024-02-01", "--sample", "2", "--runs", "0"],
        dev, env,
    )  # fmt: skip
    run(["modelreg", "promote", "demo", "1.0.0", "--env", "production"], dev, env)
    for command in (["modelreg", "render"], ["modelreg", "overlays"], ["git", "add", "-A"]):
        run(command, dev, env)
    run(["git", "commit", "-q", "-m", "demo 1.0.0 in production"], dev, env)
    run(["git", "push", "-q", "origin", "main"], dev, env)
    return tmp, origin, env


def test_build_job_publishes_the_site_of_the_pushed_commit(
    pushed: tuple[Path, Origin, dict[str, str]], tmp_path: Path
) -> None:
    tmp, origin, env = pushed
    event = push_event(origin, env)
    workflow = tmp / "dev" / ".github" / "workflows" / PAGES
    result = Runner(workflow, origin, event, tmp_path, env, only=["build"]).run()
    assert result.unselected == ["deploy"]  # deploy-pages needs GitHub itself
    job = result.job("build")
    assert job.result == "success", job.log
    assert result.reported == []
    assert job.installs == [scaffold.DEFAULT_INSTALL]
    with tarfile.open(job.artifacts["github-pages"]) as tar:
        names = set(tar.getnames())
        index = tar.extractfile("./index.html")
        assert index is not None
        html = index.read().decode("utf-8")
    for page in ("index.html", "site.css", "catalog.json", "models/demo/index.html",
                 "models/demo/1.0.0/index.html"):  # fmt: skip
        assert f"./{page}" in names, sorted(names)
    # Every page says which commit it shows: the pushed one.
    assert f'data-commit="{event.sha}"' in html
    # The job built into _site in its workspace and wrote nothing else there.
    assert job.workspace is not None
    assert git(job.workspace, env, "status", "--porcelain", "--ignored") == "?? _site/"


def test_this_repositorys_build_job_publishes_its_registry(tmp_path: Path) -> None:
    """This repository's own pages.yml on its committed HEAD (a bare clone plays GitHub)."""
    env = tool_env(tmp_path)
    origin = Origin(tmp_path / "origin.git")
    run(["git", "clone", "-q", "--bare", "--no-local", str(ROOT), str(origin.path)], tmp_path, env)
    event = push_event(origin, env, branch=git(origin.path, env, "symbolic-ref", "--short", "HEAD"))
    workflow = ROOT / ".github" / "workflows" / PAGES
    result = Runner(workflow, origin, event, tmp_path / "run", env, only=["build"]).run()
    job = result.job("build")
    assert job.result == "success", job.log
    assert job.installs == ["pip install -e '.[dev]'"]
    with tarfile.open(job.artifacts["github-pages"]) as tar:
        names = set(tar.getnames())
    for version in ("1.0.0", "1.1.0"):
        assert f"./models/bert-classifier/{version}/index.html" in names, sorted(names)
