"""Flux and Argo CD objects judged as the API server judges them, against the controllers' CRDs.

The schemas are the ``openAPIV3Schema`` of each served version, vendored verbatim from the
controllers' released CRD manifests (``crds/``, provenance in its README, refreshed by
``scripts/refresh_crds.py``). The API server validates a custom resource against its
*structural* schema, and so does :func:`problems`, with no network and no cluster:

* the apiVersion must be a served version of the CRD (``source.toolkit.fluxcd.io/v1beta2``
  is no longer served by source-controller 1.9);
* ``metadata.name`` is required and a DNS-1123 subdomain, ``metadata.namespace`` a DNS label;
* a null where the schema does not say ``nullable`` is dropped before validation (the API
  server prunes it), so ``secretRef:`` with no value is as if absent;
* ``type`` (with ``x-kubernetes-int-or-string``), ``required``, ``enum``, ``pattern`` (an
  unanchored search, as Go's ``regexp.MatchString``), ``maxLength``/``minLength`` (in
  characters), ``minimum``/``maximum``, ``maxItems``/``minItems``, ``x-kubernetes-list-type``
  uniqueness, ``format`` where the API server checks it (``date-time``, ``int32``/``int64``
  ranges; the other formats the vendored schemas use on spec fields: none);
* unknown fields: the server prunes them, and ``kubectl apply`` (strict field validation by
  default since Kubernetes 1.27) rejects them, so each is an error; ``additionalProperties``
  and ``x-kubernetes-preserve-unknown-fields`` open an object as in the server;
* ``status`` is not checked when the CRD has a status subresource (the server ignores it on
  create and update);
* ``x-kubernetes-validations``: the CEL rules of the vendored CRDs are all in a small subset
  (``has(self.f)``, field selection, string literals, ``==``/``!=``, ``!``, ``&&``, ``||``,
  parentheses) that :class:`_Cel` evaluates; ``tests/test_crds.py`` fails when a refresh brings
  a rule outside it, so no rule is silently skipped.

Every problem carries the field's path and, where one is known, the fix (``git@host:path`` →
``ssh://git@host/path``, ``1minute`` → ``1m``, a respelt field).
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from modelreg.gitops.fence import _DOC_SPLIT, shown
from modelreg.schemas import json_type
from modelreg.yamlload import Document, JsonPath, format_path, load_bytes

RULE = "MR628"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
#: RFC 3339 as Go's time.RFC3339 parses it (the API server's ``date-time`` format).
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
#: scp-like ``user@host:path`` (git's short SSH form, which Flux does not accept).
_SCP = re.compile(r"^(?P<user>[^@/:\s]+)@(?P<host>[^/:\s]+):(?P<path>(?!//)\S+)$")
_DURATION_UNITS = {
    "ms": "ms", "msec": "ms", "msecs": "ms", "millisecond": "ms", "milliseconds": "ms",
    "s": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s",
    "m": "m", "min": "m", "mins": "m", "minute": "m", "minutes": "m",
    "h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
}  # fmt: skip


@dataclass(frozen=True)
class CrdSchema:
    """One served version of a vendored CRD."""

    group: str
    version: str
    kind: str
    status_subresource: bool
    schema: dict[str, Any]
    source: dict[str, str]

    @property
    def origin(self) -> str:
        """``fluxcd/source-controller v1.9.1 CRD``: where the schema comes from, for messages."""
        return f"{self.source['repository']} {self.source['ref']} CRD"


@dataclass(frozen=True)
class Violation:
    """One reason the API server would reject an object."""

    path: JsonPath
    message: str
    key: bool = False  # point at the key (an unknown field), not at its value


@functools.cache
def schemas() -> dict[tuple[str, str], dict[str, CrdSchema]]:
    """``(group, kind) → {version: schema}`` of every vendored CRD."""
    found: dict[tuple[str, str], dict[str, CrdSchema]] = {}
    for item in sorted(resources.files(__package__).joinpath("crds").iterdir(), key=str):
        if not item.name.endswith(".json"):
            continue
        entry = json.loads(item.read_text(encoding="utf-8"))
        crd = CrdSchema(
            entry["group"], entry["version"], entry["kind"], bool(entry["statusSubresource"]),
            entry["openAPIV3Schema"], entry["source"],
        )  # fmt: skip
        found.setdefault((crd.group, crd.kind), {})[crd.version] = crd
    return found


def known(data: Mapping[str, Any]) -> bool:
    """Whether ``data``'s group is one of a vendored CRD (so :func:`problems` judges it)."""
    group = str(data.get("apiVersion", "")).rpartition("/")[0]
    return any(g == group for g, _k in schemas())


def problems(data: Mapping[str, Any]) -> list[Violation]:
    """Why the API server would reject ``data`` (empty: it would accept it, or it is not an
    object of a vendored CRD's group)."""
    api, kind = data.get("apiVersion"), data.get("kind")
    if not isinstance(api, str) or not isinstance(kind, str):
        return []
    group, _, version = api.rpartition("/")
    kinds = {k: v for (g, k), v in schemas().items() if g == group}
    if not kinds:
        return []
    if kind not in kinds:
        near = [k for k in kinds if k.lower() == kind.lower()]
        if near:  # the group also serves kinds modelreg does not vendor: only a clear typo
            return [Violation(("kind",), f"kind {shown(kind)} is not served by {api}: write "
                              f"`kind: {near[0]}` (kinds are case-sensitive)")]  # fmt: skip
        return []
    versions = kinds[kind]
    if version not in versions:
        crd = next(iter(versions.values()))
        served = ", ".join(f"{group}/{v}" for v in sorted(versions))
        return [Violation(("apiVersion",), f"{shown(api)} is not served ({crd.origin} serves "
                          f"{kind} as {served} only): write `apiVersion: {served.split(', ')[0]}`"
                          )]  # fmt: skip
    crd = versions[version]
    out = list(_metadata(data.get("metadata")))
    body = {k: v for k, v in data.items() if not (k == "status" and crd.status_subresource)}
    body.pop("metadata", None)
    schema = {**crd.schema, "properties": {
        k: v for k, v in crd.schema.get("properties", {}).items() if k != "metadata"
    }}  # fmt: skip
    schema["required"] = [r for r in crd.schema.get("required", []) if r != "metadata"]
    if crd.status_subresource:
        schema["properties"].pop("status", None)
    _Walk(out).node(body, schema, ())
    return [Violation(v.path, f"{v.message} ({crd.origin}, {api})", v.key) for v in out]


def _metadata(metadata: Any) -> Iterator[Violation]:
    """ObjectMeta as the API server validates a custom resource's."""
    if not isinstance(metadata, dict):
        yield Violation(("metadata",), "is required (a mapping with `name`): add it")
        return
    name = metadata.get("name")
    if name is None or name == "":
        yield Violation(("metadata",), "`metadata.name` is required: add it")
    elif not isinstance(name, str) or len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        yield Violation(
            ("metadata", "name"),
            f"{shown(name)} is not a DNS-1123 subdomain "
            "(lower-case letters, digits, `-` and `.`, at most 253): rename it",
        )
    namespace = metadata.get("namespace")
    if namespace is not None and (
        not isinstance(namespace, str) or len(namespace) > 63 or not _DNS_LABEL.match(namespace)
    ):
        yield Violation(("metadata", "namespace"), f"{shown(namespace)} is not a DNS-1123 label "
                        "(lower-case letters, digits and `-`, at most 63)")  # fmt: skip
    for field in ("labels", "annotations"):
        value = metadata.get(field)
        if value is None:
            continue
        if not isinstance(value, dict):
            yield Violation(("metadata", field), "must be a mapping of strings")
            continue
        for key, item in value.items():
            if not isinstance(item, str):
                yield Violation(("metadata", field, key), f"{shown(item)} is not a string: "
                                "quote the value")  # fmt: skip


def _type_ok(value: Any, schema: Mapping[str, Any]) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
    want = schema.get("type")
    have = json_type(value)
    if want is None:
        return True
    if want == "number":
        return have in ("integer", "number")
    return bool(want == have)


class _Walk:
    """The structural validation of one object, collecting every violation."""

    def __init__(self, out: list[Violation]) -> None:
        self.out = out

    def add(self, path: JsonPath, message: str, *, key: bool = False) -> None:
        self.out.append(Violation(path, message, key))

    def node(self, value: Any, schema: Mapping[str, Any], path: JsonPath) -> None:
        if not _type_ok(value, schema):
            self.add(path, _type_message(value, schema))
            return
        if "enum" in schema and value not in schema["enum"]:
            self.add(path, _enum_message(value, schema["enum"]))
        if isinstance(value, dict):
            self.mapping(value, schema, path)
        elif isinstance(value, list):
            self.sequence(value, schema, path)
        elif isinstance(value, str):
            self.string(value, schema, path)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            self.number(value, schema, path)
        for rule in schema.get("x-kubernetes-validations") or []:
            self.cel(value, rule, path)

    def mapping(self, value: dict[str, Any], schema: Mapping[str, Any], path: JsonPath) -> None:
        props: dict[str, Any] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        open_ = schema.get("x-kubernetes-preserve-unknown-fields") is True or extra is True
        present = set()
        for key, item in value.items():
            sub = props.get(key)
            if sub is None and isinstance(extra, dict):
                sub = extra
            if sub is None:
                if not open_:
                    self.add((*path, key), _unknown_message(key, props), key=True)
                continue
            if item is None and not sub.get("nullable"):
                continue  # pruned by the server before validation
            present.add(key)
            self.node(item, sub, (*path, key))
        for key in schema.get("required") or []:
            if key not in present:
                where = format_path((*path, key))
                self.add(path, f"`{where}` is required: add it", key=True)
        for bound, cmp, words in (("maxProperties", int.__gt__, "at most"),
                                  ("minProperties", int.__lt__, "at least")):  # fmt: skip
            if bound in schema and cmp(len(value), schema[bound]):
                self.add(path, f"has {len(value)} fields; {words} {schema[bound]} allowed")

    def sequence(self, value: list[Any], schema: Mapping[str, Any], path: JsonPath) -> None:
        for bound, cmp, words in (("maxItems", int.__gt__, "at most"),
                                  ("minItems", int.__lt__, "at least")):  # fmt: skip
            if bound in schema and cmp(len(value), schema[bound]):
                self.add(path, f"has {len(value)} items; {words} {schema[bound]} allowed")
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                self.node(item, items, (*path, i))
        list_type = schema.get("x-kubernetes-list-type")
        keys = schema.get("x-kubernetes-list-map-keys") or []
        seen: dict[str, int] = {}
        for i, item in enumerate(value):
            if list_type == "set":
                ident = json.dumps(item, sort_keys=True)
            elif list_type == "map" and isinstance(item, dict):
                ident = json.dumps([item.get(k) for k in keys])
            else:
                continue
            if ident in seen:
                self.add(
                    (*path, i),
                    f"duplicates item {seen[ident]} (a list of unique "
                    f"{'values' if list_type == 'set' else 'keys ' + ', '.join(keys)})",
                )
            seen.setdefault(ident, i)

    def string(self, value: str, schema: Mapping[str, Any], path: JsonPath) -> None:
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            self.add(path, f"is {len(value)} characters long; at most {schema['maxLength']}")
        if "minLength" in schema and len(value) < schema["minLength"]:
            self.add(path, f"is {len(value)} characters long; at least {schema['minLength']}")
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and not _regex(pattern).search(value):
            self.add(path, _pattern_message(value, pattern, path))
        if schema.get("format") == "date-time" and not _DATE_TIME.match(value):
            self.add(path, f"{shown(value)} is not an RFC 3339 date-time")

    def number(self, value: float, schema: Mapping[str, Any], path: JsonPath) -> None:
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and (value < low or (value == low and schema.get("exclusiveMinimum"))):
            self.add(path, f"{value} is below the minimum {low}")
        if high is not None and (
            value > high or (value == high and schema.get("exclusiveMaximum"))
        ):
            self.add(path, f"{value} is above the maximum {high}")
        bounds = _INT_RANGES.get(str(schema.get("format")))
        if bounds and isinstance(value, int) and not bounds[0] <= value <= bounds[1]:
            self.add(path, f"{value} does not fit in {schema['format']}")

    def cel(self, value: Any, rule: Mapping[str, Any], path: JsonPath) -> None:
        try:
            program = _Cel.parse(str(rule.get("rule", "")))
        except ValueError:
            return  # outside the subset: tests/test_crds.py keeps the vendored rules inside it
        try:
            ok = program.evaluate(value)
        except _NoSuchKey as exc:
            self.add(path, f"rule {shown(rule.get('rule'))} cannot be evaluated: no field {exc}")
            return
        if not ok:
            message = rule.get("message") or f"failed rule: {rule.get('rule')}"
            self.add(path, f"{message} (CEL rule `{rule.get('rule')}`)", key=True)


@functools.cache
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


# -- messages and fixes ---------------------------------------------------------------------


def _type_message(value: Any, schema: Mapping[str, Any]) -> str:
    want = "integer or string" if schema.get("x-kubernetes-int-or-string") else schema["type"]
    have = json_type(value)
    text = f"is {'a' if have[0] not in 'aeiou' else 'an'} {have} ({shown(value)}), not {want}"
    if want == "string" and have in ("boolean", "integer", "number"):
        return f"{text}: quote the value (YAML made {shown(value)} a {have})"
    if want == "object" and have != "object":
        return f"{text}: write a mapping"
    if want == "array":
        return f"{text}: write a list"
    if want == "boolean":
        return f"{text}: write true or false, unquoted"
    return f"{text}: write a {want}"


def _enum_message(value: Any, allowed: list[Any]) -> str:
    options = ", ".join(str(a) for a in allowed)
    near = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1)
    hint = f": write {near[0]}" if near else ""
    return f"{shown(value)} is not one of {options}{hint}"


def _unknown_message(key: str, props: Mapping[str, Any]) -> str:
    near = difflib.get_close_matches(key, list(props), n=1, cutoff=0.6)
    hint = f"did you mean `{near[0]}`? " if near else ""
    return (
        f"unknown field {shown(key)} (the API server drops it, `kubectl apply` rejects it): "
        f"{hint}remove or respell it"
    )


def _pattern_message(value: str, pattern: str, path: JsonPath) -> str:
    text = f"{shown(value)} does not match {pattern}"
    if path and path[-1] in ("url", "repoURL"):
        return f"{text}: {url_fix(value)}"
    if "(ms|s|m" in pattern:
        fixed = duration_fix(value)
        if fixed is not None and _regex(pattern).search(fixed):
            return f"{text}: write {fixed} (a Go duration)"
        found = re.search(r"\(((?:ms|s|m|h)(?:\|(?:ms|s|m|h))*)\)", pattern)
        units = found[1].split("|") if found else []
        example = "30s, 5m or 1h30m" if "h" in units else "30s, 5m or 90m"
        return f"{text}: write a Go duration such as {example} (units {', '.join(units)})"
    return text


def url_fix(url: str) -> str:
    """How to write ``url`` as a URL Flux clones (``http(s)://`` or ``ssh://``)."""
    scp = _SCP.match(url)
    if scp:
        return (
            f"Flux does not read git's scp-like form: write "
            f"ssh://{scp['user']}@{scp['host']}/{scp['path'].lstrip('/')}"
        )
    if url.startswith("file:"):
        return (
            "Flux clones over https:// or ssh:// only (a file:// path is not on the cluster): "
            "write the URL the registry is served at"
        )
    return "write an https:// or ssh:// URL"


def duration_fix(text: str) -> str | None:
    """``1minute`` → ``1m``, ``1 hour 30 min`` → ``1h30m``, ``1d`` → ``24h`` (None: unknown)."""
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([A-Za-z]+)", text)
    rest = re.sub(r"(\d+(?:\.\d+)?)\s*([A-Za-z]+)", "", text).strip(" ,")
    if not parts or rest:
        return None
    out = ""
    for number, written in parts:
        unit = written.lower()
        if unit in ("d", "day", "days"):
            hours = float(number) * 24
            out += f"{int(hours) if hours.is_integer() else hours}h"
        elif unit in _DURATION_UNITS:
            out += number + _DURATION_UNITS[unit]
        else:
            return None
    return out


# -- where in the file ----------------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    """One document of a YAML stream with the positions of its values."""

    data: Any
    document: Document
    offset: int  # lines of the stream before the document's first line

    def line(self, path: JsonPath, *, key: bool = False) -> int | None:
        """The file line of the value (or key) at ``path``, or of its nearest ancestor."""
        line, _col = self.document.key_position(path) if key else self.document.position(path)
        return None if line is None else line + self.offset


def manifests(raw: bytes, display: str) -> list[Manifest]:
    """Every document of ``raw`` that modelreg's bounded loader reads (the same split as
    :func:`modelreg.gitops.fence.load_yaml_stream`, which reports those it refuses)."""
    out = []
    starts = [0] + [m.end() for m in _DOC_SPLIT.finditer(raw)]
    ends = [m.start() for m in _DOC_SPLIT.finditer(raw)] + [len(raw)]
    for start, end in zip(starts, ends, strict=True):
        chunk = raw[start:end]
        if all(not ln.strip() or ln.lstrip().startswith(b"#") for ln in chunk.splitlines()):
            continue
        doc = load_bytes(chunk, display)
        if doc.data is not None and not doc.findings:
            out.append(Manifest(doc.data, doc, raw[:start].count(b"\n")))
    return out


# -- the CEL subset ---------------------------------------------------------------------------


class _NoSuchKey(Exception):
    """CEL's "no such key" evaluation error."""


_TOKEN = re.compile(r"\s*(?:(\|\||&&|==|!=|[!().])|'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"|"
                    r"([A-Za-z_][A-Za-z0-9_]*))")  # fmt: skip


class _Cel:
    """A parsed rule of the subset: ``has(self.a.b)``, ``self.a``, ``'text'``, ``true``,
    ``==``, ``!=``, ``!``, ``&&``, ``||`` and parentheses, with CEL's semantics (``||`` and
    ``&&`` absorb an error when the other side decides)."""

    def __init__(self, node: tuple[Any, ...]) -> None:
        self.node = node

    @classmethod
    def parse(cls, text: str) -> _Cel:
        tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            if not text[pos:].strip():
                break
            match = _TOKEN.match(text, pos)
            if match is None:
                raise ValueError(f"outside the subset at {pos}: {text!r}")
            op, single, double, ident = match.groups()
            if op:
                tokens.append(("op", op))
            elif ident:
                tokens.append(("id", ident))
            else:
                tokens.append(("str", single if single is not None else double))
            pos = match.end()
        parser = _Parser(tokens)
        node = parser.disjunction()
        if parser.pos != len(tokens):
            raise ValueError(f"outside the subset: {text!r}")
        return cls(node)

    def evaluate(self, value: Any) -> bool:
        result = _eval(self.node, value)
        return result is True


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, kind: str, text: str | None = None) -> str:
        token = self.peek()
        if token is None or token[0] != kind or (text is not None and token[1] != text):
            raise ValueError(f"expected {text or kind}")
        self.pos += 1
        return token[1]

    def disjunction(self) -> tuple[Any, ...]:
        node = self.conjunction()
        while self.peek() == ("op", "||"):
            self.pos += 1
            node = ("or", node, self.conjunction())
        return node

    def conjunction(self) -> tuple[Any, ...]:
        node = self.unary()
        while self.peek() == ("op", "&&"):
            self.pos += 1
            node = ("and", node, self.unary())
        return node

    def unary(self) -> tuple[Any, ...]:
        if self.peek() == ("op", "!"):
            self.pos += 1
            return ("not", self.unary())
        left = self.primary()
        if self.peek() in (("op", "=="), ("op", "!=")):
            op = self.take("op")
            return (op, left, self.primary())
        return left

    def primary(self) -> tuple[Any, ...]:
        token = self.peek()
        if token == ("op", "("):
            self.pos += 1
            node = self.disjunction()
            self.take("op", ")")
            return node
        if token == ("id", "has"):
            self.pos += 1
            self.take("op", "(")
            path = self.selector()
            self.take("op", ")")
            if not path:
                raise ValueError("has() needs a field")
            return ("has", path)
        if token is not None and token[0] == "str":
            self.pos += 1
            return ("lit", token[1])
        if token in (("id", "true"), ("id", "false")):
            self.pos += 1
            return ("lit", token[1] == "true")
        return ("sel", self.selector())

    def selector(self) -> tuple[str, ...]:
        self.take("id", "self")
        path = []
        while self.peek() == ("op", "."):
            self.pos += 1
            path.append(self.take("id"))
        return tuple(path)


def _select(value: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(value, dict) or part not in value:
            raise _NoSuchKey(part)
        value = value[part]
    return value


def _eval(node: tuple[Any, ...], value: Any) -> Any:
    op = node[0]
    if op == "lit":
        return node[1]
    if op == "sel":
        return _select(value, node[1])
    if op == "has":
        try:
            parent = _select(value, node[1][:-1])
        except _NoSuchKey:
            raise
        return isinstance(parent, dict) and parent.get(node[1][-1]) is not None
    if op == "not":
        return not _eval(node[1], value)
    if op in ("==", "!="):
        equal = _eval(node[1], value) == _eval(node[2], value)
        return equal if op == "==" else not equal
    # || and &&: an error on one side is absorbed when the other side decides (CEL).
    decisive = op == "or"
    results = []
    for side in node[1:]:
        try:
            result = _eval(side, value)
        except _NoSuchKey as exc:
            results.append(exc)
            continue
        if bool(result) is decisive:
            return decisive
        results.append(result)
    for result in results:
        if isinstance(result, _NoSuchKey):
            raise result
    return not decisive


def all_rules() -> Iterator[tuple[str, str]]:
    """``(kind, rule)`` of every CEL rule in the vendored schemas (for the subset test)."""

    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for rule in node.get("x-kubernetes-validations") or []:
                yield str(rule.get("rule"))
            for item in node.values():
                yield from walk(item)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    for (_group, kind), versions in sorted(schemas().items()):
        for crd in versions.values():
            for rule in walk(crd.schema):
                yield kind, rule


def parse_rule(text: str) -> None:
    """Raise :class:`ValueError` when ``text`` is outside the evaluated CEL subset."""
    _Cel.parse(text)
