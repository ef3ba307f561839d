"""The serving runtime is part of the contract (MR629, MR630): every version against the
onnxruntime of the image that would serve it, read from the overlays, never from the local
onnxruntime."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil

import pytest

from attack_support import PullRequest
from conftest import Registry
from gitops_support import REPO, add_overlays
from modelreg import scaffold
from modelreg.cli import main
from modelreg.gitops.runtimes import (
    NEWEST_IN_TABLE,
    ONNXRUNTIME_LIMITS,
    TRITON_ONNXRUNTIME,
    Limits,
    resolve,
    triton_onnxruntime,
)

DEPLOYMENT = "overlays/base/deployment.yaml"
META = "models/demo/1.1.0/metadata.yaml"
REPO_IMAGE = "nvcr.io/nvidia/tritonserver:25.02-py3"
DECLARATION = '        modelreg.dev/onnxruntime-version: "1.20.1"\n'
OLD_IMAGE = "nvcr.io/nvidia/tritonserver:24.04-py3"
CUSTOM_IMAGE = "registry.acme.test/ml/triton-custom:7"


def _validate(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    """``validate --select MR629,MR630 ARGV`` in the current registry: exit code and the
    finding lines (text output)."""
    capsys.readouterr()
    code = main(["validate", "--select", "MR629,MR630", *argv])
    out = capsys.readouterr().out
    return code, [line for line in out.splitlines() if " MR6" in line]


def _line_col(registry: Registry, rel: str, needle: str) -> tuple[int, int]:
    for number, line in enumerate(registry.read(rel).splitlines(), 1):
        if needle in line:
            return number, line.index(needle.rsplit(":", maxsplit=1)[-1].strip()) + 1
    raise AssertionError(f"{needle!r} not in {rel}")


def _base(registry: Registry, image: str, annotations: dict[str, str] | None) -> None:
    """This repository's overlays/base with the serving image and its pod template
    annotations replaced (None: no annotations block)."""
    shutil.copytree(REPO / "overlays" / "base", registry.path("overlays/base"))
    text = registry.read(DEPLOYMENT)
    text = text.replace(f"image: {REPO_IMAGE}", f"image: {image}")
    block = re.search(r"      annotations:\n(?:        .*\n)+", text)
    assert block is not None
    new = ""
    if annotations is not None:
        new = "      annotations:\n" + "".join(
            f"        {k}: {v}\n" for k, v in annotations.items()
        )
    registry.write(DEPLOYMENT, text.replace(block.group(0), new))


@pytest.fixture
def demo(registry: Registry) -> Registry:
    """The demo registry (IR 8, opset 17) served by Triton 24.04 (onnxruntime 1.17.3:
    opset <= 20, ML opset <= 4, IR <= 9), known from the tables without a declaration."""
    _base(registry, OLD_IMAGE, None)
    return registry


# -- MR629: a model newer than the serving runtime -----------------------------------------


def test_an_opset_above_the_image_maximum_is_mr629(
    demo: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    demo.replace(META, "ai.onnx: 17", "ai.onnx: 22")
    line, col = _line_col(demo, META, "ai.onnx: 22")
    code, lines = _validate("--fast", capsys=capsys)
    assert code == 1
    assert lines == [
        f"{META}:{line}:{col}: MR629 onnx opset 22 exceeds what {OLD_IMAGE} loads (onnxruntime "
        "1.17.3: opset ≤ 20, IR ≤ 9); export with opset_version=20 or deploy a newer image"
    ]
    # Every version is judged, deployed or not: 1.0.0 (opset 17) passes.
    assert not any("1.0.0" in line for line in lines)


def test_a_model_at_the_maximum_passes(demo: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    demo.replace(META, "ai.onnx: 17", "ai.onnx: 20")
    demo.replace(META, "ir_version: 8", "ir_version: 9")
    assert _validate("--fast", capsys=capsys) == (0, [])
    assert _validate(capsys=capsys) == (0, [])  # deep: the same, nothing rendered differs


def test_an_ir_version_and_an_ml_opset_above_the_maximum(
    demo: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    demo.replace(META, "ir_version: 8", "ir_version: 10")
    demo.replace(META, "ai.onnx: 17", "ai.onnx: 17\n    ai.onnx.ml: 5")
    ir_line, ir_col = _line_col(demo, META, "ir_version: 10")
    ml_line, ml_col = _line_col(demo, META, "ai.onnx.ml: 5")
    code, lines = _validate("--fast", capsys=capsys)
    assert code == 1
    assert lines == [
        f"{META}:{ir_line}:{ir_col}: MR629 onnx IR version 10 exceeds what {OLD_IMAGE} loads "
        "(onnxruntime 1.17.3: opset ≤ 20, IR ≤ 9); export with an onnx release that writes "
        "IR 9 or deploy a newer image",
        f"{META}:{ml_line}:{ml_col}: MR629 onnx ai.onnx.ml opset 5 exceeds what {OLD_IMAGE} "
        "loads (onnxruntime 1.17.3: ai.onnx.ml opset ≤ 4); convert with "
        "target_opset={'ai.onnx.ml': 4} or deploy a newer image",
    ]


def test_no_overlays_no_finding(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    registry.replace(META, "ai.onnx: 17", "ai.onnx: 99")
    assert _validate("--fast", capsys=capsys) == (0, [])


# -- MR630: an image whose runtime is unknown, or a wrong declaration ------------------------


def test_an_unknown_image_without_a_declaration_is_mr630(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    _base(registry, CUSTOM_IMAGE, None)
    line = _line_col(registry, DEPLOYMENT, f"image: {CUSTOM_IMAGE}")[0]
    registry.replace(META, "ai.onnx: 17", "ai.onnx: 99")
    code, lines = _validate("--fast", capsys=capsys)
    assert code == 1
    # No MR629: nothing can say what the image loads, and that is the finding.
    assert lines == [
        f"{DEPLOYMENT}:{line}: MR630 Deployment/triton: {CUSTOM_IMAGE}: which onnxruntime it "
        "runs is unknown (not a Triton release modelreg knows), so no check can say which "
        "models it loads; declare it on the pod template: `modelreg.dev/onnxruntime-version: "
        '"MAJOR.MINOR.PATCH"`'
    ]


def test_a_declared_unknown_image_is_judged_by_its_declaration(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    _base(registry, CUSTOM_IMAGE, {"modelreg.dev/onnxruntime-version": '"1.16.3"'})
    registry.replace(META, "ai.onnx: 17", "ai.onnx: 20")
    line, col = _line_col(registry, META, "ai.onnx: 20")
    assert _validate("--fast", capsys=capsys) == (
        1,
        [
            f"{META}:{line}:{col}: MR629 onnx opset 20 exceeds what {CUSTOM_IMAGE} loads "
            "(onnxruntime 1.16.3: opset ≤ 19, IR ≤ 9); export with opset_version=19 or deploy "
            "a newer image"
        ],
    )


def test_a_version_newer_than_the_table_needs_its_limits_declared(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    _base(registry, CUSTOM_IMAGE, {"modelreg.dev/onnxruntime-version": '"1.22.0"'})
    line = _line_col(registry, DEPLOYMENT, f"image: {CUSTOM_IMAGE}")[0]
    code, lines = _validate("--fast", capsys=capsys)
    assert code == 1
    assert lines == [
        f"{DEPLOYMENT}:{line}: MR630 Deployment/triton: {CUSTOM_IMAGE}: onnxruntime 1.22.0 is "
        f"newer than modelreg's table (onnxruntime's compatibility page, up to "
        f"{NEWEST_IN_TABLE}), so what it loads is unknown; declare it from that release's "
        "notes: `modelreg.dev/onnx-max-opset`, `modelreg.dev/onnx-ml-max-opset`, "
        "`modelreg.dev/onnx-max-ir-version`"
    ]
    # Declared, the limits are used (and said to be declared).
    shutil.rmtree(registry.path("overlays"))
    limits = {
        "modelreg.dev/onnxruntime-version": '"1.22.0"',
        "modelreg.dev/onnx-max-opset": '"23"',
        "modelreg.dev/onnx-ml-max-opset": '"5"',
        "modelreg.dev/onnx-max-ir-version": '"11"',
    }
    _base(registry, CUSTOM_IMAGE, limits)
    registry.replace(META, "ai.onnx: 17", "ai.onnx: 24")
    line, col = _line_col(registry, META, "ai.onnx: 24")
    assert _validate("--fast", capsys=capsys) == (
        1,
        [
            f"{META}:{line}:{col}: MR629 onnx opset 24 exceeds what {CUSTOM_IMAGE} loads "
            "(onnxruntime 1.22.0, declared: opset ≤ 23, IR ≤ 11); export with "
            "opset_version=23 or deploy a newer image"
        ],
    )


def test_a_known_image_cannot_claim_another_runtime(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    # The hostile edit: Triton 24.04 declared as onnxruntime 1.20.1 to pass an IR 10 model.
    _base(registry, OLD_IMAGE, {"modelreg.dev/onnxruntime-version": '"1.20.1"'})
    registry.replace(META, "ir_version: 8", "ir_version: 10")
    line = _line_col(registry, DEPLOYMENT, f"image: {OLD_IMAGE}")[0]
    code, lines = _validate("--fast", capsys=capsys)
    assert code == 1
    assert lines == [
        f"{DEPLOYMENT}:{line}: MR630 Deployment/triton: `modelreg.dev/onnxruntime-version: "
        f"1.20.1` contradicts the image: {OLD_IMAGE} (Triton 24.04) runs onnxruntime 1.17.3 "
        '(Triton\'s release compatibility matrix); write "1.17.3" or deploy the image that '
        "runs 1.20.1"
    ]


@pytest.mark.parametrize(
    ("annotations", "message"),
    [
        (
            {"modelreg.dev/onnxruntime-version": "1.20"},  # YAML: a float, not a version
            "`modelreg.dev/onnxruntime-version: 1.2` is not an onnxruntime version (write it "
            'as "MAJOR.MINOR.PATCH", e.g. "1.20.1")',
        ),
        (
            {"modelreg.dev/onnxruntime-version": '"latest"'},
            "`modelreg.dev/onnxruntime-version: latest` is not an onnxruntime version (write "
            'it as "MAJOR.MINOR.PATCH", e.g. "1.20.1")',
        ),
        (
            {"modelreg.dev/onnxruntime-version": '"1.17.3"', "modelreg.dev/onnx-max-opset": '"x"'},
            '`modelreg.dev/onnx-max-opset: x` is not a version number (e.g. "21")',
        ),
        (
            {"modelreg.dev/onnxruntime-version": '"1.17.3"', "modelreg.dev/onnx-max-opset": '"22"'},
            f"{CUSTOM_IMAGE}: onnxruntime 1.17.3 loads opset ≤ 20, ML opset ≤ 4, IR ≤ 9 "
            "(onnxruntime's compatibility table), but the pod template declares "
            "modelreg.dev/onnx-max-opset: 22 (the table says 20); remove the limit annotations "
            "(the table knows this release)",
        ),
    ],
)
def test_a_malformed_or_contradicting_declaration_is_mr630(
    registry: Registry,
    capsys: pytest.CaptureFixture[str],
    annotations: dict[str, str],
    message: str,
) -> None:
    _base(registry, CUSTOM_IMAGE, annotations)
    code, lines = _validate("--fast", capsys=capsys)
    assert code == 1
    assert [line.split(": MR630 Deployment/triton: ", 1)[1] for line in lines] == [message]


# -- deep: what an environment renders -------------------------------------------------------


def test_an_environment_that_patches_the_image_is_judged_by_what_it_renders(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    add_overlays(registry.root, {"demo": ["1.0.0", "1.1.0"]}, {"demo": "1.1.0"})
    registry.replace(META, "ir_version: 8", "ir_version: 10")
    assert _validate("--fast", capsys=capsys) == (0, [])  # the base runs onnxruntime 1.20.1
    assert _validate(capsys=capsys) == (0, [])
    # Production pins an older Triton (and keeps the base's declaration, now wrong).
    registry.replace(
        "overlays/production/kustomization.yaml",
        "resources:",
        "images:\n  - name: nvcr.io/nvidia/tritonserver\n    newTag: 24.04-py3\nresources:",
    )
    assert _validate("--fast", capsys=capsys) == (0, [])  # the fast rules read the base only
    code, lines = _validate(capsys=capsys)
    assert code == 1
    where = "overlays/production/kustomization.yaml: "
    workload = "Deployment/models-production/demo-triton-v1-1-0"
    assert lines == [
        f"{where}MR630 Deployment/models-production/demo-triton-v1-{minor}-0: "
        "`modelreg.dev/onnxruntime-version: 1.20.1` contradicts the image: "
        f"{OLD_IMAGE} (Triton 24.04) runs onnxruntime 1.17.3 (Triton's release compatibility "
        'matrix); write "1.17.3" or deploy the image that runs 1.20.1'
        for minor in (0, 1)
    ]
    # Declared right, the version it serves is judged against the old runtime.
    registry.replace(
        "overlays/production/kustomization.yaml",
        "resources:",
        "patches:\n  - target:\n      kind: Deployment\n    patch: |-\n      - op: replace\n"
        "        path: /spec/template/metadata/annotations/modelreg.dev~1onnxruntime-version\n"
        '        value: "1.17.3"\nresources:',
    )
    code, lines = _validate(capsys=capsys)
    assert code == 1
    assert lines == [
        f"{where}MR629 {workload} serves demo 1.1.0: onnx IR version 10 exceeds what "
        f"{OLD_IMAGE} loads (onnxruntime 1.17.3: opset ≤ 20, IR ≤ 9); export with an onnx "
        "release that writes IR 9 or deploy a newer image"
    ]


# -- the tables and this repository ------------------------------------------------------------


def test_the_tables_agree_with_each_other() -> None:
    for release, version in TRITON_ONNXRUNTIME.items():
        image = f"nvcr.io/nvidia/tritonserver:{release}-py3"
        assert triton_onnxruntime(image) == (release, version)
        assert triton_onnxruntime(f"{image}@sha256:{'0' * 64}") == (release, version)
        runtime, problems = resolve(image, {})
        minor = ".".join(version.split(".")[:2])
        if minor in ONNXRUNTIME_LIMITS:
            assert runtime is not None and problems == []
            assert runtime.limits == ONNXRUNTIME_LIMITS[minor]
        else:  # newer than the compatibility page: the limits must be declared
            assert runtime is None and "newer than modelreg's table" in problems[0]
    # Only the `-py3` image has the ONNX Runtime backend the table describes.
    assert triton_onnxruntime("nvcr.io/nvidia/tritonserver:24.04-vllm-python-py3") is None
    assert triton_onnxruntime("nvcr.io/nvidia/tritonserver:23.12-py3") is None  # not sourced
    assert ONNXRUNTIME_LIMITS["1.17"] == Limits(20, 4, 9)
    assert ONNXRUNTIME_LIMITS["1.20"] == Limits(21, 4, 10)


def test_this_repository_declares_its_runtime_and_its_models_load(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (REPO / DEPLOYMENT).read_text(encoding="utf-8")
    assert f"image: {REPO_IMAGE}\n" in text and DECLARATION in text
    monkeypatch.chdir(REPO)
    assert _validate("--fast", capsys=capsys) == (0, [])
    # Every version's metadata records what is compared (IR version and default opset).
    for meta in sorted(REPO.glob("models/*/*/metadata.yaml")):
        assert re.search(r"^  ir_version: \d+$", meta.read_text(encoding="utf-8"), re.M)
    # The scaffold's base is this directory: a new registry declares its runtime too.
    assert scaffold.base_files()[DEPLOYMENT] == text


# -- a hostile pull request ----------------------------------------------------------------------


def _owners(codeowners: str, path: str) -> list[str]:
    """GitHub's CODEOWNERS rule for the patterns used there: the last matching line wins."""
    owners: list[str] = []
    for line in codeowners.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pattern, *names = line.split()
        anchored = pattern.lstrip("/")
        if anchored.endswith("/"):
            anchored += "*"
        if pattern == "*" or fnmatch.fnmatchcase(path, anchored):
            owners = names
    return owners


@pytest.mark.slow
def test_a_pull_request_that_hides_a_model_behind_a_declaration_is_caught_or_visible(
    pr: PullRequest,
) -> None:
    deployment = pr.path(DEPLOYMENT).read_text(encoding="utf-8")

    def mr6(result_out: str) -> list[str]:
        found = json.loads(result_out)["findings"]
        return [f["rule"] for f in found if f["rule"] in ("MR629", "MR630")]

    # 1. A known image: its declaration is checked against Triton's own table, so a pull
    # request cannot claim that Triton 24.04 runs onnxruntime 1.20.1.
    pr.replace(DEPLOYMENT, f"image: {REPO_IMAGE}", f"image: {OLD_IMAGE}")
    pr.commit("serve with 24.04")
    result = pr.run("validate", "--fast", "--output", "json")
    assert result.code == 1 and mr6(result.out) == ["MR630"], str(result)
    # 2. An image modelreg cannot know, declared as onnxruntime 1.16.3 on main: both versions
    # (IR 10) are too new for it.
    pr.git("checkout", "-q", "main")
    custom = deployment.replace(f"image: {REPO_IMAGE}", f"image: {CUSTOM_IMAGE}")
    pr.write(DEPLOYMENT, custom.replace(DECLARATION, DECLARATION.replace("1.20.1", "1.16.3")))
    pr.commit("custom image")
    result = pr.run("validate", "--fast", "--select", "MR6", "--output", "json")
    assert result.code == 1 and mr6(result.out) == ["MR629", "MR629"], str(result)
    # The pull request bumps the declaration to hide them: modelreg cannot tell (it trusts a
    # declaration it cannot check), so the change must reach the release owners.
    pr.git("checkout", "-q", "-B", "pr", "main")
    pr.write(DEPLOYMENT, custom)
    pr.commit("declare 1.20.1")
    assert pr.run("validate", "--fast", "--select", "MR6").code == 0
    assert pr.git("diff", "--name-only", "main").split() == [DEPLOYMENT]
    ours = (REPO / ".github/CODEOWNERS").read_text(encoding="utf-8")
    theirs = scaffold.registry_files(release_owners="@acme/release")[".github/CODEOWNERS"]
    assert _owners(ours, DEPLOYMENT) == ["@modelreg/release-owners"]
    assert _owners(theirs, DEPLOYMENT) == ["@acme/release"]
    version_overlay = "overlays/bert-classifier/v1.1.0/kustomization.yaml"
    assert _owners(ours, version_overlay) == ["@modelreg/ml-platform"]  # not vacuous
    # The deployment plan CI posts on the pull request shows the declaration changing in
    # every environment that runs the workload.
    plan = pr.run("plan", "--base", "main")
    assert plan.code == 1, str(plan)  # 1: something changes
    for env in ("production", "staging"):
        assert f"{env}: 0 added, 1 changed" in plan.out, str(plan)
    changed = [line for line in plan.out.splitlines() if line.startswith(("-  ", "+  "))]
    assert (
        changed
        == [
            "-        modelreg.dev/onnxruntime-version: 1.16.3",
            "+        modelreg.dev/onnxruntime-version: 1.20.1",
        ]
        * 2
    ), str(plan)


def test_a_hostile_image_name_is_one_bounded_line(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    _base(registry, '"registry.acme.test/x:1\\n::warning::forged' + "a" * 900 + '"', None)
    capsys.readouterr()
    assert main(["validate", "--fast", "--select", "MR630", "--output", "github"]) == 1
    out = capsys.readouterr().out
    # One workflow command: the line break is gone, the name cut to a line's worth.
    assert out.count("\n") == 1 and out.startswith("::error ") and len(out) < 600, out
    assert "registry.acme.test/x:1?::warning::forgedaaa" in out and "a" * 200 not in out
