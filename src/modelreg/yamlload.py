"""YAML loading that keeps every node's position and refuses what other loaders hide.

PyYAML's ``safe_load`` silently keeps the last of two duplicate keys, forgets line numbers
and turns ``1.10`` into the float 1.1. This loader composes the node graph with the C parser
where present, then builds plain JSON-like values itself so that:

* every value (and every mapping key) keeps its 1-based line and column;
* a duplicate key is a finding (``MR002``), not a silent overwrite;
* unquoted timestamps stay text (JSON Schema checks ``format: date`` on strings), and every
  implicit coercion is recorded so the schema step can say "quote this value" (``MR003``)
  where the field expected another type;
* alias bombs, deep nesting and huge files stop with a finding instead of eating memory;
* a symlinked file (or one under a symlinked directory) is never read: it is an ``MR006``
  finding (:mod:`modelreg.treefs`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from modelreg.findings import Finding
from modelreg.rules import rule
from modelreg.treefs import Refused, Tree, open_nofollow, symlink_finding

JsonPath = tuple[str | int, ...]

#: Files larger than this are not metadata; refuse before parsing.
MAX_BYTES = 4 * 1024 * 1024
#: Nesting deeper than this is not metadata either (and would exhaust the stack).
MAX_DEPTH = 64
#: Values built from one document, aliases expanded: stops "billion laughs".
MAX_NODES = 200_000

_TAG = "tag:yaml.org,2002:"
_STR, _NULL, _BOOL, _INT, _FLOAT = (_TAG + t for t in ("str", "null", "bool", "int", "float"))
_TIMESTAMP, _MERGE = _TAG + "timestamp", _TAG + "merge"
_SEQ, _MAP = _TAG + "seq", _TAG + "map"

_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_-]*$")
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_constructor = yaml.constructor.SafeConstructor()


@dataclass(frozen=True)
class Coercion:
    """An unquoted scalar that YAML resolved to a non-string type."""

    kind: str  # "boolean", "integer", "number" or "date"
    text: str  # the characters as written
    value: Any  # what a YAML 1.1 loader makes of them


@dataclass
class Document:
    """A loaded YAML file: its data plus where every part of it came from."""

    path: str
    data: Any = None
    marks: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)
    coercions: dict[JsonPath, Coercion] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def loaded(self) -> bool:
        """True when the file parsed into one document (findings may still exist)."""
        return not any(f.rule in ("MR001", "MR004", "MR006") for f in self.findings)

    def position(self, path: JsonPath) -> tuple[int | None, int | None]:
        """Line and column of the value at ``path``, or of its nearest ancestor."""
        while True:
            if path in self.marks:
                return self.marks[path]
            if not path:
                return (None, None)
            path = path[:-1]

    def key_position(self, path: JsonPath) -> tuple[int | None, int | None]:
        """Line and column of the key that introduces ``path`` (falls back to the value)."""
        if path in self.key_marks:
            return self.key_marks[path]
        return self.position(path)


class _Stop(Exception):
    def __init__(self, rule_id: str, message: str, mark: yaml.Mark | None) -> None:
        super().__init__(message)
        self.rule_id = rule_id
        self.message = message
        self.mark = mark


def format_path(path: JsonPath) -> str:
    """``("onnx", "inputs", 0, "shape")`` as ``onnx.inputs[0].shape`` (``$`` for the root)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _IDENT.match(part):
            out += f'["{part}"]'
        else:
            out += f".{part}" if out else part
    return out or "$"


def load_file(
    path: Path, display: str, max_bytes: int = MAX_BYTES, *, tree: Tree | None = None
) -> Document:
    """Load ``path``; problems become findings on the returned document, never exceptions.

    With ``tree`` (the registry's), no component of ``path`` under its root may be a symlink;
    without it, the file itself may not be one. A symlink is an MR006 finding, never a read.
    """
    doc = Document(display)
    try:
        with tree.open_binary(path) if tree is not None else open_nofollow(path) as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > max_bytes:
                doc.findings.append(
                    rule("MR004").finding(
                        display, f"file is {size} bytes; metadata files are capped at {max_bytes}"
                    )
                )
                return doc
            raw = b""
            while len(raw) <= max_bytes and (chunk := fh.read(max_bytes + 1 - len(raw))):
                raw += chunk
    except Refused as exc:
        if exc.kind == "symlink":
            # Under a tree the link may be a directory above the file: name that one.
            doc.findings.append(symlink_finding(exc.rel if tree else display, exc.link))
        else:
            doc.findings.append(rule("MR004").finding(display, f"cannot read file: {exc}"))
        return doc
    except OSError as exc:
        doc.findings.append(rule("MR004").finding(display, f"cannot read file: {exc.strerror}"))
        return doc
    if len(raw) > max_bytes:  # grew while being read
        doc.findings.append(
            rule("MR004").finding(display, f"file is over the cap of {max_bytes} bytes")
        )
        return doc
    return load_bytes(raw, display, doc)


def load_bytes(raw: bytes, display: str, doc: Document | None = None) -> Document:
    """Load YAML from bytes (UTF-8, optional BOM)."""
    doc = doc or Document(display)
    line: int | None
    col: int | None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        doc.findings.append(
            rule("MR004").finding(
                display, f"not UTF-8: byte 0x{raw[exc.start]:02x} at offset {exc.start}", line
            )
        )
        return doc
    if not text.strip():
        doc.findings.append(rule("MR001").finding(display, "file is empty; expected a mapping"))
        return doc
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "invalid YAML"
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        if "maximum nesting depth" in problem:
            # PyYAML >= 6.0.4 stops deep nesting in the parser, before our own limit: one
            # finding, the same on every PyYAML version.
            nesting = f"nesting deeper than {MAX_DEPTH} levels"
            doc.findings.append(rule("MR004").finding(display, nesting, line, col))
            return doc
        if exc.context:
            problem = f"{problem} ({exc.context})"
        doc.findings.append(rule("MR001").finding(display, problem, line, col))
        return doc
    except (yaml.YAMLError, RecursionError, MemoryError) as exc:
        doc.findings.append(rule("MR001").finding(display, f"invalid YAML: {exc}"))
        return doc
    finally:
        loader.dispose()
    if node is None:
        doc.findings.append(rule("MR001").finding(display, "file is empty; expected a mapping"))
        return doc
    builder = _Builder(doc)
    try:
        doc.data = builder.build(node, (), 0)
    except _Stop as stop:
        line = stop.mark.line + 1 if stop.mark else None
        col = stop.mark.column + 1 if stop.mark else None
        doc.findings.append(rule(stop.rule_id).finding(display, stop.message, line, col))
        doc.data = None
    return doc


class _Builder:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.count = 0

    def build(self, node: yaml.Node, path: JsonPath, depth: int) -> Any:
        self.count += 1
        if depth > MAX_DEPTH:
            raise _Stop("MR004", f"nesting deeper than {MAX_DEPTH} levels", node.start_mark)
        if self.count > MAX_NODES:
            raise _Stop(
                "MR004",
                f"document expands to more than {MAX_NODES} values (YAML aliases?)",
                node.start_mark,
            )
        mark = node.start_mark
        self.doc.marks[path] = (mark.line + 1, mark.column + 1)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                raise _Stop("MR001", f"unsupported tag {node.tag}", mark)
            return [self.build(child, (*path, i), depth + 1) for i, child in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP:
                raise _Stop("MR001", f"unsupported tag {node.tag}", mark)
            return self._mapping(node, path, depth)
        raise _Stop("MR001", "unsupported YAML node", mark)  # pragma: no cover - no other kinds

    def _mapping(self, node: yaml.MappingNode, path: JsonPath, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        explicit: dict[str, yaml.Node] = {}
        merged: set[str] = set()
        for key_node, value_node, from_merge in self._pairs(node):
            if not isinstance(key_node, yaml.ScalarNode):
                raise _Stop("MR001", "mapping keys must be plain text", key_node.start_mark)
            key = str(key_node.value)
            if from_merge:
                if key in result:
                    continue  # the first merged mapping wins, as in YAML's merge spec
                merged.add(key)
            elif key in explicit:
                first = explicit[key].start_mark
                m = key_node.start_mark
                self.doc.findings.append(
                    rule("MR002").finding(
                        self.doc.path,
                        f"duplicate key `{key}` in {format_path(path)} "
                        f"(first at line {first.line + 1}); YAML keeps only one",
                        m.line + 1,
                        m.column + 1,
                    )
                )
                continue
            else:
                explicit[key] = key_node
                merged.discard(key)
            child = (*path, key)
            km = key_node.start_mark
            self.doc.key_marks[child] = (km.line + 1, km.column + 1)
            result[key] = self.build(value_node, child, depth + 1)
        return result

    def _pairs(self, node: yaml.MappingNode) -> Iterator[tuple[yaml.Node, yaml.Node, bool]]:
        merges: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                sources = (
                    value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                )
                for source in sources:
                    if not isinstance(source, yaml.MappingNode):
                        raise _Stop("MR001", "`<<` must merge a mapping", source.start_mark)
                    merges.extend(source.value)
            else:
                yield key_node, value_node, False
        for key_node, value_node in merges:
            yield key_node, value_node, True

    def _scalar(self, node: yaml.ScalarNode, path: JsonPath) -> Any:
        tag, text = node.tag, node.value
        if tag == _STR:
            return text
        if tag == _NULL:
            return None
        try:
            if tag == _BOOL:
                value: Any = _constructor.construct_yaml_bool(node)
                if text.lower() not in ("true", "false"):
                    self.doc.coercions[path] = Coercion("boolean", text, value)
                return value
            if tag == _INT:
                value = _constructor.construct_yaml_int(node)
                if str(value) != text:  # 010 is 8, 0x1f is 31, 1_000 is 1000
                    self.doc.coercions[path] = Coercion("integer", text, value)
                return value
            if tag == _FLOAT:
                value = _constructor.construct_yaml_float(node)
                if repr(value) != text:  # 1.10 is 1.1; only matters where text was meant
                    self.doc.coercions[path] = Coercion("number", text, value)
                return value
        except (ValueError, yaml.YAMLError) as exc:
            raise _Stop("MR001", f"bad scalar `{text}`: {exc}", node.start_mark) from None
        if tag == _TIMESTAMP:
            # Kept as written: JSON Schema's `format: date` validates the text.
            self.doc.coercions[path] = Coercion("date", text, text)
            return text
        raise _Stop("MR001", f"unsupported tag {tag} (only plain YAML is allowed)", node.start_mark)
