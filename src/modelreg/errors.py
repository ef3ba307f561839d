"""The one exception root of modelreg, caught only at the top of the CLI."""

from __future__ import annotations


class ModelregError(Exception):
    """A known failure: its message says what went wrong and how to fix it (exit 1)."""

    exit_code = 1


class UsageError(ModelregError):
    """The command line itself is wrong (exit 2)."""

    exit_code = 2
