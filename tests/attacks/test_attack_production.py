"""What production serves, judged from what it renders (MR624, MR625, MR626).

A pull request that keeps every annotation and name honest-looking but changes what runs: a
version line modelreg would not have read, an alias whose selector picks another version, a
patch that changes the artifact the fetch step verifies.
"""

from __future__ import annotations

from attack_support import PullRequest, Result

PROD = "overlays/production/kustomization.yaml"
ALIAS = "overlays/production/bert-classifier.alias.yaml"


def _lines(result: Result, rule: str) -> list[str]:
    return [line for line in result.out.splitlines() if f" {rule} " in line]


def test_dotted_version_reference_is_not_interpreted(pr: PullRequest) -> None:
    """``./../bert-classifier/v1.0.0`` deploys deprecated 1.0.0 in production."""
    pr.replace(PROD, "  - ../bert-classifier/v1.1.0\n", "  - ./../bert-classifier/v1.0.0\n")
    pr.commit()
    pr.snapshot()
    for argv in (("validate", "--fast"), ("validate", "--select", "MR6"), ("overlays", "--check")):
        result = pr.run(*argv)
        assert result.code == 1, str(result)
        assert any(
            line.startswith(f"{PROD}:8: MR624 `resources` entry './../bert-classifier/v1.0.0'")
            for line in _lines(result, "MR624")
        ), str(result)
        pr.assert_untouched(str(result))


def test_trailing_slash_and_detour_are_not_interpreted(pr: PullRequest) -> None:
    pr.replace(
        PROD,
        "  - ../bert-classifier/v1.1.0\n",
        "  - ../bert-classifier/v1.1.0/\n  - ../bert-classifier/../bert-classifier/v1.0.0\n",
    )
    pr.commit()
    result = pr.run("validate", "--fast")
    assert result.code == 1
    found = _lines(result, "MR624")
    assert any("'../bert-classifier/v1.1.0/'" in line for line in found), str(result)
    assert any("'../bert-classifier/../bert-classifier/v1.0.0'" in line for line in found)


def test_alias_selector_picks_the_other_version(pr: PullRequest) -> None:
    """The annotation still says 1.1.0; the selector serves 1.0.0's pods."""
    pr.replace(PROD, "  - ../bert-classifier/v1.1.0\n", "  - ../bert-classifier/v1.0.0\n"
               "  - ../bert-classifier/v1.1.0\n")  # fmt: skip
    pr.replace(ALIAS, "instance: bert-classifier-v1-1-0", "instance: bert-classifier-v1-0-0")
    pr.commit()
    pr.snapshot()
    for argv in (("validate", "--select", "MR6"), ("overlays", "--check")):
        result = pr.run(*argv)
        assert result.code == 1, str(result)
        found = _lines(result, "MR625")
        assert found == [
            f"{PROD}: MR625 Service/models-production/bert-classifier: its selector "
            "{app.kubernetes.io/instance=bert-classifier-v1-0-0, app.kubernetes.io/name=triton} "
            "selects bert-classifier 1.0.0; it must select exactly the pods of "
            "bert-classifier 1.1.0"
        ], str(result)
        pr.assert_untouched(str(result))


def test_alias_selector_picking_every_version(pr: PullRequest) -> None:
    pr.replace(PROD, "  - ../bert-classifier/v1.1.0\n", "  - ../bert-classifier/v1.0.0\n"
               "  - ../bert-classifier/v1.1.0\n")  # fmt: skip
    pr.replace(ALIAS, "    app.kubernetes.io/instance: bert-classifier-v1-1-0\n", "")
    pr.commit()
    result = pr.run("overlays", "--check")
    assert result.code == 1
    assert any(
        "selects bert-classifier 1.0.0, bert-classifier 1.1.0;" in line
        for line in _lines(result, "MR625")
    ), str(result)


_PATCH = """\
patches:
  - target:
      kind: Deployment
    patch: |-
      - op: add
        path: /spec/template/spec/initContainers/0/env/-
        value:
          name: {key}
          value: "{value}"
"""


def test_patch_overriding_the_sha256(pr: PullRequest) -> None:
    pr.replace(
        PROD, "resources:\n", _PATCH.format(key="MODEL_SHA256", value="0" * 64) + "resources:\n"
    )
    pr.commit()
    pr.snapshot()
    for argv in (("validate", "--select", "MR6"), ("overlays", "--check")):
        result = pr.run(*argv)
        assert result.code == 1, str(result)
        found = _lines(result, "MR626")
        assert len(found) == 1, str(result)
        assert found[0].startswith(
            f"{PROD}: MR626 Deployment/models-production/bert-classifier-triton-v1-1-0: "
            f"MODEL_SHA256 is '{'0' * 64}', but models/bert-classifier/1.1.0/metadata.yaml "
            "gives '37afd3b521dc017a7dc67aa8a4482b4c3d1388539606bf55a4d27cc2a7072505'"
        ), found
        pr.assert_untouched(str(result))


def test_patch_adding_a_storage_uri(pr: PullRequest) -> None:
    uri = "https://models.example.invalid/evil.onnx"
    pr.replace(
        PROD, "resources:\n", _PATCH.format(key="MODEL_STORAGE_URI", value=uri) + "resources:\n"
    )
    pr.commit()
    result = pr.run("overlays", "--check")
    assert result.code == 1, str(result)
    found = _lines(result, "MR626")
    assert len(found) == 1 and f"MODEL_STORAGE_URI is '{uri}', but" in found[0], str(result)
    assert "gives none" in found[0]


def test_honest_production_has_no_serving_findings(pr: PullRequest) -> None:
    result = pr.run("overlays", "--check")
    assert result.code == 0, str(result)
    assert not _lines(result, "MR625") and not _lines(result, "MR626")
