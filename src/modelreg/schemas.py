"""The JSON Schemas: located once, validators built once per process, errors made findings.

The schemas live at the repository root in ``schemas/`` and are copied into the wheel as
``modelreg/schemas`` at build time (see ``pyproject.toml``); a source checkout reads them
from the root, so there is exactly one copy to edit.

A valid document is recognised by a compiled check (:mod:`modelreg.fastschema`); jsonschema
is imported and run only for a document that fails it, to say exactly what is wrong.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelreg import fastschema
from modelreg.errors import ModelregError
from modelreg.findings import Finding
from modelreg.rules import rule
from modelreg.yamlload import Coercion, Document, JsonPath, format_path

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

SCHEMA_NAMES = ("model", "metadata", "report")

_VALUE_RULES = frozenset(
    {
        "enum", "const", "pattern", "format", "minimum", "maximum", "exclusiveMinimum",
        "exclusiveMaximum", "minLength", "maxLength", "minItems", "maxItems", "uniqueItems",
        "multipleOf", "minProperties", "maxProperties", "propertyNames",
    }
)  # fmt: skip


def schema_dir() -> Path:
    """Where the schemas are: inside the installed package, else the source checkout's root."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "schemas", here.parent.parent / "schemas"):
        if (candidate / "metadata.schema.json").is_file():
            return candidate
    raise ModelregError(
        f"the JSON Schemas are missing (looked in {here / 'schemas'}); reinstall modelreg"
    )


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """The parsed schema ``schemas/<name>.schema.json``."""
    path = schema_dir() / f"{name}.schema.json"
    with path.open(encoding="utf-8") as fh:
        schema: dict[str, Any] = json.load(fh)
    return schema


@functools.cache
def validator(name: str) -> Draft202012Validator:
    """A validator for the named schema with format checking on; built once per process."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(
        load_schema(name), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


@functools.cache
def quick_check(name: str) -> fastschema.Check | None:
    """The compiled yes/no check of the named schema (None: always use jsonschema)."""
    return fastschema.compile_schema(load_schema(name))


def validate_document(doc: Document, schema_name: str) -> list[Finding]:
    """Validate a loaded document; one finding per problem, with ``file:line:col``."""
    if doc.data is None:
        return []
    findings: list[Finding] = []
    check = quick_check(schema_name)
    if check is None or not check(doc.data):
        for error in validator(schema_name).iter_errors(doc.data):
            findings.extend(_to_findings(doc, error, schema_name))
    # JSON has no NaN or infinity, and range keywords never fail on NaN: say it here.
    findings.extend(_non_finite(doc, doc.data, ()))
    coercions = list(_coercions(doc, schema_name))
    # A coercion explains a type or value error at the same place better than they do.
    coerced = {(f.line, f.column) for f in coercions}
    kept = [
        f for f in findings if not (f.rule in ("MR103", "MR104") and (f.line, f.column) in coerced)
    ]
    return kept + coercions


def _non_finite(doc: Document, value: Any, path: JsonPath) -> Iterator[Finding]:
    if isinstance(value, float) and not math.isfinite(value):
        line, col = doc.position(path)
        where = format_path(path) if path else "top level"
        yield rule("MR104").finding(
            doc.path, f"{where}: {value} is not a finite number (JSON has no NaN or infinity)",
            line, col,
        )  # fmt: skip
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from _non_finite(doc, child, (*path, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _non_finite(doc, child, (*path, i))


def _to_findings(doc: Document, error: ValidationError, schema_name: str) -> Iterator[Finding]:
    path: JsonPath = tuple(error.absolute_path)
    sub: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    where = format_path(path) if path else "top level"
    kind = error.validator
    if kind in ("anyOf", "oneOf") and error.context:
        for branch_error in _best_branch(error):
            yield from _to_findings(doc, branch_error, schema_name)
        return
    if kind == "required":
        missing = _quoted_name(error.message)
        line, col = doc.key_position(path)
        yield rule("MR101").finding(
            doc.path, f"{where}: missing required field `{missing}`", line, col
        )
        return
    if kind in ("additionalProperties", "unevaluatedProperties") and isinstance(
        error.instance, dict
    ):
        known = list(sub.get("properties", {}))
        patterns = list(sub.get("patternProperties", {}))
        for key in error.instance:
            if key in known or any(re.search(p, key) for p in patterns):
                continue
            child = (*path, key)
            line, col = doc.key_position(child)
            hint = difflib.get_close_matches(key, known, n=1)
            tip = f"; did you mean `{hint[0]}`?" if hint else f"; allowed: {', '.join(known)}"
            yield rule("MR102").finding(doc.path, f"{where}: unknown field `{key}`{tip}", line, col)
        return
    if kind == "type":
        line, col = doc.position(path)
        expected = error.validator_value
        names = [str(n) for n in expected] if isinstance(expected, list) else [str(expected)]
        yield rule("MR103").finding(
            doc.path,
            f"{where}: expected {' or '.join(names)}, got {json_type(error.instance)} "
            f"{_short(error.instance)}",
            line,
            col,
        )
        return
    if kind in _VALUE_RULES:
        yield _value_finding(doc, error, schema_name, path, sub)
        return
    line, col = doc.position(path)
    yield rule("MR105").finding(doc.path, f"{where}: {error.message}", line, col)


def _value_finding(
    doc: Document, error: ValidationError, schema_name: str, path: JsonPath, sub: dict[str, Any]
) -> Finding:
    """MR104 for a value (or a mapping key) that fails its pattern, enum, format or bound."""
    where = format_path(path) if path else "top level"
    kind = error.validator
    if kind == "propertyNames":
        # jsonschema reports the mapping; the culprit is the key itself.
        key = error.instance
        child = (*path, key) if isinstance(key, str) else path
        line, col = doc.key_position(child)
        title = sub.get("title") or _title_of(schema_name, error)
        msg = f"{where}: key `{key}` is not a valid {title or 'key'}"
        return rule("MR104").finding(doc.path, msg, line, col)
    line, col = doc.position(path)
    if isinstance(error.instance, str) and "propertyNames" in error.absolute_schema_path:
        # A key failed its pattern (e.g. a lifecycle key): point at the key, not the mapping.
        line, col = doc.key_position((*path, error.instance))
    title = sub.get("title")
    if kind == "pattern" and title:
        msg = f"{where}: {_short(error.instance)} is not a valid {title}"
    elif kind == "enum" and isinstance(error.validator_value, list):
        allowed = [str(v) for v in error.validator_value]
        hint = difflib.get_close_matches(str(error.instance), allowed, n=1)
        tip = f"; did you mean `{hint[0]}`?" if hint else ""
        msg = f"{where}: {_short(error.instance)} is not one of: {', '.join(allowed)}{tip}"
    elif kind == "format":
        msg = f"{where}: {_short(error.instance)} is not a valid {error.validator_value}"
    else:
        msg = f"{where}: {error.message}"
    return rule("MR104").finding(doc.path, msg, line, col)


def _best_branch(error: ValidationError) -> list[ValidationError]:
    """The errors of the alternative the value was most likely meant to be.

    ``best_match`` alone often picks a branch whose *shape* differs (``{tensor: int65}``
    reported as "unknown field tensor" of the sequence branch). Prefer the branch with the
    fewest shape errors at the value itself (missing key, unknown key, wrong type), then
    the fewest errors overall, and report all of that branch's errors.
    """
    branches: dict[int, list[ValidationError]] = {}
    for sub_error in error.context or []:
        index = sub_error.schema_path[0] if sub_error.schema_path else 0
        branches.setdefault(int(index), []).append(sub_error)
    shape = {"required", "additionalProperties", "unevaluatedProperties", "type"}

    def cost(item: tuple[int, list[ValidationError]]) -> tuple[int, int, int]:
        errors = item[1]
        shallow = sum(1 for e in errors if not e.relative_path and e.validator in shape)
        return (shallow, len(errors), item[0])

    if not branches:
        from jsonschema.exceptions import best_match

        return [best_match([error])]
    return min(branches.items(), key=cost)[1]


def _title_of(schema_name: str, error: ValidationError) -> str | None:
    ref = error.schema.get("$ref") if isinstance(error.schema, dict) else None
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = load_schema(schema_name)["$defs"].get(ref.removeprefix("#/$defs/"), {})
        title = target.get("title")
        return title if isinstance(title, str) else None
    return None


def _quoted_name(message: str) -> str:
    match = re.match(r"^'([^']*)'", message)
    return match.group(1) if match else message


def json_type(value: Any) -> str:
    """The JSON Schema type name of a loaded YAML/JSON value (``integer`` before ``number``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


# -- coercions -------------------------------------------------------------------------------


def _coercions(doc: Document, schema_name: str) -> Iterator[Finding]:
    for path, coercion in doc.coercions.items():
        if not _coercion_bites(coercion, schema_name, path):
            continue
        line, col = doc.position(path)
        where = format_path(path)
        if coercion.kind == "date":
            msg = (
                f"{where}: `{coercion.text}` is read as a date by YAML loaders but this field "
                f'is text; quote this value: "{coercion.text}"'
            )
        else:
            msg = (
                f"{where}: `{coercion.text}` is read by YAML as the {coercion.kind} "
                f'{_short(coercion.value)}; quote this value: "{coercion.text}"'
            )
        yield rule("MR003").finding(doc.path, msg, line, col)


def _coercion_bites(coercion: Coercion, schema_name: str, path: JsonPath) -> bool:
    """Whether the field at ``path`` expected something other than what YAML produced."""
    subschemas = schema_at(load_schema(schema_name), path)
    if not subschemas:
        return False  # an unknown field: MR102 already says so
    types: set[str] = set()
    formats: set[str] = set()
    for sub in subschemas:
        declared = sub.get("type")
        if isinstance(declared, str):
            types.add(declared)
        elif isinstance(declared, list):
            types.update(declared)
        if isinstance(sub.get("format"), str):
            formats.add(sub["format"])
    if not types:
        return False
    if coercion.kind == "date":
        return "string" in types and not formats & {"date", "date-time"}
    produced = {"boolean": {"boolean"}, "integer": {"integer", "number"}, "number": {"number"}}
    return not types & produced[coercion.kind]


def schema_at(schema: dict[str, Any], path: JsonPath) -> list[dict[str, Any]]:
    """The subschemas that govern the value at ``path`` (follows local ``$ref`` and ``*Of``)."""
    current = _expand(schema, schema)
    for part in path:
        following: list[dict[str, Any]] = []
        for sub in current:
            following.extend(_child(schema, sub, part))
        current = following
        if not current:
            return []
    return current


def _expand(root: dict[str, Any], sub: dict[str, Any], depth: int = 0) -> list[dict[str, Any]]:
    if depth > 16:
        return []
    out = [sub]
    ref = sub.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = root.get("$defs", {}).get(ref.removeprefix("#/$defs/"))
        if isinstance(target, dict):
            out.extend(_expand(root, target, depth + 1))
    for key in ("allOf", "anyOf", "oneOf"):
        for alt in sub.get(key, []):
            if isinstance(alt, dict):
                out.extend(_expand(root, alt, depth + 1))
    return out


def _child(root: dict[str, Any], sub: dict[str, Any], part: str | int) -> list[dict[str, Any]]:
    if isinstance(part, int):
        items = sub.get("items")
        return _expand(root, items) if isinstance(items, dict) else []
    props = sub.get("properties", {})
    if part in props:
        return _expand(root, props[part])
    for pattern, target in sub.get("patternProperties", {}).items():
        if re.search(pattern, part):
            return _expand(root, target)
    extra = sub.get("additionalProperties")
    return _expand(root, extra) if isinstance(extra, dict) else []
