"""One module per CLI verb: each has ``add_parser(subparsers)`` and ``run(args) -> int``.

A module here is a command: the CLI finds it by listing this package, so adding a verb
touches no shared list. ``ORDER`` (default 100) places it in ``--help``; modules whose name
starts with ``_`` are helpers, not commands. Command modules keep heavy imports (onnx,
onnxruntime) inside functions so ``modelreg --help`` and the fast hooks start quickly.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def command_modules() -> list[ModuleType]:
    """Every command module, in ``--help`` order (``ORDER``, then name)."""
    modules = [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in pkgutil.iter_modules(__path__)
        if not info.name.startswith("_")
    ]
    return sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.__name__))
