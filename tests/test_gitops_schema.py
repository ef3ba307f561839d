"""MR618 (strict Kubernetes schemas via kubernetes-validate) and MR619 (placeholder URLs).

Real kustomize renders each fixture; the real kubernetes-validate judges it (the dev extra
installs it); one test hides the library to see the note that replaces it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from conftest import Registry
from gitops_support import DELETE, REPO, add_overlays, edited
from modelreg.cli import main
from modelreg.gitops import k8sschema
from modelreg.gitops.clusters import PLACEHOLDER_URL, cluster_files
from modelreg.gitops.policy import cluster_problems, is_placeholder_url

TRITON_IMAGE = "          image: nvcr.io/nvidia/tritonserver:25.02-py3\n"


def _overlays_check(capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, Any]]]:
    capsys.readouterr()
    code = main(["overlays", "--check", "--output", "json"])
    return code, json.loads(capsys.readouterr().out)["findings"]


def _rule(findings: list[dict[str, Any]], rule: str) -> list[dict[str, Any]]:
    return [f for f in findings if f["rule"] == rule]


@pytest.fixture
def gitops(registry: Registry) -> Registry:
    add_overlays(registry.root, {"demo": ["1.0.0", "1.1.0"]}, {"demo": "1.1.0"})
    return registry


# -- MR618 through `modelreg overlays --check` and deep validate ------------------------------


def test_rendered_objects_pass_the_strict_schemas(
    gitops: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    code, findings = _overlays_check(capsys)
    assert code == 0
    assert _rule(findings, "MR618") == []
    # The same objects fail once they are broken (the next tests): the pass is not vacuous.
    assert k8sschema.available()


def test_an_unknown_field_in_the_deployment_fails_once_where_it_is_made(
    gitops: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    gitops.replace(
        "overlays/base/deployment.yaml",
        TRITON_IMAGE,
        TRITON_IMAGE + "          imagePullPolicyy: IfNotPresent\n",
    )
    code, findings = _overlays_check(capsys)
    assert code == 1
    found = _rule(findings, "MR618")
    # Reported in the base only, not again for each version overlay and environment.
    assert [f["path"] for f in found] == ["overlays/base/kustomization.yaml"]
    message = found[0]["message"]
    assert message.startswith("Deployment/triton: `spec.template.spec.containers.0`: ")
    assert "'imagePullPolicyy' was unexpected" in message
    assert f"Kubernetes {k8sschema.KUBERNETES_VERSION} schema" in message


def test_a_wrong_type_fails_in_deep_validate(
    gitops: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    gitops.replace(
        "overlays/base/deployment.yaml", "revisionHistoryLimit: 5", 'revisionHistoryLimit: "5"'
    )
    capsys.readouterr()
    assert main(["validate", "--select", "MR6", "--output", "json"]) == 1
    found = _rule(json.loads(capsys.readouterr().out)["findings"], "MR618")
    assert len(found) == 1
    assert "`spec.revisionHistoryLimit`: '5' is not of type 'integer'" in found[0]["message"]


def test_an_environment_judges_only_what_it_adds(
    gitops: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    gitops.write(
        "overlays/production/limits.yaml",
        "apiVersion: v1\nkind: LimitRange\nmetadata:\n  name: models\nspec:\n"
        "  limits:\n    - type: Container\n      max:\n        cpu: 4\n      maxx: {}\n",
    )
    gitops.replace(
        "overlays/production/kustomization.yaml", "resources:\n", "resources:\n  - limits.yaml\n"
    )
    code, findings = _overlays_check(capsys)
    assert code == 1
    found = _rule(findings, "MR618")
    assert [f["path"] for f in found] == ["overlays/production/kustomization.yaml"]
    assert found[0]["message"].startswith("LimitRange/models-production/models: ")
    assert "'maxx' was unexpected" in found[0]["message"]


def test_a_kind_its_api_version_lacks_fails_but_custom_resources_are_left_alone() -> None:
    gone = {"apiVersion": "extensions/v1beta1", "kind": "Ingress", "metadata": {"name": "x"}}
    assert [m for _, m in k8sschema.schema_problems(gone)] == [
        f"Ingress/x: Kubernetes {k8sschema.KUBERNETES_VERSION} has no kind Ingress in "
        "extensions/v1beta1 (a misspelt kind or a removed API version)"
    ]
    typo = {"apiVersion": "apps/v1", "kind": "Deploymnet", "metadata": {"name": "x"}}
    assert [r for r, _ in k8sschema.schema_problems(typo)] == ["MR618"]
    flux = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "x"}, "spec": {"anything": 1}}  # fmt: skip
    assert k8sschema.schema_problems(flux) == []
    missing = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
               "spec": {"ports": [{"name": "http"}]}}  # fmt: skip
    (problem,) = k8sschema.schema_problems(missing)
    assert "`spec.ports.0`: 'port' is a required property" in problem[1]


def test_every_shipped_version_can_be_chosen_and_others_are_refused(
    gitops: Registry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    replicas = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
                "spec": {"replicas": "2"}}  # fmt: skip
    assert k8sschema.schema_problems(replicas, "1.30")
    monkeypatch.setenv(k8sschema.VERSION_ENV, "1.30")
    assert k8sschema.kubernetes_version() == "1.30"
    monkeypatch.setenv(k8sschema.VERSION_ENV, "1.9")
    with pytest.raises(ValueError, match=r"no schemas for Kubernetes '1\.9'"):
        k8sschema.schema_problems(replicas)
    code, findings = _overlays_check(capsys)
    assert code == 1
    (found,) = _rule(findings, "MR618")
    assert found["severity"] == "error" and "MODELREG_KUBERNETES_VERSION" in found["message"]


def test_without_the_library_one_note_says_how_to_install(
    gitops: Registry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    gitops.replace(
        "overlays/base/deployment.yaml", "revisionHistoryLimit: 5", 'revisionHistoryLimit: "5"'
    )
    monkeypatch.setattr(k8sschema, "available", lambda: False)
    code, findings = _overlays_check(capsys)
    assert code == 0  # a note: nothing else failed, and the note says what was not proven
    (note,) = _rule(findings, "MR618")
    assert note["severity"] == "note"
    assert "pip install 'modelreg[gitops]'" in note["message"]


def test_fast_validate_never_imports_kubernetes_validate(gitops: Registry) -> None:
    probe = (
        "import sys; from modelreg.cli import main; code = main(sys.argv[1:]); "
        "print(code, 'kubernetes_validate' in sys.modules)"
    )

    def imported(*argv: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-c", probe, *argv],
            cwd=gitops.root, capture_output=True, text=True, check=False,
        )  # fmt: skip
        return proc.stdout.split()[-1]

    assert imported("validate", "--fast") == "False"
    assert imported("overlays", "--check") == "True"  # the probe can tell


# -- MR619 and the clusters/ generator --------------------------------------------------------


def test_this_repository_clusters_are_what_the_generator_writes() -> None:
    generated = cluster_files()
    on_disk = {p.relative_to(REPO).as_posix() for p in (REPO / "clusters").rglob("*.yaml")}
    assert set(generated) == on_disk
    for rel, text in generated.items():
        assert (REPO / rel).read_text(encoding="utf-8") == text, rel


def test_placeholder_urls_are_reported_and_real_ones_are_not(
    gitops: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    for rel, text in cluster_files().items():
        gitops.write(rel, text)
    gitops.write("overlays/base/registry.env", f"MODEL_SOURCE_URL={PLACEHOLDER_URL}\n")
    capsys.readouterr()
    assert main(["validate", "--fast", "--select", "MR6", "--output", "json"]) == 0
    found = _rule(json.loads(capsys.readouterr().out)["findings"], "MR619")
    assert sorted((f["path"], f["line"]) for f in found) == [
        ("clusters/argocd/production.yaml", None),
        ("clusters/argocd/staging.yaml", None),
        ("clusters/production/flux.yaml", None),
        ("clusters/staging/flux.yaml", None),
        ("overlays/base/registry.env", 1),
    ]
    assert all(f["severity"] == "warning" and PLACEHOLDER_URL in f["message"] for f in found)

    url = "https://github.com/acme/model-registry.git"
    for rel, text in cluster_files(url).items():
        gitops.write(rel, text)
    gitops.write("overlays/base/registry.env", f"MODEL_SOURCE_URL={url}\n")
    assert main(["validate", "--fast", "--select", "MR6", "--output", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["findings"] == []


def test_placeholder_detection() -> None:
    for url in (PLACEHOLDER_URL, "git@example.org:a/b.git", "ssh://git@h.invalid/x",
                "https://git.acme.test/x"):  # fmt: skip
        assert is_placeholder_url(url), url
    for url in ("https://github.com/acme/reg.git", "file:///srv/reg.git",
                "https://example.company.com/x", "git@gitlab.com:acme/reg.git"):  # fmt: skip
        assert not is_placeholder_url(url), url
    argo = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "m"},
            "spec": {"source": {"repoURL": PLACEHOLDER_URL}}}  # fmt: skip
    assert "MR619" in {r for r, _ in cluster_problems(argo, REPO)}


def test_the_rule_states_the_kubernetes_version_it_validates_against() -> None:
    from modelreg.rules import rule

    assert f"Kubernetes {k8sschema.KUBERNETES_VERSION} unless" in rule("MR618").summary


def _base_objects() -> list[dict[str, Any]]:
    from modelreg.gitops.kustomize import build, split_objects

    return [o.data for o in split_objects(build(REPO / "overlays" / "base"), "base")]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (None, None),
        ("spec.replicas", "2"),
        ("spec.template.spec.containers.0.imagePullPolicyy", "Always"),
        ("spec.template.spec.containers.0.ports.0.containerPort", "http"),
        ("spec.template.spec.securityContext.runAsUser", -1.5),
        ("spec.selector", None),
        ("metadata.labels.broken", {"not": "a string"}),
    ],
)
def test_compiled_schemas_judge_like_the_library(path: str | None, value: Any) -> None:
    """The cached validators use the library's schema files; the first problem of each object
    equals what ``kubernetes_validate.validate`` raises, and a valid object is valid in both."""
    version = k8sschema.KUBERNETES_VERSION
    for base in _base_objects():
        data = base
        if path is not None and base["kind"] == "Deployment":
            data = edited(base, path, DELETE if value is None else value)
        ours = k8sschema.schema_problems(data, version)
        theirs = k8sschema.library_problems(data, version)
        assert ours[:1] == theirs, (data["kind"], ours, theirs)
        assert bool(ours) == (path is not None and data["kind"] == "Deployment")


def test_every_error_of_an_object_is_reported() -> None:
    (deployment,) = [d for d in _base_objects() if d["kind"] == "Deployment"]
    deployment["spec"]["replicas"] = "2"
    deployment["spec"]["paused"] = "no"
    messages = [m for _, m in k8sschema.schema_problems(deployment)]
    assert len(messages) == 2, messages
    assert any("`spec.replicas`" in m for m in messages)
    assert any("`spec.paused`" in m for m in messages)


def test_without_the_expected_schema_files_the_library_call_judges(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(k8sschema, "_schema_dir", lambda version: None)
    k8sschema._validator.cache_clear()
    k8sschema._kind_schema.cache_clear()
    try:
        replicas = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
                    "spec": {"replicas": "2"}}  # fmt: skip
        (problem,) = k8sschema.schema_problems(replicas)
        assert "`spec.replicas`: '2' is not of type 'integer'" in problem[1]
    finally:
        k8sschema._validator.cache_clear()
        k8sschema._kind_schema.cache_clear()


MUTATIONS: list[tuple[str, Any]] = [
    ("spec.replicas", "2"),
    ("spec.replicas", 2.0),  # an integral float is an integer to JSON Schema
    ("spec.replicas", True),
    ("spec.replicas", None),  # nullable in these schemas
    ("spec.strategy.type", "Sometimes"),
    ("spec.template.spec.containers.0.imagePullPolicy", "Sometimes"),  # not an enum there
    ("spec.template.spec.containers.0.resources.limits.memory", None),  # Quantity: oneOf
    ("spec.template.spec.containers.0.resources.limits.memory", 3),
    ("spec.template.spec.containers.0.resources.limits.memory", [1]),
    ("spec.template.spec.containers.0.ports.0.containerPort", "http"),
    ("spec.template.spec.containers.0.readinessProbe.httpGet.port", "http"),  # IntOrString
    ("spec.template.spec.containers.0.readinessProbe.httpGet.port", 1.5),
    ("spec.template.spec.containers.0.unknownField", 1),
    ("spec.template.spec.containers.0", "not an object"),
    ("spec.template.metadata.creationTimestamp", "not a date"),  # format: not asserted
    ("metadata.annotations.a", 1),
    ("apiVersion", "apps/v2"),
    ("status", {"replicas": "x"}),
    ("extra", 1),
]


@pytest.mark.parametrize(("path", "value"), MUTATIONS)
def test_the_compiled_check_agrees_with_jsonschema(path: str, value: Any) -> None:
    """The yes/no fast path (modelreg.fastschema) says valid exactly when jsonschema finds no
    error, for each base object as rendered and with the mutation applied."""
    version = k8sschema.KUBERNETES_VERSION
    verdicts = []
    for data in _base_objects():
        fast = k8sschema._fast_check(version, data["apiVersion"], data["kind"])
        assert fast is not None, f"{data['kind']}: the schema did not compile"
        validator = k8sschema._validator(version, data["apiVersion"], data["kind"])
        for candidate in (data, edited(data, path, value)):
            slow = not list(validator.iter_errors(candidate))
            assert fast(candidate) == slow, (data["kind"], path, value)
            verdicts.append(slow)
    assert True in verdicts  # the rendered objects are valid


def test_the_mutations_include_both_verdicts() -> None:
    # The agreement above covers invalid objects too, not only valid ones.
    version = k8sschema.KUBERNETES_VERSION
    (deployment,) = [d for d in _base_objects() if d["kind"] == "Deployment"]
    validator = k8sschema._validator(version, "apps/v1", "Deployment")
    judged = {not list(validator.iter_errors(edited(deployment, p, v))) for p, v in MUTATIONS}
    assert judged == {True, False}
