"""Ownership matches effect: every file that changes what production runs needs release owners.

modelreg's checks judge models; they cannot judge a pull request that weakens the fetch step,
the policy, the schemas or the workflow itself. Those files are what CODEOWNERS gives to the
release owners. GitHub reads CODEOWNERS like a gitignore file, but the LAST matching pattern
wins; :func:`owners` implements that reading, so an order mistake in the template (a broad
rule after a narrow one) fails here.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from attack_support import PullRequest
from modelreg import scaffold
from modelreg.cli import main

REPO = Path(__file__).resolve().parents[2]
ML, RELEASE = "@acme/ml", "@acme/release"

#: Files whose change alters what runs in production, or what judges a pull request.
RELEASE_PATHS = (
    "overlays/base/deployment.yaml",
    "overlays/base/fetch-model.sh",
    "overlays/base/kustomization.yaml",
    "overlays/policy.yaml",
    "overlays/production/kustomization.yaml",
    "overlays/production/bert-classifier.alias.yaml",
    "overlays/staging/kustomization.yaml",
    # A new environment, and a directory slipped into an environment or the base.
    "overlays/canary/kustomization.yaml",
    "overlays/production/v9.9.9/kustomization.yaml",
    "overlays/base/v1/patch.yaml",
    "clusters/production/flux.yaml",
    "clusters/staging/argocd.yaml",
    "schemas/metadata.schema.json",
    ".github/workflows/pr.yml",
    ".github/CODEOWNERS",
    "CODEOWNERS",
    "docs/CODEOWNERS",
    ".pre-commit-config.yaml",
    ".pre-commit-hooks.yaml",
    ".gitattributes",
    "scripts/deploy.sh",
)
#: The model team's files: versions, cards, evaluation data, generated version overlays.
ML_PATHS = (
    "models/x/1.0.0/metadata.yaml",
    "models/x/1.0.0/model.onnx",
    "models/x/model.yaml",
    "models/x/data/eval.npz",
    "overlays/x/v1.0.0/kustomization.yaml",
    "overlays/x/v1.0.0/config.pbtxt",
)


# -- GitHub's reading of CODEOWNERS ------------------------------------------------------------


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    """A gitignore-style pattern as GitHub reads it in CODEOWNERS (no ``!``, no ``[]``)."""
    directory_only = pattern.endswith("/")
    body = pattern.rstrip("/")
    # A slash at the start or in the middle anchors the pattern at the repository root;
    # otherwise it matches at any depth.
    anchored = "/" in body
    body = body.lstrip("/")
    out = []
    i = 0
    while i < len(body):
        if body.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif body.startswith("**", i):
            out.append(".*")
            i += 2
        elif body[i] == "*":
            out.append("[^/]*")
            i += 1
        elif body[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(body[i]))
            i += 1
    prefix = "" if anchored else "(?:.*/)?"
    # A pattern naming a directory owns everything under it; ``dir/`` names only directories.
    suffix = "/.+" if directory_only else "(?:/.+)?"
    return re.compile(prefix + "".join(out) + suffix)


def rules(text: str) -> list[tuple[str, list[str]]]:
    """(pattern, owners) in file order, comments and blank lines skipped."""
    found = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            pattern, *who = line.split()
            found.append((pattern, who))
    return found


def owners(text: str, path: str) -> list[str]:
    """The owners of ``path``: the last matching rule's (GitHub's rule), none if none match."""
    matched: list[str] = []
    for pattern, who in rules(text):
        if _regex(pattern).fullmatch(path):
            matched = who
    return matched


def test_the_reader_follows_githubs_rules() -> None:
    text = "*  @a\n/docs/  @b\n/docs/*.md  @c\nbuild/  @d\n/overlays/*/v*/  @e\n"
    assert owners(text, "README.md") == ["@a"]
    assert owners(text, "docs/x/y.txt") == ["@b"]
    assert owners(text, "docs/a.md") == ["@c"]
    assert owners(text, "docs/x/a.md") == ["@b"]  # `*` never crosses a slash
    assert owners(text, "src/build/out.o") == ["@d"]  # unanchored: any depth
    assert owners(text, "build") == ["@a"]  # `build/` names directories only
    assert owners(text, "overlays/m/v1.0.0/k.yaml") == ["@e"]
    assert owners(text, "overlays/production/k.yaml") == ["@a"]
    # Order decides: the same rules reversed give the broad one every file.
    reversed_text = "\n".join(reversed(text.splitlines()))
    assert owners(reversed_text, "docs/a.md") == ["@a"]


# -- the two CODEOWNERS files ------------------------------------------------------------------


@pytest.fixture(params=["this-repository", "modelreg-init"])
def codeowners(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str, str]:
    """(CODEOWNERS text, ML owners, release owners) of this repository or of a new registry."""
    if request.param == "this-repository":
        text = (REPO / ".github" / "CODEOWNERS").read_text(encoding="utf-8")
        return text, "@modelreg/ml-platform", "@modelreg/release-owners"
    text = scaffold.registry_files(ml_owners=ML, release_owners=RELEASE)[".github/CODEOWNERS"]
    return text, ML, RELEASE


@pytest.mark.parametrize("path", RELEASE_PATHS)
def test_what_changes_production_needs_the_release_owners(
    codeowners: tuple[str, str, str], path: str
) -> None:
    text, _ml, release = codeowners
    assert owners(text, path) == [release]


@pytest.mark.parametrize("path", ML_PATHS)
def test_models_stay_with_the_ml_owners(codeowners: tuple[str, str, str], path: str) -> None:
    text, ml, _release = codeowners
    assert owners(text, path) == [ml]


@pytest.mark.parametrize("path", ["src/modelreg/checks/latency.py", "pyproject.toml"])
def test_this_repositorys_toolkit_code_needs_the_release_owners(path: str) -> None:
    """CI installs and runs the pull request's own modelreg: its code decides the checks."""
    text = (REPO / ".github" / "CODEOWNERS").read_text(encoding="utf-8")
    assert owners(text, path) == ["@modelreg/release-owners"]


def test_modelreg_init_writes_the_same_rules(tmp_path: Path) -> None:
    target = tmp_path / "reg"
    assert main(["init", str(target), "--dry-run"]) == 0  # writes nothing
    assert not target.exists()
    assert main(["init", str(target)]) == 0
    text = (target / ".github" / "CODEOWNERS").read_text(encoding="utf-8")
    assert text == scaffold.registry_files()[".github/CODEOWNERS"]
    defaults = scaffold.registry_files.__kwdefaults__ or {}
    for path in RELEASE_PATHS:
        assert owners(text, path) == [defaults["release_owners"]], path
    for path in ML_PATHS:
        assert owners(text, path) == [defaults["ml_owners"]], path


# -- a pull request that weakens the deployment ------------------------------------------------


def test_a_pr_weakening_the_fetch_step_and_its_own_review_needs_the_release_owners(
    pr: PullRequest,
) -> None:
    """The base branch's CODEOWNERS decides (GitHub's rule): editing it in the PR is no escape."""
    text = scaffold.registry_files(ml_owners=ML, release_owners=RELEASE)[".github/CODEOWNERS"]
    pr.git("checkout", "-q", "main")
    pr.write(".github/CODEOWNERS", text)
    pr.commit("review rules")
    pr.git("checkout", "-q", "-B", "pr")
    # The attack: skip the sha256 verification, allow any image registry, take the review.
    pr.replace(
        "overlays/base/fetch-model.sh",
        'if [ "$actual" != "$MODEL_SHA256" ]; then',
        "if false; then",
    )
    pr.write("overlays/policy.yaml", "allowed_image_registries: []\n")
    pr.write(".github/CODEOWNERS", f"*  {ML}\n")
    pr.write("models/bert-classifier/1.1.0/NOTES.md", "harmless looking\n")
    pr.commit()
    changed = pr.git("diff", "--name-only", "main...pr").split()
    base_rules = pr.git("show", "main:.github/CODEOWNERS")
    required = {path: owners(base_rules, path) for path in changed}
    assert required == {
        ".github/CODEOWNERS": [RELEASE],
        "models/bert-classifier/1.1.0/NOTES.md": [ML],
        "overlays/base/fetch-model.sh": [RELEASE],
        "overlays/policy.yaml": [RELEASE],
    }
