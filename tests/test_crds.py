"""MR628: Flux and Argo CD objects under clusters/ against the controllers' vendored CRDs.

Every case runs ``modelreg validate --fast`` on a registry ``modelreg init`` wrote, with one
value changed the way a person would change it, and asserts the finding's rule, file, line,
field and fix. The vendored schemas themselves: provenance, licenses, verbatim extraction.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelreg.cli import main
from modelreg.gitops import crdschema
from modelreg.gitops.clusters import cluster_files

REPO = Path(__file__).resolve().parents[1]
CRDS = REPO / "src" / "modelreg" / "gitops" / "crds"
URL = "https://github.com/acme/model-registry.git"
FLUX = "clusters/production/flux.yaml"
ARGO = "clusters/argocd/production.yaml"


def _validate(reg: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, Any]]]:
    capsys.readouterr()
    code = main(["validate", "--fast", "--root", str(reg), "--select", "MR6", "--output", "json"])
    return code, json.loads(capsys.readouterr().out)["findings"]


@pytest.fixture
def reg(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    root = tmp_path / "reg"
    assert main(["init", str(root), "--repo-url", URL, "--no-git"]) == 0
    return root


def _edit(reg: Path, rel: str, old: str, new: str) -> None:
    path = reg / rel
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def _line(reg: Path, rel: str, needle: str) -> int:
    """The first line that is ``needle`` (stripped), else the first that contains it."""
    lines = (reg / rel).read_text(encoding="utf-8").splitlines()
    exact = [i for i, line in enumerate(lines, 1) if line.strip() == needle]
    return exact[0] if exact else next(i for i, ln in enumerate(lines, 1) if needle in ln)


# -- what init writes, and this repository's clusters/, are accepted -------------------------


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--repo-url", URL],
        ["--repo-url", URL, "--private"],
        ["--repo-url", "git@github.com:acme/reg.git", "--secret-ref", "reg-deploy-key"],
    ],
)
def test_a_fresh_init_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    root = tmp_path / "reg"
    assert main(["init", str(root), "--no-git", *argv]) == 0
    code, findings = _validate(root, capsys)
    assert code == 0
    assert [f for f in findings if f["rule"] != "MR619"] == []  # MR619: the placeholder URL


def test_this_repository_clusters_pass() -> None:
    paths = sorted((REPO / "clusters").rglob("*.yaml"))
    checked = 0
    for path in paths:
        for data in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if crdschema.known(data):
                checked += 1
                assert crdschema.problems(data) == [], path
    assert checked == 6  # per environment: GitRepository, Kustomization, Application


# -- each bad value is MR628 with file, line, field and fix -----------------------------------


@pytest.mark.parametrize(
    "case",
    [
        (FLUX, f"url: {URL}", "url: git@github.com:acme/reg.git", "url:",
         "GitRepository model-registry: `spec.url`: 'git@github.com:acme/reg.git' does not "
         "match ^(http|https|ssh)://.*$: Flux does not read git's scp-like form: write "
         "ssh://git@github.com/acme/reg.git (fluxcd/source-controller v1.9.1 CRD, "
         "source.toolkit.fluxcd.io/v1)"),
        (FLUX, f"url: {URL}", "url: file:///srv/reg.git", "url:",
         "GitRepository model-registry: `spec.url`: 'file:///srv/reg.git' does not match "
         "^(http|https|ssh)://.*$: Flux clones over https:// or ssh:// only (a file:// path is "
         "not on the cluster): write the URL the registry is served at "
         "(fluxcd/source-controller v1.9.1 CRD, source.toolkit.fluxcd.io/v1)"),
        (FLUX, "interval: 1m\n", "interval: 1minute\n", "interval: 1minute",
         "GitRepository model-registry: `spec.interval`: '1minute' does not match "
         "^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$: write 1m (a Go duration) "
         "(fluxcd/source-controller v1.9.1 CRD, source.toolkit.fluxcd.io/v1)"),
        (FLUX, "  timeout: 15m\n", "  timeout: 15 minutes\n", "timeout:",
         "Kustomization models-production: `spec.timeout`: '15 minutes' does not match "
         "^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$: write 15m (a Go duration) "
         "(fluxcd/kustomize-controller v1.9.4 CRD, kustomize.toolkit.fluxcd.io/v1)"),
        (FLUX, "  interval: 1m\n", "", "spec:",
         "GitRepository model-registry: `spec.interval` is required: add it "
         "(fluxcd/source-controller v1.9.1 CRD, source.toolkit.fluxcd.io/v1)"),
        (FLUX, "  prune: true\n", "  prune: true\n  prunne: true\n", "prunne:",
         "Kustomization models-production: `spec.prunne`: unknown field 'prunne' (the API "
         "server drops it, `kubectl apply` rejects it): did you mean `prune`? remove or respell "
         "it (fluxcd/kustomize-controller v1.9.4 CRD, kustomize.toolkit.fluxcd.io/v1)"),
        (FLUX, "  wait: true\n", '  wait: "true"\n', "wait:",
         "Kustomization models-production: `spec.wait`: is a string ('true'), not boolean: "
         "write true or false, unquoted (fluxcd/kustomize-controller v1.9.4 CRD, "
         "kustomize.toolkit.fluxcd.io/v1)"),
        (FLUX, "    kind: GitRepository\n", "    kind: GitRepo\n", "kind: GitRepo",
         "Kustomization models-production: `spec.sourceRef.kind`: 'GitRepo' is not one of "
         "OCIRepository, GitRepository, Bucket, ExternalArtifact: write GitRepository "
         "(fluxcd/kustomize-controller v1.9.4 CRD, kustomize.toolkit.fluxcd.io/v1)"),
        (FLUX, "source.toolkit.fluxcd.io/v1\n", "source.toolkit.fluxcd.io/v1beta2\n",
         "v1beta2",
         "GitRepository model-registry: `apiVersion`: 'source.toolkit.fluxcd.io/v1beta2' is not "
         "served (fluxcd/source-controller v1.9.1 CRD serves GitRepository as "
         "source.toolkit.fluxcd.io/v1 only): write `apiVersion: source.toolkit.fluxcd.io/v1`"),
        (FLUX, "    branch: main\n", "    branch: main\n  serviceAccountName: flux\n",
         "spec:",
         "GitRepository model-registry: `spec`: serviceAccountName can only be set when "
         "provider is 'azure' or 'aws' (CEL rule `!has(self.serviceAccountName) || "
         "(has(self.provider) && (self.provider == 'azure' || self.provider == 'aws'))`) "
         "(fluxcd/source-controller v1.9.1 CRD, source.toolkit.fluxcd.io/v1)"),
        (ARGO, "    targetRevision: main\n", "    targetRevision: main\n    branch: main\n",
         "branch: main",
         "Application models-production: `spec.source.branch`: unknown field 'branch' (the "
         "API server drops it, `kubectl apply` rejects it): remove or respell it "
         "(argoproj/argo-cd v3.5.1 CRD, argoproj.io/v1alpha1)"),
        (ARGO, "  project: default\n", "", "spec:",
         "Application models-production: `spec.project` is required: add it "
         "(argoproj/argo-cd v3.5.1 CRD, argoproj.io/v1alpha1)"),
    ],
)  # fmt: skip
def test_each_bad_value_is_one_finding_with_line_field_and_fix(
    reg: Path, capsys: pytest.CaptureFixture[str], case: tuple[str, str, str, str, str]
) -> None:
    """``case``: file, text replaced, its replacement, the line the finding points at, and
    the exact message."""
    rel, old, new, needle, message = case
    _edit(reg, rel, old, new)
    code, findings = _validate(reg, capsys)
    assert code == 1
    found = [(f["rule"], f["path"], f["line"], f["message"]) for f in findings]
    # One finding: a field the CRD requires is not reported again by MR617.
    assert found == [("MR628", rel, _line(reg, rel, needle), message)]


def test_a_missing_name_is_reported_once(reg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit(reg, FLUX, "  name: model-registry\n  namespace", "  namespace")
    code, findings = _validate(reg, capsys)
    assert code == 1
    assert [(f["rule"], f["message"]) for f in findings] == [
        ("MR628", "GitRepository ?: `metadata.name` is required: add it "
         "(fluxcd/source-controller v1.9.1 CRD, source.toolkit.fluxcd.io/v1)"),
    ]  # fmt: skip


def test_a_null_is_pruned_as_the_api_server_does(
    reg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``secretRef:`` with no value is dropped before validation (not an object-type error)."""
    _edit(reg, FLUX, "    branch: main\n", "    branch: main\n  secretRef:\n")
    assert _validate(reg, capsys) == (0, [])
    _edit(reg, FLUX, "  secretRef:\n", "  secretRef: {}\n")
    code, findings = _validate(reg, capsys)
    assert code == 1
    assert [f["message"].split(" (fluxcd")[0] for f in findings] == [
        "GitRepository model-registry: `spec.secretRef.name` is required: add it"
    ]


# -- init: URLs Flux accepts, secretRef, the bootstrap path ----------------------------------


def test_init_writes_scp_urls_as_ssh_and_refuses_file_urls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "reg"
    assert main(["init", str(root), "--no-git", "--repo-url", "git@github.com:acme/reg.git"]) == 0
    flux = list(yaml.safe_load_all((root / FLUX).read_text(encoding="utf-8")))
    argo = yaml.safe_load((root / ARGO).read_text(encoding="utf-8"))
    assert flux[0]["spec"]["url"] == "ssh://git@github.com/acme/reg.git"
    assert argo["spec"]["source"]["repoURL"] == "ssh://git@github.com/acme/reg.git"
    capsys.readouterr()
    for url in ("file:///srv/reg.git", "git://host/reg.git", "/srv/reg.git"):
        assert main(["init", str(tmp_path / "other"), "--repo-url", url]) == 2
        assert "is not a clone URL Flux accepts" in capsys.readouterr().err
        assert not (tmp_path / "other").exists()


def test_private_writes_the_secret_ref_and_the_argo_note(tmp_path: Path) -> None:
    root = tmp_path / "reg"
    assert main(["init", str(root), "--no-git", "--repo-url", URL, "--private"]) == 0
    for env in ("staging", "production"):
        flux = list(yaml.safe_load_all((root / f"clusters/{env}/flux.yaml").read_text()))
        assert flux[0]["spec"]["secretRef"] == {"name": "model-registry-auth"}
        argo = (root / f"clusters/argocd/{env}.yaml").read_text(encoding="utf-8")
        assert "argocd.argoproj.io/secret-type: repository" in argo
        assert f"argocd repo add {URL}" in argo
    root = tmp_path / "named"
    assert main(["init", str(root), "--no-git", "--repo-url", URL, "--secret-ref", "deploy"]) == 0
    flux = list(yaml.safe_load_all((root / FLUX).read_text(encoding="utf-8")))
    assert flux[0]["spec"]["secretRef"] == {"name": "deploy"}
    root = tmp_path / "public"
    assert main(["init", str(root), "--no-git", "--repo-url", URL]) == 0
    assert "secretRef" not in (root / FLUX).read_text(encoding="utf-8")
    assert "secret-type" not in (root / ARGO).read_text(encoding="utf-8")


def test_a_bad_secret_name_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", str(tmp_path / "r"), "--secret-ref", "Not_A_Name"]) == 2
    assert "--secret-ref 'Not_A_Name' is not a Secret name" in capsys.readouterr().err
    assert main(["init", str(tmp_path / "r"), "--private", "--secret-ref", "x"]) == 2


def test_clusters_stay_out_of_flux_bootstraps_way() -> None:
    """``flux bootstrap --path=clusters/<env>`` writes clusters/<env>/flux-system/ and applies
    the whole directory: no kustomization.yaml there (it would hide flux-system/ from
    bootstrap's pruning Kustomization), nothing under flux-system/, no Argo CD kind in a Flux
    path, and the Namespace never pruned."""
    files = cluster_files(URL)
    assert sorted(files) == [
        "clusters/argocd/production.yaml", "clusters/argocd/staging.yaml",
        "clusters/production/flux.yaml", "clusters/production/namespace.yaml",
        "clusters/staging/flux.yaml", "clusters/staging/namespace.yaml",
    ]  # fmt: skip
    for rel, text in files.items():
        kinds = {d["kind"] for d in yaml.safe_load_all(text)}
        if rel.startswith("clusters/argocd/"):
            assert kinds == {"Application"}
        else:
            assert "Application" not in kinds and "/flux-system/" not in rel
    namespace = yaml.safe_load(files["clusters/production/namespace.yaml"])
    assert namespace["metadata"]["annotations"] == {"kustomize.toolkit.fluxcd.io/prune": "disabled"}
    names = {
        (d["kind"], d["metadata"]["name"])
        for d in yaml.safe_load_all(files["clusters/production/flux.yaml"])
    }
    # flux bootstrap's own objects are GitRepository and Kustomization `flux-system`.
    assert names == {("GitRepository", "model-registry"), ("Kustomization", "models-production")}


# -- the vendored schemas ------------------------------------------------------------------------


def test_provenance_readme_names_release_commit_and_license() -> None:
    readme = (CRDS / "README.md").read_text(encoding="utf-8")
    entries = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(CRDS.glob("*.json"))]
    assert {(e["group"], e["version"], e["kind"]) for e in entries} == {
        ("source.toolkit.fluxcd.io", "v1", "GitRepository"),
        ("kustomize.toolkit.fluxcd.io", "v1", "Kustomization"),
        ("argoproj.io", "v1alpha1", "Application"),
    }
    for entry in entries:
        source = entry["source"]
        assert re.fullmatch(r"[0-9a-f]{40}", source["commit"])
        assert re.fullmatch(r"v\d+\.\d+\.\d+", source["ref"])
        assert f"`{source['commit']}`" in readme and source["ref"] in readme
        license_file = CRDS / ("LICENSE." + source["repository"].replace("/", "-"))
        assert "Apache License" in license_file.read_text(encoding="utf-8")
        assert "Version 2.0" in license_file.read_text(encoding="utf-8")


def test_flux_constraints_are_in_the_crd_itself() -> None:
    spec = crdschema.schemas()[("source.toolkit.fluxcd.io", "GitRepository")]["v1"].schema
    fields = spec["properties"]["spec"]["properties"]
    assert fields["url"]["pattern"] == "^(http|https|ssh)://.*$"
    assert fields["interval"]["pattern"] == r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
    assert spec["properties"]["spec"]["required"] == ["interval", "url"]


def test_every_vendored_pattern_and_cel_rule_is_evaluated() -> None:
    """A refresh that brings a regex Python reads differently or a CEL rule outside the
    evaluated subset fails here instead of being skipped."""

    def patterns(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
            return found + [p for v in node.values() for p in patterns(v)]
        if isinstance(node, list):
            return [p for v in node for p in patterns(v)]
        return []

    for versions in crdschema.schemas().values():
        for crd in versions.values():
            for pattern in patterns(crd.schema):
                re.compile(pattern)
                # Go's RE2 has no backreferences or lookarounds; Python's extras are unused.
                assert not re.search(r"\(\?[=!<]|\\[1-9]", pattern), pattern
    rules = list(crdschema.all_rules())
    assert len(rules) == 3
    for _kind, rule in rules:
        crdschema.parse_rule(rule)


def test_kustomization_kubeconfig_cel_rules(reg: Path) -> None:
    base = yaml.safe_load_all((reg / FLUX).read_text(encoding="utf-8"))
    kustomization = list(base)[1]
    both = {"configMapRef": {"name": "a"}, "secretRef": {"name": "b"}}
    for value, expected in (({"secretRef": {"name": "b"}}, []),
                            (both, ["`spec.kubeConfig`: exactly one"]),
                            ({}, ["`spec.kubeConfig`: exactly one"])):  # fmt: skip
        kustomization["spec"]["kubeConfig"] = value
        got = [format_problem(v) for v in crdschema.problems(kustomization)]
        assert [g[: len(e)] for g, e in zip(got, expected, strict=False)] == expected, got
        assert len(got) == len(expected)


def format_problem(v: crdschema.Violation) -> str:
    from modelreg.yamlload import format_path

    return f"`{format_path(v.path)}`: {v.message}"


def test_refresh_script_copies_the_schema_verbatim(tmp_path: Path) -> None:
    """From a CRD file: every served version's openAPIV3Schema, unchanged; unserved versions
    left out; the LICENSE and the README written; --check passes on the result."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("refresh_crds", REPO / "scripts/refresh_crds.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "url": {"type": "string", "pattern": "^x$", "description": "kept as is"}}}}}  # fmt: skip
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.example.io"},
        "spec": {"group": "example.io", "scope": "Namespaced",
                 "names": {"kind": "Thing", "plural": "things"},
                 "versions": [
                     {"name": "v1", "served": True, "storage": True,
                      "schema": {"openAPIV3Schema": schema}, "subresources": {"status": {}}},
                     {"name": "v0", "served": False, "storage": False,
                      "schema": {"openAPIV3Schema": {"type": "object"}}}]},
    }  # fmt: skip
    (tmp_path / "crd.yaml").write_text(yaml.safe_dump(crd), encoding="utf-8")
    (tmp_path / "LICENSE").write_text("Apache License\nVersion 2.0\n", encoding="utf-8")
    argv = ["--crd", str(tmp_path / "crd.yaml"), "--repository", "acme/things", "--ref", "v1.0.0",
            "--commit", "a" * 40, "--date", "2026-01-02", "--license", str(tmp_path / "LICENSE"),
            "--extracted", "2026-01-03", "--out", str(tmp_path / "out")]  # fmt: skip
    assert script.main(argv) == 0
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["LICENSE.acme-things", "README.md", "example.io_thing_v1.json"]
    entry = json.loads((tmp_path / "out/example.io_thing_v1.json").read_text(encoding="utf-8"))
    assert entry["openAPIV3Schema"] == schema
    assert entry["statusSubresource"] is True
    assert entry["source"]["commit"] == "a" * 40
    assert "`" + "a" * 40 + "`" in (tmp_path / "out/README.md").read_text(encoding="utf-8")
    assert script.main([*argv, "--check"]) == 0
    (tmp_path / "out/example.io_thing_v1.json").write_text("{}", encoding="utf-8")
    assert script.main([*argv, "--check"]) == 1


def test_duration_fixes() -> None:
    assert crdschema.duration_fix("1minute") == "1m"
    assert crdschema.duration_fix("1 hour 30 min") == "1h30m"
    assert crdschema.duration_fix("2d") == "48h"
    assert crdschema.duration_fix("90 secs") == "90s"
    assert crdschema.duration_fix("60") is None
    assert crdschema.duration_fix("soon") is None


def test_a_hostile_field_name_stays_one_bounded_line(
    reg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pull request's unknown key with a line break, a workflow command and 900 characters
    is one MR628 line per output format, cut, and never starts a workflow command."""
    key = "x\\n::error file=a::forged" + "y" * 900  # YAML caps implicit keys at 1024
    _edit(reg, FLUX, "  prune: true\n", f'  prune: true\n  "{key}": 1\n')
    for output in ("text", "github"):
        capsys.readouterr()
        code = main(["validate", "--fast", "--root", str(reg), "--select", "MR628",
                     "--output", output])  # fmt: skip
        out = capsys.readouterr().out
        lines = [line for line in out.splitlines() if "MR628" in line]
        assert code == 1 and len(lines) == 1, out
        assert len(lines[0]) < 800
        assert not any(line.startswith("::error file=a") for line in out.splitlines())
