"""A pull request built by an attacker, and a guard that proves modelreg stayed in the work tree.

Every case in tests/attacks/ starts from :func:`pr`: a real git repository in ``tmp_path``
holding a copy of this repository's registry (models, overlays, clusters, the generated page)
committed on ``main``, with a branch ``pr`` checked out for the attacker's changes, and a
canary file *beside* the repository. The guard hashes every file under ``.git/`` (content,
mode, symlink target) and every file outside the work tree in ``tmp_path``; after each
read-only command it must be byte-identical.

Commands run as reviewers and CI run them: ``python -m modelreg`` in a subprocess, in the
checkout, with a HOME of its own (no user git configuration) and the venv's tools first on
PATH.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
#: What a registry holds; copied from this repository's committed files.
REGISTRY_PATHS = (
    "models",
    "overlays",
    "clusters",
    "docs/models",
    "docs/DEVELOPMENT.md",
    "MODEL_REGISTRY.md",
    ".gitattributes",
)
#: The commands a reviewer or CI runs on a pull request; none of them may write or replay.
READ_ONLY: tuple[tuple[str, ...], ...] = (
    ("validate", "--fast"),
    ("validate",),
    ("list",),
    ("show", "bert-classifier"),
    ("plan", "--base", "main"),
    ("ci-matrix", "--base", "main"),
    ("render", "--check"),
    ("overlays", "--check"),
)


@dataclass
class Result:
    """One modelreg run."""

    argv: tuple[str, ...]
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"modelreg {' '.join(self.argv)} -> {self.code}\n{self.out}\n{self.err}"


#: The one thing a read-only run may write: modelreg's content-addressed cache of deep-check
#: passes, under the git dir (src/modelreg/checks/cache.py; docs/security.md says why it is safe).
CACHE_DIR = "modelreg-cache"


def _tree_state(top: Path, skip: Path | None = None) -> dict[str, tuple[int, str]]:
    """Every entry under ``top`` (not under ``skip``): mode and a hash of its bytes or target."""
    state: dict[str, tuple[int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        here = Path(dirpath)
        if skip is not None and (here == skip or skip in here.parents):
            dirnames[:] = []
            continue
        if here == top and CACHE_DIR in dirnames and top.name == ".git":
            dirnames.remove(CACHE_DIR)
        for name in [*dirnames, *filenames]:
            path = here / name
            if skip is not None and path == skip:
                continue
            info = path.lstat()
            if path.is_symlink():
                digest = "->" + str(path.readlink())
            elif path.is_file():
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                digest = "dir"
            state[path.relative_to(top).as_posix()] = (info.st_mode, digest)
    return state


@dataclass
class PullRequest:
    """A registry repository with the attacker's branch ``pr`` checked out."""

    root: Path
    outside: Path
    env: dict[str, str]
    _before: dict[str, dict[str, tuple[int, str]]] = field(default_factory=dict)

    # -- building the attack ---------------------------------------------------------------

    def path(self, rel: str) -> Path:
        return self.root / rel

    def write(self, rel: str, data: str | bytes) -> Path:
        target = self.root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            target.write_text(data, encoding="utf-8")
        else:
            target.write_bytes(data)
        return target

    def replace(self, rel: str, old: str, new: str) -> None:
        text = self.path(rel).read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {rel}"
        self.write(rel, text.replace(old, new))

    def symlink(self, rel: str, target: str | Path) -> Path:
        """Replace ``rel`` (file or directory) by a symlink to ``target``."""
        link = self.root / rel
        if link.is_dir() and not link.is_symlink():
            shutil.rmtree(link)
        elif link.exists() or link.is_symlink():
            link.unlink()
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)
        return link

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    def commit(self, message: str = "attack") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD").strip()

    # -- running modelreg ------------------------------------------------------------------

    def run(self, *argv: str, cwd: Path | None = None, timeout: float = 300) -> Result:
        done = subprocess.run(
            [sys.executable, "-m", "modelreg", *argv],
            check=False,
            cwd=cwd or self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        result = Result(tuple(argv), done.returncode, done.stdout, done.stderr)
        assert "Traceback (most recent call last)" not in done.stderr, str(result)
        return result

    # -- the guard -------------------------------------------------------------------------

    def snapshot(self) -> None:
        """Remember ``.git/`` and everything outside the work tree."""
        self._before = self._state()

    def _state(self) -> dict[str, dict[str, tuple[int, str]]]:
        return {
            "git": _tree_state(self.root / ".git"),
            "outside": _tree_state(self.outside.parent, skip=self.root),
        }

    def assert_untouched(self, what: str = "") -> None:
        """``.git/`` and every file outside the work tree are byte-identical to the snapshot."""
        assert self._before, "call snapshot() first"
        now = self._state()
        for part in ("git", "outside"):
            before, after = self._before[part], now[part]
            changed = sorted(
                k for k in before.keys() | after.keys() if before.get(k) != after.get(k)
            )
            assert not changed, f"{what}: {part} changed: {changed[:10]}"

    def read_only(self, commands: Sequence[Sequence[str]] = READ_ONLY) -> list[Result]:
        """Run every read-only command, checking the guard after each; their results."""
        if not self._before:
            self.snapshot()
        results = []
        for argv in commands:
            result = self.run(*argv)
            self.assert_untouched(str(result))
            results.append(result)
        return results


def _env(home: Path) -> dict[str, str]:
    bindir = str(Path(sys.executable).parent)
    return {
        "HOME": str(home),
        "PATH": bindir + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "attacker",
        "GIT_AUTHOR_EMAIL": "attacker@example.invalid",
        "GIT_COMMITTER_NAME": "attacker",
        "GIT_COMMITTER_EMAIL": "attacker@example.invalid",
        # Keep the deep child's limits as CI has them (the developer's shell may set others).
        **{k: v for k, v in os.environ.items() if k.startswith(("MODELREG_", "TMPDIR"))},
    }


def _tracked(paths: Sequence[str]) -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z", "--", *paths],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [p for p in out.split("\0") if p]


@pytest.fixture(scope="session")
def _base_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This repository's registry files, copied once per test session."""
    base = tmp_path_factory.mktemp("registry-base")
    for rel in _tracked(REGISTRY_PATHS):
        target = base / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)
    # The registry's hooks are this repository's modelreg-* hooks (the others lint the toolkit).
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    for repo in config["repos"]:
        repo["hooks"] = [h for h in repo["hooks"] if h["id"].startswith("modelreg-")]
    (base / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return base


@pytest.fixture
def pr(tmp_path: Path, _base_registry: Path) -> Iterator[PullRequest]:
    """A registry committed on ``main`` with the attacker's branch ``pr`` checked out."""
    home = tmp_path / "home"
    home.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "canary.txt").write_text("secret beside the repository\n", encoding="utf-8")
    root = tmp_path / "repo"
    shutil.copytree(_base_registry, root)
    request = PullRequest(root, outside, _env(home))
    request.git("init", "-q", "-b", "main")
    request.commit("registry")
    request.git("checkout", "-q", "-b", "pr")
    yield request
