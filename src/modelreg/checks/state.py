"""Lock and journal files in the work tree: ignored, and reported (MR005).

modelreg keeps its write journal and locks in the git directory (:mod:`modelreg.storage`).
Files with the names older versions used in the work tree are never read, opened or replayed;
this check only looks at whether such a name exists (a symlink or a FIFO counts too), so a
pull request that plants one fails review instead of steering a writer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from modelreg.checks import RegistryContext, check
from modelreg.findings import Finding
from modelreg.rules import rule
from modelreg.storage import LEGACY_STATE_FILES

#: The per-model lock ``modelreg add`` kept in ``models/<model>/`` before.
LEGACY_ADD_LOCK = ".add.lock"


@check("registry", rules=("MR005",), needs_valid=False)
def state_files_in_tree(ctx: RegistryContext) -> Iterator[Finding]:
    """No modelreg lock or journal in the work tree (they live in the git directory)."""
    registry = ctx.registry
    found = [registry.root / name for name in LEGACY_STATE_FILES]
    if registry.models_dir.is_dir() and not registry.models_dir.is_symlink():
        found += [
            entry / LEGACY_ADD_LOCK
            for entry in registry.models_dir.iterdir()
            if entry.is_dir() and not entry.is_symlink()
        ]
    for path in sorted(found):
        if not os.path.lexists(path):
            continue
        what = "write journal" if ".journal" in path.name else "lock file"
        yield rule("MR005").finding(
            registry.rel(path),
            f"a modelreg {what} in the work tree: modelreg keeps its journal and locks in the "
            "git directory and ignores this file (never reads or replays it); delete it from "
            "the pull request",
        )
