"""The fence around kustomize: what a build may read, proven before kustomize is started.

kustomize follows symlinks, fetches remote bases (``https://...``, ``github.com/org/repo``,
``git::...?ref=``), reads absolute paths, runs Helm and exec/container functions when asked,
and accepts three file names for a kustomization (``kustomization.yaml``,
``kustomization.yml``, ``Kustomization``). A pull request chooses every one of those, so
before any build modelreg reads, without following a symlink, every kustomization the build
will reach (resources, components, bases, patches, generator files, replacements, openapi,
crds, configurations, plugin configs) and refuses:

* a remote entry, an absolute path, a path that leaves the repository or the area the build
  may read (``overlays/`` for overlays, ``clusters/`` for the cluster manifests), a ``..``
  after a directory name (kustomize resolves it lexically, the file system would not);
* a symlink, a missing entry (kustomize would try it as a remote), anything but a regular
  file or directory;
* two kustomization files in one directory, a kustomization YAML that cannot be read with
  modelreg's bounded loader (alias bombs, duplicate keys, deep nesting);
* ``helmCharts``/``helmGlobals`` and plugin entries that are not plain local files of
  builtin kinds, and any ``config.kubernetes.io/function`` annotation (exec and container
  functions).

A directory with any problem in its closure is not built. Problems are MR623 (input) and MR627
(plugins, Helm, functions); they name the file, the field and the value.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modelreg.errors import ModelregError
from modelreg.gitops import CLUSTERS_DIR, OVERLAYS_DIR
from modelreg.yamlload import load_bytes

#: Every file name kustomize accepts as a kustomization, in the order kustomize tries them.
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
#: The one name modelreg writes and reads.
CANONICAL = KUSTOMIZATION_NAMES[0]
#: A kustomization or plugin config larger than this is not one (the loader's own cap).
MAX_BYTES = 1024 * 1024
INPUT_RULE = "MR623"
PLUGIN_RULE = "MR627"
#: Annotations that make kustomize run a program (exec) or a container (KRM functions).
FUNCTION_ANNOTATIONS = ("config.kubernetes.io/function", "config.k8s.io/function")
#: Builtin plugin kinds a `transformers`/`generators`/`validators` file may configure (they
#: run inside kustomize; Helm is refused separately).
BUILTIN_KINDS = frozenset(
    {
        "AnnotationsTransformer",
        "ConfigMapGenerator",
        "HashTransformer",
        "ImageTagTransformer",
        "LabelTransformer",
        "NamespaceTransformer",
        "PatchJson6902Transformer",
        "PatchStrategicMergeTransformer",
        "PatchTransformer",
        "PrefixSuffixTransformer",
        "PrefixTransformer",
        "ReplacementTransformer",
        "ReplicaCountTransformer",
        "SecretGenerator",
        "SortOrderTransformer",
        "SuffixTransformer",
        "ValueAddTransformer",
    }
)
HELM_FIELDS = ("helmCharts", "helmGlobals", "helmChartInflationGenerator")
PLUGIN_FIELDS = ("transformers", "generators", "validators")
#: Fields whose entries are kustomization directories or manifest files.
DIRECTORY_FIELDS = ("resources", "components", "bases")
#: Forms kustomize reads as remote: a scheme, scp-like ``user@host:``, go-getter ``git::``,
#: a query (``?ref=``), or a host name as the first path segment (``github.com/org/repo``).
_REMOTE_RE = re.compile(
    r"://|@|\?|^git::|^[a-z][a-z0-9+.-]*::|^(?:ssh|https?|file|git|s3|gcs):|"
    r"^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?::\d+)?/",
    re.IGNORECASE,
)
_INLINE_START = re.compile(r"^\s*(?:apiVersion|kind|\{|\[|-\s)", re.MULTILINE)


@dataclass(frozen=True)
class Problem:
    """One refused input: where it is written and why."""

    rule: str
    path: str  # repository-relative file (or directory)
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.rule} {self.message}"


class FenceError(ModelregError):
    """kustomize was not started: its input is refused (the message lists every problem)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = [str(p) for p in problems]
        super().__init__(
            "kustomize was not started; its input is refused:\n  " + "\n  ".join(lines)
        )


def shown(value: object, limit: int = 120) -> str:
    """``value`` for a message: quoted, control characters escaped, cut at ``limit``."""
    text = repr(str(value))
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def lstat_chain(root: Path, rel: str) -> tuple[str, str] | None:
    """Why ``root/rel`` cannot be read without following a symlink (None: it can).

    Every component from ``root`` down is ``lstat``-ed: a symlink anywhere on the way, a
    missing component or a special file is a reason (``(what, component)``).
    """
    if rel in ("", "."):
        return None
    here = root
    done: list[str] = []
    for part in rel.split("/"):
        here = here / part
        done.append(part)
        try:
            info = os.lstat(here)
        except FileNotFoundError:
            return "missing", "/".join(done)
        except (OSError, ValueError) as exc:  # NUL byte, name too long, permissions
            return f"unreadable ({exc})", "/".join(done)
        if stat.S_ISLNK(info.st_mode):
            return "symlink", "/".join(done)
        if not (stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode)):
            return "special", "/".join(done)
    return None


def read_no_follow(root: Path, rel: str, max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes of ``root/rel`` read without following a symlink on the way; ModelregError
    (with the reason) when that is not possible or the file is larger than ``max_bytes``."""
    why = lstat_chain(root, rel)
    if why is not None:
        raise ModelregError(f"{rel}: {_reason(*why)}")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(root / rel, flags)
    except OSError as exc:
        raise ModelregError(f"{rel}: cannot read: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise ModelregError(f"{rel}: not a regular file")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ModelregError(f"{rel}: larger than {max_bytes} bytes")
    return data


def _reason(what: str, component: str) -> str:
    if what == "symlink":
        return f"{component} is a symlink; modelreg and kustomize must not follow it"
    if what == "missing":
        return f"{component} does not exist"
    if what == "special":
        return f"{component} is not a regular file or directory"
    return f"{component} is {what}"


def load_yaml(data: bytes, display: str) -> tuple[Any, list[Problem]]:
    """One YAML document through modelreg's bounded loader (aliases, depth, duplicates)."""
    doc = load_bytes(data, display)
    problems = [
        Problem(INPUT_RULE, display, f"cannot be read safely: {f.message}", f.line)
        for f in doc.findings
        if f.rule in ("MR001", "MR002", "MR004")
    ]
    return (None if problems else doc.data), problems


#: A manifest a build reads (resources, patches, CRDs) larger than this is refused.
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
_Composer: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def alias_problem(data: bytes) -> str | None:
    """Why ``data`` may not reach kustomize as YAML: it uses an alias (kustomize and Go's
    YAML libraries expand aliases without a bound: 300 bytes become 1 GiB), or it is not
    YAML at all (None: neither). Composing keeps aliases as shared nodes, so this is linear
    in the file's size."""
    try:
        nodes = list(yaml.compose_all(data, Loader=_Composer))
    except yaml.YAMLError as exc:
        return f"is not valid YAML: {str(exc).splitlines()[0]}"
    except RecursionError:
        return "nests too deeply"
    seen: set[int] = set()
    stack: list[Any] = [n for n in nodes if n is not None]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            return (
                "uses a YAML alias (`*name`); kustomize expands aliases without a bound "
                "(an alias bomb): write the values out"
            )
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.extend((key, value))
    return None


_DOC_SPLIT = re.compile(rb"^---[ \t]*(?:#[^\n]*)?$|^\.\.\.[ \t]*$", re.MULTILINE)


def load_yaml_stream(data: bytes, display: str) -> tuple[list[Any], list[Problem]]:
    """Every document of a YAML stream, each through the bounded loader."""
    docs: list[Any] = []
    problems: list[Problem] = []
    for chunk in _DOC_SPLIT.split(data):
        if not chunk.strip() or all(
            not line.strip() or line.lstrip().startswith(b"#") for line in chunk.splitlines()
        ):
            continue
        value, found = load_yaml(chunk, display)
        problems += found
        if value is not None:
            docs.append(value)
    return docs, problems


def kustomization_files(root: Path, rel_dir: str) -> list[str]:
    """The kustomization file names present in ``root/rel_dir`` (lstat, no follow)."""
    present = []
    for name in KUSTOMIZATION_NAMES:
        try:
            os.lstat(root / rel_dir / name)
        except OSError:
            continue
        present.append(name)
    return present


def _area(rel: str) -> str:
    """The area a build starting at ``rel`` may read: overlays/ or clusters/."""
    top = rel.split("/", 1)[0]
    return top if top in (OVERLAYS_DIR, CLUSTERS_DIR) else OVERLAYS_DIR


def _within(rel: str, area: str) -> bool:
    return rel == area or rel.startswith(area + "/")


@dataclass(frozen=True)
class _File:
    """The kustomization being read: its directory, file, area and lines (for line numbers)."""

    rel_dir: str
    file_rel: str
    area: str
    lines: list[str]


#: Reports one entry's problem: (rule id, field, value, why).
_Report = Callable[[str, str, object, str], None]


class Fence:
    """Checks build directories of one registry root; each closure is walked once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._closures: dict[str, list[Problem]] = {}
        self._manifests: dict[str, str | None] = {}

    # -- public ---------------------------------------------------------------------------

    def check(self, rel_dir: str) -> list[Problem]:
        """Every problem in the closure of the build of ``rel_dir`` (root-relative)."""
        rel_dir = posixpath.normpath(rel_dir)
        if rel_dir not in self._closures:
            self._visit(rel_dir, _area(rel_dir), set(), [])
        return self._closures[rel_dir]

    def require(self, rel_dir: str) -> None:
        """Raise :class:`FenceError` when ``rel_dir`` may not be built."""
        problems = self.check(rel_dir)
        if problems:
            raise FenceError(problems)

    # -- the walk -------------------------------------------------------------------------

    def _visit(self, rel_dir: str, area: str, stack: set[str], out: list[Problem]) -> None:
        if rel_dir in stack:
            out.append(Problem(INPUT_RULE, rel_dir, "is reached from itself (a cycle)"))
            return
        if rel_dir in self._closures:
            out += self._closures[rel_dir]
            return
        mine: list[Problem] = []
        self._visit_once(rel_dir, area, stack, mine)
        # Each directory's closure is walked once per fence (the base is reached from
        # every version overlay, every version from its environments).
        self._closures[rel_dir] = list(dict.fromkeys(mine))
        out += mine

    def _visit_once(self, rel_dir: str, area: str, stack: set[str], out: list[Problem]) -> None:
        why = lstat_chain(self.root, rel_dir)
        if why is not None:
            out.append(Problem(INPUT_RULE, rel_dir, _reason(*why)))
            return
        names = kustomization_files(self.root, rel_dir)
        if not names:
            out.append(Problem(INPUT_RULE, rel_dir, "has no kustomization.yaml"))
            return
        if len(names) > 1:
            out.append(
                Problem(
                    INPUT_RULE,
                    rel_dir,
                    f"holds {' and '.join(names)}: kustomize refuses more than one "
                    f"kustomization file; keep only {CANONICAL}",
                )
            )
            return
        file_rel = f"{rel_dir}/{names[0]}"
        if names[0] != CANONICAL:
            out.append(
                Problem(
                    INPUT_RULE,
                    file_rel,
                    f"kustomize reads {names[0]}, but modelreg's rules read only {CANONICAL}: "
                    f"rename it to {CANONICAL}",
                )
            )
            return
        try:
            raw = read_no_follow(self.root, file_rel)
        except ModelregError as exc:
            out.append(Problem(INPUT_RULE, file_rel, str(exc).split(": ", 1)[-1]))
            return
        refused = alias_problem(raw)
        if refused is not None:
            out.append(Problem(INPUT_RULE, file_rel, refused))
            return
        data, found = load_yaml(raw, file_rel)
        if found:
            out += found
            return
        if not isinstance(data, dict):
            out.append(Problem(INPUT_RULE, file_rel, "is not a kustomization (a YAML mapping)"))
            return
        lines = raw.decode("utf-8", "replace").splitlines()
        stack = stack | {rel_dir}
        self._fields(data, _File(rel_dir, file_rel, area, lines), stack, out)

    def _fields(
        self, data: dict[str, Any], where: _File, stack: set[str], out: list[Problem]
    ) -> None:
        file_rel, lines = where.file_rel, where.lines

        def problem(rule_id: str, field: str, value: object, why: str) -> None:
            line = _line_of(lines, str(value)) if isinstance(value, str) else None
            line = line or _line_of(lines, field + ":")
            out.append(Problem(rule_id, file_rel, f"`{field}` entry {shown(value)}: {why}", line))

        out += _program_problems(data, file_rel, lines)
        for field, value, kind in _entries(data):
            if isinstance(value, str):
                self._entry(field, value, kind, where=where, stack=stack, out=out, problem=problem)

    def _entry(
        self,
        field: str,
        value: str,
        kind: str,
        *,
        where: _File,
        stack: set[str],
        out: list[Problem],
        problem: _Report,
    ) -> None:
        """Fence one entry of ``field``: resolve it, then visit, read or refuse what it names."""
        if kind == "plugin" and "\n" in value:
            self._plugin_docs(value.encode(), where.file_rel, field, out, problem)
            return
        target, why = self._resolve(where.rel_dir, value, where.area)
        if why is not None:
            problem(INPUT_RULE, field, value, why)
            return
        assert target is not None
        is_dir = (self.root / target).is_dir()  # lstat_chain proved: no symlink on the way
        if kind == "plugin":
            if is_dir:
                problem(
                    PLUGIN_RULE, field, value, "is a directory; plugin configs must be plain "
                    "local files of builtin kinds",
                )  # fmt: skip
                return
            try:
                raw = read_no_follow(self.root, target)
            except ModelregError as exc:
                problem(INPUT_RULE, field, value, str(exc).split(": ", 1)[-1])
                return
            self._plugin_docs(raw, target, field, out, problem)
        elif is_dir:
            if kind == "file":
                problem(INPUT_RULE, field, value, "is a directory, not a file")
            else:
                self._visit(target, where.area, stack, out)
        elif field not in ("configMapGenerator", "secretGenerator"):  # those are data
            why_not = self._manifest(target)
            if why_not is not None:
                problem(INPUT_RULE, field, value, why_not)

    def _manifest(self, target: str) -> str | None:
        """Why the manifest file ``target`` may not reach kustomize (None: it may)."""
        if target not in self._manifests:
            try:
                raw = read_no_follow(self.root, target, MAX_MANIFEST_BYTES)
            except ModelregError as exc:
                self._manifests[target] = str(exc).split(": ", 1)[-1]
            else:
                self._manifests[target] = alias_problem(raw)
        return self._manifests[target]

    def _plugin_docs(
        self,
        raw: bytes,
        display: str,
        field: str,
        out: list[Problem],
        problem: Any,
    ) -> None:
        refused = alias_problem(raw)
        if refused is not None:
            problem(INPUT_RULE, field, display, refused)
            return
        docs, found = load_yaml_stream(raw, display)
        out += found
        for doc in docs:
            if not isinstance(doc, dict):
                problem(PLUGIN_RULE, field, display, "is not a plugin configuration")
                continue
            api, kind = str(doc.get("apiVersion", "")), str(doc.get("kind", ""))
            if _has_function_annotation(doc):
                problem(
                    PLUGIN_RULE, field, f"{display} ({kind})", "carries a "
                    "`config.kubernetes.io/function` annotation: kustomize would run a "
                    "program or a container",
                )  # fmt: skip
            elif api != "builtin" or kind not in BUILTIN_KINDS:
                problem(
                    PLUGIN_RULE, field, f"{display} ({api} {kind})", "is not a builtin "
                    "plugin; plain kustomize builds (Flux, Argo CD) do not load plugins",
                )  # fmt: skip

    def _resolve(self, rel_dir: str, value: str, area: str) -> tuple[str | None, str | None]:
        """(root-relative target, None) or (None, why the entry is refused)."""
        entry = value.strip()
        if not entry:
            return None, "is empty"
        if _REMOTE_RE.search(entry):
            return None, (
                "is remote (or looks remote to kustomize); a build must not reach the network: "
                "vendor the manifests into the repository"
            )
        if entry.startswith(("/", "~")) or re.match(r"^[A-Za-z]:[\\/]", entry):
            return None, "is an absolute path; use a path relative to the kustomization"
        if "\\" in entry or "\0" in entry or any(ord(c) < 32 for c in entry):
            return None, "contains a backslash or a control character"
        parts = [p for p in entry.split("/") if p not in ("", ".")]
        seen_name = False
        for part in parts:
            if part == "..":
                if seen_name:
                    return None, (
                        "has `..` after a directory name; kustomize resolves it without "
                        "looking at the files (write the direct path)"
                    )
            else:
                seen_name = True
        target = posixpath.normpath(posixpath.join(rel_dir, entry))
        if target == ".." or target.startswith("../"):
            return None, "leaves the repository"
        if not _within(target, area):
            return None, f"is outside {area}/ ({target}); builds read only {area}/"
        why = lstat_chain(self.root, target)
        if why is not None:
            what, component = why
            if what == "missing":
                return None, (
                    f"{component} does not exist (kustomize would try the entry as a remote)"
                )
            return None, _reason(what, component)
        return target, None

    # -- the whole tree -------------------------------------------------------------------

    def tree_problems(self, area: str = OVERLAYS_DIR) -> Iterator[Problem]:
        """Symlinks, special files and stray kustomization names anywhere under ``area``."""
        top = self.root / area
        why = lstat_chain(self.root, area)
        if why is not None:
            if why[0] != "missing":
                yield Problem(INPUT_RULE, area, _reason(*why))
            return
        for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
            here = Path(dirpath)
            rel_here = here.relative_to(self.root).as_posix()
            for name in sorted([*dirnames, *filenames]):
                rel = f"{rel_here}/{name}"
                try:
                    mode = os.lstat(here / name).st_mode
                except OSError:
                    continue
                if stat.S_ISLNK(mode):
                    yield Problem(
                        INPUT_RULE, rel, "is a symlink; modelreg and kustomize must not follow "
                        "it: commit the file or directory itself",
                    )  # fmt: skip
                elif not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                    yield Problem(INPUT_RULE, rel, "is not a regular file or directory")
            dirnames[:] = sorted(
                d for d in dirnames if not stat.S_ISLNK(os.lstat(here / d).st_mode)
            )
            names = [n for n in KUSTOMIZATION_NAMES if n in filenames]
            if len(names) > 1:
                yield Problem(
                    INPUT_RULE,
                    rel_here,
                    f"holds {' and '.join(names)}: kustomize refuses more than one "
                    f"kustomization file; keep only {CANONICAL}",
                )
            elif names and names[0] != CANONICAL:
                yield Problem(
                    INPUT_RULE,
                    f"{rel_here}/{names[0]}",
                    f"kustomize reads {names[0]}, but modelreg's rules read only {CANONICAL}: "
                    f"rename it to {CANONICAL}",
                )


def kustomization_dirs(root: Path, area: str = OVERLAYS_DIR) -> list[str]:
    """Root-relative directories under ``area`` holding a ``kustomization.yaml`` (no symlink
    followed; a symlinked one is a problem of :meth:`Fence.tree_problems`, not a build)."""
    top = root / area
    if lstat_chain(root, area) is not None:
        return []
    found = []
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not (here / d).is_symlink())
        if CANONICAL in filenames and stat.S_ISREG(os.lstat(here / CANONICAL).st_mode):
            found.append(here.relative_to(root).as_posix())
    return sorted(found)


def _entries(data: dict[str, Any]) -> Iterator[tuple[str, object, str]]:
    """(field, value, kind) of every entry that names something to load; kind is ``dir``
    (a directory or a manifest file), ``file`` (a file only) or ``plugin``."""
    for field in DIRECTORY_FIELDS:
        for item in _list(data.get(field)):
            yield field, item, "dir"
    for field in ("crds", "configurations"):
        for item in _list(data.get(field)):
            yield field, item, "file"
    yield from _generator_entries(data)
    for field in ("patches", "patchesJson6902", "replacements"):
        for item in _list(data.get(field)):
            if isinstance(item, dict) and item.get("path") is not None:
                yield field, item.get("path"), "file"
    for item in _list(data.get("patchesStrategicMerge")):
        if isinstance(item, str) and not ("\n" in item or _INLINE_START.match(item)):
            yield "patchesStrategicMerge", item, "file"
    openapi = data.get("openapi")
    if isinstance(openapi, dict) and openapi.get("path") is not None:
        yield "openapi", openapi.get("path"), "file"
    for field in PLUGIN_FIELDS:
        for item in _list(data.get(field)):
            yield field, item, "plugin"


def _generator_entries(data: dict[str, Any]) -> Iterator[tuple[str, object, str]]:
    """The files (``files``, ``envs``, ``env``) of ConfigMap and Secret generators."""
    for field in ("configMapGenerator", "secretGenerator"):
        for gen in _list(data.get(field)):
            if not isinstance(gen, dict):
                continue
            for item in [*_list(gen.get("files")), *_list(gen.get("envs"))]:
                # `key=path` names the key; the file is after the `=`.
                yield field, item.split("=", 1)[-1] if isinstance(item, str) else item, "file"
            if gen.get("env") is not None:
                yield field, gen.get("env"), "file"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _program_problems(data: dict[str, Any], file_rel: str, lines: list[str]) -> list[Problem]:
    """MR627 for Helm fields and a function annotation on the kustomization itself."""
    problems = [
        Problem(
            PLUGIN_RULE,
            file_rel,
            f"`{field}` makes kustomize run Helm (and fetch charts); commit the "
            "rendered manifests instead",
            _line_of(lines, field + ":"),
        )
        for field in HELM_FIELDS
        if data.get(field)
    ]
    if _has_function_annotation(data):
        problems.append(
            Problem(
                PLUGIN_RULE,
                file_rel,
                "carries a `config.kubernetes.io/function` annotation: kustomize would "
                "run a program or a container",
            )
        )
    return problems


def _has_function_annotation(data: dict[str, Any]) -> bool:
    metadata = data.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    return isinstance(annotations, dict) and any(a in annotations for a in FUNCTION_ANNOTATIONS)


def _line_of(lines: list[str], needle: str) -> int | None:
    for number, text in enumerate(lines, 1):
        if needle in text and not text.lstrip().startswith("#"):
            return number
    return None
