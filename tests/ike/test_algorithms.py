"""The algorithm table against Libreswan 4.10's own `pluto --selftest` output and the RHEL spec."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cygnet.ike.algorithms import (
    ALGORITHMS,
    AlgType,
    algorithms,
    by_id,
    by_transform,
    integ_for_prf,
    known_but_unsupported,
    lookup,
    selftest_algorithm_lines,
    transform_name,
    transform_type_name,
)
from cygnet.ike.iana import EncrId, EsnId, IntegId, KeId, PrfId, TransformType

SHARED = Path("/work/shared")
SELFTEST = SHARED / "reference/libreswan-4.10-outputs/A-pluto-selftest-plain.txt"
SPEC = SHARED / "spec/rhel9-configuring-a-vpn-with-ipsec.txt"


def _reference_table() -> list[str]:
    lines = SELFTEST.read_text().splitlines()
    start = lines.index("Encryption algorithms:")
    end = next(i for i, line in enumerate(lines) if line.startswith("testing "))
    return lines[start:end]


@pytest.mark.skipif(not SELFTEST.exists(), reason="reference outputs not available")
def test_selftest_table_is_byte_for_byte_libreswan_4_10() -> None:
    assert selftest_algorithm_lines(False) == _reference_table()


@pytest.mark.skipif(not SPEC.exists(), reason="spec not available")
def test_fips_disabled_lines_are_the_specs() -> None:
    spec = SPEC.read_text()
    block = spec[spec.index("# ipsec pluto --selftest 2>&1 | grep disabled") :]
    expected = re.findall(r"^    (\w+ algorithm \S+ disabled; not FIPS compliant)$", block, re.M)
    assert len(expected) == 12
    got = [line for line in selftest_algorithm_lines(True) if "disabled" in line]
    assert got == expected


@pytest.mark.skipif(not SPEC.exists(), reason="spec not available")
def test_fips_table_matches_specs_grep_esp_fips() -> None:
    # `ipsec pluto --selftest 2>&1 | grep ESP | grep FIPS | sed "s/^.*FIPS//"`;
    # the spec's listing lost its leading blanks (and the blank IPCOMP rows);
    # the columns inside survive.
    spec = SPEC.read_text()
    block = spec[spec.index('grep ESP | grep FIPS | sed "s/^.*FIPS//"') :].splitlines()[1:]
    expected = []
    for line in block:
        if not line.startswith("    "):
            break
        expected.append(line.strip())
    got = [
        re.sub(r"^.*FIPS", "", line).strip()
        for line in selftest_algorithm_lines(True)
        if "ESP" in line and "FIPS" in line
    ]
    assert [g for g in got if g] == expected


def test_fips_headings_and_only_approved_rows() -> None:
    lines = selftest_algorithm_lines(True)
    assert "FIPS Encryption algorithms:" in lines
    assert not any("CHACHA20_POLY1305 " in line and "IKEv1" in line for line in lines)
    assert any(line.startswith("  DH19 ") for line in lines)
    assert not any(line.startswith("  DH31 ") for line in lines)


def test_ml_kem_rows_exist_but_not_in_the_4_10_report() -> None:
    for name, alias, ident in (
        ("ML_KEM_768", "mlkem768", KeId.ML_KEM_768),
        ("ML_KEM_1024", "mlkem1024", KeId.ML_KEM_1024),
    ):
        a = lookup(AlgType.DH, alias)
        assert a is not None and a.name == name and a.ikev2_id == ident
        assert lookup(AlgType.DH, name.lower()) is a
        assert "IKE" in a.ikev2 and not a.ikev1
        assert not any(line.startswith(f"  {name} ") for line in selftest_algorithm_lines(False))


@pytest.mark.parametrize(
    ("kind", "name", "fqn"),
    [
        (AlgType.ENCRYPT, "aes", "AES_CBC"),
        (AlgType.ENCRYPT, "AES_CBC", "AES_CBC"),
        (AlgType.ENCRYPT, "aes_gcm", "AES_GCM_16"),
        (AlgType.ENCRYPT, "aes_gcm_c", "AES_GCM_16"),
        (AlgType.ENCRYPT, "aes_gcm_a", "AES_GCM_8"),
        (AlgType.ENCRYPT, "3des", "3DES_CBC"),
        (AlgType.ENCRYPT, "chacha20poly1305", "CHACHA20_POLY1305"),
        (AlgType.PRF, "sha2", "HMAC_SHA2_256"),
        (AlgType.PRF, "sha2_512", "HMAC_SHA2_512"),
        (AlgType.PRF, "sha", "HMAC_SHA1"),
        (AlgType.INTEG, "sha2", "HMAC_SHA2_256_128"),
        (AlgType.INTEG, "sha256", "HMAC_SHA2_256_128"),
        (AlgType.INTEG, "sha2_256", "HMAC_SHA2_256_128"),
        (AlgType.INTEG, "sha2_256_128", "HMAC_SHA2_256_128"),
        (AlgType.INTEG, "hmac_sha2_256", "HMAC_SHA2_256_128"),
        (AlgType.INTEG, "null", "NONE"),
        (AlgType.DH, "dh14", "MODP2048"),
        (AlgType.DH, "modp2048", "MODP2048"),
        (AlgType.DH, "ecp256", "DH19"),
        (AlgType.DH, "ecp_256", "DH19"),
        (AlgType.DH, "dh19", "DH19"),
        (AlgType.DH, "curve25519", "DH31"),
        (AlgType.DH, "dh31", "DH31"),
        (AlgType.DH, "dh0", "NONE"),
    ],
)
def test_aliases(kind: AlgType, name: str, fqn: str) -> None:
    a = lookup(kind, name)
    assert a is not None and a.name == fqn
    assert lookup(kind, name.upper()) is a  # case-insensitive, like Libreswan


def test_fips_lookup_hides_non_fips() -> None:
    assert lookup(AlgType.ENCRYPT, "chacha20poly1305", fips=True) is None
    assert lookup(AlgType.DH, "curve25519", fips=True) is None
    assert lookup(AlgType.DH, "dh19", fips=True) is not None
    assert [a.name for a in algorithms(AlgType.PRF, fips=True)] == [
        "HMAC_SHA1",
        "HMAC_SHA2_256",
        "HMAC_SHA2_384",
        "HMAC_SHA2_512",
    ]


def test_key_sizes() -> None:
    aes = lookup(AlgType.ENCRYPT, "aes")
    assert aes is not None
    assert aes.key_lengths == (256, 192, 128) and aes.default_key_length == 128
    assert not aes.keylen_omitted and not aes.aead
    tdes = lookup(AlgType.ENCRYPT, "3des")
    assert tdes is not None and tdes.keylen_omitted and tdes.key_lengths == (192,)
    chacha = lookup(AlgType.ENCRYPT, "chacha20_poly1305")
    assert chacha is not None and chacha.aead and chacha.keylen_omitted


def test_ids_by_transform() -> None:
    assert by_id(AlgType.ENCRYPT, EncrId.AES_GCM_16) is lookup(AlgType.ENCRYPT, "aes_gcm")
    assert by_transform(TransformType.PRF, PrfId.HMAC_SHA2_256) is lookup(AlgType.PRF, "sha2")
    assert by_transform(TransformType.ADDKE1, KeId.ML_KEM_768) is lookup(AlgType.DH, "mlkem768")
    assert by_transform(TransformType.ESN, 0) is None
    assert by_id(AlgType.ENCRYPT, 9999) is None


def test_integ_for_prf() -> None:
    for prf, integ in (
        ("HMAC_SHA2_256", "HMAC_SHA2_256_128"),
        ("HMAC_SHA2_512", "HMAC_SHA2_512_256"),
        ("HMAC_SHA1", "HMAC_SHA1_96"),
        ("AES_XCBC", "AES_XCBC_96"),
    ):
        p = lookup(AlgType.PRF, prf)
        assert p is not None
        got = integ_for_prf(p)
        assert got is not None and got.name == integ


def test_transform_names_as_pluto_logs_them() -> None:
    assert transform_name(TransformType.ENCR, EncrId.AES_CBC, 128) == "AES_CBC_128"
    assert transform_name(TransformType.ENCR, EncrId.AES_GCM_16, 256) == "AES_GCM_16_256"
    assert transform_name(TransformType.ENCR, EncrId.TRIPLE_DES) == "3DES"
    assert transform_name(TransformType.PRF, PrfId.HMAC_SHA2_256) == "HMAC_SHA2_256"
    assert transform_name(TransformType.INTEG, IntegId.HMAC_SHA2_256_128) == "HMAC_SHA2_256_128"
    assert transform_name(TransformType.KE, KeId.MODP2048) == "MODP2048"
    assert transform_name(TransformType.KE, KeId.ECP_256) == "ECP_256"
    assert transform_name(TransformType.ESN, EsnId.NO_ESN) == "DISABLED"
    assert transform_name(TransformType.ESN, EsnId.ESN) == "ENABLED"
    assert transform_name(TransformType.KE, 4242) == "4242"
    assert transform_type_name(TransformType.KE) == "DH"
    assert transform_type_name(TransformType.ENCR) == "ENCR"


def test_known_but_unsupported() -> None:
    assert known_but_unsupported(AlgType.ENCRYPT, "DES")
    assert known_but_unsupported(AlgType.DH, "modp1024")
    assert not known_but_unsupported(AlgType.ENCRYPT, "vanitycipher")


def test_every_negotiable_row_has_a_unique_ikev2_id() -> None:
    seen: set[tuple[AlgType, int]] = set()
    for a in ALGORITHMS:
        if a.ikev2_id is None or a.type in (AlgType.HASH, AlgType.IPCOMP):
            continue
        assert (a.type, a.ikev2_id) not in seen, a.name
        seen.add((a.type, a.ikev2_id))
