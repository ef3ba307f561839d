"""MR6xx: every GitOps rule has a failing and a passing fixture."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import Registry
from gitops_support import DELETE, REPO, add_overlays, edited
from modelreg.cli import main
from modelreg.gitops.kustomize import RenderedObject
from modelreg.gitops.policy import (
    cluster_problems,
    image_problems,
    object_problems,
    static_problems,
)

DIGEST = "sha256:" + "0" * 64  # a well-formed digest for the format rule, not a real image


def _findings(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, Any]]:
    capsys.readouterr()
    main(["validate", "--output", "json", "--select", "MR6", *argv])
    report = json.loads(capsys.readouterr().out)
    return [f for f in report["findings"] if f["rule"].startswith("MR6")]


@pytest.fixture
def gitops(registry: Registry) -> Registry:
    add_overlays(registry.root, {"demo": ["1.0.0", "1.1.0"]}, {"demo": "1.1.0"})
    return registry


# -- fast rules, through `modelreg validate --fast` ---------------------------------------


def test_clean_overlays_pass_fast_and_deep(
    gitops: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _findings(capsys, "--fast") == []
    deep = _findings(capsys)
    # Only the pinning report: both images are referenced by tag (no digest is invented).
    assert {f["rule"] for f in deep} == {"MR612"}
    assert all(f["severity"] == "warning" for f in deep)


@pytest.mark.parametrize(
    ("edit", "rule", "message"),
    [
        (("overlays/production/kustomization.yaml", "../demo/v1.0.0", "../demo/v3.0.0"),
         "MR601", "models/demo/3.0.0 does not exist"),
        (("models/demo/model.yaml", "status: supported", "status: deprecated"),
         "MR602", "which is deprecated"),
        (("overlays/production/demo.alias.yaml", '"1.1.0"', '"1.0.0"'),
         "MR603", "model.yaml says 1.1.0 is production"),
        (("overlays/production/kustomization.yaml", "  - ../demo/v1.1.0\n", ""),
         "MR604", "does not run in production"),
        (("overlays/demo/v1.0.0/config.pbtxt", "max_batch_size: 8", "max_batch_size: 4"),
         "MR605", "stale"),
        (("overlays/base/kustomization.yaml", "  - service.yaml\n",
          "  - service.yaml\n  - https://github.com/example/manifests//base?ref=main\n"),
         "MR606", "is remote"),
    ],
)  # fmt: skip
def test_fast_rules_fail_with_their_reason(
    gitops: Registry,
    capsys: pytest.CaptureFixture[str],
    edit: tuple[str, str, str],
    rule: str,
    message: str,
) -> None:
    gitops.replace(*edit)
    found = [f for f in _findings(capsys, "--fast") if f["rule"] == rule]
    assert found, f"no {rule}"
    assert any(message in f["message"] for f in found), found


def test_candidate_in_production_disagrees_with_lifecycle(
    gitops: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    gitops.replace("models/demo/model.yaml", "status: supported", "status: candidate")
    found = _findings(capsys, "--fast")
    assert [f["rule"] for f in found] == ["MR604"]
    assert found[0]["line"] == 8
    assert "still a candidate" in found[0]["message"]


def test_load_restrictor_is_rejected_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "outside.yaml").write_text("kind: ConfigMap\n")
    inner = tmp_path / "k"
    inner.mkdir()
    (inner / "kustomization.yaml").write_text(
        "resources:\n  - ../outside.yaml\nhelmCharts:\n  - name: x\n"
        "configMapGenerator:\n  - name: c\n    files:\n      - key=../outside.yaml\n"
    )
    problems = static_problems(inner / "kustomization.yaml")
    assert [r for r, _ in problems] == ["MR606"] * 3
    text = " ".join(m for _, m in problems)
    assert "--load-restrictor" in text
    assert "`helmCharts` needs kustomize plugins" in text
    (inner / "kustomization.yaml").write_text("resources:\n  - ../\n")  # a directory: fine
    assert static_problems(inner / "kustomization.yaml") == []


# -- rendered rules: pass on what the base renders, fail on each broken copy ---------------


def _workload() -> dict[str, Any]:
    import yaml

    data: dict[str, Any] = yaml.safe_load((REPO / "overlays/base/deployment.yaml").read_text())
    labels = data["spec"]["template"]["metadata"]["labels"]
    labels.update(model="demo", version="1.0.0")
    return data


def _problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    return object_problems(RenderedObject(("apps", "Deployment", "", "x"), data, ""))


def test_base_workload_follows_the_policy() -> None:
    assert {r for r, _ in _problems(_workload())} == {"MR612"}


@pytest.mark.parametrize(
    ("path", "value", "rule", "message"),
    [
        ("spec.template.spec.containers.0.image", "nvcr.io/nvidia/tritonserver:latest",
         "MR611", "uses `:latest`"),
        ("spec.template.spec.containers.0.image", "nvcr.io/nvidia/tritonserver", "MR611", "no tag"),
        ("spec.template.spec.containers.0.image", "triton@sha256:abc", "MR611", "is not `sha256:`"),
        ("spec.template.spec.containers.0.resources.limits", {"cpu": "1"},
         "MR613", "no memory limit"),
        ("spec.template.spec.containers.0.securityContext.readOnlyRootFilesystem", None,
         "MR614", "readOnlyRootFilesystem"),
        ("spec.template.spec.containers.0.securityContext.allowPrivilegeEscalation", True,
         "MR614", "allowPrivilegeEscalation"),
        ("spec.template.spec.containers.0.securityContext.runAsNonRoot", False,
         "MR614", "runAsNonRoot"),
        ("spec.template.spec.containers.0.startupProbe", None, "MR615", "no startupProbe"),
        ("spec.template.spec.containers.0.readinessProbe", None, "MR615", "no readinessProbe"),
        ("spec.template.metadata.labels.version", None, "MR616", "no `version` label"),
        ("spec.selector.matchLabels.version", "1.0.0", "MR616", "selector uses the `version`"),
    ],
)  # fmt: skip
def test_rendered_rules_fail_on_broken_workloads(
    path: str, value: Any, rule: str, message: str
) -> None:
    problems = _problems(edited(_workload(), path, DELETE if value is None else value))
    assert any(r == rule and message in m for r, m in problems), problems


def test_image_digest_pins() -> None:
    assert image_problems(f"nvcr.io/nvidia/tritonserver@{DIGEST}") == []
    assert image_problems(f"registry:5000/triton:24.04-py3@{DIGEST}") == []
    assert [r for r, _ in image_problems("registry:5000/triton:24.04-py3")] == ["MR612"]
    assert [r for r, _ in image_problems(f"triton:latest@{DIGEST}")] == ["MR611"]


def test_deep_validate_reports_a_build_failure(
    gitops: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    gitops.replace("overlays/base/kustomization.yaml", "  - service.yaml\n",
                   "  - service.yaml\n  - missing.yaml\n")  # fmt: skip
    found = _findings(capsys)
    assert any(f["rule"] == "MR610" and f["path"] == "overlays/base/kustomization.yaml"
               for f in found)  # fmt: skip


def test_deep_validate_reports_policy_on_rendered_objects(
    gitops: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    gitops.replace("overlays/base/deployment.yaml", "image: alpine/git:2.45.2", "image: alpine/git")
    found = [f for f in _findings(capsys) if f["rule"] == "MR611"]
    assert {f["path"] for f in found} == {
        "overlays/demo/v1.0.0/kustomization.yaml",
        "overlays/demo/v1.1.0/kustomization.yaml",
    }


# -- Flux and Argo CD manifests ------------------------------------------------------------


def test_repository_cluster_manifests_pass() -> None:
    import yaml

    paths = sorted((REPO / "clusters").rglob("*.yaml"))
    assert len(paths) >= 2
    for path in paths:
        for data in yaml.safe_load_all(path.read_text()):
            # This example registry has no real remote: its URL is the placeholder (MR619).
            problems = [p for p in cluster_problems(data, REPO) if p[0] != "MR619"]
            assert problems == [], path


def test_cluster_manifest_rules() -> None:
    flux = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "models"},
        "spec": {"interval": "5m", "path": "overlays/nowhere", "prune": False,
                 "sourceRef": {"kind": "GitRepository"}},
    }  # fmt: skip
    messages = [m for _, m in cluster_problems(flux, REPO)]
    assert messages == [
        "Kustomization models: `spec.sourceRef.name` is required",
        "Kustomization models: path overlays/nowhere has no kustomization.yaml",
        "Kustomization models: spec.prune must be true (revert = rollback)",
    ]
    argo = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "models"},
        "spec": {"project": "default", "source": {"repoURL": "u", "path": "overlays/production",
                 "targetRevision": "main"}, "destination": {"name": "in-cluster"}},
    }  # fmt: skip
    assert [m for _, m in cluster_problems(argo, REPO)] == [
        "Application models: syncPolicy.automated.prune must be true"
    ]


# -- image registry allow-list (MR622) ------------------------------------------------------


def test_image_registry_allow_list(gitops: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    from modelreg.gitops.policy import image_registry

    assert image_registry("alpine/git:2.45.2") == "docker.io"
    assert image_registry("nvcr.io/nvidia/tritonserver:24.04-py3") == "nvcr.io"
    assert image_registry("localhost:5000/triton") == "localhost:5000"
    # No policy file: no allow-list.
    assert "MR622" not in {f["rule"] for f in _findings(capsys)}
    # Both registries allowed: passes.
    gitops.write("overlays/policy.yaml", "allowed_image_registries: [nvcr.io, docker.io]\n")
    assert "MR622" not in {f["rule"] for f in _findings(capsys)}
    # Docker Hub not allowed: the fetch step's image is refused, in every version overlay.
    gitops.write("overlays/policy.yaml", "allowed_image_registries: [nvcr.io]\n")
    refused = [f for f in _findings(capsys) if f["rule"] == "MR622"]
    assert sorted(f["path"] for f in refused) == [
        "overlays/demo/v1.0.0/kustomization.yaml",
        "overlays/demo/v1.1.0/kustomization.yaml",
    ]
    assert all(
        "image alpine/git:2.45.2 comes from docker.io, which overlays/policy.yaml does not "
        "allow (nvcr.io)" in f["message"]
        for f in refused
    )
    # An unusable policy file is a finding, not silence.
    gitops.write("overlays/policy.yaml", "allowed_image_registries: nvcr.io\n")
    (bad,) = [f for f in _findings(capsys) if f["rule"] == "MR622"]
    assert bad["path"] == "overlays/policy.yaml"
    assert "needs `allowed_image_registries:` with a list" in bad["message"]


def test_no_kustomize_is_one_clear_finding(
    gitops: Registry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelreg.gitops import kustomize

    monkeypatch.setattr(f"{kustomize.__name__}.shutil.which", lambda _name: None)
    monkeypatch.setattr(kustomize, "bundled_kubectl", lambda: None)
    capsys.readouterr()
    assert main(["validate", "--output", "json", "--select", "MR61,MR901"]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert [(f["path"], f["rule"]) for f in findings if f["severity"] == "error"] == [
        ("overlays/", "MR901")
    ]
    assert "no kustomize: install modelreg with its gitops extra" in findings[0]["message"]
