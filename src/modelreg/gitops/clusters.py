"""The ``clusters/<env>/`` manifests: Flux and Argo CD syncing ``overlays/<env>`` from main.

One generator for this repository's ``clusters/`` and for every registry ``modelreg init``
writes (a test keeps this repository's files equal to what it generates). The repository URL
is the one parameter; without one, :data:`PLACEHOLDER_URL` (a reserved example domain) is
written, and ``modelreg validate`` reports it (MR619) until someone writes the real URL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from modelreg.errors import UsageError
from modelreg.gitops import CLUSTERS_DIR, DEFAULT_ENVIRONMENTS, OVERLAYS_DIR
from modelreg.gitops.overlays import NAMESPACE_PREFIX

#: Written where the registry's clone URL belongs until someone knows it (RFC 2606 domain).
PLACEHOLDER_URL = "https://git.example.com/ml/model-registry.git"
#: A clone URL modelreg writes as a plain YAML scalar and an env-file value: a scheme URL or
#: scp-like ``user@host:path``, no whitespace, quotes or backslashes.
_URL_RE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:)[^\s\"'\\`]+$")

_FLUX = """\
# Flux: sync overlays/{env} from the registry's main branch. Apply once per cluster
# (`kubectl apply -k clusters/{env}` or `flux bootstrap ... --path clusters/{env}`); from then on
# a merge to main is the deploy and a revert on main is the rollback.
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: model-registry
  namespace: flux-system
spec:
  interval: 1m
  url: {url}
  ref:
    branch: main
  # Only the manifests: the source artifact stays small (model files are fetched by the pod).
  ignore: |
    /*
    !/{overlays}/
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: models-{env}
  namespace: flux-system
spec:
  interval: 10m
  retryInterval: 2m
  # The startup probe allows 10 minutes for a large model to load.
  timeout: 15m
  sourceRef:
    kind: GitRepository
    name: model-registry
  path: ./{overlays}/{env}
  prune: true
  wait: true
"""

_ARGOCD = """\
# Argo CD: the same overlays/{env}, synced automatically; pruning and self-heal make the
# cluster follow main, so a revert on main is the rollback.
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: models-{env}
  namespace: argocd
spec:
  project: default
  source:
    repoURL: {url}
    targetRevision: main
    path: {overlays}/{env}
  destination:
    server: https://kubernetes.default.svc
    namespace: {namespace}
  syncPolicy:
    automated:
      prune: true
      selfHeal: true
    syncOptions:
      - CreateNamespace=true
"""

_NAMESPACE = """\
# The namespace overlays/{env} deploys into (Argo CD creates it itself: CreateNamespace=true).
apiVersion: v1
kind: Namespace
metadata:
  name: {namespace}
"""

_KUSTOMIZATION = """\
# What a Flux cluster for {env} applies once: its namespace and the sync objects.
# Argo CD users apply argocd.yaml instead.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - namespace.yaml
  - flux.yaml
"""


def check_url(url: str) -> str:
    """``url`` if modelreg can write it as a clone URL, else a :class:`UsageError`."""
    if not _URL_RE.match(url):
        raise UsageError(
            f"--repo-url {url!r} is not a clone URL modelreg can write: use a URL with a scheme "
            "(https://host/org/repo.git, ssh://git@host/org/repo.git, file:///path) or "
            "git@host:org/repo.git, without spaces or quotes"
        )
    return url


def cluster_files(
    repo_url: str = PLACEHOLDER_URL, envs: Iterable[str] = DEFAULT_ENVIRONMENTS
) -> dict[str, str]:
    """``clusters/<env>/*.yaml`` (repository-relative path → text) for each environment."""
    url = check_url(repo_url)
    files: dict[str, str] = {}
    for env in envs:
        values = {
            "env": env,
            "url": url,
            "overlays": OVERLAYS_DIR,
            "namespace": f"{NAMESPACE_PREFIX}{env}",
        }
        for name, template in (
            ("argocd.yaml", _ARGOCD),
            ("flux.yaml", _FLUX),
            ("kustomization.yaml", _KUSTOMIZATION),
            ("namespace.yaml", _NAMESPACE),
        ):
            files[f"{CLUSTERS_DIR}/{env}/{name}"] = template.format(**values)
    return files
