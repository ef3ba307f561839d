"""Run a generated GitHub workflow locally, the way a GitHub-hosted runner runs it.

What is executed is the committed YAML: every job in ``needs:`` order, each matrix entry, each
step. A bare repository with a ``file://`` Git LFS store plays GitHub. For a pull request the
harness does what GitHub does before a run: it merges the head branch into the base with
``git merge --no-ff`` in a fresh clone and pushes the result as ``refs/pull/N/merge`` (and the
head as ``refs/pull/N/head``), so HEAD in every job is a merge commit dated now, as on GitHub.

Steps:

* ``actions/checkout``: a fresh ``git init`` + fetch per job, as the action does it: shallow
  (``--depth=N --no-tags``, default 1) unless the YAML says ``fetch-depth: 0`` (every branch and
  tag, then the merge ref); LFS objects skipped (``GIT_LFS_SKIP_SMUDGE=1``) unless ``lfs: true``;
* ``actions/setup-python`` and the ``Install modelreg`` step: not run; the jobs use this
  interpreter's environment (its ``bin/`` first on ``PATH``), i.e. this checkout's modelreg;
  the install command is recorded (tests check it separately);
* ``actions/upload-pages-artifact``: its Linux archive step, as the action runs it (``tar
  --dereference --hard-dereference`` of ``with.path``, ``.git``, ``.github`` and dotfiles left
  out) into ``RUNNER_TEMP/artifact.tar``, kept in :attr:`JobResult.artifacts` under the
  artifact's name; the upload itself is GitHub's;
* any other ``uses:`` step: not run and *reported* (:attr:`JobResult.reported`);
* ``run:`` steps: a script file run with the step's shell (no ``shell:`` anywhere is Actions'
  ``bash -e {0}``; ``shell: bash`` is ``bash --noprofile --norc -eo pipefail {0}``), in the
  job's workspace, with ``env:`` expressions filled from the contexts and GitHub's variables
  (``GITHUB_OUTPUT``, ``GITHUB_ENV``, ``GITHUB_STEP_SUMMARY``, ``GITHUB_BASE_REF``,
  ``GITHUB_EVENT_NAME``, ``GITHUB_SHA``, ``RUNNER_TEMP`` ...). Workflow commands on stdout are
  parsed as the runner parses them, ``::stop-commands::`` included, so a test sees which
  annotations a step really made.

``if:`` conditions, job ``outputs:``, ``needs.<job>.result`` and ``strategy.matrix`` take
GitHub's expression language (the subset these workflows use: contexts, literals, ``==``,
``!=``, ``!``, ``&&``, ``||``, ``always()``, ``success()``, ``failure()``, ``fromJSON``,
``toJSON``, ``join``, ``contains``, ``startsWith``, ``endsWith``, ``format``).
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WORKFLOWS = ROOT / ".github" / "workflows"
INSTALL_STEP = "Install modelreg"
#: Actions the harness performs itself (the checkout) or replaces by this interpreter.
CHECKOUT = "actions/checkout@"
SETUP_PYTHON = "actions/setup-python@"
UPLOAD_PAGES = "actions/upload-pages-artifact@"
#: Longest a step may run here (the workflows' own timeouts are far longer).
STEP_TIMEOUT = 900


# -- processes and git ---------------------------------------------------------------------------


def tool_env(tmp: Path) -> dict[str, str]:
    """The environment of every process: this interpreter's tools first, a private git config
    (identity, ``init.defaultBranch``, the LFS filters a runner has, ``file://`` allowed)."""
    home = tmp / "runner-home"
    home.mkdir(parents=True, exist_ok=True)
    config = home / ".gitconfig"
    config.write_text(
        "[user]\n\tname = t\n\temail = t@example.com\n"
        "[init]\n\tdefaultBranch = main\n"
        '[protocol "file"]\n\tallow = always\n'
        "[advice]\n\tdetachedHead = false\n"
        '[filter "lfs"]\n\tclean = git-lfs clean -- %f\n\tsmudge = git-lfs smudge -- %f\n'
        "\tprocess = git-lfs filter-process\n\trequired = true\n",
        encoding="utf-8",
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GIT_", "GITHUB_", "RUNNER_", "SOURCE_DATE_EPOCH"))
    }
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOME": str(home),
            "GIT_CONFIG_GLOBAL": str(config),
            "GIT_CONFIG_NOSYSTEM": "1",
            "NO_COLOR": "1",
            "MODELREG_NO_CACHE": "1",
            "PRE_COMMIT_HOME": str(tmp / "pre-commit-home"),
        }
    )
    return env


def run(
    cmd: Sequence[str], cwd: Path, env: Mapping[str, str], *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """A command; with ``check`` its failure fails the test with its output."""
    proc = subprocess.run(
        list(cmd), cwd=cwd, env=dict(env), capture_output=True, text=True, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} (in {cwd}) -> {proc.returncode}\n"
                             f"{proc.stdout}{proc.stderr}")  # fmt: skip
    return proc


def git(cwd: Path, env: Mapping[str, str], *args: str) -> str:
    """``git ARGS`` in ``cwd``; its stdout, stripped."""
    return run(["git", *args], cwd, env).stdout.strip()


# -- GitHub: the origin, pull requests, pushes ---------------------------------------------------


@dataclass
class Origin:
    """A bare repository standing in for GitHub; its LFS objects live in ``<bare>/lfs``."""

    path: Path

    @property
    def url(self) -> str:
        return self.path.as_uri()

    @classmethod
    def create(cls, path: Path, env: Mapping[str, str]) -> Origin:
        run(["git", "init", "-q", "--bare", "--initial-branch=main", str(path)], path.parent, env)
        return cls(path)


@dataclass(frozen=True)
class Event:
    """What triggered the run: ``github.*`` values and the ref every checkout fetches."""

    name: str  # pull_request, push, schedule, workflow_dispatch
    ref: str  # refs/pull/N/merge, refs/heads/main
    sha: str
    base_ref: str = ""
    head_ref: str = ""
    context: Mapping[str, Any] = field(default_factory=dict)  # the `github` context


REPOSITORY = "acme/registry"


def open_pull_request(
    origin: Origin,
    head: str,
    env: Mapping[str, str],
    scratch: Path,
    *,
    base: str = "main",
    number: int = 1,
    from_fork: bool = True,
) -> Event:
    """GitHub's side of opening pull request ``number`` from branch ``head`` into ``base``.

    A fresh clone merges ``head`` into ``base`` (``--no-ff``, committed now by "GitHub") and
    pushes ``refs/pull/N/merge`` and ``refs/pull/N/head``. ``from_fork`` makes
    ``head.repo.full_name`` differ from ``github.repository`` (the plan comment is not posted).
    """
    clone = scratch / f"github-merge-{number}"
    menv = {**env, "GIT_LFS_SKIP_SMUDGE": "1"}
    run(["git", "clone", "-q", "--branch", base, origin.url, str(clone)], scratch, menv)
    base_sha = git(clone, menv, "rev-parse", "HEAD")
    head_sha = git(clone, menv, "rev-parse", f"origin/{head}")
    merge_env = {
        **menv,
        "GIT_AUTHOR_NAME": "GitHub",
        "GIT_AUTHOR_EMAIL": "noreply@github.com",
        "GIT_COMMITTER_NAME": "GitHub",
        "GIT_COMMITTER_EMAIL": "noreply@github.com",
    }
    run(
        ["git", "merge", "-q", "--no-ff", "--no-verify", "-m",
         f"Merge {head_sha} into {base_sha}", f"origin/{head}"],
        clone, merge_env,
    )  # fmt: skip
    merge_sha = git(clone, menv, "rev-parse", "HEAD")
    run(
        ["git", "push", "-q", "--no-verify", "origin",
         f"{merge_sha}:refs/pull/{number}/merge", f"{head_sha}:refs/pull/{number}/head"],
        clone, menv,
    )  # fmt: skip
    head_repo = f"contributor/{REPOSITORY.split('/')[1]}" if from_fork else REPOSITORY
    pull_request = {
        "number": number,
        "base": {"ref": base, "sha": base_sha},
        "head": {"ref": head, "sha": head_sha, "repo": {"full_name": head_repo}},
    }
    return Event(
        name="pull_request",
        ref=f"refs/pull/{number}/merge",
        sha=merge_sha,
        base_ref=base,
        head_ref=head,
        context={
            "event_name": "pull_request",
            "event": {"pull_request": pull_request, "number": number},
            "ref": f"refs/pull/{number}/merge",
            "sha": merge_sha,
            "base_ref": base,
            "head_ref": head,
        },
    )


def push_event(origin: Origin, env: Mapping[str, str], branch: str = "main") -> Event:
    """A push to ``branch`` (release.yml's trigger): HEAD is the branch tip."""
    sha = git(origin.path, env, "rev-parse", f"refs/heads/{branch}")
    ref = f"refs/heads/{branch}"
    return Event("push", ref, sha, context={"event_name": "push", "ref": ref, "sha": sha,
                                             "event": {}})  # fmt: skip


def checkout(
    origin: Origin, event: Event, dest: Path, options: Mapping[str, Any], env: Mapping[str, str]
) -> list[str]:
    """``actions/checkout`` with ``options`` (its ``with:``) into ``dest``; the git commands."""
    depth = int(options.get("fetch-depth", 1))
    lfs = bool(options.get("lfs", False))
    genv = dict(env)
    if not lfs:
        genv["GIT_LFS_SKIP_SMUDGE"] = "1"
    local = event.ref.replace("refs/heads/", "refs/remotes/origin/").replace(
        "refs/pull/", "refs/remotes/pull/"
    )
    dest.mkdir(parents=True)
    commands = [
        ["git", "init", "-q", "--initial-branch=main", "."],
        ["git", "remote", "add", "origin", origin.url],
    ]
    if depth == 0:
        commands.append(
            ["git", "fetch", "-q", "--prune", "--no-recurse-submodules", "origin",
             "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"]
        )  # fmt: skip
        commands.append(
            ["git", "fetch", "-q", "--no-recurse-submodules", "origin", f"+{event.ref}:{local}"]
        )
    else:
        commands.append(
            ["git", "fetch", "-q", "--no-tags", "--prune", "--no-recurse-submodules",
             f"--depth={depth}", "origin", f"+{event.ref}:{local}"]
        )  # fmt: skip
    commands.append(["git", "checkout", "-q", "--force", local])
    if lfs:
        commands.append(["git", "lfs", "pull"])
    for cmd in commands:
        run(cmd, dest, genv)
    return [" ".join(c) for c in commands]


# -- expressions ---------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d+)?)|(?P<str>'(?:[^']|'')*')"
    r"|(?P<op>==|!=|<=|>=|&&|\|\||[!<>().,\[\]*])|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))"
)
_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}", re.S)


class ExpressionError(Exception):
    """An expression the harness does not understand: the test must not guess."""


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ExpressionError(f"cannot read {text[pos:]!r} in {text!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value) if value.strip() else 0.0
        except ValueError:
            return math.nan
    return math.nan


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    if type(a) is type(b) and not isinstance(a, int | float | bool):
        return bool(a == b)
    return _number(a) == _number(b)


def truthy(value: Any) -> bool:
    """GitHub's truthiness: false, 0, -0, '', null are false."""
    if isinstance(value, str):
        return value != ""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    return value is not None


def text(value: Any) -> str:
    """A value as ``${{ }}`` interpolates it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


class _Parser:
    def __init__(self, source: str, contexts: Mapping[str, Any], status: Callable[[str], bool]):
        self.source = source
        self.tokens = _tokens(source)
        self.pos = 0
        self.contexts = contexts
        self.status = status

    def peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise ExpressionError(f"unexpected end of {self.source!r}")
        token = self.tokens[self.pos]
        if expected is not None and token[1] != expected:
            raise ExpressionError(f"expected {expected!r} in {self.source!r}, got {token[1]!r}")
        self.pos += 1
        return token

    def parse(self) -> Any:
        value = self.or_()
        if self.pos != len(self.tokens):
            raise ExpressionError(f"trailing {self.tokens[self.pos][1]!r} in {self.source!r}")
        return value

    def or_(self) -> Any:
        value = self.and_()
        while self.peek() == "||":
            self.take()
            other = self.and_()
            value = value if truthy(value) else other
        return value

    def and_(self) -> Any:
        value = self.unary()
        while self.peek() == "&&":
            self.take()
            other = self.unary()
            value = other if truthy(value) else value
        return value

    def unary(self) -> Any:
        if self.peek() == "!":
            self.take()
            return not truthy(self.unary())
        return self.compare()

    def compare(self) -> Any:
        left = self.primary()
        op = self.peek()
        if op in ("==", "!=", "<", ">", "<=", ">="):
            self.take()
            right = self.primary()
            if op == "==":
                return _equal(left, right)
            if op == "!=":
                return not _equal(left, right)
            a, b = _number(left), _number(right)
            return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
        return left

    def primary(self) -> Any:
        kind, value = self.take()
        if value == "(":
            inner = self.or_()
            self.take(")")
            return inner
        if kind == "num":
            return float(value)
        if kind == "str":
            return value[1:-1].replace("''", "'")
        if kind != "name":
            raise ExpressionError(f"unexpected {value!r} in {self.source!r}")
        if value in ("true", "false"):
            return value == "true"
        if value == "null":
            return None
        if self.peek() == "(":
            return self.call(value)
        return self.path(self.contexts.get(value))

    def call(self, name: str) -> Any:
        self.take("(")
        args: list[Any] = []
        while self.peek() != ")":
            args.append(self.or_())
            if self.peek() == ",":
                self.take()
        self.take(")")
        lower = name.lower()
        if lower in ("always", "success", "failure", "cancelled"):
            return self.status(lower)
        if lower == "fromjson":
            return json.loads(text(args[0]))
        if lower == "tojson":
            return json.dumps(args[0], indent=2)
        if lower == "join":
            sep = text(args[1]) if len(args) > 1 else ","
            items = args[0] if isinstance(args[0], list) else [args[0]]
            return sep.join(text(i) for i in items)
        if lower == "contains":
            hay, needle = args
            if isinstance(hay, list):
                return any(_equal(i, needle) for i in hay)
            return text(needle).casefold() in text(hay).casefold()
        if lower == "startswith":
            return text(args[0]).casefold().startswith(text(args[1]).casefold())
        if lower == "endswith":
            return text(args[0]).casefold().endswith(text(args[1]).casefold())
        if lower == "format":
            out = text(args[0])
            for i, arg in enumerate(args[1:]):
                out = out.replace(f"{{{i}}}", text(arg))
            return out
        raise ExpressionError(f"function {name}() is not supported by the harness")

    def path(self, value: Any) -> Any:
        while self.peek() in (".", "["):
            if self.take()[1] == ".":
                _, key = self.take()
                if key == "*":  # object filter: needs.*.result is a list
                    items = list(value.values()) if isinstance(value, dict) else []
                    self.take(".")
                    _, key = self.take()
                    value = [_get(i, key) for i in items]
                    continue
                value = _get(value, key)
            else:
                key_value = self.or_()
                self.take("]")
                value = _get(value, text(key_value))
        return value


def _get(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        for k, v in value.items():
            if str(k).casefold() == key.casefold():
                return v
        return None
    if isinstance(value, list) and key.isdigit():
        return value[int(key)] if int(key) < len(value) else None
    return None


_STATUS = re.compile(r"\b(always|success|failure|cancelled)\s*\(", re.I)


def condition_holds(
    condition: str, contexts: Mapping[str, Any], status: Callable[[str], bool]
) -> bool:
    """An ``if:``: without a status function GitHub reads it as ``success() && (...)``."""
    if not _STATUS.search(condition) and not status("success"):
        return False
    return truthy(evaluate(condition, contexts, status))


def evaluate(
    expression: str,
    contexts: Mapping[str, Any],
    status: Callable[[str], bool] = lambda name: name in ("always", "success"),
) -> Any:
    """The value of one expression (with or without its ``${{ }}``)."""
    match = _EXPR.fullmatch(expression.strip())
    return _Parser(match.group(1) if match else expression, contexts, status).parse()


def interpolate(value: Any, contexts: Mapping[str, Any]) -> str:
    """A string with every ``${{ }}`` replaced by its value."""
    return _EXPR.sub(lambda m: text(evaluate(m.group(1), contexts)), text(value))


# -- workflow commands ---------------------------------------------------------------------------

_COMMAND = re.compile(r"^::(?P<cmd>[A-Za-z-]+)(?: (?P<props>[^:]*))?::(?P<msg>.*)$")


@dataclass(frozen=True)
class Command:
    """A workflow command the runner acted on (``::error file=...::message``)."""

    command: str
    properties: str
    message: str


def workflow_commands(stdout: str) -> list[Command]:
    """The commands the runner would act on in a step's stdout, honouring stop-commands."""
    found: list[Command] = []
    resume: str | None = None
    for line in stdout.splitlines():
        if resume is not None:
            if line.strip() == f"::{resume}::":
                resume = None
            continue
        match = _COMMAND.match(line.strip())
        if not match:
            continue
        if match["cmd"] == "stop-commands":
            resume = match["msg"]
            continue
        found.append(Command(match["cmd"], match["props"] or "", match["msg"]))
    return found


def _read_kv_file(path: Path) -> dict[str, str]:
    """``GITHUB_OUTPUT``/``GITHUB_ENV``: ``key=value`` lines and ``key<<DELIM`` blocks."""
    out: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delim = line.split("<<", 1)
            body: list[str] = []
            i += 1
            while i < len(lines) and lines[i] != delim:
                body.append(lines[i])
                i += 1
            out[key] = "\n".join(body)
        elif "=" in line:
            key, value = line.split("=", 1)
            out[key] = value
        i += 1
    return out


# -- results -------------------------------------------------------------------------------------


@dataclass
class StepResult:
    """One step as the run ended it."""

    name: str
    outcome: str  # success, failure, skipped
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    commands: list[Command] = field(default_factory=list)
    summary: str = ""

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class JobResult:
    """One job (one matrix entry of it) as the run ended it."""

    job: str
    name: str
    result: str  # success, failure, skipped
    matrix: dict[str, Any] | None = None
    steps: list[StepResult] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    workspace: Path | None = None
    installs: list[str] = field(default_factory=list)
    checkouts: list[list[str]] = field(default_factory=list)
    reported: list[str] = field(default_factory=list)
    #: Artifacts the job made (upload-pages-artifact's ``artifact.tar``), by artifact name.
    artifacts: dict[str, Path] = field(default_factory=dict)

    def step(self, name: str) -> StepResult:
        """The step whose name starts with ``name``."""
        found = [s for s in self.steps if s.name.startswith(name)]
        if not found:
            raise KeyError(f"{self.name}: no step {name!r} (steps: {[s.name for s in self.steps]})")
        return found[0]

    @property
    def failed_step(self) -> StepResult | None:
        """The first step that failed."""
        return next((s for s in self.steps if s.outcome == "failure"), None)

    @property
    def summary(self) -> str:
        return "".join(s.summary for s in self.steps)

    @property
    def log(self) -> str:
        parts = [f"## {self.name}: {self.result}"]
        parts += [f"$ {s.name} -> {s.outcome} ({s.returncode})\n{s.output}" for s in self.steps]
        return "\n".join(parts)


@dataclass
class WorkflowRun:
    """Every job of one run."""

    jobs: dict[str, list[JobResult]] = field(default_factory=dict)
    unselected: list[str] = field(default_factory=list)

    def result(self, job: str) -> str:
        """``needs.<job>.result``: failure if any matrix entry failed."""
        results = [j.result for j in self.jobs.get(job, [])]
        if not results or all(r == "skipped" for r in results):
            return "skipped"
        return "failure" if "failure" in results else "success"

    def job(self, job: str, index: int = 0) -> JobResult:
        return self.jobs[job][index]

    @property
    def reported(self) -> list[str]:
        return [r for runs in self.jobs.values() for j in runs for r in j.reported]

    @property
    def log(self) -> str:
        return "\n".join(j.log for runs in self.jobs.values() for j in runs)


# -- the runner ----------------------------------------------------------------------------------


def load(path: Path) -> dict[str, Any]:
    """A workflow file; PyYAML reads the key ``on`` as true, so it is put back."""
    data: dict[Any, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in data:
        data["on"] = data.pop(True)
    return data


def _shell(step: Mapping[str, Any], job: Mapping[str, Any], workflow: Mapping[str, Any]) -> str:
    for where in (step, (job.get("defaults") or {}).get("run") or {},
                  (workflow.get("defaults") or {}).get("run") or {}):  # fmt: skip
        if "shell" in where:
            return str(where["shell"])
    return ""


def shell_argv(shell: str, script: Path) -> list[str]:
    """The command Actions runs a ``run:`` script with, for ``shell`` ('' = unspecified)."""
    if shell == "":
        return ["bash", "-e", str(script)]
    if shell == "bash":
        return ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)]
    if shell == "sh":
        return ["sh", "-e", str(script)]
    if "{0}" in shell:
        return [part.replace("{0}", str(script)) for part in shell.split()]
    raise ExpressionError(f"shell {shell!r} is not supported by the harness")


def _order(jobs: Mapping[str, Any]) -> list[str]:
    done: list[str] = []

    def visit(name: str, seen: tuple[str, ...] = ()) -> None:
        if name in done:
            return
        if name in seen:
            raise ExpressionError(f"needs: cycle through {name}")
        needs = jobs[name].get("needs") or []
        for need in [needs] if isinstance(needs, str) else needs:
            visit(need, (*seen, name))
        done.append(name)

    for name in jobs:
        visit(name)
    return done


def _matrix_entries(matrix: Any) -> list[dict[str, Any]]:
    if not isinstance(matrix, dict):
        raise ExpressionError(f"matrix {matrix!r} is not a mapping")
    axes = {k: v for k, v in matrix.items() if k not in ("include", "exclude")}
    entries: list[dict[str, Any]] = [{}]
    for key, values in axes.items():
        entries = [{**e, key: v} for e in entries for v in values]
    include = matrix.get("include") or []
    if axes:
        entries += [i for i in include if not any(all(e.get(k) == v for k, v in i.items())
                                                     for e in entries)]  # fmt: skip
    else:
        entries = list(include)
    return entries


@dataclass
class Runner:
    """Runs one workflow file for one event against ``origin``."""

    workflow: Path
    origin: Origin
    event: Event
    scratch: Path
    env: Mapping[str, str]
    #: ``github.token`` for the run (empty: the LFS steps take their token-less branch).
    token: str = ""
    inputs: Mapping[str, Any] = field(default_factory=dict)
    #: Called after each step with (job, step): e.g. a guard that nothing beside changed.
    after_step: Callable[[JobResult, StepResult], None] | None = None
    #: Run only these jobs; the others end "skipped" (and are listed in ``unselected``).
    only: Sequence[str] | None = None

    def run(self) -> WorkflowRun:
        """Every job, in ``needs:`` order."""
        data = load(self.workflow)
        result = WorkflowRun()
        for name in _order(data["jobs"]):
            if self.only is not None and name not in self.only:
                result.jobs[name] = [JobResult(name, name, "skipped")]
                result.unselected.append(name)
                continue
            result.jobs[name] = self._job(data, name, result)
        return result

    # -- contexts --

    def _github(self) -> dict[str, Any]:
        return {
            **self.event.context,
            "repository": REPOSITORY,
            "server_url": "https://github.com",
            "token": self.token,
            "workspace": "",
        }

    def _needs(self, job: Mapping[str, Any], run_: WorkflowRun) -> dict[str, Any]:
        needs = job.get("needs") or []
        names = [needs] if isinstance(needs, str) else list(needs)
        out: dict[str, Any] = {}
        for name in names:
            runs = run_.jobs.get(name, [])
            outputs: dict[str, str] = {}
            for j in runs:
                outputs.update(j.outputs)
            out[name] = {"result": run_.result(name), "outputs": outputs}
        return out

    def _job(self, data: Mapping[str, Any], name: str, run_: WorkflowRun) -> list[JobResult]:
        job = data["jobs"][name]
        needs = self._needs(job, run_)
        contexts: dict[str, Any] = {
            "github": self._github(),
            "needs": needs,
            "inputs": dict(self.inputs),
            "env": {},
            "vars": {},
            "secrets": {},
        }
        all_needs_ok = all(n["result"] == "success" for n in needs.values())

        any_failed = any(n["result"] == "failure" for n in needs.values())

        def job_status(fn: str) -> bool:
            return {"always": True, "success": all_needs_ok, "cancelled": False,
                    "failure": any_failed}[fn]  # fmt: skip

        condition = job.get("if")
        run_it = (
            condition_holds(str(condition), contexts, job_status) if condition else all_needs_ok
        )

        if not run_it:
            return [JobResult(name, name, "skipped")]
        strategy = job.get("strategy") or {}
        matrix = strategy.get("matrix")
        if matrix is None:
            return [self._instance(data, name, contexts, None, 0)]
        if isinstance(matrix, str):
            matrix = evaluate(matrix, contexts)
        return [
            self._instance(data, name, {**contexts, "matrix": entry}, entry, i)
            for i, entry in enumerate(_matrix_entries(matrix))
        ]

    def _instance(
        self,
        data: Mapping[str, Any],
        name: str,
        contexts: dict[str, Any],
        matrix: dict[str, Any] | None,
        index: int,
    ) -> JobResult:
        job = data["jobs"][name]
        display = interpolate(job.get("name", name), {**contexts, "matrix": matrix or {}})
        result = JobResult(name, display, "success", matrix=matrix)
        key = f"{name}-{index}"
        temp = self.scratch / "runner-temp" / key
        temp.mkdir(parents=True)
        workspace = self.scratch / "work" / key
        result.workspace = workspace
        base_env = self._base_env(name, workspace, temp)
        env_ctx: dict[str, str] = {}
        for scope in (data.get("env") or {}, job.get("env") or {}):
            for k, v in scope.items():
                env_ctx[k] = interpolate(v, {**contexts, "env": env_ctx})
        contexts = {**contexts, "env": env_ctx, "steps": {}, "runner": {"temp": str(temp)}}
        if matrix is not None:
            contexts["matrix"] = matrix
        extra_env: dict[str, str] = {}
        failed = False
        for i, step in enumerate(job.get("steps") or []):
            step_name = str(step.get("name") or step.get("uses") or f"step {i}")
            step_name = interpolate(step_name, contexts)
            status_failed = failed

            def step_status(fn: str, failed_now: bool = status_failed) -> bool:
                return {"always": True, "success": not failed_now, "failure": failed_now,
                        "cancelled": False}[fn]  # fmt: skip

            condition = step.get("if")
            wanted = (
                condition_holds(str(condition), contexts, step_status)
                if condition is not None
                else not failed
            )
            if not wanted:
                result.steps.append(StepResult(step_name, "skipped"))
                continue
            if step.get("uses"):
                done = self._action(result, step, step_name, workspace, temp)
                result.steps.append(done)
                failed = failed or done.outcome == "failure"
                continue
            if step.get("name") == INSTALL_STEP:
                result.installs.append(str(step["run"]))
                result.steps.append(StepResult(step_name, "success", 0))
                continue
            outcome = self._run_step(
                step, step_name, shell=_shell(step, job, data), contexts=contexts,
                env={**base_env, **contexts["env"], **extra_env}, extra_env=extra_env,
                workspace=workspace, temp=temp, index=i,
            )  # fmt: skip
            result.steps.append(outcome)
            step_id = step.get("id")
            if step_id:
                contexts["steps"][step_id] = {
                    "outputs": outcome.outputs,
                    "outcome": outcome.outcome,
                    "conclusion": outcome.outcome,
                }
            if self.after_step is not None:
                self.after_step(result, outcome)
            if outcome.outcome == "failure" and not step.get("continue-on-error"):
                failed = True
        result.result = "failure" if failed else "success"
        for key_, expr in (job.get("outputs") or {}).items():
            result.outputs[key_] = interpolate(expr, contexts)
        return result

    def _action(
        self,
        result: JobResult,
        step: Mapping[str, Any],
        step_name: str,
        workspace: Path,
        temp: Path,
    ) -> StepResult:
        """A ``uses:`` step: the checkout is done, setup-python is this interpreter, the Pages
        artifact is archived, any other action is reported."""
        uses = str(step["uses"])
        if uses.startswith(CHECKOUT):
            options = dict(step.get("with") or {})
            result.checkouts.append(checkout(self.origin, self.event, workspace, options, self.env))
            return StepResult(step_name, "success", 0)
        if uses.startswith(SETUP_PYTHON):
            return StepResult(step_name, "success", 0, stdout=sys.executable)
        if uses.startswith(UPLOAD_PAGES):
            return _archive_pages(result, dict(step.get("with") or {}), step_name, workspace, temp)
        result.reported.append(f"{result.name}: {uses} was not run by the harness")
        return StepResult(step_name, "skipped")

    def _base_env(self, job: str, workspace: Path, temp: Path) -> dict[str, str]:
        """GitHub's variables for one job on this runner."""
        event_path = temp / "event.json"
        event_path.write_text(json.dumps(self.event.context.get("event", {})), encoding="utf-8")
        return {
            **self.env,
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": self.event.name,
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_REF": self.event.ref,
            "GITHUB_SHA": self.event.sha,
            "GITHUB_BASE_REF": self.event.base_ref,
            "GITHUB_HEAD_REF": self.event.head_ref,
            "GITHUB_REPOSITORY": REPOSITORY,
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_JOB": job,
            "RUNNER_TEMP": str(temp),
            "RUNNER_OS": "Linux",
        }

    def _run_step(
        self,
        step: Mapping[str, Any],
        step_name: str,
        *,
        shell: str,
        contexts: dict[str, Any],
        env: dict[str, str],
        extra_env: dict[str, str],
        workspace: Path,
        temp: Path,
        index: int,
    ) -> StepResult:
        files = {k: temp / f"{k.lower()}-{index}" for k in ("OUTPUT", "ENV", "STEP_SUMMARY")}
        for path in files.values():
            path.write_text("", encoding="utf-8")
        for k, v in (step.get("env") or {}).items():
            env[k] = interpolate(v, contexts)
        env.update({f"GITHUB_{k}": str(p) for k, p in files.items()})
        script = temp / f"step-{index}.sh"
        script.write_text(str(step["run"]), encoding="utf-8")
        cwd = workspace / str(step.get("working-directory", "."))
        if not workspace.exists():  # a job without checkout runs in an empty workspace
            workspace.mkdir(parents=True)
        proc = subprocess.run(
            shell_argv(shell, script),
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=STEP_TIMEOUT,
        )
        extra_env.update(_read_kv_file(files["ENV"]))
        return StepResult(
            step_name,
            "success" if proc.returncode == 0 else "failure",
            proc.returncode,
            proc.stdout,
            proc.stderr,
            _read_kv_file(files["OUTPUT"]),
            workflow_commands(proc.stdout),
            files["STEP_SUMMARY"].read_text(encoding="utf-8"),
        )


def _archive_pages(
    result: JobResult, options: Mapping[str, Any], step_name: str, workspace: Path, temp: Path
) -> StepResult:
    """upload-pages-artifact's archive step (v5, Linux): the same ``tar`` command line."""
    artifact = temp / "artifact.tar"
    argv = ["tar", "--dereference", "--hard-dereference",
            "--directory", str(options.get("path", "_site/")), "-cvf", str(artifact),
            "--exclude=.git", "--exclude=.github"]  # fmt: skip
    if str(options.get("include-hidden-files", "false")) != "true":
        argv.append("--exclude=.[^/]*")
    argv.append(".")
    proc = subprocess.run(argv, cwd=workspace, capture_output=True, text=True, check=False)
    if proc.returncode == 0:
        result.artifacts[str(options.get("name", "github-pages"))] = artifact
    outcome = "success" if proc.returncode == 0 else "failure"
    return StepResult(step_name, outcome, proc.returncode, proc.stdout, proc.stderr)


def iter_run_steps(workflow: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every ``run:`` step of a workflow as ``(job, step)``."""
    for name, job in load(workflow)["jobs"].items():
        for step in job.get("steps") or []:
            if "run" in step:
                yield name, step
