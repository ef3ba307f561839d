"""Every setting modelreg reads from the environment, read in one place into :class:`Settings`.

This module is the one list of the variables modelreg honours (no other module reads one;
``tests/test_config.py`` enforces that). ``modelreg``'s entry point reads them once
(:meth:`Settings.from_env`) and hands the object down: to the command, the worker pool, the
deep-check cache, kustomize and the storage lock. Library functions that tests call directly
take ``settings: Settings | None = None``; None reads the process environment
(:func:`or_env`), which is what the command line would have read.

A bad value is refused with a message naming the variable, *when the setting is used*, as
before this module existed: ``modelreg list`` never fails on a bad ``MODELREG_WORKER_TASKS``,
``validate --fast`` never on a bad ``MODELREG_CHILD_TIMEOUT``. So :meth:`Settings.from_env`
validates every variable and keeps each refusal in :attr:`Settings.problems`; the user of a
setting calls :meth:`Settings.valid` with its field name first, which raises that refusal.

=================================  =========================  ============================
Variable                           Field                      Default
=================================  =========================  ============================
``MODELREG_CHILD_TIMEOUT``         ``child_timeout_s``        300 (seconds, up to a week)
``MODELREG_CHILD_MEMORY_MB``       ``child_memory_mb``        None (scaled with the model)
``MODELREG_WORKER_TASKS``          ``worker_tasks``           200
``MODELREG_MAX_EVAL_MB``           ``max_eval_mb``            4096
``MODELREG_MAX_EXTERNAL_TENSORS``  ``max_external_tensors``   1,000,000
``MODELREG_MAX_FILE_MB``           ``max_file_mb``            65,536
``MODELREG_KUSTOMIZE``             ``kustomize``              "" (the bundled kubectl, PATH)
``MODELREG_KUSTOMIZE_TIMEOUT``     ``kustomize_timeout_s``    120
``MODELREG_KUSTOMIZE_MEMORY_MB``   ``kustomize_memory_mb``    768
``MODELREG_KUBERNETES_VERSION``    ``kubernetes_version``     "" (k8sschema's pinned one)
``MODELREG_LOCK_WAIT``             ``lock_wait_s``            30
``MODELREG_NO_CACHE``              ``no_cache``               off ("" and "0" are off)
``MODELREG_DEBUG``                 ``debug``                  off (any non-empty value: on)
``NO_PROGRESS``, ``CI``            ``progress``               on (either set: off)
``FORCE_COLOR``, ``NO_COLOR``      ``force_color``,           off, off
                                   ``no_color``
``SOURCE_DATE_EPOCH``              ``source_date_epoch``      None (the last commit's date)
=================================  =========================  ============================

Not settings of modelreg, and so not here: the environment copied into the processes it
starts (git, kustomize, the ONNX workers), and onnxruntime's thread variables that
:mod:`modelreg.onnx.session` sets for itself.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from modelreg.errors import ModelregError, UsageError

#: The largest child timeout accepted (a week): a wait beyond what ``select`` takes (about
#: 24 days on Linux) would raise inside the pool instead of timing anything.
MAX_TIMEOUT_S = 7 * 24 * 3600.0
#: The largest child memory limit accepted, in MB (a petabyte): ``RLIMIT_AS`` is 64-bit.
MAX_MEMORY_MB = 2**30


@dataclass(frozen=True)
class Settings:
    """modelreg's settings (see the module docstring for the variable of each field)."""

    #: Wall-clock limit of one isolated ONNX task, in seconds.
    child_timeout_s: float = 300.0
    #: Address-space limit of one ONNX task in MB; None: scaled with the model
    #: (:func:`modelreg.onnx.isolate.memory_limit_mb`).
    child_memory_mb: int | None = None
    #: Tasks a worker runs before it is replaced (1: a fresh process per task).
    worker_tasks: int = 200
    #: Cap on the decompressed size of an evaluation file, in MiB.
    max_eval_mb: int = 4096
    #: Cap on the number of external tensors a model may reference.
    max_external_tensors: int = 1_000_000
    #: Cap on the size of one external data file, in MiB.
    max_file_mb: int = 65536
    #: The kustomize or kubectl binary to build overlays with ("": the bundled kubectl, PATH).
    kustomize: str = ""
    #: Wall-clock limit of one kustomize build, in seconds.
    kustomize_timeout_s: float = 120.0
    #: Memory limit (RLIMIT_DATA) of one kustomize build, in MiB.
    kustomize_memory_mb: int = 768
    #: The Kubernetes version manifests are validated against ("": the pinned default).
    kubernetes_version: str = ""
    #: How long a writer waits for the registry lock, in seconds.
    lock_wait_s: float = 30.0
    #: The deep-check cache is off.
    no_cache: bool = False
    #: An unexpected error prints its traceback.
    debug: bool = False
    #: Progress bars may be drawn (on a terminal); off under ``NO_PROGRESS`` or ``CI``.
    progress: bool = True
    #: Colour even when the output is no terminal (wins over ``no_color``).
    force_color: bool = False
    #: No colour even on a terminal.
    no_color: bool = False
    #: The "as of" date of generated documents, in seconds since 1970 (None: not set).
    source_date_epoch: int | None = None
    #: Field name → the error a bad value raises when that setting is used (:meth:`valid`).
    problems: Mapping[str, ModelregError] = field(default_factory=dict, compare=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """The settings ``environ`` gives; a bad value is kept in :attr:`problems`."""
        values: dict[str, Any] = {}
        problems: dict[str, ModelregError] = {}
        for name, (variable, parse) in _PARSERS.items():
            raw = environ.get(variable, "")
            try:
                parsed = parse(raw)
            except ModelregError as exc:
                problems[name] = exc
                continue
            if parsed is not None:
                values[name] = parsed
        values["debug"] = bool(environ.get("MODELREG_DEBUG"))
        values["progress"] = not (environ.get("NO_PROGRESS") or environ.get("CI"))
        values["force_color"] = bool(environ.get("FORCE_COLOR"))
        values["no_color"] = bool(environ.get("NO_COLOR"))
        values["no_cache"] = environ.get("MODELREG_NO_CACHE", "").strip() not in ("", "0")
        return cls(**values, problems=problems)

    def valid(self, *names: str) -> Settings:
        """Raise the error of the first bad setting among ``names`` (field names); else self."""
        for name in names:
            if name in self.problems:
                raise self.problems[name]
        return self

    def fingerprint(self) -> list[str]:
        """``field=value`` of every setting that can change a check's verdict (the caps, the
        limits, the tools), for the deep-check cache key; a bad value keys as its error."""
        quiet = {"debug", "progress", "force_color", "no_color", "no_cache", "problems"}
        quiet |= {"lock_wait_s", "source_date_epoch"}  # writers and documents, not checks
        return [
            f"{f.name}={self.problems.get(f.name) or getattr(self, f.name)!s}"
            for f in fields(self)
            if f.name not in quiet
        ]


def or_env(settings: Settings | None) -> Settings:
    """``settings``, or the process environment's when None (library callers, tests)."""
    return settings if settings is not None else Settings.from_env(os.environ)


# -- parsing, one function per kind of value (None: unset, the field's default) --------------


def _seconds(name: str, maximum: float | None = None) -> Callable[[str], float | None]:
    """A parser of ``name``'s positive number of seconds, at most ``maximum`` (empty: the
    default)."""
    bound = "" if maximum is None else f" up to {maximum:g}"

    def parse(raw: str) -> float | None:
        raw = raw.strip()
        if not raw:
            return None
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and 0 < value <= (maximum or math.inf)):
            raise UsageError(f"{name}={raw!r}: give a positive number of seconds{bound}")
        return value

    return parse


def _whole(raw: str) -> int | None:
    """A whole number in ASCII digits (``str.isdigit`` accepts "²", which ``int`` refuses;
    ``int`` refuses more than 4,300 digits too)."""
    if not (raw.isascii() and raw.isdigit()):
        return None
    try:
        return int(raw)
    except ValueError:
        return None


def _child_memory(raw: str) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    value = _whole(raw)
    if value is None or not 1 <= value <= MAX_MEMORY_MB:
        raise UsageError(
            f"MODELREG_CHILD_MEMORY_MB={raw!r}: give a whole number of megabytes from 1 to "
            f"{MAX_MEMORY_MB}"
        )
    return value


def _at_least_one(name: str, unit: str) -> Callable[[str], int | None]:
    """A parser of ``name``'s whole number of ``unit`` >= 1 (empty: the default)."""

    def parse(raw: str) -> int | None:
        raw = raw.strip()
        if not raw:
            return None
        value = _whole(raw)
        if value is None or value < 1:
            raise UsageError(f"{name}={raw!r}: give a whole number of {unit} >= 1")
        return value

    return parse


def _integer(name: str) -> Callable[[str], int | None]:
    """A parser of ``name``'s whole number (empty: the default)."""

    def parse(raw: str) -> int | None:
        if not raw:
            return None
        try:
            return int(raw)
        except ValueError as exc:
            raise ModelregError(f"{name} is not an integer: {exc}") from None

    return parse


def _lock_wait(raw: str) -> float | None:
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ModelregError("MODELREG_LOCK_WAIT is not a number of seconds") from None
    return max(0.0, value)


def _source_date_epoch(raw: str) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    value = _whole(raw)
    if value is None:
        raise UsageError(f"SOURCE_DATE_EPOCH={raw!r}: expected seconds since 1970")
    return value


def _stripped(raw: str) -> str | None:
    return raw.strip() or None


def _kubernetes(raw: str) -> str | None:
    return raw.strip().removeprefix("v") or None


#: Field → (variable, parser) for every setting whose value can be refused.
_PARSERS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "child_timeout_s": (
        "MODELREG_CHILD_TIMEOUT",
        _seconds("MODELREG_CHILD_TIMEOUT", MAX_TIMEOUT_S),
    ),
    "child_memory_mb": ("MODELREG_CHILD_MEMORY_MB", _child_memory),
    "worker_tasks": ("MODELREG_WORKER_TASKS", _at_least_one("MODELREG_WORKER_TASKS", "tasks")),
    "max_eval_mb": ("MODELREG_MAX_EVAL_MB", _integer("MODELREG_MAX_EVAL_MB")),
    "max_external_tensors": (
        "MODELREG_MAX_EXTERNAL_TENSORS",
        _integer("MODELREG_MAX_EXTERNAL_TENSORS"),
    ),
    "max_file_mb": ("MODELREG_MAX_FILE_MB", _integer("MODELREG_MAX_FILE_MB")),
    "kustomize": ("MODELREG_KUSTOMIZE", _stripped),
    "kustomize_timeout_s": ("MODELREG_KUSTOMIZE_TIMEOUT", _seconds("MODELREG_KUSTOMIZE_TIMEOUT")),
    "kustomize_memory_mb": (
        "MODELREG_KUSTOMIZE_MEMORY_MB",
        _at_least_one("MODELREG_KUSTOMIZE_MEMORY_MB", "megabytes"),
    ),
    "kubernetes_version": ("MODELREG_KUBERNETES_VERSION", _kubernetes),
    "lock_wait_s": ("MODELREG_LOCK_WAIT", _lock_wait),
    "source_date_epoch": ("SOURCE_DATE_EPOCH", _source_date_epoch),
}
