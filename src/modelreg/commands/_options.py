"""The options several commands share, each defined once: ``--root``, ``--output``, ``--dry-run``.

Every command adds them through these functions (``tests/test_cli_options.py`` fails on a
command that defines one itself), so the flag, its type and its wording are the same
everywhere; what differs per command (the output formats, what a dry run prints) is a
parameter.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

#: The help of ``--root`` in every command.
ROOT_HELP = "registry root (default: found from the current directory)"


def add_root(parser: argparse.ArgumentParser) -> None:
    """``--root ROOT``: the registry root (``args.root``, None: found from the cwd)."""
    parser.add_argument("--root", type=Path, help=ROOT_HELP)


def add_output(
    parser: argparse.ArgumentParser,
    choices: Sequence[str] = ("text", "json"),
    *,
    default: str | None = None,
    help: str | None = None,
) -> None:
    """``--output FORMAT`` among ``choices`` (``args.output``; default: the first choice).

    ``help`` says what each format is where the command has more to say than the names.
    """
    chosen = choices[0] if default is None else default
    parser.add_argument(
        "--output",
        choices=tuple(choices),
        default=chosen,
        help=help or f"format of what goes to stdout (default: {chosen})",
    )


def add_dry_run(parser: argparse.ArgumentParser, help: str) -> None:
    """``-n/--dry-run`` (``args.dry_run``); ``help`` says what this command prints instead."""
    parser.add_argument("-n", "--dry-run", action="store_true", help=help)
