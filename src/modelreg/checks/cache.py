"""A content-addressed cache of deep-check passes under ``.git/modelreg-cache/``.

A deep run (ONNX checker, onnxruntime session, golden vectors, metrics, latency) of a version
whose inputs have not changed proves nothing new, so the pre-commit hook should not pay for it
again. The key is a sha256 over everything those checks can read or depend on:

* every file of the version directory, by relative path and content (the artifact's sha256,
  metadata.yaml, golden vectors, external data; a symlink by its target text);
* the model's ``model.yaml`` and every file of its shared ``data/`` directory;
* every other file or directory the metadata names (``evaluation.data.path`` may point
  anywhere in the model directory, e.g. ``../1.0.0/eval.npz``; vector sets, external data and
  the artifact likewise), by normalised path and content, so an evaluation file changed
  outside the two trees above with the metadata unchanged is a different key;
* modelreg's version and a digest of its own source, so an edited check is a miss;
* the deep checks that ran, the ``--select``/``--ignore`` rules and the run's options;
* the machine and runtime (platform, Python, onnx and onnxruntime versions), because latency
  claims are judged against the machine they were measured on.

Only passes are stored: an entry means "these deep checks ran on exactly these bytes and
found nothing but notes". The notes (what could not be judged here, e.g. MR408: latency
measured on another machine) are stored with the pass and reported again on a hit, so a
cached run prints exactly what the uncached run printed, and a version whose latency was
measured elsewhere is still cached on this machine. A failure is never written, and a
changed byte anywhere above is a different key, so the cache can skip work but never turn a
failure into a pass. The key is computed before and after the checks run and the pass is
stored only when both agree (a file changed during the run is not cached). Set
``MODELREG_NO_CACHE=1`` (or ``validate --no-cache``) to disable it; delete the directory to
clear it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import platform
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from functools import cache as _memo
from pathlib import Path
from typing import Any

from modelreg import __version__, config, storage
from modelreg.config import Settings
from modelreg.findings import Finding, Severity
from modelreg.hashing import sha256_file
from modelreg.registry import MODEL_FILE, SHARED_DATA_DIR, ModelEntry, VersionEntry

CACHE_DIRNAME = "modelreg-cache"
#: Bumped when the key's recipe or the entry format changes (v2: entries carry notes).
FORMAT = "v2"
#: The variable that turns the cache off (read into :attr:`modelreg.config.Settings.no_cache`).
DISABLE_ENV = "MODELREG_NO_CACHE"


def git_dir(start: Path) -> Path | None:
    """The git directory of the repository holding ``start`` (worktrees included), asked of
    git by :func:`modelreg.storage.git_dir`; None outside a repository (no cache then)."""
    try:
        return storage.git_dir(start)
    except storage.StorageError:
        return None


def code_digest() -> str:
    """modelreg's version and a digest of its Python source (an edited check is a miss)."""
    digest = hashlib.sha256(__version__.encode())
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _dist_version(name: str) -> str:
    # Imported here: importlib.metadata costs ~17 ms, and only deep runs build a cache key.
    from importlib import metadata as importlib_metadata

    try:
        return importlib_metadata.version(name)
    except importlib_metadata.PackageNotFoundError:
        return "-"


@_memo
def _machine() -> str:
    parts = [
        platform.machine(),
        platform.system(),
        platform.python_implementation(),
        platform.python_version(),
        f"onnx {_dist_version('onnx')}",
        f"onnxruntime {_dist_version('onnxruntime')}",
        f"numpy {_dist_version('numpy')}",
        str(os.cpu_count()),
    ]
    return "|".join(parts)


def environment(settings: Settings | None = None) -> str:
    """Machine and runtime fingerprint (latency claims depend on it), and modelreg's settings.

    Limits such as ``MODELREG_MAX_FILE_MB`` change verdicts: a pass under one cap is no pass
    under a lower one, so every setting that can change one is part of the key
    (:meth:`modelreg.config.Settings.fingerprint`).
    """
    return "|".join([_machine(), *config.or_env(settings).fingerprint()])


def _tree(directory: Path) -> Iterator[tuple[str, str]]:
    """``(relative path, content tag)`` for every entry below ``directory``, sorted."""
    if not directory.is_dir():
        return
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory).as_posix()
        if path.is_symlink():
            yield rel, "symlink:" + str(path.readlink())
        elif path.is_file():
            yield rel, "sha256:" + sha256_file(path)[0]
        elif path.is_dir():
            yield rel, "dir"
        else:
            yield rel, "special"


def _file(path: Path) -> str:
    if path.is_symlink():
        return "symlink:" + str(path.readlink())
    if path.is_file():
        return "sha256:" + sha256_file(path)[0]
    return "absent"


def referenced_paths(meta: Mapping[str, Any]) -> list[str]:
    """Every path the metadata names for the deep checks to read (relative to the version)."""
    found: list[Any] = []
    artifact = meta.get("artifact")
    if isinstance(artifact, Mapping):
        found.append(artifact.get("path"))
        for item in artifact.get("external_data") or []:
            found.append(item.get("path") if isinstance(item, Mapping) else None)
    evaluation = meta.get("evaluation")
    if isinstance(evaluation, Mapping) and isinstance(evaluation.get("data"), Mapping):
        found.append(evaluation["data"].get("path"))
    for item in meta.get("test_vectors") or []:
        found.append(item.get("path") if isinstance(item, Mapping) else None)
    deployment = meta.get("deployment")
    if isinstance(deployment, Mapping):
        found.append(deployment.get("config"))
    return [p for p in found if isinstance(p, str) and p]


def _referenced(
    model: ModelEntry, version: VersionEntry, meta: Mapping[str, Any]
) -> Iterator[tuple[str, str]]:
    """``(path, content tag)`` of what the metadata names outside the trees already keyed."""
    keyed = (version.dir, model.dir / SHARED_DATA_DIR)
    for raw in sorted(set(referenced_paths(meta))):
        target = Path(os.path.normpath(version.dir / raw))
        if any(target == top or top in target.parents for top in keyed):
            continue  # its bytes are in the key already
        if not target.is_relative_to(model.dir):
            yield raw, "outside"  # refused by the checks, never read
        elif target.is_dir() and not target.is_symlink():
            yield raw, "dir"
            for rel, tag in _tree(target):
                yield f"{raw}/{rel}", tag
        else:
            yield raw, _file(target)


class DeepCache:
    """Pass records for deep checks, one small file per key."""

    def __init__(self, directory: Path, settings: Settings | None = None) -> None:
        self.directory = directory
        self.hits = 0
        #: The settings the run's checks judge under (part of every key).
        self.settings = config.or_env(settings)

    @classmethod
    def for_registry(cls, root: Path, settings: Settings | None = None) -> DeepCache | None:
        """The cache of the git repository holding ``root``; None outside git or disabled."""
        chosen = config.or_env(settings)
        if chosen.no_cache:
            return None
        found = git_dir(root)
        return cls(found / CACHE_DIRNAME / FORMAT, chosen) if found is not None else None

    def key(
        self,
        model: ModelEntry,
        version: VersionEntry,
        salt: str,
        meta: Mapping[str, Any] | None = None,
    ) -> str:
        """The content key of ``version``'s deep checks under ``salt`` (checks, rules, options);
        ``meta`` (the parsed metadata.yaml) names the files outside the version directory."""
        digest = hashlib.sha256()

        def feed(*items: str) -> None:
            for item in items:
                digest.update(item.encode("utf-8", "surrogateescape") + b"\0")

        feed(FORMAT, code_digest(), environment(self.settings), salt, model.name, version.name)
        feed("version-dir")
        for rel, tag in _tree(version.dir):
            feed(rel, tag)
        feed("model.yaml", _file(model.dir / MODEL_FILE))
        feed("shared-data")
        for rel, tag in _tree(model.dir / SHARED_DATA_DIR):
            feed(rel, tag)
        feed("referenced")
        for rel, tag in _referenced(model, version, meta or {}):
            feed(rel, tag)
        return digest.hexdigest()

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / key

    def lookup(self, key: str) -> list[Finding] | None:
        """The notes of the pass recorded for ``key``, or None when there is none (an entry
        that cannot be read as one is a miss: the checks run again)."""
        try:
            record = json.loads(self._path(key).read_text(encoding="utf-8"))
            notes = [_note(item) for item in record["notes"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        self.hits += 1
        return notes

    def store(self, key: str, what: str, notes: Iterable[Finding] = ()) -> None:
        """Record a pass for ``key`` with its notes; a cache that cannot be written is
        skipped with a note on stderr."""
        path = self._path(key)
        record = {
            "format": FORMAT,
            "what": what,
            "modelreg": __version__,
            "notes": [dataclasses.asdict(f) | {"severity": f.severity.value} for f in notes],
        }
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".entry.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(record, fh)
                Path(tmp).replace(path)
            except BaseException:
                with contextlib.suppress(OSError):
                    Path(tmp).unlink()
                raise
        except OSError as exc:
            # A read-only .git (CI caches, containers) must not fail a run that passed.
            sys.stderr.write(f"modelreg: note: cache not written ({exc.strerror})\n")
            return


def salt(
    check_names: Iterable[str], select: Iterable[str], ignore: Iterable[str], options: object
) -> str:
    """The part of a key that depends on the run, not on the files.

    ``options`` is the run's :class:`~modelreg.checks.Options` (a dataclass); its ``today``
    is left out: deep checks judge bytes, not dates, and a key that changed daily would
    re-run every version each morning; so is its ``scope`` (which versions this run checks
    says nothing about one version's result), and its ``settings`` (in :func:`environment`).
    """
    fields: dict[str, object] = {}
    if dataclasses.is_dataclass(options) and not isinstance(options, type):
        skip = ("today", "scope", "settings")  # settings: keyed by environment()
        fields = {k: v for k, v in dataclasses.asdict(options).items() if k not in skip}
    return json.dumps(
        {
            "checks": sorted(check_names),
            "select": sorted(select),
            "ignore": sorted(ignore),
            "options": {k: repr(v) for k, v in sorted(fields.items())},
        },
        sort_keys=True,
    )


def _note(item: Mapping[str, Any]) -> Finding:
    """A stored note back as a finding; anything but a well-formed note raises ValueError."""
    fields = {
        "path": item["path"],
        "line": item["line"],
        "column": item["column"],
        "rule": item["rule"],
        "message": item["message"],
    }
    if Severity(item["severity"]) is not Severity.NOTE:
        raise ValueError("only notes are stored with a pass")
    if not all(isinstance(fields[k], str) for k in ("path", "rule", "message")) or not all(
        v is None or (isinstance(v, int) and not isinstance(v, bool))
        for v in (fields["line"], fields["column"])
    ):
        raise ValueError("malformed note")
    return Finding(severity=Severity.NOTE, **fields)
