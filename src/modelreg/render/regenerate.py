"""Regenerate what a change made stale: version overlays and the pages, in one locked write.

``add``, ``promote`` and ``rollback`` change models/ or overlays/ and then call
:func:`regenerate`, so the commit they make passes ``render --check`` and ``overlays
--check`` (and the hooks). It sits above :mod:`modelreg.gitops` because it writes both what
gitops generates (overlays) and what render generates (pages).
"""

from __future__ import annotations

import re
from pathlib import Path

from modelreg import render as generated
from modelreg.errors import ModelregError
from modelreg.git.releases import released_versions
from modelreg.gitops import BASE_DIR, OVERLAYS_DIR
from modelreg.gitops.overlays import (
    stale_version_overlays,
    version_overlay_dir,
    version_overlay_files,
)
from modelreg.registry import discover
from modelreg.storage import registry_lock, write_all, write_tree


def regenerate(root: Path) -> list[Path]:
    """Rewrite every generated file that is stale; the paths written or removed.

    What ``modelreg overlays`` (version overlays, in a registry with ``overlays/base``) and
    ``modelreg render`` (pages and cards) would write, under the registry lock, so a command
    that changed models/ or overlays/ leaves a registry whose ``render --check`` and
    ``overlays --check`` pass. Released versions keep their overlays (MR701); an overlay that
    cannot be generated, or has no version, is left for ``validate`` to report.
    """
    changed: list[Path] = []
    with registry_lock(root, "modelreg render"):
        if (root / OVERLAYS_DIR / BASE_DIR).is_dir():
            registry = discover(root)
            frozen = released_versions(registry)
            stale = {(s.model, s.version) for s in stale_version_overlays(registry, frozen)}
            for model, version in sorted(stale):
                if version not in registry.models[model].versions:
                    continue
                try:
                    files = version_overlay_files(registry, model, version)
                except ModelregError:
                    continue
                directory = version_overlay_dir(root, model, version)
                write_tree(root, directory, files)
                changed.append(directory)
        states = [s for s in generated.states(root, generated.render(root)) if not s.current]
        if states:
            write_all(
                root,
                {root / s.rel: s.new for s in states if s.new is not None},
                [root / s.rel for s in states if s.new is None],
            )
            changed += [root / s.rel for s in states]
    return changed


_VERSION_OVERLAY_RE = re.compile(rf"^{OVERLAYS_DIR}/[^/]+/v[^/]+/[^/]+$")


def is_generated(rel: str) -> bool:
    """Whether ``rel`` (relative to the registry root) is a file :func:`regenerate` writes."""
    if rel in (generated.PAGE, generated.DEVELOPMENT):
        return True
    if rel.startswith(generated.CARDS_DIR + "/") and rel.endswith(".md"):
        return True
    return bool(_VERSION_OVERLAY_RE.match(rel))
