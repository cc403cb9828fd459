"""Raw keys, CKAIDs and keyids against Libreswan 4.10's own output for two real keys."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from cygnet.pki.ckaid import CkaidError, ckaid_of, ckaid_starts_with, parse_ckaid
from cygnet.pki.rawkey import (
    RawKeyError,
    decode_0s,
    format_ipseckey,
    format_leftright,
    keyid_of,
    pem_public_key,
    pubkey_from_0s,
    pubkey_to_0s,
    rsa_from_rfc3110,
    rsa_to_rfc3110,
)

from .conftest import reference

RSA_CKAID = "fc0ce0c7c5467ada8ad0925f312b6cd954cb74d3"
EC_CKAID = "ce419bae65e3228c3c80f8c2e119df17e24fc4c1"


def _pem_key(n: int) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    key = serialization.load_pem_public_key(reference(f"A-showhostkey-pem-ckaid-{n}.txt").encode())
    assert isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
    return key


@pytest.fixture
def rsa_ref() -> rsa.RSAPublicKey:
    key = _pem_key(1)
    assert isinstance(key, rsa.RSAPublicKey)
    return key


@pytest.fixture
def ec_ref() -> ec.EllipticCurvePublicKey:
    key = _pem_key(2)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def test_ckaids_match_libreswan(rsa_ref: rsa.RSAPublicKey, ec_ref: ec.EllipticCurvePublicKey) -> None:
    assert ckaid_of(rsa_ref).hex() == RSA_CKAID == reference("A-ckaid-1.txt").strip()
    assert ckaid_of(ec_ref).hex() == EC_CKAID == reference("A-ckaid-2.txt").strip()


def test_reference_rsa_key_is_3248_bits(rsa_ref: rsa.RSAPublicKey) -> None:
    # 3072 + 16 * 11: Libreswan's random multiple of 16 in [3072, 4096).
    assert rsa_ref.key_size == 3248


def test_keyids_match_list_output(rsa_ref: rsa.RSAPublicKey, ec_ref: ec.EllipticCurvePublicKey) -> None:
    assert keyid_of(rsa_ref) == "AwEAAcEyU"
    assert keyid_of(ec_ref) == "zkGbrmXjI"
    listing = reference("A-showhostkey-list.txt")
    assert f"< 1> RSA keyid: AwEAAcEyU ckaid: {RSA_CKAID}\n" in listing
    assert reference("A-showhostkey-dump.txt") == listing


@pytest.mark.parametrize("side", ["left", "right"])
def test_leftright_byte_identical(
    side: str, rsa_ref: rsa.RSAPublicKey, ec_ref: ec.EllipticCurvePublicKey
) -> None:
    assert format_leftright(rsa_ref, side) == reference(f"A-showhostkey-{side}-ckaid-1.txt")
    assert format_leftright(ec_ref, side) == reference(f"A-showhostkey-{side}-ckaid-2.txt")


def test_ipseckey_byte_identical(rsa_ref: rsa.RSAPublicKey, ec_ref: ec.EllipticCurvePublicKey) -> None:
    # The owner name is the host name; the reference host was called "vm".
    assert format_ipseckey(rsa_ref, "vm") == reference("A-showhostkey-ipseckey-ckaid-1.txt")
    assert format_ipseckey(ec_ref, "vm") == reference("A-showhostkey-ipseckey-ckaid-2.txt")


def test_ipseckey_gateway_types(ec_ref: ec.EllipticCurvePublicKey) -> None:
    assert " 10 1 3 192.0.2.1 " in format_ipseckey(ec_ref, "h", gateway="192.0.2.1")
    assert " 7 2 3 2001:db8::1 " in format_ipseckey(ec_ref, "h", 7, "2001:db8::1")
    with pytest.raises(RawKeyError, match="unknown address family for gateway gw.example"):
        format_ipseckey(ec_ref, "h", gateway="gw.example")


def test_pem_byte_identical(rsa_ref: rsa.RSAPublicKey, ec_ref: ec.EllipticCurvePublicKey) -> None:
    assert pem_public_key(rsa_ref) == reference("A-showhostkey-pem-ckaid-1.txt")
    assert pem_public_key(ec_ref) == reference("A-showhostkey-pem-ckaid-2.txt")


def test_0s_round_trip_of_reference_keys(
    rsa_ref: rsa.RSAPublicKey, ec_ref: ec.EllipticCurvePublicKey
) -> None:
    rsa_line = reference("A-showhostkey-left-ckaid-1.txt").splitlines()[1]
    text = rsa_line.split("=", 1)[1]
    assert pubkey_to_0s(rsa_ref) == text
    assert pubkey_from_0s(text) == rsa_ref
    ec_text = reference("A-showhostkey-left-ckaid-2.txt").splitlines()[1].split("=", 1)[1]
    assert len(decode_0s(ec_text)) == 64  # bare X||Y, no 0x04
    assert pubkey_from_0s(ec_text, "ecdsa") == ec_ref
    # 0x (hex) spelling of the same bytes, with Libreswan's _ separators
    hexed = "0x" + "_".join(decode_0s(ec_text).hex()[i:i + 8] for i in range(0, 128, 8))
    assert pubkey_from_0s(hexed, "ecdsa") == ec_ref


@pytest.mark.parametrize(
    ("text", "kind", "match"),
    [
        ("", "rsa", "must start with"),
        ("AwEAAQ==", "rsa", "must start with"),
        ("0s", "rsa", "empty"),
        ("0s!!!notbase64", "rsa", "malformed 0s"),
        ("0sAwEAAQ==", "rsa", "bad exponent|too short"),
        ("0sAwEAAcEy", "rsa", "too small"),
        ("0xzz", "rsa", "malformed 0x"),
        ("0s" + "A" * 40, "ecdsa", "matches no known curve"),
        ("0s" + "A" * 86 + "==", "ecdsa", "not a point"),
        ("0sAAAA", "dsa", "unknown raw key kind"),
    ],
)
def test_bad_0s_strings(text: str, kind: str, match: str) -> None:
    with pytest.raises(RawKeyError, match=match):
        pubkey_from_0s(text, kind)  # type: ignore[arg-type]


def test_rfc3110_long_exponent_form() -> None:
    key = rsa.generate_private_key(65537, 1024).public_key()
    blob = rsa_to_rfc3110(key)
    assert blob[:4] == b"\x03\x01\x00\x01"
    long_form = b"\x00\x00\x03" + blob[1:]
    assert rsa_from_rfc3110(long_form) == key


def test_ckaid_parsing() -> None:
    assert parse_ckaid(RSA_CKAID.upper()) == bytes.fromhex(RSA_CKAID)
    for bad in ("", "abc", "xyz0", "12 34"):
        with pytest.raises(CkaidError):
            parse_ckaid(bad)
    assert ckaid_starts_with(bytes.fromhex(RSA_CKAID), "FC0CE0")
    assert not ckaid_starts_with(bytes.fromhex(RSA_CKAID), "fc0d")


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from([ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()]),
    st.integers(min_value=1, max_value=2**255),
)
def test_ecdsa_0s_round_trip(curve: ec.EllipticCurve, secret: int) -> None:
    pub = ec.derive_private_key(secret, curve).public_key()
    assert pubkey_from_0s(pubkey_to_0s(pub), "ecdsa") == pub
    assert keyid_of(pub) == base64.b64encode(ckaid_of(pub)).decode()[:9]
