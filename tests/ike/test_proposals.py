"""`ike=`/`esp=` parsing, Libreswan 4.10 defaults, responder selection and log wording.

Expected strings come from Libreswan 4.10's own logs in
/work/shared/reference/libreswan-4.10-outputs (A-/B-/C-pluto.log, X-pfs-...)
and the RHEL 9 spec; the defaults from `algparse -v2 ike esp` as quoted in
libreswan issue #1558.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cygnet.ike.iana import (
    EncrId,
    EsnId,
    IntegId,
    KeId,
    NotifyType,
    PrfId,
    ProtocolId,
    TransformType,
)
from cygnet.ike.proposals import (
    NoProposalChosen,
    Proposal,
    ProposalError,
    ProposalSyntaxError,
    Transform,
    V1Proposal,
    addke_of,
    check_accepted,
    default_esp_proposals,
    default_ike_proposals,
    describe,
    describe_remote,
    esn_of,
    first_ke,
    for_wire,
    format_proposal,
    format_proposals,
    includes_ke,
    ke_of,
    parse_esp,
    parse_ike,
    parse_v1,
    select_proposal,
    set_ke,
    with_spi,
)

ENCR, PRF, INTEG, KE, ESN = (
    TransformType.ENCR,
    TransformType.PRF,
    TransformType.INTEG,
    TransformType.KE,
    TransformType.ESN,
)
DEFAULT_GROUPS = (
    KeId.MODP2048,
    KeId.MODP3072,
    KeId.MODP4096,
    KeId.MODP8192,
    KeId.ECP_256,
    KeId.ECP_384,
    KeId.ECP_521,
    KeId.CURVE25519,
)
ESN_EITHER = (Transform(ESN, EsnId.ESN), Transform(ESN, EsnId.NO_ESN))


def T(ttype: TransformType, tid: int, key_length: int | None = None) -> Transform:
    return Transform(ttype, tid, key_length)


def kes(*groups: int) -> tuple[Transform, ...]:
    return tuple(T(KE, g) for g in groups)


def ts(p: Proposal) -> tuple[Transform, ...]:
    return p.transforms


def ike(number: int, *transforms: Transform, spi: bytes = b"") -> Proposal:
    return Proposal(number, ProtocolId.IKE, spi, tuple(transforms))


def esp(number: int, *transforms: Transform, spi: bytes = b"\x01\x02\x03\x04") -> Proposal:
    return Proposal(number, ProtocolId.ESP, spi, tuple(transforms))


# ============================================================ parsing: spec strings


def test_spec_ike_aes_sha2_aes_sha1_modp2048() -> None:
    # RHEL 9 §4.12: ike=aes-sha2,aes-sha1;modp2048 — two proposals; the first
    # has no DH so Libreswan merges in its default groups.
    p1, p2 = parse_ike("aes-sha2,aes-sha1;modp2048")
    aes = (T(ENCR, EncrId.AES_CBC, 256), T(ENCR, EncrId.AES_CBC, 128))
    assert (p1.number, p1.protocol, p1.spi) == (1, ProtocolId.IKE, b"")
    assert ts(p1) == (
        *aes,
        T(PRF, PrfId.HMAC_SHA2_256),
        T(INTEG, IntegId.HMAC_SHA2_256_128),
        *kes(*DEFAULT_GROUPS),
    )
    assert p2.number == 2
    assert ts(p2) == (
        *aes,
        T(PRF, PrfId.HMAC_SHA1),
        T(INTEG, IntegId.HMAC_SHA1_96),
        T(KE, KeId.MODP2048),
    )


def test_spec_esp_aes_gcm_aes_sha2_aes_sha1() -> None:
    # RHEL 9 §4.12: esp=aes_gcm,aes-sha2,aes-sha1.  ESP proposes key lengths
    # low-to-high; AEAD carries INTEG=NONE, which is not sent.
    p1, p2, p3 = parse_esp("aes_gcm,aes-sha2,aes-sha1")
    none = (T(KE, KeId.NONE), *ESN_EITHER)
    assert ts(p1) == (
        T(ENCR, EncrId.AES_GCM_16, 128),
        T(ENCR, EncrId.AES_GCM_16, 256),
        T(INTEG, IntegId.NONE),
        *none,
    )
    aes = (T(ENCR, EncrId.AES_CBC, 128), T(ENCR, EncrId.AES_CBC, 256))
    assert ts(p2) == (*aes, T(INTEG, IntegId.HMAC_SHA2_256_128), *none)
    assert ts(p3) == (*aes, T(INTEG, IntegId.HMAC_SHA1_96), *none)
    w1, w2, _ = for_wire([p1, p2, p3])
    assert ts(w1) == (T(ENCR, EncrId.AES_GCM_16, 128), T(ENCR, EncrId.AES_GCM_16, 256), *ESN_EITHER)
    assert ts(w2) == (*aes, T(INTEG, IntegId.HMAC_SHA2_256_128), *ESN_EITHER)


def test_aes_gcm256_sha2_512_dh19() -> None:
    (p,) = parse_ike("aes_gcm256-sha2_512;dh19")
    assert ts(p) == (
        T(ENCR, EncrId.AES_GCM_16, 256),
        T(PRF, PrfId.HMAC_SHA2_512),
        T(INTEG, IntegId.NONE),
        T(KE, KeId.ECP_256),
    )
    (w,) = for_wire([p])
    assert ts(w) == (
        T(ENCR, EncrId.AES_GCM_16, 256),
        T(PRF, PrfId.HMAC_SHA2_512),
        T(KE, KeId.ECP_256),
    )


def test_legacy_dash_dh_slot_and_3des_without_key_length() -> None:
    (p,) = parse_ike("3des-sha1-modp1536")
    assert ts(p) == (
        T(ENCR, EncrId.TRIPLE_DES),
        T(PRF, PrfId.HMAC_SHA1),
        T(INTEG, IntegId.HMAC_SHA1_96),
        T(KE, KeId.MODP1536),
    )


def test_reference_conn_lines_as_pluto_logged_them() -> None:
    # A-pluto.log "IKE SA proposals (connection add):" / "Child SA proposals (connection add):"
    assert format_proposals(parse_ike("aes128-sha2_256;modp2048")) == [
        "  1:IKE=AES_CBC_128-HMAC_SHA2_256-HMAC_SHA2_256_128-MODP2048"
    ]
    assert format_proposals(parse_esp("aes128-sha2_256", ike_auth=True)) == [
        "  1:ESP=AES_CBC_128-HMAC_SHA2_256_128-NONE-ENABLED+DISABLED"
    ]
    # C-pluto.log / X-pfs-mismatch: "Child SA proposals (new child):" uses the IKE SA's group
    assert format_proposals(parse_esp("aes128-sha2_256", ike_ke=KeId.MODP2048)) == [
        "  1:ESP=AES_CBC_128-HMAC_SHA2_256_128-MODP2048-ENABLED+DISABLED"
    ]


def test_ike_auth_child_proposal_on_the_wire_has_no_ke() -> None:
    (p,) = for_wire(parse_esp("aes128-sha2_256", ike_auth=True))
    assert ts(p) == (
        T(ENCR, EncrId.AES_CBC, 128),
        T(INTEG, IntegId.HMAC_SHA2_256_128),
        *ESN_EITHER,
    )
    # what strongSwan logged receiving in X-pfs-mismatch (CREATE_CHILD_SA, pfs)
    (c,) = for_wire(parse_esp("aes128-sha2_256", ike_ke=KeId.MODP2048))
    assert ts(c) == (
        T(ENCR, EncrId.AES_CBC, 128),
        T(INTEG, IntegId.HMAC_SHA2_256_128),
        T(KE, KeId.MODP2048),
        *ESN_EITHER,
    )


@pytest.mark.parametrize("s", ["aes128-sha2", "aes_128-sha2", "aes-128-sha2", "AES_CBC_128-sha2"])
def test_key_length_spellings(s: str) -> None:
    (p,) = parse_ike(s)
    assert p.of_type(ENCR) == (T(ENCR, EncrId.AES_CBC, 128),)
    assert p.of_type(PRF) == (T(PRF, PrfId.HMAC_SHA2_256),)


def test_plus_alternatives_in_every_slot() -> None:
    (p,) = parse_ike("aes256+aes128-sha2_512+sha2_256-dh19+dh20")
    assert ts(p) == (
        T(ENCR, EncrId.AES_CBC, 256),
        T(ENCR, EncrId.AES_CBC, 128),
        T(PRF, PrfId.HMAC_SHA2_512),
        T(PRF, PrfId.HMAC_SHA2_256),
        T(INTEG, IntegId.HMAC_SHA2_512_256),
        T(INTEG, IntegId.HMAC_SHA2_256_128),
        T(KE, KeId.ECP_256),
        T(KE, KeId.ECP_384),
    )
    (e,) = parse_esp("aes128+aes256-sha2_512+sha2_256-dh14", ike_ke=KeId.ECP_256)
    assert e.of_type(KE) == (T(KE, KeId.MODP2048),)  # explicit DH beats the IKE SA's


def test_ike_aead_with_explicit_integrity_none_and_prf() -> None:
    (p,) = parse_ike("aes_gcm-none-sha2;dh19")
    assert ts(p) == (
        T(ENCR, EncrId.AES_GCM_16, 256),
        T(ENCR, EncrId.AES_GCM_16, 128),
        T(PRF, PrfId.HMAC_SHA2_256),
        T(INTEG, IntegId.NONE),
        T(KE, KeId.ECP_256),
    )


def test_esp_aead_null_and_null_cipher() -> None:
    (p,) = parse_esp("aes_gcm-null")
    assert p.of_type(INTEG) == (T(INTEG, IntegId.NONE),)
    (n,) = parse_esp("null-sha1")
    assert n.of_type(ENCR) == (T(ENCR, EncrId.NULL),)
    (c,) = parse_esp("chacha20_poly1305")
    assert c.of_type(ENCR) == (T(ENCR, EncrId.CHACHA20_POLY1305),)


def test_duplicates_are_dropped_like_libreswan() -> None:
    (p,) = parse_ike("aes+aes256-sha2")  # aes (keylen 0) already covers 256
    assert p.of_type(ENCR) == (T(ENCR, EncrId.AES_CBC, 256), T(ENCR, EncrId.AES_CBC, 128))
    assert len(parse_ike("aes-sha2,aes-sha2")) == 1


def test_esp_pfs_no_ignores_dh() -> None:
    (p,) = parse_esp("aes-sha2;dh19", pfs=False, ike_ke=KeId.MODP2048)
    assert p.of_type(KE) == (T(KE, KeId.NONE),)


def test_addke_slots_libreswan_5_syntax() -> None:
    (p,) = parse_ike("aes_gcm256-sha2_512-dh19;addke1=mlkem768+none;addke2=ml_kem_1024")
    assert p.of_type(TransformType.ADDKE1) == (
        T(TransformType.ADDKE1, KeId.ML_KEM_768),
        T(TransformType.ADDKE1, KeId.NONE),
    )
    assert p.of_type(TransformType.ADDKE2) == (T(TransformType.ADDKE2, KeId.ML_KEM_1024),)
    assert format_proposal(p) == (
        "1:IKE=AES_GCM_16_256-HMAC_SHA2_512-NONE-ECP_256-ML_KEM_768+NONE-ML_KEM_1024"
    )


# ============================================================ defaults


def test_default_ike_is_libreswan_4_10() -> None:
    # algparse -v2 'ike' (libreswan issue #1558):
    #   AES_GCM_16_256-HMAC_SHA2_512+HMAC_SHA2_256-MODP2048+MODP3072+MODP4096+MODP8192+DH19+DH20+DH21+DH31
    #   AES_GCM_16_128-...   AES_CBC_256-...   AES_CBC_128-...
    props = default_ike_proposals()
    assert [p.number for p in props] == [1, 2, 3, 4]
    assert [p.of_type(ENCR) for p in props] == [
        (T(ENCR, EncrId.AES_GCM_16, 256),),
        (T(ENCR, EncrId.AES_GCM_16, 128),),
        (T(ENCR, EncrId.AES_CBC, 256),),
        (T(ENCR, EncrId.AES_CBC, 128),),
    ]
    for p in props:
        assert p.of_type(PRF) == (T(PRF, PrfId.HMAC_SHA2_512), T(PRF, PrfId.HMAC_SHA2_256))
        assert p.of_type(KE) == kes(*DEFAULT_GROUPS)
    assert props[0].of_type(INTEG) == (T(INTEG, IntegId.NONE),)
    assert props[2].of_type(INTEG) == (
        T(INTEG, IntegId.HMAC_SHA2_512_256),
        T(INTEG, IntegId.HMAC_SHA2_256_128),
    )
    assert parse_ike(None) == props


def test_default_esp_is_libreswan_4_10() -> None:
    # algparse -v2 'esp': AES_GCM_16_256-NONE, AES_GCM_16_128-NONE,
    #   AES_CBC_256-HMAC_SHA2_512_256+HMAC_SHA2_256_128, AES_CBC_128-...
    assert format_proposals(default_esp_proposals()) == [
        "  1:ESP=AES_GCM_16_256-NONE-NONE-ENABLED+DISABLED",
        "  2:ESP=AES_GCM_16_128-NONE-NONE-ENABLED+DISABLED",
        "  3:ESP=AES_CBC_256-HMAC_SHA2_512_256+HMAC_SHA2_256_128-NONE-ENABLED+DISABLED",
        "  4:ESP=AES_CBC_128-HMAC_SHA2_512_256+HMAC_SHA2_256_128-NONE-ENABLED+DISABLED",
    ]
    with_pfs = default_esp_proposals(KeId.ECP_256, esn="no")
    assert all(p.of_type(KE) == (T(KE, KeId.ECP_256),) for p in with_pfs)
    assert all(p.of_type(ESN) == (T(ESN, EsnId.NO_ESN),) for p in with_pfs)


def test_fips_drops_non_fips() -> None:
    for p in default_ike_proposals(fips=True):
        assert T(KE, KeId.CURVE25519) not in p.transforms
        assert T(KE, KeId.MODP2048) in p.transforms
    with pytest.raises(ProposalError, match="'camellia' is not supported"):
        parse_ike("camellia-sha2", fips=True)
    with pytest.raises(ProposalError, match="DH algorithm 'dh31' is not supported"):
        parse_ike("aes-sha2-dh31", fips=True)


# ============================================================ errors


@pytest.mark.parametrize(
    ("s", "message"),
    [
        ("foo", "IKE encryption algorithm 'foo' is not recognized"),
        ("id3", "IKE encryption algorithm 'id3' is not recognized"),
        ("des-sha1", "IKE encryption algorithm 'des' is not supported"),
        ("aes_ccm-sha2", "IKE encryption algorithm 'aes_ccm' is not supported"),
        ("aes-foo", "IKE PRF algorithm 'foo' is not recognized"),
        ("aes-sha1-modp1024Z", "IKE DH algorithm 'modp1024Z' is not recognized"),
        ("aes-sha1-modp1024", "IKE DH algorithm 'modp1024' is not supported"),
        ("aes-sha2-dh19-x", "IKE proposal contains unexpected 'x'"),
        ("", "IKE proposal is empty"),
        ("aes,,", "IKE encryption algorithm is empty"),
        ("aes-", "IKE PRF algorithm is empty"),
        (
            "aes224-sha1",
            "IKE encryption algorithm AES_CBC with key length 224 invalid; valid key lengths: 128, 192, 256",
        ),
        ("3des168-sha1", "IKE encryption algorithm 3DES_CBC does not allow a key lengths"),
        ("aes-0", "IKE encryption key length is zero"),
        (
            "aes-12x",
            "IKE encryption algorithm 'aes-12x' key length contains a non-numeric character",
        ),
        ("aes99999999999", "IKE encryption algorithm 'aes99999999999' key length WAY too big"),
        ("aes;none", "IKE DH algorithm 'NONE' not permitted"),
        ("aes+aes_gcm-sha2", "AEAD and non-AEAD IKE encryption algorithm cannot be combined"),
        (
            "aes_gcm-sha2_256_128-sha2",
            "AEAD IKE encryption algorithm AES_GCM_16 must have 'NONE' as the integrity algorithm",
        ),
        ("aes_gcm-sha2-sha2", "IKE DH algorithm 'sha2' is not recognized"),
        (
            "aes-null-sha2",
            "non-AEAD IKE encryption algorithm AES_CBC cannot have 'NONE' as the integrity algorithm",
        ),
    ],
)
def test_ike_errors(s: str, message: str) -> None:
    with pytest.raises(ProposalError) as e:
        parse_ike(s)
    assert str(e.value) == message
    assert e.value.whack_message == f"ike string error: {message}"


@pytest.mark.parametrize(
    ("s", "message"),
    [
        (
            "aes-none",
            "non-AEAD ESP encryption algorithm AES_CBC cannot have 'NONE' as the integrity algorithm",
        ),
        (
            "null-none",
            "non-AEAD ESP encryption algorithm NULL cannot have 'NONE' as the integrity algorithm",
        ),
        (
            "aes_gcm-sha1",
            "AEAD ESP encryption algorithm AES_GCM_16 must have 'NONE' as the integrity algorithm",
        ),
        ("aes-dh19", "ESP integrity algorithm 'dh19' is not recognized"),
        ("aes-sha2-dh1", "ESP DH algorithm 'dh1' is not supported"),
        ("aes-sha2_256_truncbug", "ESP integrity algorithm 'sha2_256_truncbug' is not recognized"),
        (
            "aes-hmac_sha2_256_truncbug",
            "ESP integrity algorithm 'hmac_sha2_256_truncbug' is not supported by IKEv2",
        ),
        ("aes-sha2;dh19,aes-sha1", "either all or no ESP proposals should specify DH"),
        (
            "aes;dh19,aes;dh20",
            "more than one IKEv2 ESP DH algorithm (DH19, DH20) requires unimplemented CHILD_SA INVALID_KE",
        ),
        (
            "chacha20_poly1305-256",
            "ESP encryption algorithm CHACHA20_POLY1305 does not allow a key lengths",
        ),
    ],
)
def test_esp_errors(s: str, message: str) -> None:
    with pytest.raises(ProposalError) as e:
        parse_esp(s)
    assert str(e.value) == message
    assert e.value.whack_message == f"esp string error: {message}"


_ALPHABET = st.sampled_from(
    [
        "aes",
        "aes_gcm",
        "3des",
        "chacha20_poly1305",
        "sha2",
        "sha1",
        "sha2_512",
        "null",
        "none",
        "dh19",
        "modp2048",
        "mlkem768",
        "128",
        "256",
        "0",
        "-",
        ";",
        "+",
        ",",
        "=",
        "addke1",
        "_",
        "x",
        "9",
        " ",
        "é",
        "²",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.lists(_ALPHABET, max_size=12).map("".join), st.text(max_size=40)))
def test_random_strings_raise_only_proposal_error(s: str) -> None:
    for parse in (parse_ike, parse_esp, lambda s: parse_v1(s, "ike"), lambda s: parse_v1(s, "esp")):
        try:
            props = parse(s)
        except ProposalError as e:
            assert str(e)
        else:
            assert props
            for p in props:
                assert p.encrypt if isinstance(p, V1Proposal) else p.of_type(ENCR)


# ============================================================ IKEv1 (ikev2=never)


def test_v1_spec_example() -> None:
    # RHEL 9 §4.12 uses these with ikev2=never: each part is expanded over
    # the IKEv1 defaults it leaves out (DH first, then PRF).
    props = parse_v1("aes-sha2,aes-sha1;modp2048", "ike")
    assert props == [
        *(
            V1Proposal("AES_CBC", 0, "HMAC_SHA2_256", "HMAC_SHA2_256_128", g)
            for g in ("MODP2048", "MODP1536", "DH19", "DH31")
        ),
        V1Proposal("AES_CBC", 0, "HMAC_SHA1", "HMAC_SHA1_96", "MODP2048"),
    ]
    assert parse_v1("aes_gcm,aes-sha2,aes-sha1", "esp") == [
        V1Proposal("AES_GCM_16", 0, None, "NONE", None),
        V1Proposal("AES_CBC", 0, None, "HMAC_SHA2_256_128", None),
        V1Proposal("AES_CBC", 0, None, "HMAC_SHA1_96", None),
    ]


@pytest.mark.parametrize(
    ("s", "kind", "message"),
    [
        # the spec: "AES-GCM is available for IPsec (ESP) and for IKEv2, but not for IKEv1"
        ("aes_gcm-sha2", "ike", "IKE encryption algorithm 'aes_gcm' is not supported by IKEv1"),
        ("aes-sha2-dh19", "esp", "ESP DH algorithm 'dh19' is not supported by IKEv1"),
        (
            "aes-sha1;dh14,aes-sha2;dh15",
            "esp",
            "more than one IKEv1 ESP DH algorithm (MODP2048, MODP3072) is not allowed in quick mode",
        ),
        ("aes-sha1;dh14,aes-sha2", "esp", "either all or no ESP proposals should specify DH"),
        ("aes-sha1;modp2048-x", "ike", "IKE proposals contain unexpected 'x'"),
        ("", "esp", "ESP proposal is empty"),
    ],
)
def test_v1_errors(s: str, kind: str, message: str) -> None:
    with pytest.raises(ProposalError) as e:
        parse_v1(s, kind)  # type: ignore[arg-type]
    assert str(e.value) == message


def test_v1_defaults_and_pfs() -> None:
    ike_defaults = parse_v1(None, "ike")
    assert len(ike_defaults) == 2 * 4 * 3  # {AES_CBC,3DES} x groups x PRFs
    assert ike_defaults[0] == V1Proposal(
        "AES_CBC", 0, "HMAC_SHA2_256", "HMAC_SHA2_256_128", "MODP2048"
    )
    assert all(p.dh is None for p in parse_v1("aes-sha1;modp2048", "esp", pfs=False))


# ============================================================ selection


def test_reference_ike_selection_log_line() -> None:
    # C-pluto.log: pluto answering strongSwan's IKE_SA_INIT
    local = parse_ike("aes128-sha2_256;modp2048")
    remote = [
        ike(
            1,
            T(ENCR, EncrId.AES_CBC, 128),
            T(INTEG, IntegId.HMAC_SHA2_256_128),
            T(PRF, PrfId.HMAC_SHA2_256),
            T(KE, KeId.MODP2048),
        )
    ]
    log: list[str] = []
    chosen = select_proposal(local, remote, spi_size=0, log=log)
    assert log == [
        "proposal 1:IKE=AES_CBC_128-HMAC_SHA2_256-HMAC_SHA2_256_128-MODP2048 chosen from remote"
        " proposals 1:IKE:ENCR=AES_CBC_128;INTEG=HMAC_SHA2_256_128;PRF=HMAC_SHA2_256;DH=MODP2048"
        "[first-match]"
    ]
    assert describe(chosen) == (
        "cipher=AES_CBC_128 integ=HMAC_SHA2_256_128 prf=HMAC_SHA2_256 group=MODP2048"
    )  # B-auto-up.txt "sent IKE_AUTH request {...}"
    assert ke_of(chosen) == KeId.MODP2048


def test_reference_child_selection_log_line() -> None:
    # C-pluto.log: "proposal 1:ESP=AES_CBC_128-HMAC_SHA2_256_128-DISABLED SPI=dd5592a1 ..."
    local = parse_esp("aes128-sha2_256", ike_auth=True)
    remote = [
        esp(
            1,
            T(ENCR, EncrId.AES_CBC, 128),
            T(INTEG, IntegId.HMAC_SHA2_256_128),
            T(ESN, EsnId.NO_ESN),
            spi=bytes.fromhex("dd5592a1"),
        )
    ]
    log: list[str] = []
    chosen = select_proposal(local, remote, spi_size=4, log=log)
    assert log == [
        "proposal 1:ESP=AES_CBC_128-HMAC_SHA2_256_128-DISABLED SPI=dd5592a1 chosen from remote"
        " proposals 1:ESP:ENCR=AES_CBC_128;INTEG=HMAC_SHA2_256_128;ESN=DISABLED[first-match]"
    ]
    assert chosen.spi == bytes.fromhex("dd5592a1")
    assert ke_of(chosen) is None and not esn_of(chosen)
    assert describe(chosen, "esp") == "xfrm=AES_CBC_128-HMAC_SHA2_256_128"


def _strongswan_default_ike() -> list[Proposal]:
    """strongSwan 5.9-style default: one CBC proposal, one AEAD proposal, many transforms."""
    groups = kes(
        KeId.CURVE25519,
        KeId.ECP_256,
        KeId.ECP_384,
        KeId.ECP_521,
        KeId.MODP3072,
        KeId.MODP4096,
        KeId.MODP6144,
        KeId.MODP8192,
        KeId.MODP2048,
    )
    prfs = (
        T(PRF, PrfId.AES128_XCBC),
        T(PRF, PrfId.AES128_CMAC),
        T(PRF, PrfId.HMAC_SHA2_256),
        T(PRF, PrfId.HMAC_SHA2_384),
        T(PRF, PrfId.HMAC_SHA2_512),
        T(PRF, PrfId.HMAC_SHA1),
    )
    cbc = ike(
        1,
        T(ENCR, EncrId.AES_CBC, 128),
        T(ENCR, EncrId.AES_CBC, 192),
        T(ENCR, EncrId.AES_CBC, 256),
        T(ENCR, EncrId.CAMELLIA_CBC, 128),
        T(ENCR, 1031, 128),  # private-use id: ignored
        T(INTEG, IntegId.HMAC_SHA2_256_128),
        T(INTEG, IntegId.HMAC_SHA2_384_192),
        T(INTEG, IntegId.HMAC_SHA2_512_256),
        T(INTEG, IntegId.AES_XCBC_96),
        T(INTEG, IntegId.HMAC_SHA1_96),
        *prfs,
        *groups,
    )
    aead = ike(
        2,
        T(ENCR, EncrId.AES_GCM_16, 128),
        T(ENCR, EncrId.AES_GCM_16, 192),
        T(ENCR, EncrId.AES_GCM_16, 256),
        T(ENCR, EncrId.CHACHA20_POLY1305),
        *prfs,
        *groups,
    )
    return [cbc, aead]


def test_local_preference_wins_over_the_peers_order() -> None:
    log: list[str] = []
    chosen = select_proposal(default_ike_proposals(), _strongswan_default_ike(), log=log)
    # our proposal 1 (AES_GCM_16_256) beats our proposal 3 (AES_CBC_256) that
    # the peer's first proposal matched; within it our PRF/DH order decides.
    assert chosen.number == 2
    assert ts(chosen) == (
        T(ENCR, EncrId.AES_GCM_16, 256),
        T(PRF, PrfId.HMAC_SHA2_512),
        T(KE, KeId.MODP2048),
    )
    assert "[first-match]" in log[0] and log[0].endswith("[better-match]")
    assert describe(chosen) == "cipher=AES_GCM_16_256 integ=n/a prf=HMAC_SHA2_512 group=MODP2048"
    assert ke_of(chosen) == KeId.MODP2048


def test_aead_describe_matches_spec_wording() -> None:
    local = parse_ike("aes_gcm256-sha2;modp2048")
    remote = [
        ike(1, T(ENCR, EncrId.AES_GCM_16, 256), T(PRF, PrfId.HMAC_SHA2_256), T(KE, KeId.MODP2048))
    ]
    chosen = select_proposal(local, remote)
    assert describe(chosen) == "cipher=AES_GCM_16_256 integ=n/a prf=HMAC_SHA2_256 group=MODP2048"


def test_no_match_names_the_remote_proposals() -> None:
    remote = [
        ike(
            1,
            T(ENCR, EncrId.AES_CBC, 128),
            T(INTEG, IntegId.HMAC_SHA1_96),
            T(PRF, PrfId.HMAC_SHA1),
            T(KE, KeId.MODP1536),
        )
    ]
    with pytest.raises(NoProposalChosen) as e:
        select_proposal(default_ike_proposals(), remote)
    assert e.value.notify == NotifyType.NO_PROPOSAL_CHOSEN
    assert str(e.value) == (
        "no local proposal matches remote proposals"
        " 1:IKE:ENCR=AES_CBC_128;INTEG=HMAC_SHA1_96;PRF=HMAC_SHA1;DH=MODP1536"
    )
    assert not e.value.ke_mismatch


def test_ke_only_mismatch_is_reported_with_acceptable_groups() -> None:
    local = parse_ike("aes128-sha2_256;modp2048+dh19")
    remote = [
        ike(
            1,
            T(ENCR, EncrId.AES_CBC, 128),
            T(INTEG, IntegId.HMAC_SHA2_256_128),
            T(PRF, PrfId.HMAC_SHA2_256),
            T(KE, KeId.CURVE25519),
        )
    ]
    with pytest.raises(NoProposalChosen) as e:
        select_proposal(local, remote)
    assert e.value.ke_mismatch
    assert e.value.acceptable_groups == (KeId.MODP2048, KeId.ECP_256)
    assert str(e.value).endswith("; matched except KE; acceptable groups [MODP2048, DH19]")


@pytest.mark.parametrize(
    ("remote_encr", "ok"),
    [
        (T(ENCR, EncrId.AES_CBC, 128), True),
        (T(ENCR, EncrId.AES_CBC, 256), True),
        (T(ENCR, EncrId.AES_CBC, 192), False),  # we never proposed 192
        (T(ENCR, EncrId.AES_CBC), False),  # AES without KEY_LENGTH is invalid
        (T(ENCR, EncrId.AES_CBC, 0), False),
    ],
)
def test_key_length_must_match_exactly(remote_encr: Transform, ok: bool) -> None:
    local = parse_ike("aes-sha2;modp2048")
    remote = [
        ike(
            1,
            remote_encr,
            T(INTEG, IntegId.HMAC_SHA2_256_128),
            T(PRF, PrfId.HMAC_SHA2_256),
            T(KE, KeId.MODP2048),
        )
    ]
    if ok:
        assert select_proposal(local, remote).of_type(ENCR) == (remote_encr,)
    else:
        with pytest.raises(NoProposalChosen):
            select_proposal(local, remote)


def test_3des_has_no_key_length() -> None:
    local = parse_ike("3des-sha1-modp2048")
    remote = [
        ike(
            1,
            T(ENCR, EncrId.TRIPLE_DES),
            T(INTEG, IntegId.HMAC_SHA1_96),
            T(PRF, PrfId.HMAC_SHA1),
            T(KE, KeId.MODP2048),
        )
    ]
    assert describe(select_proposal(local, remote)) == (
        "cipher=3DES_CBC_192 integ=HMAC_SHA1_96 prf=HMAC_SHA1 group=MODP2048"
    )


def _child_remote(*esn: int, ke: int | None = None) -> list[Proposal]:
    extra = (T(KE, ke),) if ke is not None else ()
    return [
        esp(
            1,
            T(ENCR, EncrId.AES_CBC, 128),
            T(INTEG, IntegId.HMAC_SHA2_256_128),
            *extra,
            *(T(ESN, e) for e in esn),
        )
    ]


@pytest.mark.parametrize(
    ("ours", "theirs", "expected"),
    [
        ("either", (EsnId.NO_ESN,), EsnId.NO_ESN),
        ("either", (EsnId.ESN,), EsnId.ESN),
        ("either", (EsnId.NO_ESN, EsnId.ESN), EsnId.ESN),  # ours: yes first
        ("no", (EsnId.ESN, EsnId.NO_ESN), EsnId.NO_ESN),
        ("no", (EsnId.ESN,), None),
        ("yes", (EsnId.NO_ESN,), None),
        ("either", (), None),  # ESN is a required transform type
    ],
)
def test_esn(ours: str, theirs: tuple[int, ...], expected: int | None) -> None:
    local = parse_esp("aes128-sha2_256", ike_auth=True, esn=ours)  # type: ignore[arg-type]
    if expected is None:
        with pytest.raises(NoProposalChosen):
            select_proposal(local, _child_remote(*theirs))
    else:
        chosen = select_proposal(local, _child_remote(*theirs))
        assert chosen.of_type(ESN) == (T(ESN, expected),)
        assert esn_of(chosen) == (expected == EsnId.ESN)


def test_child_ke_none_without_pfs() -> None:
    local = parse_esp("aes128-sha2_256", ike_auth=True)
    # peer omits KE: NONE implied, nothing echoed
    assert select_proposal(local, _child_remote(EsnId.NO_ESN)).of_type(KE) == ()
    # peer sends KE=NONE explicitly: echoed back
    chosen = select_proposal(local, _child_remote(EsnId.NO_ESN, ke=KeId.NONE))
    assert chosen.of_type(KE) == (T(KE, KeId.NONE),) and ke_of(chosen) is None
    # peer wants PFS we do not do (X-pfs-mismatch, roles reversed)
    with pytest.raises(NoProposalChosen):
        select_proposal(local, _child_remote(EsnId.NO_ESN, ke=KeId.MODP2048))


def test_child_pfs_requires_ke() -> None:
    local = parse_esp("aes128-sha2_256", ike_ke=KeId.MODP2048)
    chosen = select_proposal(local, _child_remote(EsnId.NO_ESN, ke=KeId.MODP2048))
    assert ke_of(chosen) == KeId.MODP2048
    assert describe(chosen, "esp") == "xfrm=AES_CBC_128-HMAC_SHA2_256_128-MODP2048"
    with pytest.raises(NoProposalChosen) as e:
        select_proposal(local, _child_remote(EsnId.NO_ESN))
    assert e.value.ke_mismatch and e.value.acceptable_groups == (KeId.MODP2048,)


def test_esp_aead_describe() -> None:
    local = parse_esp("aes_gcm256", ike_auth=True)
    remote = [esp(1, T(ENCR, EncrId.AES_GCM_16, 256), T(ESN, EsnId.ESN))]
    chosen = select_proposal(local, remote)
    assert describe(chosen, "esp") == "xfrm=AES_GCM_16_256-NONE"
    assert esn_of(chosen)


def test_skipped_remote_proposals() -> None:
    local = parse_ike("aes128-sha2_256;modp2048")
    good = (
        T(ENCR, EncrId.AES_CBC, 128),
        T(INTEG, IntegId.HMAC_SHA2_256_128),
        T(PRF, PrfId.HMAC_SHA2_256),
        T(KE, KeId.MODP2048),
    )
    unknown_type = ike(1, *good, Transform(14, 1))  # type: ignore[arg-type]
    mixed = ike(2, *good, T(INTEG, IntegId.NONE))
    bad_spi = ike(3, *good, spi=b"\x00" * 8)
    log: list[str] = []
    with pytest.raises(NoProposalChosen):
        select_proposal(local, [unknown_type, mixed, bad_spi], spi_size=0, log=log)
    chosen = select_proposal(
        local, [unknown_type, mixed, bad_spi, ike(4, *good)], spi_size=0, log=log
    )
    assert chosen.number == 4
    assert (
        "[unknown-transform-type]" in log[0]
        and "[mixed-integrity]" in log[0]
        and "[spi-size]" in log[0]
    )
    with pytest.raises(ProposalSyntaxError) as e:
        select_proposal(local, [ike(1, *good, Transform(0, 1))])  # type: ignore[arg-type]
    assert e.value.notify == NotifyType.INVALID_SYNTAX


def test_protocol_must_match() -> None:
    local = parse_esp("aes128-sha2_256", ike_auth=True)
    ah = Proposal(
        1, ProtocolId.AH, b"\0\0\0\1", (T(INTEG, IntegId.HMAC_SHA2_256_128), T(ESN, EsnId.NO_ESN))
    )
    with pytest.raises(NoProposalChosen):
        select_proposal(local, [ah])


def test_unknown_transform_ids_are_ignored_within_a_known_type() -> None:
    local = parse_ike("aes128-sha2_256;modp2048")
    remote = [
        ike(
            1,
            T(ENCR, 1024, 128),
            T(ENCR, EncrId.AES_CBC, 128),
            T(INTEG, 1025),
            T(INTEG, IntegId.HMAC_SHA2_256_128),
            T(PRF, PrfId.HMAC_SHA2_256),
            T(KE, 1026),
            T(KE, KeId.MODP2048),
        )
    ]
    assert ts(select_proposal(local, remote)) == (
        T(ENCR, EncrId.AES_CBC, 128),
        T(PRF, PrfId.HMAC_SHA2_256),
        T(INTEG, IntegId.HMAC_SHA2_256_128),
        T(KE, KeId.MODP2048),
    )


def test_addke_selection() -> None:
    required = parse_ike("aes_gcm256-sha2-dh19;addke1=mlkem768")
    optional = parse_ike("aes_gcm256-sha2-dh19;addke1=mlkem768+none")
    base = (T(ENCR, EncrId.AES_GCM_16, 256), T(PRF, PrfId.HMAC_SHA2_256), T(KE, KeId.ECP_256))
    with_addke = [ike(1, *base, T(TransformType.ADDKE1, KeId.ML_KEM_768))]
    without = [ike(1, *base)]
    chosen = select_proposal(required, with_addke)
    assert addke_of(chosen) == {TransformType.ADDKE1: KeId.ML_KEM_768}
    with pytest.raises(NoProposalChosen):
        select_proposal(required, without)
    assert addke_of(select_proposal(optional, without)) == {}
    (wire,) = for_wire(optional)
    assert wire.of_type(TransformType.ADDKE1) == (
        T(TransformType.ADDKE1, KeId.ML_KEM_768),
        T(TransformType.ADDKE1, KeId.NONE),
    )


def test_check_accepted_on_the_initiator() -> None:
    local = for_wire(default_ike_proposals())
    answer = [
        ike(
            3,
            T(ENCR, EncrId.AES_CBC, 256),
            T(PRF, PrfId.HMAC_SHA2_256),
            T(INTEG, IntegId.HMAC_SHA2_256_128),
            T(KE, KeId.ECP_256),
        )
    ]
    assert check_accepted(local, answer).number == 3
    with pytest.raises(NoProposalChosen):  # proposal 1 is AEAD
        check_accepted(local, [ike(1, *answer[0].transforms)])
    with pytest.raises(ProposalSyntaxError):
        check_accepted(local, [ike(9, *answer[0].transforms)])
    with pytest.raises(ProposalSyntaxError):
        check_accepted(local, answer * 2)
    with pytest.raises(NoProposalChosen):  # two PRFs in an answer
        check_accepted(local, [ike(3, *answer[0].transforms, T(PRF, PrfId.HMAC_SHA2_512))])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(
                st.integers(0, 14),
                st.integers(0, 40),
                st.one_of(st.none(), st.sampled_from([0, 128, 192, 256])),
            ),
            max_size=10,
        ),
        max_size=4,
    ),
    st.sampled_from([0, 4, 8]),
    st.sampled_from([ProtocolId.IKE, ProtocolId.ESP, ProtocolId.AH]),
)
def test_random_received_proposals_only_raise_typed_errors(
    raw: list[list[tuple[int, int, int | None]]], spi_len: int, proto: ProtocolId
) -> None:
    received = [
        Proposal(n, proto, b"\x01" * spi_len, tuple(Transform(t, i, k) for t, i, k in body))  # type: ignore[arg-type]
        for n, body in enumerate(raw, 1)
    ]
    for local in (default_ike_proposals(), default_esp_proposals(), parse_esp(None, ike_auth=True)):
        try:
            chosen = select_proposal(local, received)
        except NoProposalChosen:
            continue
        types = [int(t.type) for t in chosen.transforms]
        assert len(types) == len(set(types))
        assert chosen.of_type(ENCR)


# ============================================================ small helpers


def test_ke_helpers() -> None:
    props = default_ike_proposals()
    assert first_ke(props) == KeId.MODP2048
    assert includes_ke(props, KeId.CURVE25519) and not includes_ke(props, KeId.MODP1536)
    assert first_ke(parse_esp(None, ike_auth=True)) is None


def test_set_ke_and_with_spi() -> None:
    (p,) = set_ke(parse_esp("aes128-sha2_256", ike_auth=True), [KeId.ECP_256, KeId.MODP2048])
    assert ts(p) == (
        T(ENCR, EncrId.AES_CBC, 128),
        T(INTEG, IntegId.HMAC_SHA2_256_128),
        T(KE, KeId.ECP_256),
        T(KE, KeId.MODP2048),
        *ESN_EITHER,
    )
    (q,) = set_ke([p], [])
    assert q.of_type(KE) == (T(KE, KeId.NONE),)
    (r,) = with_spi([q], b"\xaa\xbb\xcc\xdd")
    assert r.spi == b"\xaa\xbb\xcc\xdd" and format_proposal(r).endswith(" SPI=aabbccdd")


def test_describe_remote_handles_unknown_numbers() -> None:
    text = describe_remote([ike(1, T(ENCR, 4000, 128), Transform(5, 7))])  # type: ignore[arg-type]
    assert text == "1:IKE:ENCR=4000_128;ESN=7"


def test_child_addke_only_outside_ike_auth() -> None:
    s = "aes_gcm256;dh19;addke1=mlkem768"
    (auth,) = parse_esp(s, ike_auth=True)
    assert auth.of_type(TransformType.ADDKE1) == () and auth.of_type(KE) == (T(KE, KeId.NONE),)
    (child,) = parse_esp(s)
    assert child.of_type(KE) == (T(KE, KeId.ECP_256),)
    assert child.of_type(TransformType.ADDKE1) == (T(TransformType.ADDKE1, KeId.ML_KEM_768),)


def test_wire_form_local_proposals_still_accept_explicit_none() -> None:
    local = for_wire(parse_ike("aes_gcm256-sha2;dh19"))  # INTEG=NONE placeholder dropped
    remote = [
        ike(
            1,
            T(ENCR, EncrId.AES_GCM_16, 256),
            T(PRF, PrfId.HMAC_SHA2_256),
            T(INTEG, IntegId.NONE),
            T(KE, KeId.ECP_256),
        )
    ]
    assert select_proposal(local, remote).of_type(INTEG) == (T(INTEG, IntegId.NONE),)
    assert check_accepted(local, remote).number == 1
