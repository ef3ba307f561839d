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


def command_names() -> list[str]:
    """The module name of every command (``ci_matrix`` for ``modelreg ci-matrix``)."""
    return sorted(
        info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_")
    )


def command_modules(only: str | None = None) -> list[ModuleType]:
    """Every command module, in ``--help`` order (``ORDER``, then name).

    ``only`` (a command as typed, e.g. ``ci-matrix``) imports just that command's module when
    it is one: ``modelreg validate`` then pays for one module's imports, not for every verb's.
    """
    names = command_names()
    if only is not None and only.replace("-", "_") in names:
        names = [only.replace("-", "_")]
    modules = [importlib.import_module(f"{__name__}.{name}") for name in names]
    return sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.__name__))
