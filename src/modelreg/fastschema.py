"""A compiled yes/no check for the JSON Schema subset modelreg's schemas use.

Validating with ``jsonschema`` costs a few milliseconds per metadata file (every ``$ref`` is
resolved and every keyword dispatched per value), and importing it costs more than a whole
``validate --fast`` of a small registry should. Almost every file a hook or CI sees is valid,
so :func:`compile_schema` turns a schema into nested closures that only answer "valid?";
``jsonschema`` is imported and run only for a document that is not, to produce the detailed
findings. The answer is exact for the keywords handled here (Draft 2020-12 semantics, as
``jsonschema`` implements them); a schema using any other keyword compiles to ``None`` and is
always validated by ``jsonschema``. ``tests/test_fastschema.py`` compares both on mutated
documents.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Check = Callable[[Any], bool]

#: Keywords that carry no assertion (annotations and identifiers).
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "default", "examples", "$defs"}
)
_RE_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)


class Unsupported(Exception):
    """The schema uses a keyword this compiler does not handle."""


def compile_schema(
    schema: dict[str, Any],
    *,
    documents: Mapping[str, dict[str, Any]] | None = None,
    formats: bool = True,
    ignore_prefixes: tuple[str, ...] = (),
) -> Check | None:
    """A function telling whether an instance is valid, or None if the schema is unsupported.

    ``documents`` are other schema resources that ``$ref`` may name by path (``"/api/x.json"``
    in ``"/api/x.json#/$defs/Name"``); their own ``#/$defs/...`` refs resolve inside them.
    ``formats=False`` treats ``format`` as an annotation, as a jsonschema validator built
    without a format checker does. Keywords starting with one of ``ignore_prefixes`` are
    annotations (jsonschema ignores keywords it does not know, e.g. ``x-kubernetes-*``).
    """
    env = _Env(dict(documents or {}), formats, ignore_prefixes)
    try:
        return _compile(schema, schema, env)
    except Unsupported:
        return None


@dataclass
class _Env:
    """What compiling one schema shares: other documents, options, compiled ``$ref`` targets."""

    documents: dict[str, dict[str, Any]]
    formats: bool
    ignore_prefixes: tuple[str, ...]
    refs: dict[tuple[int, str], Check] = field(default_factory=dict)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


_TYPES: dict[str, Check] = {
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "string": lambda x: isinstance(x, str),
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
    "number": _is_number,
    "integer": lambda x: (
        (isinstance(x, int) and not isinstance(x, bool))
        or (isinstance(x, float) and x.is_integer())
    ),
}


def _equal(a: Any, b: Any) -> bool:
    """JSON equality as jsonschema sees it: booleans are not numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict | list) or isinstance(b, dict | list):
        return False
    return bool(a == b)


def _format(name: str) -> Check:
    if name == "date":
        return lambda x: not isinstance(x, str) or _valid_date(x)

    def other(x: Any) -> bool:
        # Rare formats (date-time, uri) defer to jsonschema's own checker, loaded on demand.
        from jsonschema import Draft202012Validator

        return bool(Draft202012Validator.FORMAT_CHECKER.conforms(x, name))

    return other


def _valid_date(text: str) -> bool:
    if not _RE_DATE.fullmatch(text):
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _compile(root: dict[str, Any], schema: Any, env: _Env) -> Check:
    if schema is True:
        return lambda _x: True
    if schema is False:
        return lambda _x: False
    if not isinstance(schema, dict):
        raise Unsupported(repr(schema))
    keys = {k for k in schema if k not in _ANNOTATIONS and not k.startswith(env.ignore_prefixes)}
    checks: list[Check] = []
    for group in _KEYWORD_GROUPS:
        checks.extend(group(root, schema, keys, env))
    # Unknown keywords are refused after the known ones compiled, as before the split: a
    # schema that is both unsupported and malformed raises what the malformed part raises.
    if keys - _HANDLED:
        raise Unsupported(", ".join(sorted(keys - _HANDLED)))
    if len(checks) == 1:
        return checks[0]
    return lambda x: all(c(x) for c in checks)


# One function per group of keywords, grouped by the instance type they constrain as the
# JSON Schema validation spec groups them; the groups run in this order, so the compiled
# checks keep the order they always had.
_KeywordGroup = Callable[[dict[str, Any], dict[str, Any], set[str], _Env], list[Check]]


def _any_type_checks(
    root: dict[str, Any], schema: dict[str, Any], keys: set[str], env: _Env
) -> list[Check]:
    """``$ref``, ``type``, ``enum``, ``const``: keywords that apply to every instance."""
    checks: list[Check] = []
    if "$ref" in keys:
        checks.append(_ref(root, schema["$ref"], env))
    if "type" in keys:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        preds = [_TYPES[n] for n in names]
        checks.append(lambda x: any(p(x) for p in preds))
    if "enum" in keys:
        options = list(schema["enum"])
        checks.append(lambda x: any(_equal(x, o) for o in options))
    if "const" in keys:
        value = schema["const"]
        checks.append(lambda x: _equal(x, value))
    return checks


def _string_checks(
    root: dict[str, Any], schema: dict[str, Any], keys: set[str], env: _Env
) -> list[Check]:
    """``pattern``, ``minLength``, ``maxLength``, ``format``: other types pass."""
    checks: list[Check] = []
    if "pattern" in keys:
        search = re.compile(schema["pattern"]).search
        checks.append(lambda x: not isinstance(x, str) or search(x) is not None)
    if "minLength" in keys:
        lo = schema["minLength"]
        checks.append(lambda x: not isinstance(x, str) or len(x) >= lo)
    if "maxLength" in keys:
        hi = schema["maxLength"]
        checks.append(lambda x: not isinstance(x, str) or len(x) <= hi)
    if "format" in keys and env.formats:
        checks.append(_format(schema["format"]))
    return checks


def _number_checks(
    root: dict[str, Any], schema: dict[str, Any], keys: set[str], env: _Env
) -> list[Check]:
    """``minimum``, ``maximum`` and their exclusive forms: other types pass."""
    checks: list[Check] = []
    if "minimum" in keys:
        lo_n = schema["minimum"]
        checks.append(lambda x: not _is_number(x) or x >= lo_n)
    if "maximum" in keys:
        hi_n = schema["maximum"]
        checks.append(lambda x: not _is_number(x) or x <= hi_n)
    if "exclusiveMinimum" in keys:
        ex_lo = schema["exclusiveMinimum"]
        checks.append(lambda x: not _is_number(x) or x > ex_lo)
    if "exclusiveMaximum" in keys:
        ex_hi = schema["exclusiveMaximum"]
        checks.append(lambda x: not _is_number(x) or x < ex_hi)
    return checks


def _object_checks(
    root: dict[str, Any], schema: dict[str, Any], keys: set[str], env: _Env
) -> list[Check]:
    """``required``, property counts, ``propertyNames``, properties: other types pass."""
    checks: list[Check] = []
    if "required" in keys:
        required = list(schema["required"])
        checks.append(lambda x: not isinstance(x, dict) or all(k in x for k in required))
    if "minProperties" in keys:
        min_p = schema["minProperties"]
        checks.append(lambda x: not isinstance(x, dict) or len(x) >= min_p)
    if "maxProperties" in keys:
        max_p = schema["maxProperties"]
        checks.append(lambda x: not isinstance(x, dict) or len(x) <= max_p)
    if "propertyNames" in keys:
        name_check = _compile(root, schema["propertyNames"], env)
        checks.append(lambda x: not isinstance(x, dict) or all(name_check(k) for k in x))
    if keys & {"properties", "patternProperties", "additionalProperties"}:
        checks.append(_object(root, schema, env))
    return checks


def _array_checks(
    root: dict[str, Any], schema: dict[str, Any], keys: set[str], env: _Env
) -> list[Check]:
    """``items``, ``minItems``, ``maxItems``, ``uniqueItems``: other types pass."""
    checks: list[Check] = []
    if "items" in keys:
        item = _compile(root, schema["items"], env)
        checks.append(lambda x: not isinstance(x, list) or all(item(i) for i in x))
    if "minItems" in keys:
        min_i = schema["minItems"]
        checks.append(lambda x: not isinstance(x, list) or len(x) >= min_i)
    if "maxItems" in keys:
        max_i = schema["maxItems"]
        checks.append(lambda x: not isinstance(x, list) or len(x) <= max_i)
    if "uniqueItems" in keys and schema["uniqueItems"]:
        checks.append(_unique)
    return checks


def _combinator_checks(
    root: dict[str, Any], schema: dict[str, Any], keys: set[str], env: _Env
) -> list[Check]:
    """``allOf``, ``anyOf``, ``oneOf``, ``not``: subschemas applied to the same instance."""
    checks: list[Check] = []
    if "allOf" in keys:
        every = [_compile(root, s, env) for s in schema["allOf"]]
        checks.append(lambda x: all(s(x) for s in every))
    if "anyOf" in keys:
        some = [_compile(root, s, env) for s in schema["anyOf"]]
        checks.append(lambda x: any(s(x) for s in some))
    if "oneOf" in keys:
        one = [_compile(root, s, env) for s in schema["oneOf"]]
        checks.append(lambda x: sum(1 for s in one if s(x)) == 1)
    if "not" in keys:
        negated = _compile(root, schema["not"], env)
        checks.append(lambda x: not negated(x))
    return checks


_KEYWORD_GROUPS: tuple[_KeywordGroup, ...] = (
    _any_type_checks,
    _string_checks,
    _number_checks,
    _object_checks,
    _array_checks,
    _combinator_checks,
)

#: Every keyword one of the groups above compiles; any other makes the schema unsupported.
_HANDLED = frozenset({
    "$ref", "type", "enum", "const", "pattern", "minLength", "maxLength", "format",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "required",
    "minProperties", "maxProperties", "propertyNames", "properties", "patternProperties",
    "additionalProperties", "items", "minItems", "maxItems", "uniqueItems", "allOf",
    "anyOf", "oneOf", "not",
})  # fmt: skip


def _object(root: dict[str, Any], schema: dict[str, Any], env: _Env) -> Check:
    props = {k: _compile(root, v, env) for k, v in schema.get("properties", {}).items()}
    patterns = [
        (re.compile(p).search, _compile(root, v, env))
        for p, v in schema.get("patternProperties", {}).items()
    ]
    extra_schema = schema.get("additionalProperties", True)
    extra = None if extra_schema is True else _compile(root, extra_schema, env)

    def check(x: Any) -> bool:
        if not isinstance(x, dict):
            return True
        for key, value in x.items():
            matched = False
            prop = props.get(key)
            if prop is not None:
                matched = True
                if not prop(value):
                    return False
            for search, sub in patterns:
                if isinstance(key, str) and search(key):
                    matched = True
                    if not sub(value):
                        return False
            if not matched and extra is not None and not extra(value):
                return False
        return True

    return check


def _unique(x: Any) -> bool:
    if not isinstance(x, list):
        return True
    if all(not isinstance(item, dict | list) for item in x):
        # Scalars in linear time (a model may list thousands of labels). Keys follow JSON
        # equality: 1 and 1.0 are the same number, but True is not 1.
        keys = {(_scalar_kind(item), item) for item in x}
        return len(keys) == len(x)
    return all(not _equal(a, b) for i, a in enumerate(x) for b in x[i + 1 :])


def _scalar_kind(item: Any) -> str:
    if isinstance(item, bool):
        return "bool"
    if isinstance(item, int | float):
        return "number"
    return type(item).__name__


def _ref(root: dict[str, Any], ref: str, env: _Env) -> Check:
    document, _, pointer = ref.partition("#")
    if document:
        if document not in env.documents:
            raise Unsupported(ref)
        root = env.documents[document]
    if not pointer.startswith("/$defs/") or "/" in pointer.removeprefix("/$defs/"):
        raise Unsupported(ref)
    name = pointer.removeprefix("/$defs/")
    key = (id(root), name)
    if key not in env.refs:
        target = root.get("$defs", {}).get(name)
        if target is None:
            raise Unsupported(ref)
        slot: list[Check] = []
        # A placeholder first, so a recursive definition refers to itself.
        env.refs[key] = lambda x: slot[0](x)  # noqa: PLW0108 - slot[0] does not exist yet
        slot.append(_compile(root, target, env))
    return env.refs[key]
