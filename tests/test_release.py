"""``modelreg release`` and the release rules of ``validate`` (MR7xx), on real git repositories."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from conftest import Registry, git, git_commit_all
from modelreg.cli import main
from modelreg.git.lfs import LFS_ATTRIBUTES

MODEL = "models/demo/model.yaml"
META_10 = "models/demo/1.0.0/metadata.yaml"
TAG_10 = "model-demo-v1.0.0"
TAG_11 = "model-demo-v1.1.0"


@pytest.fixture(autouse=True)
def _identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tagger identity that does not depend on the machine's git config."""
    for key, value in {
        "GIT_AUTHOR_NAME": "Release Bot",
        "GIT_AUTHOR_EMAIL": "bot@modelreg.invalid",
        "GIT_COMMITTER_NAME": "Release Bot",
        "GIT_COMMITTER_EMAIL": "bot@modelreg.invalid",
    }.items():
        monkeypatch.setenv(key, value)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def rules(out: str) -> list[str]:
    """The rule ids of a validate text report, in order."""
    return [line.split(": ")[1].split(" ")[0] for line in out.splitlines()]


def tag_object(root: Path, tag: str) -> tuple[str, str]:
    """(object type of the ref, commit it peels to)."""
    kind = git(root, "cat-file", "-t", tag).strip()
    return kind, git(root, "rev-parse", f"{tag}^{{commit}}").strip()


# -- release ------------------------------------------------------------------------------


def test_release_tags_each_version_once_at_the_commit_that_made_it(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    root = registry.root
    first = git(root, "rev-parse", "HEAD").strip()
    # A later commit that touches only model.yaml must not become the tagged commit.
    registry.replace(MODEL, "note: Legacy support", "note: Old")
    git_commit_all(root, "edit the card")

    code, out, err = cli(capsys, "release")
    assert code == 0, err
    assert out.splitlines() == [
        f"created {TAG_10} at {first[:12]}",
        f"created {TAG_11} at {first[:12]}",
    ]
    for tag in (TAG_10, TAG_11):
        assert tag_object(root, tag) == ("tag", first)
    msg = git(root, "tag", "-l", "--format=%(contents)", TAG_11)
    sha = registry.read("models/demo/1.1.0/metadata.yaml").split("sha256: ")[1].split()[0]
    tree = git(root, "rev-parse", f"{first}:models/demo/1.1.0").strip()
    assert msg.rstrip("\n").splitlines() == [
        "demo 1.1.0: Demo release 1.1.0.",
        "",
        "Model: demo",
        "Version: 1.1.0",
        f"Artifact-Sha256: {sha}",
        f"Version-Tree: {tree}",
    ]

    # Idempotent: a second run creates nothing and changes no tag.
    before = git(root, "for-each-ref", "refs/tags")
    code, out, err = cli(capsys, "release")
    assert (code, out) == (0, "")
    assert "created 0 tag(s); 2 version(s) already released" in err
    assert git(root, "for-each-ref", "refs/tags") == before

    assert cli(capsys, "validate", "--fast")[0] == 0


def test_dry_run_creates_nothing(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "release", "-n", "--output", "json")
    assert code == 0
    report = json.loads(out)
    assert [(t["tag"], t["status"]) for t in report["tags"]] == [
        (TAG_10, "would-create"),
        (TAG_11, "would-create"),
    ]
    assert git(registry.root, "tag", "-l") == ""


def test_release_refuses_uncommitted_changes(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.replace(META_10, "Demo release 1.0.0.", "Edited.")
    code, out, err = cli(capsys, "release")
    assert code == 1
    assert f"refused {TAG_10}: uncommitted changes: {META_10}; commit them first" in out
    assert "no tag was created" in err
    assert git(registry.root, "tag", "-l") == ""  # not even the clean 1.1.0


def test_release_refuses_a_version_that_differs_from_main(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    root = registry.root
    git(root, "checkout", "-q", "-b", "feature")
    registry.replace(META_10, "Demo release 1.0.0.", "Edited on a branch.")
    git_commit_all(root, "branch edit")
    code, out, _ = cli(capsys, "release")
    assert code == 1
    assert f"refused {TAG_10}: models/demo/1.0.0/ (or its overlay) differs from main" in out
    # Detached HEAD (how CI checks out a commit) on main's commit is fine.
    git(root, "checkout", "-q", "--detach", "main")
    assert cli(capsys, "release")[0] == 0
    assert git(root, "tag", "-l").split() == [TAG_10, TAG_11]


def test_release_errors_are_one_line(
    tmp_path: Path, registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.rmtree(registry.root / ".git")
    code, _, err = cli(capsys, "release")
    assert code == 1
    assert err.startswith("modelreg: error: ")
    assert "is not inside a git repository" in err
    assert "Traceback" not in err


def test_shallow_clone_is_refused(
    tmp_path: Path, registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.replace(MODEL, "note: Legacy support", "note: Old")
    git_commit_all(registry.root, "second")
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{registry.root}", str(clone))
    code, _, err = cli(capsys, "release", "--root", str(clone))
    assert code == 1
    assert "shallow clone" in err
    # validate says once that it could not check releases, and passes.
    code, out, _ = cli(capsys, "validate", "--fast", "--root", str(clone))
    assert code == 0
    assert rules(out) == ["MR700"]
    assert "shallow clone without tags" in out


def test_gto_form_round_trips(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    registry.replace(MODEL, "tag_prefix: model-demo\n", "tag_prefix: model-demo\ntag_format: gto\n")
    git_commit_all(registry.root, "gto tags")
    assert cli(capsys, "release")[0] == 0
    assert git(registry.root, "tag", "-l").split() == ["demo@v1.0.0", "demo@v1.1.0"]
    assert cli(capsys, "release")[1] == ""  # nothing new
    assert cli(capsys, "validate", "--fast")[0] == 0
    # A tag of the other form is not one of this model's releases.
    git(registry.root, "tag", "-a", "-m", "x", "demo@v2.0.0")
    code, out, _ = cli(capsys, "validate", "--fast")
    assert (code, rules(out)) == (1, ["MR704"])


# -- validate: immutability and tags ------------------------------------------------------


@pytest.fixture
def released(registry: Registry, capsys: pytest.CaptureFixture[str]) -> Registry:
    """The demo registry with both versions released."""
    assert cli(capsys, "release")[0] == 0
    return registry


@pytest.mark.parametrize(
    "rel",
    [
        "models/demo/1.0.0/metadata.yaml",
        "models/demo/1.0.0/model.onnx",
        "models/demo/1.0.0/test_data_set_0/output_0.pb",
    ],
)
def test_editing_a_released_file_is_mr701(
    released: Registry, capsys: pytest.CaptureFixture[str], rel: str
) -> None:
    path = released.path(rel)
    path.write_bytes(path.read_bytes() + b"\n")
    code, out, _ = cli(capsys, "validate", "--fast", "--select", "MR7")
    assert code == 1
    assert out == (
        f"{rel}: MR701 changed after its release ({TAG_10}); a released version is frozen: "
        f"restore it (`git checkout {TAG_10} -- {rel}`) and release the change as a new "
        "version\n"
    )
    # Committing the edit does not make it right.
    git_commit_all(released.root, "sneaky")
    assert rules(cli(capsys, "validate", "--fast", "--select", "MR7")[1]) == ["MR701"]


def test_new_and_deleted_files_in_a_released_version_are_mr701(
    released: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    released.write("models/demo/1.1.0/notes.txt", "extra\n")
    released.path("models/demo/1.1.0/test_data_set_0/input_0.pb").unlink()
    code, out, _ = cli(capsys, "validate", "--fast", "--select", "MR7")
    assert code == 1
    assert [line.split(":")[0] for line in out.splitlines()] == [
        "models/demo/1.1.0/notes.txt",
        "models/demo/1.1.0/test_data_set_0/input_0.pb",
    ]


def test_released_overlay_is_frozen_too(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    overlay = "overlays/demo/v1.0.0/kustomization.yaml"
    registry.write(overlay, "resources: [../../base]\n")
    git_commit_all(registry.root, "overlay")
    assert cli(capsys, "release")[0] == 0
    registry.write(overlay, "resources: [../../base]\nnamePrefix: x-\n")
    code, out, _ = cli(capsys, "validate", "--fast", "--select", "MR7")
    assert (code, rules(out)) == (1, ["MR701"])
    assert out.startswith(f"{overlay}: MR701 changed after its release ({TAG_10})")


def test_lightweight_tag_is_mr702(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    git(registry.root, "tag", TAG_10)
    code, out, _ = cli(capsys, "validate", "--fast")
    assert (code, rules(out)) == (1, ["MR702"])
    assert out.startswith(f"{META_10}: MR702 release tag {TAG_10} is a lightweight tag")
    # release leaves an existing tag alone: it never rewrites a tag.
    cli(capsys, "release")
    assert git(registry.root, "cat-file", "-t", TAG_10).strip() == "commit"


def test_moved_tag_is_mr703(released: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    root = released.root
    message = git(root, "tag", "-l", "--format=%(contents)", TAG_10)
    # A new commit changes 1.0.0 and the tag is re-pointed at it with its old message.
    released.replace(META_10, "Demo release 1.0.0.", "Quietly changed.")
    git_commit_all(root, "change 1.0.0")
    (root.parent / "msg").write_text(message)
    git(root, "tag", "-f", "-a", "-F", str(root.parent / "msg"), TAG_10, "HEAD")
    code, out, _ = cli(capsys, "validate", "--fast")
    assert (code, rules(out)) == (1, ["MR703"])
    assert f"release tag {TAG_10} was moved" in out


def test_tag_on_a_commit_without_the_version_is_mr703(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    root = registry.root
    git(root, "checkout", "-q", "--orphan", "elsewhere")
    git(root, "rm", "-q", "-r", "--cached", ".")
    git(root, "commit", "-q", "--allow-empty", "-m", "unrelated")
    git(root, "tag", "-a", "-m", "x", TAG_10)
    git(root, "checkout", "-q", "-f", "main")
    code, out, _ = cli(capsys, "validate", "--fast")
    assert (code, rules(out)) == (1, ["MR703"])
    assert "which has no models/demo/1.0.0/" in out


def test_tag_without_its_version_is_mr704(
    released: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    git(released.root, "tag", "-a", "-m", "x", "model-demo-v0.9.0")
    code, out, _ = cli(capsys, "validate", "--fast")
    assert (code, rules(out)) == (1, ["MR704"])
    assert out.startswith(f"{MODEL}:9:1: MR704 tag model-demo-v0.9.0 releases 0.9.0, but ")
    # Tags of other models, or that are no version, are not this model's.
    git(released.root, "tag", "-a", "-m", "x", "model-demo-vnext")
    git(released.root, "tag", "-a", "-m", "x", "model-other-v1.0.0")
    assert rules(cli(capsys, "validate", "--fast")[1]) == ["MR704"]


def test_outside_git_one_warning_and_nothing_else(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.rmtree(registry.root / ".git")
    code, out, _ = cli(capsys, "validate", "--fast")
    assert code == 0
    assert rules(out) == ["MR700"]
    assert "is not inside a git repository" in out


# -- support windows ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days_ago", "grace", "expected"),
    [(-1, None, []), (0, None, []), (1, None, ["MR705"]), (2000, None, ["MR705"]),
     (91, 90, ["MR706"]), (10, 5, ["MR706"]), (10, 10, ["MR705"]), (1, 0, ["MR706"])],
)  # fmt: skip
def test_support_window(
    registry: Registry,
    capsys: pytest.CaptureFixture[str],
    days_ago: int,
    grace: int | None,
    expected: list[str],
) -> None:
    until = (dt.date.today() - dt.timedelta(days=days_ago)).isoformat()
    registry.replace(MODEL, "supported_until: 2099-03-01", f"supported_until: {until}")
    if grace is not None:
        registry.replace(MODEL, "lifecycle:", f"support_grace_days: {grace}\nlifecycle:")
    code, out, _ = cli(capsys, "validate", "--fast")
    assert rules(out) == expected
    assert code == (1 if "MR706" in expected else 0)
    if expected:
        line = registry.read(MODEL).splitlines().index(f"    supported_until: {until}") + 1
        assert out.startswith(f"{MODEL}:{line}:22: {expected[0]}")
        assert f"support ended on {until}" in out


def test_example_registry_passes_the_release_rules(capsys: pytest.CaptureFixture[str]) -> None:
    """Plain-file artifacts without LFS attributes, and 1.0.0 deprecated once support ended."""
    root = Path(__file__).resolve().parents[1]
    code, out, _ = cli(capsys, "validate", "--fast", "--select", "MR7", "--root", str(root))
    assert (code, out) == (0, "")


# -- Git LFS storage ----------------------------------------------------------------------


def test_lfs_expected_but_plain_blob_is_mr707(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    # The artifacts were committed as plain blobs; now .gitattributes routes them to LFS.
    registry.write(".gitattributes", "\n".join(LFS_ATTRIBUTES) + "\n")
    code, out, _ = cli(capsys, "validate", "--fast")
    assert (code, rules(out)) == (1, ["MR707", "MR707"])
    assert out.startswith("models/demo/1.0.0/model.onnx: MR707 is committed as a plain git blob")


def test_pointer_without_lfs_attributes_is_mr708(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    data = registry.path("models/demo/1.1.0/model.onnx").read_bytes()
    pointer = (
        "version https://git-lfs.github.com/spec/v1\n"
        f"oid sha256:{hashlib.sha256(data).hexdigest()}\nsize {len(data)}\n"
    )
    registry.write("models/demo/1.1.0/model.onnx", pointer)
    git_commit_all(registry.root, "pointer without attributes")
    code, out, _ = cli(capsys, "validate", "--fast")
    assert (code, rules(out)) == (1, ["MR708"])
    assert out.startswith("models/demo/1.1.0/model.onnx: MR708 is committed as a Git LFS pointer")


# -- list and show ------------------------------------------------------------------------


def test_list_and_show(released: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    released.write("overlays/production/kustomization.yaml", "resources:\n  - ../demo/v1.1.0\n")
    code, out, _ = cli(capsys, "list", "--output", "json")
    assert code == 0
    versions = json.loads(out)["versions"]
    today = dt.date.today().isoformat()
    assert [
        (v["version"], v["status"], v["tag"], v["released"], v["environments"]) for v in versions
    ] == [
        ("1.0.0", "supported", TAG_10, True, []),
        ("1.1.0", "production", TAG_11, True, ["production"]),
    ]
    assert {v["tag_date"] for v in versions} == {today}
    code, out, _ = cli(capsys, "list")
    assert out.splitlines()[1].split() == ["demo", "1.0.0", "supported", TAG_10, today, "-"]

    code, out, _ = cli(capsys, "show", "demo@1.1.0", "--output", "json")
    shown = json.loads(out)
    assert shown["details"]["metrics"] == {"accuracy": 0.8, "f1": 0.8, "p99_ms": None}
    assert shown["tag"] == TAG_11 and shown["environments"] == ["production"]
    code, out, _ = cli(capsys, "show", "demo@1.1.0")
    assert "accuracy         80.00%" in out
    assert cli(capsys, "show", "demo@9.9.9")[0] == 2
    code, _, err = cli(capsys, "show", "nope")
    assert (code, err) == (
        2,
        f"modelreg: error: no model `nope` in {released.root / 'models'} (models: demo)\n",
    )


def test_a_released_overlay_is_never_regenerated_and_not_called_stale(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    from gitops_support import add_overlays

    add_overlays(registry.root, {"demo": ["1.0.0", "1.1.0"]}, {"demo": "1.1.0"})
    git_commit_all(registry.root, "overlays")
    assert cli(capsys, "release")[0] == 0
    # As if the generator had changed after the release: the tagged overlay is what it is.
    overlay = "overlays/demo/v1.0.0/kustomization.yaml"
    tagged = registry.read(overlay)
    registry.write(overlay, tagged + "# written by an older modelreg\n")
    git_commit_all(registry.root, "older overlay")
    code, out, _ = cli(capsys, "validate", "--fast", "--select", "MR605,MR701")
    assert "MR605" not in out  # MR605 does not ask to regenerate a frozen overlay...
    assert f"{overlay}: MR701" in out and code == 1  # ...MR701 says to restore it instead
    assert cli(capsys, "overlays")[0] == 0
    assert registry.read(overlay) == tagged + "# written by an older modelreg\n"  # untouched


def test_a_one_version_run_gathers_git_facts_for_that_version_only(
    released: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelreg.checks import Options
    from modelreg.checks.runner import run, select
    from modelreg.git import releases
    from modelreg.registry import discover

    registry = discover(released.root)
    selection = select(registry, [released.path("models/demo/1.1.0/metadata.yaml")])
    assert run(registry, selection, Options(fast=True), ("MR7",)) == []
    # A hook on one version of a 2,000-version registry must not read 2,000 metadata files
    # for the release rules: the git facts gathered (once) cover the selection only...
    gathered = [
        set(found.versions)
        for (registry_id, _scope), (_ref, found) in releases._CACHE.items()
        if registry_id == id(registry)
    ]
    assert gathered == [{("demo", "1.1.0")}]
    # ...and still judge it: an edit to that released version is found.
    released.replace("models/demo/1.1.0/metadata.yaml", "summary: ", "summary: Edited. ")
    registry = discover(released.root)
    selection = select(registry, [released.path("models/demo/1.1.0/metadata.yaml")])
    assert [f.rule for f in run(registry, selection, Options(fast=True), ("MR7",))] == ["MR701"]


# -- tag prefixes shared between models (MR709) and MR704's advice --------------------------

OTHER = "models/other/model.yaml"


def add_other_model(registry: Registry, tag_prefix: str) -> None:
    """A second model, a copy of demo (versions 1.0.0 and 1.1.0) with its own tag_prefix."""
    shutil.copytree(registry.path("models/demo"), registry.path("models/other"))
    registry.replace(OTHER, "name: demo\n", "name: other\n")
    registry.replace(OTHER, "tag_prefix: model-demo\n", f"tag_prefix: {tag_prefix}\n")
    for version in ("1.0.0", "1.1.0"):
        registry.replace(f"models/other/{version}/metadata.yaml", "model: demo\n", "model: other\n")
    git_commit_all(registry.root, "a second model")


def mr7(capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code, out, _ = cli(capsys, "validate", "--fast", "--select", "MR7")
    return code, out.splitlines()


def test_two_models_with_one_tag_prefix_are_refused(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    add_other_model(registry, "model-demo")
    code, lines = mr7(capsys)
    assert code == 1
    why = (
        "can be mistaken for each other, so a release of one would be judged (and could be "
        "moved or deleted) as the other's; give each model its own tag_prefix"
    )
    assert lines == [
        f"{MODEL}:5:13: MR709 release tags `model-demo-v<version>` of this model and "
        f"`model-demo-v<version>` of models/other/model.yaml {why}",
        f"{OTHER}:5:13: MR709 release tags `model-demo-v<version>` of this model and "
        f"`model-demo-v<version>` of models/demo/model.yaml {why}",
    ]
    # Only the case differs: the same tag files on a case-insensitive file system.
    registry.replace(OTHER, "tag_prefix: model-demo\n", "tag_prefix: Model-Demo\n")
    assert [line.split(": ")[1][:5] for line in mr7(capsys)[1]] == ["MR709", "MR709"]


@pytest.mark.parametrize(
    ("prefix", "collides"),
    [("model-demo-v1.0.0", True), ("model-demo-v2.0.0-rc", True), ("model-demo-vision", False)],
)
def test_a_prefix_that_extends_another_into_a_version_is_refused(
    registry: Registry, capsys: pytest.CaptureFixture[str], prefix: str, collides: bool
) -> None:
    add_other_model(registry, prefix)
    code, lines = mr7(capsys)
    assert (code, [line.split(": ")[1][:5] for line in lines]) == (
        (1, ["MR709", "MR709"]) if collides else (0, [])
    )


def test_mr704_never_advises_deleting_another_models_release(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    # other's tags `model-demo-v1.0.0-v<version>` also read as demo's `1.0.0-v<version>`.
    add_other_model(registry, "model-demo-v1.0.0")
    assert cli(capsys, "release")[0] == 0
    tags = git(registry.root, "tag", "-l").split()
    assert "model-demo-v1.0.0-v1.1.0" in tags  # other's release of 1.1.0
    code, lines = mr7(capsys)
    # The tag is other's release (other has 1.1.0): no MR704 for demo, only the collision.
    assert (code, [line.split(": ")[1][:5] for line in lines]) == (1, ["MR709", "MR709"])
    # A tag neither model has a version for: reported for both, deletion advised for neither.
    git(registry.root, "tag", "-a", "-m", "x", "model-demo-v1.0.0-v9.0.0")
    code, lines = mr7(capsys)
    orphans = [line for line in lines if " MR704 " in line]
    assert orphans == [
        f"{MODEL}:9:1: MR704 tag model-demo-v1.0.0-v9.0.0 releases 1.0.0-v9.0.0, but "
        "models/demo/1.0.0-v9.0.0/ is not in the tree; its name also reads as a release of "
        "models/other/model.yaml (MR709), so do not delete it: give each model its own "
        "tag_prefix, then restore the version directory",
        f"{OTHER}:9:1: MR704 tag model-demo-v1.0.0-v9.0.0 releases 9.0.0, but "
        "models/other/9.0.0/ is not in the tree; its name also reads as a release of "
        "models/demo/model.yaml (MR709), so do not delete it: give each model its own "
        "tag_prefix, then restore the version directory",
    ]
    assert "git tag -d" not in "\n".join(lines)
    # A scoped run (one model, as the pre-commit hook passes files) reads the same way.
    code, out, _ = cli(capsys, "validate", "--fast", "--select", "MR704", MODEL)
    assert out.splitlines() == orphans[:1]
