"""The tiny DER reader used on NSS's PBE blobs: shapes it accepts and garbage it refuses."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cygnet.pki import der


@given(
    st.integers(0, 2),
    st.integers(0, 39),
    st.lists(st.integers(0, 2**40), max_size=8),
)
def test_oid_round_trip(a: int, b: int, rest: list[int]) -> None:
    dotted = ".".join(str(x) for x in [a, b, *rest])
    assert der.parse(der.encode_oid(dotted)).as_oid() == dotted


@given(st.binary(max_size=70000))
def test_long_lengths_round_trip(body: bytes) -> None:
    assert der.parse(der.encode(der.OCTET_STRING, body)) == der.Tlv(der.OCTET_STRING, body)


def test_known_oid() -> None:
    assert der.decode_oid(bytes.fromhex("2a864886f70d01050d")) == "1.2.840.113549.1.5.13"


@pytest.mark.parametrize(
    "blob",
    [b"", b"\x30", b"\x30\x05\x00", b"\x04\x81", b"\x04\x85\x00\x00\x00\x00\x01", b"\x04\x00\x00"],
)
def test_garbage_is_refused(blob: bytes) -> None:
    with pytest.raises(der.DerError):
        der.parse(blob)


@given(st.binary(max_size=64))
def test_never_crashes_on_random_bytes(blob: bytes) -> None:
    with contextlib.suppress(der.DerError):
        der.parse(blob).children()


def test_expect_and_types() -> None:
    seq = der.parse(der.encode(der.SEQUENCE, der.encode(der.INTEGER, b"\x05") + der.encode_oid("1.2")))
    i, o = seq.children()
    assert i.as_int() == 5 and o.as_oid() == "1.2"
    with pytest.raises(der.DerError, match="expected DER tag"):
        i.as_oid()
