"""The files a registry repository is wired with: workflows, review rules, hooks, LFS.

``modelreg init`` writes them into a new registry; ``scripts/gen_hooks.py`` writes the same
workflow templates into this repository (with its own install command), so the toolkit runs
exactly the CI it hands out. Templates live in ``templates/`` beside this file; placeholders are
``@@NAME@@`` (GitHub's ``${{ }}`` and the shell's ``$`` stay untouched).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

from modelreg import __version__
from modelreg.errors import ModelregError, UsageError
from modelreg.git.lfs import LFS_ATTRIBUTES
from modelreg.gitops import BASE_DIR, DEFAULT_ENVIRONMENTS, OVERLAYS_DIR
from modelreg.gitops.clusters import PLACEHOLDER_URL, check_url, cluster_files
from modelreg.gitops.envs import KUSTOMIZATION
from modelreg.gitops.overlays import env_kustomization_text
from modelreg.render import hooks
from modelreg.schemas import SCHEMA_NAMES, schema_dir

WORKFLOWS = ("pr.yml", "release.yml", "full.yml", "pages.yml")
_PLACEHOLDER = re.compile(r"@@[A-Z_]+@@")

#: Where a new registry gets modelreg when ``init`` is not told and cannot tell where the
#: running modelreg came from: this project's repository at the tag of this version. Never a
#: package-index name: modelreg is not published there, and anyone could publish that name
#: (the job that installs it holds a write token).
DEFAULT_SOURCE_REPO = "https://github.com/modelreg/modelreg"
#: The extras CI needs: deep checks (onnx) and strict Kubernetes schemas (gitops).
EXTRAS = "onnx,gitops"
#: pip's ``git+URL@REV``: a URL without quotes or spaces (it lands in a shell command and a
#: YAML string) and no ``@`` in its path (pip would take the rest for the revision).
_SOURCE_URL = re.compile(r"^(https|ssh|file)://([^/\s'\"\\]*)(/[^@\s'\"\\]*)?$")
_REV = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/+-]*$")


@dataclass(frozen=True)
class Source:
    """A copy of the modelreg repository at one revision: where a registry's hooks and its
    CI's modelreg come from, so both run the same code."""

    repo: str
    rev: str

    def __post_init__(self) -> None:
        if not _SOURCE_URL.match(self.repo):
            raise UsageError(
                f"--hooks-repo {self.repo!r}: expected an https://, ssh:// or file:// URL of a "
                "modelreg repository (pip installs it with git+URL@REV)"
            )
        if not _REV.match(self.rev) or ".." in self.rev:
            raise UsageError(f"--hooks-rev {self.rev!r}: expected a tag, branch or commit")

    def requirement(self) -> str:
        """The PEP 508 requirement pip installs: this repository at this revision."""
        return f"modelreg[{EXTRAS}] @ git+{self.repo}@{self.rev}"

    def install(self) -> str:
        """The install step of a registry's workflows."""
        return f"pip install '{self.requirement()}' 'pre-commit>=3.2'"


def installed_source() -> Source | None:
    """Where the running modelreg was installed from, when pip recorded a git URL (PEP 610's
    ``direct_url.json``: ``pip install git+URL@REV`` records the URL and the commit)."""
    try:
        text = metadata.distribution("modelreg").read_text("direct_url.json")
        record = json.loads(text) if text else None
    except (metadata.PackageNotFoundError, ValueError, OSError):
        return None
    if not isinstance(record, dict):
        return None
    vcs = record.get("vcs_info")
    url = record.get("url")
    if not isinstance(vcs, dict) or vcs.get("vcs") != "git" or not isinstance(url, str):
        return None
    commit = vcs.get("commit_id")
    try:
        return Source(url, str(commit)) if commit else None
    except UsageError:
        return None


def default_source() -> Source:
    """The source ``init`` names unless told: where this modelreg came from, else
    :data:`DEFAULT_SOURCE_REPO` at this version's tag."""
    return installed_source() or Source(DEFAULT_SOURCE_REPO, f"v{__version__}")


#: How a new registry's CI installs modelreg by default (see :func:`default_source`).
DEFAULT_INSTALL = default_source().install()


#: The serving workload template's files (this repository's ``overlays/base/``).
BASE_FILES = (
    "deployment.yaml",
    "fetch-model.sh",
    "kustomization.yaml",
    "registry.env",
    "service.yaml",
)
#: Files ``modelreg init`` marks executable.
EXECUTABLE = frozenset({f"{OVERLAYS_DIR}/{BASE_DIR}/fetch-model.sh"})
#: The line of ``registry.env`` that names where the fetch step clones the registry.
SOURCE_URL_KEY = "MODEL_SOURCE_URL"


def base_dir() -> Path:
    """The serving workload template: inside the installed package (the wheel carries a copy,
    see pyproject's force-include), else this source checkout's ``overlays/base``."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "base", here.parents[2] / OVERLAYS_DIR / BASE_DIR):
        if all((candidate / name).is_file() for name in BASE_FILES):
            return candidate
    raise ModelregError(
        f"the overlays/base template is missing (looked in {here / 'base'}); reinstall modelreg"
    )


def base_files(repo_url: str | None = None) -> dict[str, str]:
    """``overlays/base/*`` for a new registry; ``repo_url`` replaces the placeholder source."""
    directory = base_dir()
    files: dict[str, str] = {}
    for name in BASE_FILES:
        text = (directory / name).read_text(encoding="utf-8")
        if name == "registry.env":
            text = "".join(
                f"{SOURCE_URL_KEY}={repo_url or PLACEHOLDER_URL}\n"
                if line.startswith(f"{SOURCE_URL_KEY}=")
                else line
                for line in text.splitlines(keepends=True)
            )
        files[f"{OVERLAYS_DIR}/{BASE_DIR}/{name}"] = text
    return files


def deployment_files(repo_url: str | None = None, secret_ref: str | None = None) -> dict[str, str]:
    """The deployment side of a new registry: ``overlays/base``, empty staging and production
    environments, and ``clusters/`` (Flux and Argo CD) syncing them from ``repo_url`` (with
    ``secret_ref``, the Secret of a private repository's credentials)."""
    if repo_url is not None:
        check_url(repo_url)
    files = base_files(repo_url)
    for env in DEFAULT_ENVIRONMENTS:
        files[f"{OVERLAYS_DIR}/{env}/{KUSTOMIZATION}"] = env_kustomization_text(None, env, {}, {})
    files.update(cluster_files(repo_url or PLACEHOLDER_URL, secret_ref=secret_ref))
    return files


def template(name: str) -> str:
    """The text of ``templates/<name>``."""
    return (resources.files(__name__) / "templates" / name).read_text(encoding="utf-8")


def fill(text: str, **values: str) -> str:
    """Replace ``@@KEY@@`` placeholders; every placeholder must be given."""
    for key, value in values.items():
        text = text.replace(f"@@{key}@@", value)
    left = _PLACEHOLDER.findall(text)
    if left:
        raise ValueError(f"template placeholders without a value: {', '.join(sorted(set(left)))}")
    return text


def workflows(install: str, header: str) -> dict[str, str]:
    """``.github/workflows/*.yml`` with ``install`` as the install step's command."""
    if any(c in install for c in '"\\\n'):
        raise UsageError('the install command may not contain `"`, a backslash or a newline')
    return {
        f".github/workflows/{name}": f"{header}\n"
        + fill(template(f"workflows/{name}"), INSTALL=install)
        for name in WORKFLOWS
    }


def source_of(hooks_repo: str | None, hooks_rev: str | None) -> Source:
    """``--hooks-repo``/``--hooks-rev`` as a :class:`Source`, or the default one."""
    if hooks_repo:
        if not hooks_rev:
            raise UsageError("--hooks-repo needs --hooks-rev (a tag or commit of that repository)")
        return Source(hooks_repo, hooks_rev)
    if hooks_rev:
        raise UsageError("--hooks-rev needs --hooks-repo (the repository it is a revision of)")
    return default_source()


#: The line of a local-hooks config that names where its modelreg comes from.
SOURCE_COMMENT = "# modelreg comes from: "


def precommit_config(hooks_repo: str | None, hooks_rev: str | None) -> str:
    """A registry's ``.pre-commit-config.yaml``.

    With ``hooks_repo`` (and ``hooks_rev``) it consumes this project's ``.pre-commit-hooks.yaml``
    like any pre-commit repository; without, it runs the installed ``modelreg`` (``repo:
    local``, ``language: system``), which needs no network and no hook environment, and names
    in a comment the source that the README and CI install it from.
    """
    source = source_of(hooks_repo, hooks_rev)
    lines = [
        f"# Written by modelreg init {__version__}: the modelreg hooks (docs/hooks.md).",
        f'minimum_pre_commit_version: "{hooks.MINIMUM_PRE_COMMIT_VERSION}"',
        "default_install_hook_types: [pre-commit, pre-push]",
        "repos:",
    ]
    if hooks_repo:
        lines += [f"  - repo: {source.repo}", f"    rev: {source.rev}", "    hooks:"]
        lines += [f"      - id: {hook.id}" for hook in hooks.HOOKS]
    else:
        lines.insert(1, f"{SOURCE_COMMENT}{source.repo} {source.rev} ({source.requirement()})")
        lines += ["  - repo: local", "    hooks:"]
        for hook in hooks.HOOKS:
            lines += hooks.hook_lines(hook, language="system", indent="      ", local=True)
    return "\n".join(lines) + "\n"


README = """\
# Model registry

This repository is a [modelreg](https://pypi.org/project/modelreg/) registry: every model
version is a directory under `models/` with an ONNX file (stored in Git LFS) and a
`metadata.yaml` checked against the JSON Schemas in `schemas/`; every release is a git tag;
every deploy is a merge to main.

## Set up

```bash
python3 -m venv .venv && .venv/bin/pip install '@@MODELREG@@' 'pre-commit>=3.2'
git lfs install && .venv/bin/pre-commit install
```

## Add a model

1. `modelreg add <model> <version> --onnx model.onnx --eval eval.npz ...` measures the
   version; for a new model it also writes `models/<model>/model.yaml` from `--title`,
   `--description`, `--task`, `--owner` and `--labels` (a field without its flag says TODO
   until you write it). It regenerates the version overlay and the pages too.
2. Commit everything `git status` lists (the hooks check it), open a pull request: CI
   validates the versions you changed, gates promotions and posts the deployment plan as a
   comment. `docs/DEVELOPMENT.md` walks through a first model.

## Deploy

`overlays/base/` is the serving workload (Triton Inference Server; an init container fetches
the released artifact and verifies its sha256 before the server starts). `modelreg add` writes
`overlays/<model>/v<version>/`; `modelreg promote <model> <version> --env staging` (later
`--env production`, which runs the promotion gates) lists it in `overlays/<env>/`, as one
commit. Apply `clusters/<env>/` once per cluster (Flux: `kubectl apply -f clusters/<env>/`, or
`flux bootstrap ... --path=clusters/<env>`, which adds its `flux-system/` beside them; Argo CD:
`kubectl apply -n argocd -f clusters/argocd/<env>.yaml`); from then on a merge to main is the
deploy and `modelreg rollback <model> --env <env>` (a `git revert`) is the rollback.
`modelreg overlays --check` builds every overlay with plain kustomize and checks the policy.
If the registry's clone URL was not given to `modelreg init --repo-url`, write it into
`clusters/*/*.yaml` and `overlays/base/registry.env` (`modelreg validate` warns until then).
A private repository needs credentials: see the comments in `clusters/` (`modelreg init
--private` names the Flux Secret).

Rules: every finding names a rule id, documented with modelreg (`docs/rules.md`).
"""

MODELS_README = """\
# models/

One directory per model: `models/<model>/model.yaml` (card, lifecycle, promotion gates) and
one sub-directory per version, `models/<model>/<version>/` (metadata.yaml, model.onnx, golden
vectors), written by `modelreg add`. Start a model card with this line so editors complete it:

    # yaml-language-server: $schema=../../schemas/model.schema.json
"""

SCHEMAS_README = f"""\
# schemas/

Copies of the JSON Schemas of modelreg {__version__}, for editors: the
`# yaml-language-server: $schema=...` line at the top of each YAML file points here.
`modelreg validate` always uses the schemas of the installed modelreg, identified by their
`$id` (`urn:modelreg:schema:<name>:1`); refresh these copies with `modelreg init --update .`
after upgrading.
"""

GITIGNORE = """\
.venv/
__pycache__/
*.py[cod]
"""


def registry_files(
    *,
    install: str | None = None,
    hooks_repo: str | None = None,
    hooks_rev: str | None = None,
    ml_owners: str = "@your-org/ml",
    release_owners: str = "@your-org/release-owners",
    repo_url: str | None = None,
    secret_ref: str | None = None,
) -> dict[str, str]:
    """Every file ``modelreg init`` writes: repository-relative path to text.

    The README and the workflows install modelreg from the same source as the hooks
    (``hooks_repo`` at ``hooks_rev``, else :func:`default_source`); ``install`` overrides the
    workflows' install command.
    """
    source = source_of(hooks_repo, hooks_rev)
    header = f"# Written by modelreg init {__version__}; regenerate with modelreg init --update."
    files: dict[str, str] = {
        "README.md": fill(README, MODELREG=source.requirement()),
        ".gitignore": GITIGNORE,
        ".gitattributes": "# Model artifacts are stored in Git LFS.\n"
        + "\n".join(LFS_ATTRIBUTES)
        + "\n# Generated pages merge block by block (two promotions of different models, a\n"
        + "# revert); enable once per clone: git config merge.modelreg-render.driver\n"
        + "# 'modelreg render --merge-driver %O %A %B %P' (without it git merges as text).\n"
        + "MODEL_REGISTRY.md merge=modelreg-render\n",
        ".pre-commit-config.yaml": precommit_config(hooks_repo, hooks_rev),
        ".github/CODEOWNERS": fill(
            template("CODEOWNERS"), ML_OWNERS=ml_owners, RELEASE_OWNERS=release_owners
        ),
        ".github/pull_request_template.md": template("pull_request_template.md"),
        "models/README.md": MODELS_README,
        "schemas/README.md": SCHEMAS_README,
    }
    for name in SCHEMA_NAMES:
        path = schema_dir() / f"{name}.schema.json"
        files[f"schemas/{name}.schema.json"] = path.read_text(encoding="utf-8")
    files.update(workflows(install or source.install(), header))
    files.update(deployment_files(repo_url, secret_ref))
    files.update(generated_pages())
    return files


def generated_pages() -> dict[str, str]:
    """What ``modelreg render`` makes of a registry without models: MODEL_REGISTRY.md and
    docs/DEVELOPMENT.md. Without them a fresh registry fails its own ``render --check`` hook
    (MR801: missing) at its first commit; ``modelreg add`` and ``promote`` keep them current.
    """
    from modelreg.render import DEVELOPMENT, PAGE, blocks, development, page

    return {PAGE: blocks.join(page.render([])), DEVELOPMENT: development.render()}
