"""The catalog site in a real browser: tools, sites to test and a page that records its faults.

Debian's ``chromium`` driven by Playwright (dev extra; the wheel carries its driver, the browser
is the system's: ``playwright install`` downloads, which cannot work here), and axe-core unpacked
from ``npm pack axe-core@AXE_VERSION`` (``.ci/run`` does both). Locally a missing tool skips the
browser tests with the reason; in CI (``CI=true``) it fails them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import MODEL_HEAD, add_version, demo_model, git_commit_all, write_eval_data

ROOT = Path(__file__).resolve().parents[1]
#: The browser: Debian's package (`apt-get install chromium`); MODELREG_CHROMIUM overrides.
CHROMIUM = Path(os.environ.get("MODELREG_CHROMIUM", "/usr/bin/chromium"))
#: axe-core as .ci/run unpacks it (`npm pack axe-core@AXE_VERSION`, then tar -x) beside the venv
#: the README's command creates; MODELREG_AXE names another axe.min.js.
AXE_VERSION = "4.14.1"
AXE = Path(
    os.environ.get("MODELREG_AXE")
    or Path(sys.executable).parents[1] / "axe-core" / "package" / "axe.min.js"
)
#: Where the screenshots go (CI keeps them as artifacts; never committed: build/ is ignored).
SCREENSHOTS = Path(os.environ.get("MODELREG_SCREENSHOTS") or ROOT / "build" / "screenshots")
MODELREG = [sys.executable, "-m", "modelreg"]


def missing_tool(reason: str) -> None:
    """Skip locally; in CI the tool is installed by .ci/run, so its absence is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (.ci/run installs it; CI must not skip the browser tests)")
    pytest.skip(reason)


def require_tools() -> None:
    """The browser, Playwright and the pinned axe-core, or skip/fail with what is missing."""
    try:
        import playwright.sync_api  # noqa: F401 (only probing that the dev extra is installed)
    except ImportError:
        missing_tool("playwright is not installed (pip install -e '.[dev]')")
    if not os.access(CHROMIUM, os.X_OK):
        missing_tool(f"no browser at {CHROMIUM} (apt-get install -y chromium)")
    if not AXE.is_file():
        missing_tool(f"axe-core not found at {AXE} (npm pack axe-core@{AXE_VERSION}, see .ci/run)")
    package = AXE.parent / "package.json"
    if package.is_file() and "MODELREG_AXE" not in os.environ:
        version = json.loads(package.read_text(encoding="utf-8")).get("version")
        if version != AXE_VERSION:
            missing_tool(f"axe-core {version} at {AXE}; the tests pin {AXE_VERSION}")


# -- sites ---------------------------------------------------------------------------------------


def render_site(registry: Path, dest: Path) -> None:
    """``modelreg render --site DEST`` run in ``registry``; its failure fails the test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "SOURCE_DATE"))}
    proc = subprocess.run(
        [*MODELREG, "render", "--site", str(dest)],
        cwd=registry,
        capture_output=True,
        text=True,
        check=False,
        env={**env, "NO_COLOR": "1", "MODELREG_NO_CACHE": "1"},
    )
    assert proc.returncode == 0, f"render --site failed ({proc.returncode}):\n{proc.stderr}"


def clone_checkout(dest: Path) -> Path:
    """This repository's committed registry (HEAD, its history and tags), cloned to ``dest``:
    the site is built from the clone, so nothing is written into the checkout."""
    subprocess.run(
        ["git", "clone", "-q", "--no-local", str(ROOT), str(dest)],
        check=True,
        capture_output=True,
    )
    return dest


def head_commit(repo: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


#: Extra models of the small registry: name, owner, task.
OTHER_MODELS = (
    ("alpha-ranker", "@acme/search", "text-classification"),
    ("zeta-tagger", "@acme/nlp", "token-classification"),
)
#: The input type of demo 1.1.0: int64 in 1.0.0, so their signatures differ incompatibly.
CHANGED_INPUT_TYPE = "int32"


def _model_yaml(name: str, owner: str, task: str, lifecycle: str) -> str:
    head = MODEL_HEAD.replace("name: demo\n", f"name: {name}\n")
    head = head.replace("tag_prefix: model-demo\n", f"tag_prefix: model-{name}\n")
    head = head.replace('  - "@acme/ml"\n', f'  - "{owner}"\n')
    head = head.replace("task: text-classification\n", f"task: {task}\n")
    return head + lifecycle


def signature_registry(root: Path) -> Path:
    """A small committed registry: demo 1.0.0 (supported) and 1.1.0 (production) whose input
    types differ (int64 -> int32), plus two one-version models to filter and sort."""
    models = root / "models"
    (models / "demo").mkdir(parents=True)
    (models / "demo" / "model.yaml").write_text(
        _model_yaml(
            "demo",
            "@acme/ml",
            "text-classification",
            "  1.0.0:\n    status: supported\n    supported_until: 2099-03-01\n"
            "  1.1.0:\n    status: production\n",
        ),
        encoding="utf-8",
    )
    eval_sha = write_eval_data(models / "demo" / "data" / "eval.npz")
    add_version(root, "1.0.0", "2024-01-15", demo_model(0.25).SerializeToString(), eval_sha)
    add_version(root, "1.1.0", "2024-01-22", demo_model(0.5).SerializeToString(), eval_sha)
    changed = models / "demo" / "1.1.0" / "metadata.yaml"
    text = changed.read_text(encoding="utf-8")
    changed.write_text(
        text.replace("tensor: int64", f"tensor: {CHANGED_INPUT_TYPE}", 1), encoding="utf-8"
    )
    for name, owner, task in OTHER_MODELS:
        (models / name).mkdir()
        (models / name / "model.yaml").write_text(
            _model_yaml(name, owner, task, "  2.0.0:\n    status: production\n"),
            encoding="utf-8",
        )
        shutil.copytree(models / "demo" / "data", models / name / "data")
        shutil.copytree(models / "demo" / "1.1.0", models / name / "2.0.0")
        meta = models / name / "2.0.0" / "metadata.yaml"
        text = meta.read_text(encoding="utf-8")
        text = text.replace("model: demo\n", f"model: {name}\n").replace(
            "version: 1.1.0\n", "version: 2.0.0\n"
        )
        meta.write_text(text, encoding="utf-8")
    git_commit_all(root, "small registry for the browser tests")
    return root


# -- serving -------------------------------------------------------------------------------------


@contextmanager
def http_server(directory: Path) -> Iterator[str]:
    """``python -m http.server`` on 127.0.0.1, a free port, serving ``directory``; its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
         "--directory", str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"port (\d+)", line)
        assert match, f"http.server said {line!r}"
        url = f"http://127.0.0.1:{match[1]}/"
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(url, timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


# -- a page that records what went wrong ---------------------------------------------------------


@dataclass
class Faults:
    """Console errors, uncaught exceptions, failed requests and requests that left the site."""

    base: str
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    def all(self) -> list[str]:
        return [
            *(f"console error: {m}" for m in self.console),
            *(f"page error: {m}" for m in self.errors),
            *(f"failed request: {m}" for m in self.failed),
            *(f"request outside the site: {m}" for m in self.outside),
        ]


def watch(page: Any, base: str) -> Faults:
    """Record ``page``'s faults; a request to anything but the site itself is one (no CDN)."""
    faults = Faults(base)

    def on_console(msg: Any) -> None:
        if msg.type == "error":
            faults.console.append(f"{msg.text} at {msg.location.get('url', '')}")

    def on_request(request: Any) -> None:
        url = str(request.url)
        if not url.startswith((base, "data:", "about:")):
            faults.outside.append(url)

    def on_response(response: Any) -> None:
        if response.status >= 400:
            faults.failed.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: faults.errors.append(str(exc)))

    def on_failed(request: Any) -> None:
        # ERR_ABORTED: the test moved on before a late request (the icon) ended; a missing
        # file is ERR_FILE_NOT_FOUND, an HTTP error a response >= 400.
        if request.failure != "net::ERR_ABORTED":
            faults.failed.append(f"{request.failure} {request.url}")

    page.on("requestfailed", on_failed)
    page.on("request", on_request)
    page.on("response", on_response)
    return faults


def axe_violations(page: Any) -> list[str]:
    """axe-core's violations on the loaded page, one readable line per node."""
    page.add_script_tag(path=str(AXE))
    # preload: false: axe would re-read the stylesheets with XMLHttpRequest, which file://
    # refuses (a console error of axe's, not the page's); it only feeds css-orientation-lock.
    result = page.evaluate(
        "async () => (await axe.run(document,"
        " {resultTypes: ['violations'], preload: false})).violations"
    )
    lines: list[str] = []
    for violation in result:
        for node in violation["nodes"]:
            lines.append(
                f"{violation['id']} ({violation['impact']}): {violation['help']} at "
                f"{node['target']}: {node.get('failureSummary', '')}".replace("\n", " ")
            )
    return lines
