"""Developer tasks: ``nox --list`` shows them; ``nox -s NAME -- ARGS`` forwards ARGS."""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["lint", "typecheck", "tests", "validate", "docs"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (pytest); extra arguments go to pytest."""
    session.install("-e", ".[dev]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff lint and format check."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over src, tests, scripts and this file."""
    session.install("-e", ".[dev]")
    session.run("mypy", *session.posargs)


@nox.session
def validate(session: nox.Session) -> None:
    """Validate this repository's registry (deep); pass --fast to skip artifact bytes."""
    session.install("-e", ".[onnx]")
    session.run("modelreg", "validate", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Check that generated docs, hook files and workflows are current."""
    session.install("-e", ".")
    session.run("python", "scripts/gen_docs.py", "--check", *session.posargs)
    session.run("python", "scripts/gen_hooks.py", "--check")


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Run the benchmarks: docs/benchmarks.md, or with --quick docs/benchmarks-quick.md."""
    session.install("-e", ".[dev]", "check-jsonschema", "pre-commit")
    args: list[str] = []
    if "--quick" not in session.posargs:
        # GTO (the baseline of `list`/`show`) pins its own dependencies: a venv of its own.
        gto_venv = Path(session.create_tmp()).resolve() / "gto-venv"
        session.run("python", "-m", "venv", str(gto_venv))
        session.run(str(gto_venv / "bin" / "pip"), "install", "-q", "gto", external=True)
        args = ["--gto", str(gto_venv / "bin" / "gto")]
    session.run("python", "benchmarks/run.py", *args, *session.posargs)
