"""The compiled schema check agrees with jsonschema on valid and mutated documents."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from modelreg import fastschema
from modelreg.schemas import SCHEMA_NAMES, load_schema
from modelreg.yamlload import load_file

ROOT = Path(__file__).resolve().parents[1]

#: Values a mutation puts in place of another: every JSON type, edge cases of the formats.
REPLACEMENTS: list[Any] = [
    None, True, False, 0, -1, 1.5, 2.0, 10**12, "", "x", "TODO", "2024-02-30", "2024-01-01",
    "1.0.0", "01.0.0", "a" * 300, "ab" * 32, "s3://bucket/key", "not a uri", "float", "int65",
    "2024-01-01T00:00:00Z", "batch", "../x", [], [1], ["a", "a"], {}, {"tensor": "float"},
    {"sequence": {"tensor": "float"}}, {"map": {"key": "int64", "value": {"tensor": "float"}}},
]  # fmt: skip


def _documents() -> Iterator[tuple[str, Any]]:
    # modelreg's loader, as validate reads them (dates stay text, line marks kept).
    for path in sorted(ROOT.glob("models/*/*/metadata.yaml")):
        yield "metadata", load_file(path, path.name).data
    for path in sorted(ROOT.glob("models/*/model.yaml")):
        yield "model", load_file(path, path.name).data


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _mutate(doc: Any, rng: random.Random) -> Any:
    doc = copy.deepcopy(doc)
    for _ in range(rng.choice((1, 1, 2))):
        path = rng.choice([p for p in _paths(doc) if p])
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        key = path[-1]
        action = rng.random()
        if action < 0.2 and isinstance(parent, dict):
            del parent[key]
        elif action < 0.3 and isinstance(parent, dict):
            parent[f"extra_{rng.randint(0, 9)}"] = rng.choice(REPLACEMENTS)
        elif action < 0.4 and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
        else:
            parent[key] = copy.deepcopy(rng.choice(REPLACEMENTS))
    return doc


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_every_schema_compiles(name: str) -> None:
    assert fastschema.compile_schema(load_schema(name)) is not None


def test_agrees_with_jsonschema_on_mutated_documents() -> None:
    rng = random.Random(20240611)
    checked = {True: 0, False: 0}
    for name, doc in _documents():
        schema = load_schema(name)
        check = fastschema.compile_schema(schema)
        assert check is not None
        reference = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        assert check(doc) and reference.is_valid(doc)
        for _ in range(700):
            mutated = _mutate(doc, rng)
            expected = reference.is_valid(mutated)
            assert check(mutated) == expected, (name, mutated)
            checked[expected] += 1
    # Both answers were exercised, so the comparison can fail either way.
    assert checked[True] > 50
    assert checked[False] > 500


def test_unknown_keywords_fall_back_to_jsonschema() -> None:
    assert fastschema.compile_schema({"type": "array", "prefixItems": [{"type": "string"}]}) is None
    assert fastschema.compile_schema({"$ref": "https://example.com/other.json"}) is None


def test_recursive_definitions_and_booleans_are_exact() -> None:
    schema = {
        "$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}},
                           "additionalProperties": False}},
        "$ref": "#/$defs/node",
    }  # fmt: skip
    check = fastschema.compile_schema(schema)
    assert check is not None
    assert check({"next": {"next": {}}})
    assert not check({"next": {"next": {"other": 1}}})
    enum = fastschema.compile_schema({"enum": [1, "a"]})
    assert enum is not None
    assert enum(1)
    assert not enum(True)  # jsonschema: true is not 1
    integer = fastschema.compile_schema({"type": "integer", "minimum": 1})
    assert integer is not None
    assert integer(2.0)
    assert not integer(True)
    assert not integer(0)


@pytest.mark.parametrize(
    "items",
    [
        ["a", "b", "a"],
        ["a", "b", "c"],
        [1, 1.0],  # the same number
        [1, True],  # not the same: a boolean is not a number
        [0, False, None, ""],
        [None, None],
        [{"a": 1}, {"a": 1}],
        [{"a": 1}, {"a": True}],
        [[1], [1.0]],
        ["x", {"x": 1}, "x"],
    ],
)
def test_unique_items_agree_with_jsonschema(items: list[object]) -> None:
    schema = {"type": "array", "uniqueItems": True}
    check = fastschema.compile_schema(schema)
    assert check is not None
    assert check(items) == Draft202012Validator(schema).is_valid(items)


def test_unique_items_of_a_long_label_list() -> None:
    # A model with 100,000 classes: scalars are compared in linear time (pairwise, this was
    # five billion comparisons and hung `validate` on one model.yaml).
    check = fastschema.compile_schema({"type": "array", "uniqueItems": True})
    assert check is not None
    labels = [f"c{i}" for i in range(100_000)]
    assert check(labels)
    assert not check([*labels, "c99999"])


def _patterns(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from _patterns(value)
    elif isinstance(node, list):
        for value in node:
            yield from _patterns(value)


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_every_pattern_ends_where_the_string_ends(name: str) -> None:
    # Python's `$` also matches before a final "\n" (jsonschema uses re.search); the lookahead
    # makes it the end of the string in Python as it is in ECMA-262 (see the schema $comment).
    patterns = list(_patterns(load_schema(name)))
    assert patterns
    assert [p for p in patterns if not p.endswith("$(?!\\n)")] == []


def test_a_trailing_newline_is_refused_by_both_validators() -> None:
    checked = 0
    for name, doc in _documents():
        schema = load_schema(name)
        check = fastschema.compile_schema(schema)
        assert check is not None
        reference = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        for path in _paths(doc):
            parent = doc
            for part in path[:-1]:
                parent = parent[part]
            if not path or not isinstance(parent[path[-1]], str):
                continue
            mutated = copy.deepcopy(doc)
            target = mutated
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] += "\n"
            assert check(mutated) == reference.is_valid(mutated), path
            checked += 1
    assert checked > 50
    # Every pattern-bearing value seen is refused with a newline (free text is not).
    doc = dict(next(d for n, d in _documents() if n == "metadata"))
    doc["artifact"] = {**doc["artifact"], "sha256": doc["artifact"]["sha256"] + "\n"}
    check = fastschema.compile_schema(load_schema("metadata"))
    assert check is not None and not check(doc)
