"""GitOps: Kustomize overlays per version, environment overlays, promotion and rollback.

Layout (relative to the registry root)::

    overlays/base/                     the serving workload (Triton), no model specifics
    overlays/<model>/v<version>/       one overlay per version (generated, frozen once tagged)
    overlays/<env>/kustomization.yaml  which versions run in ``<env>`` (staging, production)
    overlays/<env>/<model>.alias.yaml  the stable Service alias of ``<model>`` in ``<env>``
    clusters/<env>/                    Flux and Argo CD manifests pointing at overlays/<env>

Reading this layout (:mod:`modelreg.gitops.envs`) never starts a process, so it is safe on the
``validate --fast`` path; rendering (:mod:`modelreg.gitops.kustomize`) runs kustomize.
"""

from __future__ import annotations

OVERLAYS_DIR = "overlays"
BASE_DIR = "base"
CLUSTERS_DIR = "clusters"
#: Environments every registry has; any other directory under overlays/ with a
#: kustomization.yaml (not base, not a model) is an environment too.
DEFAULT_ENVIRONMENTS = ("staging", "production")
PRODUCTION = "production"
