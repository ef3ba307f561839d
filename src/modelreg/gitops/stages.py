"""Which GTO stage each environment is: ``overlays/gto.yaml``, or the defaults without it.

GTO (:mod:`modelreg.git.gto`) names stages; modelreg's environments are overlay directories.
The mapping is GitOps configuration, read from the tree like every overlay file (no symlink
followed, no YAML aliases), so it lives here and :mod:`modelreg.git` stays below GitOps.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelreg.errors import ModelregError
from modelreg.git.gto import STAGE_RE
from modelreg.gitops.fence import load_yaml, read_no_follow

#: Where a registry maps its environments to GTO stages (beside ``overlays/policy.yaml``).
CONFIG_FILE = "gto.yaml"
DEFAULT_STAGES: Mapping[str, str] = {"production": "prod", "staging": "staging"}


def stage_map(overlays_dir: Path) -> tuple[dict[str, str], str]:
    """Environment → GTO stage from ``overlays/gto.yaml`` (defaults without the file), and
    why the file is unusable ('' when it is fine)."""
    if not os.path.lexists(overlays_dir / CONFIG_FILE):
        return dict(DEFAULT_STAGES), ""
    try:
        raw = read_no_follow(overlays_dir, CONFIG_FILE)
    except ModelregError as exc:
        return {}, f"cannot be read: {str(exc).split(': ', 1)[-1]}"
    data, refused = load_yaml(raw, CONFIG_FILE)
    if refused:
        return {}, f"cannot be read: {refused[0].message}"
    stages: Any = data.get("stages") if isinstance(data, dict) else None
    if not isinstance(data, dict) or set(data) != {"stages"} or not isinstance(stages, dict):
        return {}, (
            "needs exactly one key, `stages:`, mapping each environment to its GTO stage "
            "(e.g. `production: prod`)"
        )
    for env, stage in stages.items():
        if not isinstance(env, str) or not isinstance(stage, str) or not STAGE_RE.fullmatch(stage):
            return {}, (
                f"`stages: {{{env}: {stage}}}` is not an environment name mapped to a GTO stage "
                "name (letters, digits, `-`, `_`, `/`; starting and ending with a letter or digit)"
            )
    if len(set(stages.values())) != len(stages):
        return {}, "maps two environments to the same GTO stage; give each its own"
    return dict(stages), ""
