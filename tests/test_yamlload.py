"""The YAML loader: positions, duplicate keys, coercions, and refusal of hostile input."""

from __future__ import annotations

import pytest

from modelreg.yamlload import MAX_DEPTH, Coercion, load_bytes


def rules(raw: bytes) -> list[tuple[str, int | None]]:
    return [(f.rule, f.line) for f in load_bytes(raw, "f.yaml").findings]


def test_values_and_positions() -> None:
    doc = load_bytes(b"a:\n  b: [1, x]\n  c: {d: null}\n", "f.yaml")
    assert doc.data == {"a": {"b": [1, "x"], "c": {"d": None}}}
    assert doc.position(("a", "b", 1)) == (2, 10)
    assert doc.key_position(("a", "c")) == (3, 3)
    assert doc.position(("a", "c", "d")) == (3, 10)
    # A path that does not exist falls back to its nearest ancestor.
    assert doc.position(("a", "zzz")) == doc.position(("a",))


def test_duplicate_keys_are_reported_with_both_lines() -> None:
    doc = load_bytes(b"a: 1\nb: 2\na: 3\n", "f.yaml")
    assert [(f.rule, f.line, f.column) for f in doc.findings] == [("MR002", 3, 1)]
    assert "first at line 1" in doc.findings[0].message
    assert doc.data == {"a": 1, "b": 2}


def test_merge_keys_do_not_count_as_duplicates() -> None:
    doc = load_bytes(b"base: &b {x: 1, y: 2}\nitem:\n  <<: *b\n  y: 3\n", "f.yaml")
    assert doc.findings == []
    assert doc.data["item"] == {"y": 3, "x": 1}


@pytest.mark.parametrize(
    ("text", "coercion"),
    [
        ("1.10", Coercion("number", "1.10", 1.1)),
        ("on", Coercion("boolean", "on", True)),
        ("No", Coercion("boolean", "No", False)),
        ("010", Coercion("integer", "010", 8)),
        ("0x1f", Coercion("integer", "0x1f", 31)),
        ("2024-01-15", Coercion("date", "2024-01-15", "2024-01-15")),
    ],
)
def test_coercions_are_recorded(text: str, coercion: Coercion) -> None:
    doc = load_bytes(f"v: {text}\n".encode(), "f.yaml")
    assert doc.coercions == {("v",): coercion}


@pytest.mark.parametrize("text", ["1.5", "10", "true", "'1.10'", '"on"', "hello"])
def test_faithful_scalars_are_not_coercions(text: str) -> None:
    assert load_bytes(f"v: {text}\n".encode(), "f.yaml").coercions == {}


def test_dates_stay_text() -> None:
    assert load_bytes(b"d: 2024-01-15\n", "f.yaml").data == {"d": "2024-01-15"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", [("MR001", None)]),
        (b"   \n# only a comment\n", [("MR001", None)]),
        (b"a: [1\n", [("MR001", 2)]),
        (b"a: 1\n---\nb: 2\n", [("MR001", 2)]),
        (b"a: !!python/object:os.system x\n", [("MR001", 1)]),
        (b"\xff\xfe\x00", [("MR004", 1)]),
        (b"a: 1\nb: \xe9t\xe9\n", [("MR004", 2)]),
        (b"a:\n\t- 1\n", [("MR001", 2)]),
        (b"? [a, b]\n: 1\n", [("MR001", 1)]),
    ],
)
def test_bad_documents(raw: bytes, expected: list[tuple[str, int | None]]) -> None:
    assert rules(raw) == expected


def test_bom_and_crlf_are_accepted() -> None:
    doc = load_bytes(b"\xef\xbb\xbfa: 1\r\nb: x\r\n", "f.yaml")
    assert (doc.data, doc.findings) == ({"a": 1, "b": "x"}, [])
    assert doc.position(("b",)) == (2, 4)


def test_json_is_yaml() -> None:
    assert load_bytes(b'{"a": [1, 2]}', "f.yaml").data == {"a": [1, 2]}


def test_alias_bomb_stops() -> None:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        name = chr(ord("a") + i)
        lines.append(f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]")
    doc = load_bytes("\n".join(lines).encode(), "f.yaml")
    assert [f.rule for f in doc.findings] == ["MR004"]
    assert "YAML aliases" in doc.findings[0].message
    assert doc.data is None


def test_deep_nesting_stops() -> None:
    depth = MAX_DEPTH + 5
    doc = load_bytes(("[" * depth + "]" * depth).encode(), "f.yaml")
    assert [f.rule for f in doc.findings] == ["MR004"]
    assert "nesting deeper" in doc.findings[0].message
