"""`modelreg init` scaffolds the deployment side: overlays/base, environments and clusters/.

End to end on real things: init, `modelreg add` of a real ONNX model, `modelreg promote
--env staging --commit` in a real git repository, then `modelreg overlays --check` (real
`kubectl kustomize`/`kustomize`, real kubernetes-validate) and the rendered staging objects.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import demo_model, git, write_eval_data
from modelreg import scaffold
from modelreg.cli import main
from modelreg.gitops.clusters import PLACEHOLDER_URL, cluster_files
from modelreg.gitops.kustomize import build
from modelreg.registry import discover
from test_init import MODEL_YAML

ROOT = Path(__file__).resolve().parents[1]
REPO_URL = "https://git.acme.internal/ml/models.git"


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, Any]]]:
    capsys.readouterr()
    code = main([*argv, "--output", "json"])
    return code, json.loads(capsys.readouterr().out)["findings"]


def test_init_writes_overlays_environments_and_clusters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reg = tmp_path / "reg"
    assert main(["init", str(reg), "--repo-url", REPO_URL]) == 0
    base = ROOT / "overlays" / "base"
    for path in sorted(base.iterdir()):
        written = (reg / "overlays" / "base" / path.name).read_text(encoding="utf-8")
        if path.name == "registry.env":
            assert written == f"MODEL_SOURCE_URL={REPO_URL}\n"
        else:
            assert written == path.read_text(encoding="utf-8"), path.name
    assert os.access(reg / "overlays" / "base" / "fetch-model.sh", os.X_OK)
    for env in ("staging", "production"):
        data = yaml.safe_load((reg / "overlays" / env / "kustomization.yaml").read_text())
        assert data["namespace"] == f"models-{env}" and data["resources"] == []
    for rel, text in cluster_files(REPO_URL).items():
        assert (reg / rel).read_text(encoding="utf-8") == text
    flux = list(yaml.safe_load_all((reg / "clusters/production/flux.yaml").read_text()))
    assert flux[0]["spec"]["url"] == REPO_URL
    assert flux[1]["spec"]["path"] == "./overlays/production"
    # An empty registry with the deployment side passes deep validation and the overlay check.
    assert main(["validate", "--root", str(reg)]) == 0
    code, findings = _json(capsys, "overlays", "--check", "--root", str(reg))
    assert code == 0 and findings == []


def test_the_scaffold_base_is_this_repository_base() -> None:
    """One source of truth: the template init writes is overlays/base, byte for byte (the wheel
    carries the same files: tests/test_packaging.py)."""
    on_disk = {
        f"overlays/base/{p.name}": p.read_text(encoding="utf-8")
        for p in (ROOT / "overlays" / "base").iterdir()
    }
    assert scaffold.base_files() == on_disk
    assert PLACEHOLDER_URL in on_disk["overlays/base/registry.env"]
    changed = {k for k, v in scaffold.base_files(REPO_URL).items() if on_disk[k] != v}
    assert changed == {"overlays/base/registry.env"}


def test_without_a_repo_url_the_placeholder_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reg = tmp_path / "reg"
    assert main(["init", str(reg)]) == 0
    code, findings = _json(capsys, "validate", "--fast", "--root", str(reg))
    assert code == 0  # a warning: the registry works, the clusters cannot sync yet
    assert {(f["rule"], f["path"]) for f in findings} == {
        ("MR619", "clusters/argocd/production.yaml"),
        ("MR619", "clusters/production/flux.yaml"),
        ("MR619", "clusters/argocd/staging.yaml"),
        ("MR619", "clusters/staging/flux.yaml"),
        ("MR619", "overlays/base/registry.env"),
    }


def test_a_bad_repo_url_is_a_usage_error_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", str(tmp_path / "reg"), "--repo-url", "not a url"]) == 2
    assert "--repo-url" in capsys.readouterr().err
    assert not (tmp_path / "reg").exists()


def test_update_keeps_the_deployment_files_the_team_edits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reg = tmp_path / "reg"
    assert main(["init", str(reg)]) == 0
    flux = reg / "clusters/production/flux.yaml"
    flux.write_text(flux.read_text().replace(PLACEHOLDER_URL, REPO_URL), encoding="utf-8")
    (reg / "overlays/base/service.yaml").unlink()
    capsys.readouterr()
    assert main(["init", str(reg), "--update"]) == 0
    assert REPO_URL in flux.read_text()
    assert (reg / "overlays/base/service.yaml").read_text() == (
        ROOT / "overlays/base/service.yaml"
    ).read_text()
    assert "clusters/production/flux.yaml" not in capsys.readouterr().out.split()


@pytest.mark.slow
def test_init_add_promote_staging_builds_and_passes_the_overlay_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for who in ("AUTHOR", "COMMITTER"):  # promote --commit makes a real commit
        monkeypatch.setenv(f"GIT_{who}_NAME", "t")
        monkeypatch.setenv(f"GIT_{who}_EMAIL", "t@example.com")
    reg = tmp_path / "reg"
    assert main(["init", str(reg), "--repo-url", REPO_URL]) == 0
    git(reg, "lfs", "install", "--local")
    (reg / "models" / "demo").mkdir()
    (reg / "models" / "demo" / "model.yaml").write_text(MODEL_YAML, encoding="utf-8")
    onnx_file = tmp_path / "candidate.onnx"
    onnx_file.write_bytes(demo_model(0.5).SerializeToString())
    write_eval_data(tmp_path / "eval.npz")
    monkeypatch.chdir(reg)
    assert main(
        ["add", "demo", "1.0.0", "--onnx", str(onnx_file), "--eval", str(tmp_path / "eval.npz"),
         "--dataset-name", "demo-data", "--dataset-version", "1.0", "--dataset-samples", "100",
         "--summary", "First release.", "--change", "Initial release", "--migration", "None",
         "--date", "2024-02-01", "--sample", "2", "--runs", "0"]
    ) == 0  # fmt: skip
    # add wrote the version overlay, because the registry deploys with overlays (init's base).
    assert (reg / "overlays/demo/v1.0.0/kustomization.yaml").is_file()
    git(reg, "add", "-A")
    git(reg, "commit", "-q", "--no-verify", "-m", "demo 1.0.0")
    assert main(["promote", "demo", "1.0.0", "--env", "staging", "--commit"]) == 0
    assert "Modelreg-Promotion: demo none->1.0.0 staging" in git(reg, "log", "-1", "--format=%B")

    code, findings = _json(capsys, "overlays", "--check")
    assert code == 0, findings
    # Only the pinning report (both images by tag: no digest is invented) remains.
    assert {f["rule"] for f in findings} == {"MR612"}

    objects = [d for d in yaml.safe_load_all(build(reg / "overlays" / "staging")) if d]
    by_kind = {(d["kind"], d["metadata"]["name"]): d for d in objects}
    deployment = by_kind[("Deployment", "demo-triton-v1-0-0")]
    assert deployment["metadata"]["namespace"] == "models-staging"
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pod_labels["model"] == "demo" and pod_labels["version"] == "1.0.0"
    alias = by_kind[("Service", "demo")]
    assert alias["spec"]["selector"]["app.kubernetes.io/instance"] == "demo-v1-0-0"
    configmaps = {d["metadata"]["name"].rsplit("-", 1)[0]: d for d in objects
                  if d["kind"] == "ConfigMap"}  # fmt: skip
    meta = discover(reg).metadata(discover(reg).models["demo"].versions["1.0.0"])
    assert meta is not None
    assert configmaps["demo-model-v1-0-0"]["data"]["MODEL_SHA256"] == meta["artifact"]["sha256"]
    assert configmaps["demo-registry-source-v1-0-0"]["data"]["MODEL_SOURCE_URL"] == REPO_URL
    # The Flux Kustomization and Argo CD Application point at what was just built.
    argo = yaml.safe_load((reg / "clusters/argocd/staging.yaml").read_text())
    assert argo["spec"]["source"]["path"] == "overlays/staging"
    assert argo["spec"]["source"]["repoURL"] == REPO_URL

    # A registry needs one production version (MR504): promote it there too, and the whole
    # registry, deep, is valid. (This card declares no gates; tests/test_gitops_promote.py
    # covers promotion gates.)
    assert (
        main(["promote", "demo", "1.0.0", "--env", "production", "--commit", "--skip-gates"]) == 0
    )
    code, findings = _json(capsys, "validate")
    assert code == 0 and {f["rule"] for f in findings} == {"MR612"}, findings
