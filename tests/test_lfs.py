"""Git LFS pointer parsing (spec v1)."""

from __future__ import annotations

import pytest

from modelreg.git.lfs import Pointer, PointerError, looks_like_pointer, parse_pointer

OID = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393"
GOOD = f"version https://git-lfs.github.com/spec/v1\noid sha256:{OID}\nsize 12345\n".encode()


def test_parse_good_pointer() -> None:
    assert looks_like_pointer(GOOD)
    assert parse_pointer(GOOD) == Pointer(OID, 12345)


def test_extension_keys_are_allowed_in_order() -> None:
    raw = GOOD.replace(b"oid", b"ext-0-foo sha256:" + OID.encode() + b"\noid")
    assert parse_pointer(raw) == Pointer(OID, 12345)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (GOOD[:-1], "end with a newline"),
        (GOOD.replace(b"/v1", b"/v2"), "first line"),
        (GOOD.replace(b"size 12345\n", b""), "both `oid` and `size`"),
        (GOOD.replace(b"sha256:", b"md5:"), "oid must be"),
        (GOOD.replace(OID.encode(), OID.upper().encode()), "oid must be"),
        (GOOD.replace(b"12345", b"-1"), "size must be"),
        (GOOD.replace(b"12345", b"012"), "size must be"),
        (GOOD.replace(b"size 12345", b"size"), "not `key value`"),
        (GOOD.replace(b"oid", b"zid"), "sorted"),
        (GOOD + b"x" * 1100, "larger than"),
    ],
)
def test_malformed_pointers(raw: bytes, reason: str) -> None:
    with pytest.raises(PointerError, match=reason):
        parse_pointer(raw)
