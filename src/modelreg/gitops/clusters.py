"""``clusters/``: Flux and Argo CD syncing ``overlays/<env>`` from main.

One generator for this repository's ``clusters/`` and for every registry ``modelreg init``
writes (a test keeps this repository's files equal to what it generates). The layout keeps
out of ``flux bootstrap``'s way::

    clusters/<env>/namespace.yaml   the environment's Namespace (never pruned by Flux)
    clusters/<env>/flux.yaml        GitRepository + Kustomization (namespace flux-system)
    clusters/argocd/<env>.yaml      the Argo CD Application

``flux bootstrap ... --path=clusters/<env>`` writes ``clusters/<env>/flux-system/`` and
reconciles the whole directory; with no ``kustomization.yaml`` there, Flux generates one over
every manifest of the tree, so bootstrap picks up modelreg's two files beside its own. (A
``kustomization.yaml`` listing only modelreg's files would have hidden ``flux-system/`` from
bootstrap's own Kustomization, which prunes: Flux would have deleted itself.) The Argo CD
Applications live outside every ``clusters/<env>/``, so a Flux cluster never applies a kind
it does not have.

The repository URL is the one parameter; without one, :data:`PLACEHOLDER_URL` (a reserved
example domain) is written, and ``modelreg validate`` reports it (MR619) until someone writes
the real URL. Flux accepts ``http(s)://`` and ``ssh://`` URLs only (its CRD's pattern):
git's scp-like ``git@host:path`` is written as ``ssh://git@host/path``, and a URL of another
scheme is refused. With ``secret_ref`` the GitRepository names the Secret holding the
credentials of a private repository, and the Application says where Argo CD's go.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from modelreg.errors import UsageError
from modelreg.gitops import CLUSTERS_DIR, DEFAULT_ENVIRONMENTS, OVERLAYS_DIR
from modelreg.gitops.overlays import NAMESPACE_PREFIX

#: Written where the registry's clone URL belongs until someone knows it (RFC 2606 domain).
PLACEHOLDER_URL = "https://git.example.com/ml/model-registry.git"
#: The directory of the Argo CD Applications (outside every environment's Flux path).
ARGOCD_DIR = "argocd"
#: The Secret name ``modelreg init --private`` writes.
DEFAULT_SECRET = "model-registry-auth"
#: A clone URL Flux accepts (source-controller's CRD: ``^(http|https|ssh)://.*$``) or git's
#: scp-like ``user@host:path`` (written as ssh://), as a plain YAML scalar: no whitespace,
#: quotes or backslashes.
_URL_RE = re.compile(r"^(?:(?:https?|ssh)://|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!//))[^\s\"'\\`#]+$")
_SCP_RE = re.compile(r"^(?P<user>[A-Za-z0-9._-]+)@(?P<host>[A-Za-z0-9.-]+):(?P<path>.+)$")
#: A Secret name: a DNS-1123 subdomain.
_SECRET_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

_FLUX = """\
# Flux: sync overlays/{env} from the registry's main branch. Apply once per cluster,
#   kubectl apply -f clusters/{env}/
# or bootstrap Flux there (it adds flux-system/ beside this file and applies both):
#   flux bootstrap ... --path=clusters/{env}
# From then on a merge to main is the deploy and a revert on main is the rollback.
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
{secret}  # Only the manifests: the source artifact stays small (the pod fetches model files).
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

_FLUX_SECRET = """\
  # A private repository: the Secret {name} in flux-system holds the credentials
  # (username and password, or bearerToken, for https://; identity and known_hosts for ssh://):
  #   flux create secret git {name} --url={url} ...
  secretRef:
    name: {name}
"""

_ARGOCD = """\
# Argo CD: the same overlays/{env}, synced automatically; pruning and self-heal make the
# cluster follow main, so a revert on main is the rollback.
#   kubectl apply -n argocd -f clusters/{argocd}/{env}.yaml
{secret}apiVersion: argoproj.io/v1alpha1
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

_ARGOCD_SECRET = """\
# A private repository: an Application names no credentials; Argo CD finds them by URL in a
# Secret of its namespace labelled argocd.argoproj.io/secret-type: repository (url, and
# username and password or sshPrivateKey), which this command writes:
#   argocd repo add {url} ...
# (Flux reads the Secret {name} instead: clusters/<env>/flux.yaml.)
"""

_NAMESPACE = """\
# The namespace overlays/{env} deploys into (Argo CD creates it itself: CreateNamespace=true).
# Never pruned by Flux: removing this file must not delete every model and Secret in it.
apiVersion: v1
kind: Namespace
metadata:
  name: {namespace}
  annotations:
    kustomize.toolkit.fluxcd.io/prune: disabled
"""


def check_url(url: str) -> str:
    """``url`` if Flux and modelreg can use it as the clone URL, else a :class:`UsageError`."""
    if not _URL_RE.match(url):
        raise UsageError(
            f"--repo-url {url!r} is not a clone URL Flux accepts: use https://host/org/repo.git "
            "or ssh://git@host/org/repo.git (git@host:org/repo.git is written as ssh://), "
            "without spaces or quotes; a cluster cannot clone a file:// path"
        )
    return url


def flux_url(url: str) -> str:
    """``url`` as Flux reads it: git's scp-like ``git@host:path`` → ``ssh://git@host/path``."""
    scp = _SCP_RE.match(url)
    if scp and "://" not in url:
        return f"ssh://{scp['user']}@{scp['host']}/{scp['path'].lstrip('/')}"
    return url


def check_secret(name: str) -> str:
    """``name`` if it is a Secret name (DNS-1123 subdomain), else a :class:`UsageError`."""
    if len(name) > 253 or not _SECRET_RE.match(name):
        raise UsageError(
            f"--secret-ref {name!r} is not a Secret name: lower-case letters, digits, `-` and "
            "`.`, starting and ending with a letter or digit"
        )
    return name


def cluster_files(
    repo_url: str = PLACEHOLDER_URL,
    envs: Iterable[str] = DEFAULT_ENVIRONMENTS,
    secret_ref: str | None = None,
) -> dict[str, str]:
    """``clusters/`` (repository-relative path → text) for each environment."""
    url = flux_url(check_url(repo_url))
    secret = check_secret(secret_ref) if secret_ref is not None else None
    files: dict[str, str] = {}
    for env in envs:
        if env == ARGOCD_DIR:
            raise UsageError(f"an environment may not be named {ARGOCD_DIR!r} (clusters/{env}/)")
        values = {
            "env": env,
            "url": url,
            "overlays": OVERLAYS_DIR,
            "argocd": ARGOCD_DIR,
            "namespace": f"{NAMESPACE_PREFIX}{env}",
        }
        flux_secret = _FLUX_SECRET.format(name=secret, url=url) if secret else ""
        argo_secret = _ARGOCD_SECRET.format(name=secret, url=url) if secret else ""
        files[f"{CLUSTERS_DIR}/{env}/flux.yaml"] = _FLUX.format(**values, secret=flux_secret)
        files[f"{CLUSTERS_DIR}/{env}/namespace.yaml"] = _NAMESPACE.format(**values)
        files[f"{CLUSTERS_DIR}/{ARGOCD_DIR}/{env}.yaml"] = _ARGOCD.format(
            **values, secret=argo_secret
        )
    return files
