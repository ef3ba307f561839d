"""Property tests: the parsers of untrusted input raise nothing but their documented errors.

CI runs a short, bounded search (about 30 s in all). ``MODELREG_FUZZ_EXAMPLES=N`` multiplies
every test's ``max_examples`` by N for a longer local run (docs/hardening.md).
"""

from __future__ import annotations

import copy
import math
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import demo_model, metadata_yaml
from modelreg.git import lfs
from modelreg.onnx.isolate import run_child
from modelreg.rules import BY_ID
from modelreg.schemas import validate_document
from modelreg.yamlload import load_bytes

SCALE = int(os.environ.get("MODELREG_FUZZ_EXAMPLES", "1"))
F = TypeVar("F", bound=Callable[..., Any])


def fuzz(examples: int) -> Callable[[F], F]:
    """Hypothesis settings for a bounded run, scaled by MODELREG_FUZZ_EXAMPLES."""
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


# -- YAML loader ------------------------------------------------------------------------

YAML_ALPHABET = [*":-?[]{},&*!|>'\"%@`#\n\t \\", "a", "1", ".", "<<", "~", "\ufeff"]


@fuzz(300)
@given(st.binary(max_size=512))
def test_yaml_loader_never_raises_on_bytes(raw: bytes) -> None:
    doc = load_bytes(raw, "x.yaml")
    assert all(f.rule in BY_ID for f in doc.findings)
    assert doc.loaded or doc.data is None


@fuzz(400)
@given(st.lists(st.sampled_from(YAML_ALPHABET), max_size=200).map("".join))
def test_yaml_loader_never_raises_on_yaml_punctuation(text: str) -> None:
    doc = load_bytes(text.encode("utf-8"), "x.yaml")
    assert all(f.rule in BY_ID for f in doc.findings)
    for line, col in doc.marks.values():
        assert line >= 1 and col >= 1


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON_LIKE = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)


@fuzz(200)
@given(st.dictionaries(st.text(max_size=8), JSON_LIKE, max_size=6))
def test_yaml_loader_round_trips_what_a_safe_dumper_writes(data: dict[str, Any]) -> None:
    """What PyYAML writes, quoted as it needs, loads back to the same values and no finding."""
    # Escaped: PyYAML writes a raw NEL (U+0085) that YAML 1.1 then reads as a line break.
    text = yaml.safe_dump(data, allow_unicode=False)
    doc = load_bytes(text.encode("utf-8"), "x.yaml")
    if not data:
        return  # `{}` is a valid document; the loader reports it like any non-metadata
    assert not [f for f in doc.findings if f.rule != "MR003"], doc.findings
    assert doc.data == data


# -- schema validation ------------------------------------------------------------------

VALID = yaml.safe_load(metadata_yaml("1.1.0", "2024-01-22", "ab" * 32, 100))
VALID["release_date"] = "2024-01-22"


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, (*path, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            out += _paths(child, (*path, i))
    return out


PATHS = _paths(VALID)[1:]


def _values(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [v for child in value.values() for v in _values(child)]
    if isinstance(value, list):
        return [v for child in value for v in _values(child)]
    return [value]


ANY_VALUE = JSON_LIKE | st.floats() | st.sampled_from([".nan", "01.0.0", "1.0", "-1", "", "\0"])


@fuzz(300)
@given(st.lists(st.tuples(st.sampled_from(PATHS), ANY_VALUE), min_size=1, max_size=4))
def test_schema_validation_never_raises(edits: list[tuple[tuple[Any, ...], Any]]) -> None:
    """Valid metadata with values replaced anywhere: findings, never an exception."""
    data = copy.deepcopy(VALID)
    for path, value in edits:
        node = data
        try:
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit replaced the parent
    text = yaml.safe_dump(data, allow_unicode=True)
    doc = load_bytes(text.encode("utf-8"), "metadata.yaml")
    findings = validate_document(doc, "metadata")
    assert all(f.rule in BY_ID for f in findings)
    if any(isinstance(v, float) and not math.isfinite(v) for v in _values(doc.data)):
        # MR104 "not a finite number", or MR003 where a text field got `.inf` unquoted
        assert any(f.rule in ("MR104", "MR003") for f in findings)
    for finding in findings:
        assert finding.path == "metadata.yaml"
        assert finding.line is None or finding.line >= 1


# -- Git LFS pointers -------------------------------------------------------------------

POINTER = (
    b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"ab" * 32 + b"\nsize 12345\n"
)


@fuzz(300)
@given(st.binary(max_size=2048))
def test_pointer_parser_raises_only_pointer_error(raw: bytes) -> None:
    try:
        pointer = lfs.parse_pointer(raw)
    except lfs.PointerError:
        return
    assert len(pointer.oid) == 64 and pointer.size >= 0


@fuzz(300)
@given(st.integers(0, len(POINTER) - 1), st.binary(min_size=0, max_size=8), st.booleans())
def test_pointer_parser_on_near_valid_pointers(at: int, insert: bytes, replace: bool) -> None:
    raw = POINTER[:at] + insert + POINTER[at + (1 if replace else 0) :]
    try:
        pointer = lfs.parse_pointer(raw)
    except lfs.PointerError as exc:
        assert str(exc)
        return
    assert pointer.size >= 0


def test_the_valid_pointer_parses() -> None:
    """The near-valid search starts from a pointer that is valid."""
    assert lfs.parse_pointer(POINTER) == lfs.Pointer("ab" * 32, 12345)


# -- ONNX bytes through the isolated checker --------------------------------------------

MODEL_BYTES = demo_model().SerializeToString()


def mutate(seed: int) -> bytes:
    """A valid model with a few bytes flipped, cut or inserted (deterministic per seed)."""
    rng = random.Random(seed)
    raw = bytearray(MODEL_BYTES)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(raw))
        kind = rng.choice(("flip", "cut", "insert", "varint"))
        if kind == "flip":
            raw[at] ^= 1 << rng.randrange(8)
        elif kind == "cut":
            del raw[at:]
        elif kind == "insert":
            raw[at:at] = rng.randbytes(rng.randint(1, 8))
        else:  # a huge length prefix: protobuf must not allocate it
            raw[at:at] = b"\xff\xff\xff\xff\x0f"
        if not raw:
            break
    return bytes(raw)


@pytest.mark.parametrize("seed", range(6 * SCALE))
def test_isolated_checker_answers_on_mutated_onnx(seed: int, tmp_path: Path) -> None:
    """Facts, a known error or a clean death (signal, limit) — never a Python traceback."""
    path = tmp_path / "model.onnx"
    path.write_bytes(mutate(seed))
    result = run_child("inspect", path, timeout=60, memory_mb=2048)
    assert (result.data, result.error, result.died).count(None) == 2, result
    assert not (result.died or "").startswith("exit status"), result.died
