"""The parent reads ``.npy`` headers without numpy: the same answers numpy gives, or none.

:func:`modelreg.onnx.evaluation._plain_header` parses the common headers (little-endian
numbers, bool, fixed-width text) so a deep run's parent never imports numpy; anything else is
left to numpy. Here both readers see the same bytes — valid headers of many types and
versions, and corrupted ones — and the plain reader must agree with numpy whenever it answers.
"""

from __future__ import annotations

import io
import random

import numpy as np
import pytest

from modelreg.onnx.evaluation import _numpy_header, _plain_header

DTYPES = [
    "|b1", "|i1", "|u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "<f2", "<f4", "<f8",
    "<c8", "<c16", "<U1", "<U17", "|S1", "|S9", ">f4", ">i8", "|O", "<M8[ns]", "|V4",
    [("a", "<f4"), ("b", "<i8")],
]  # fmt: skip
SHAPES = [(), (0,), (3,), (2, 5), (1, 2, 3, 4)]


def _npy(dtype: object, shape: tuple[int, ...], version: tuple[int, int], fortran: bool) -> bytes:
    out = io.BytesIO()
    array = np.zeros(shape, dtype=np.dtype(dtype))  # type: ignore[call-overload]  # test data
    np.lib.format.write_array(
        out, np.asfortranarray(array) if fortran else array, version=version, allow_pickle=True
    )
    return out.getvalue()


def _numpy_or_error(data: bytes) -> object:
    try:
        return _numpy_header(io.BytesIO(data))
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        return type(exc)


@pytest.mark.parametrize("version", [(1, 0), (2, 0)])
@pytest.mark.parametrize("fortran", [False, True])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_plain_reader_agrees_with_numpy(
    dtype: object, fortran: bool, version: tuple[int, int]
) -> None:
    for shape in SHAPES:
        data = _npy(dtype, shape, version, fortran)
        plain = _plain_header(io.BytesIO(data))
        shape_, itemsize, name, offset, objects = _numpy_header(io.BytesIO(data))
        if plain is not None:
            assert plain == (shape_, itemsize, name, offset)
            assert not objects
    simple = isinstance(dtype, str) and (dtype[0] in "<|") and dtype[1] in "biufcUS?"
    assert (_plain_header(io.BytesIO(_npy(dtype, (2,), version, fortran))) is not None) == simple


def _random_header(rng: random.Random) -> bytes:
    """A ``.npy`` header that varies what numpy tolerates: key order, spacing, the type
    description, the shape, the version, a length that lies."""
    descr = rng.choice(
        [*(d for d in DTYPES if isinstance(d, str)), "<f3", "<U0", "|S0", "<i16", "=f4",
         "f4", "<b1", "|U2", ">U3", "<S4", "<f4 ", "", "<U999999999", "<U1000000000"]
    )  # fmt: skip
    shape = tuple(rng.choice([0, 1, 2, 3, 7, 2**40]) for _ in range(rng.randint(0, 3)))
    fortran = rng.choice(["False", "True", "0", "None"])
    items = [
        f"'descr': {descr!r}",
        f"'fortran_order': {fortran}",
        f"'shape': {shape!r}" if rng.random() < 0.9 else "'shape': [2]",
    ]
    if rng.random() < 0.05:
        items.append("'extra': 1")
    rng.shuffle(items)
    text = ("{" + rng.choice([", ", ","]).join(items) + rng.choice(["", ", "]) + "}").encode()
    text += b" " * rng.randint(0, 20) + b"\n"
    version = rng.choice([(1, 0), (2, 0), (3, 0)])
    size = 2 if version == (1, 0) else 4
    length = len(text) + rng.choice([0, 0, 0, 0, 1, -1])
    return b"\x93NUMPY" + bytes(version) + length.to_bytes(size, "little") + text


def test_fuzzed_headers_are_read_alike_or_left_to_numpy() -> None:
    rng = random.Random(20)
    answered = 0
    for _ in range(3_000):
        data = _random_header(rng) + bytes(64)
        plain = _plain_header(io.BytesIO(data))
        if plain is None:
            continue
        answered += 1
        reference = _numpy_or_error(data)
        assert isinstance(reference, tuple), (data, reference)
        assert plain == reference[:4] and not reference[4], data
    assert answered > 300  # enough variants that the plain reader answered for (386 of 3,000)


@pytest.mark.parametrize(
    "header",
    [
        b"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'extra': 1}",
        b"{'descr': '<f4', 'fortran_order': 0, 'shape': (3,)}",
        b"{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}",
        b"{'descr': '<f4', 'fortran_order': False, 'shape': (True,)}",
        b"{'descr': '<f4', 'fortran_order': False, 'shape': [3]}",
        b"{'descr': '<U0', 'fortran_order': False, 'shape': (3,)}",
        b"__import__('os')",
        b"{'descr': '<f4', " + b" " * 20_000 + b"'fortran_order': False, 'shape': (3,)}",
    ],
)
def test_odd_headers_are_left_to_numpy(header: bytes) -> None:
    data = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header
    if len(header) > 0xFFFF:
        pytest.skip("a version 1.0 header is at most 65535 bytes")
    assert _plain_header(io.BytesIO(data)) is None
