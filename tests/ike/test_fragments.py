"""RFC 7383 fragmentation: split into SKF fragments, reassemble with every consistency check."""

from __future__ import annotations

import contextlib
import os
import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cygnet.ike.errors import IntegrityError
from cygnet.ike.fragments import (
    DEFAULT_IPV4_LIMIT,
    DEFAULT_IPV6_LIMIT,
    FragmentError,
    Reassembler,
    fragment,
    is_fragment,
    max_ike_size,
)
from cygnet.ike.iana import EncrId, ExchangeType, HeaderFlag, IntegId, PayloadType
from cygnet.ike.message import InvalidSyntax, Message, MessageError, payload_summary
from cygnet.ike.payloads import CertPayload, EncryptedFragmentPayload, VendorIdPayload
from cygnet.ike.sk import SkCrypto
from cygnet.ike.transforms import encr, integ

from .wire_samples import (
    SPI_I,
    SPI_R,
    TSHARK,
    auth_request_inner,
    sample_cert_der,
    tshark_verbose,
    uat_decryption_row,
)

SUITES = [
    (EncrId.AES_GCM_16, 256, None),
    (EncrId.AES_CBC, 128, IntegId.HMAC_SHA2_256_128),
    (EncrId.CHACHA20_POLY1305, None, None),
]


def pair(encr_id, bits, integ_id):
    e = encr(encr_id, bits)
    i = integ(integ_id) if integ_id is not None else None
    ke, ka = os.urandom(e.key_bytes), os.urandom(i.key_bytes) if i else b""
    return SkCrypto(e, i, ke, ka), SkCrypto(e, i, ke, ka)


def big_auth(n_certs: int = 3) -> Message:
    inner = (*auth_request_inner(), *[CertPayload(4, sample_cert_der() * 3)] * n_certs)
    return Message(SPI_I, SPI_R, ExchangeType.IKE_AUTH, 1, (), HeaderFlag.INITIATOR, inner)


def test_max_ike_size() -> None:
    assert max_ike_size(DEFAULT_IPV4_LIMIT, ipv6=False) == 548
    assert max_ike_size(DEFAULT_IPV6_LIMIT, ipv6=True, non_esp_marker=True) == 1228


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: EncrId(s[0]).name)
@pytest.mark.parametrize("limit", [120, 548, 1228])
def test_split_and_reassemble_any_order(suite, limit: int) -> None:
    sealer, opener = pair(*suite)
    msg = big_auth()
    frags = fragment(sealer, msg, limit)
    assert len(frags) > 1
    for n, f in enumerate(frags, 1):
        assert len(f) <= limit
        m = Message.decode(f)
        assert is_fragment(m) and m.message_id == 1 and m.exchange == ExchangeType.IKE_AUTH
        skf = m.payloads[-1]
        assert isinstance(skf, EncryptedFragmentPayload)
        assert (skf.number, skf.total) == (n, len(frags))
        # RFC 7383 §2.5: Next Payload is the first inner type in fragment 1 only
        assert skf.first_inner == (PayloadType.IDi if n == 1 else 0)
    order = list(range(len(frags)))
    random.Random(limit).shuffle(order)
    r = Reassembler(opener, max_fragments=200)
    results = [r.receive(frags[i]) for i in order]
    assert all(x is None for x in results[:-1])
    whole = results[-1]
    assert whole.inner == msg.inner
    assert payload_summary(whole).startswith("SK{IDi,N(INITIAL_CONTACT),IDr,AUTH,")
    assert r.pending == 0


def test_fragments_fill_the_limit() -> None:
    sealer, _ = pair(*SUITES[1])
    frags = fragment(sealer, big_auth(), 548)
    assert all(540 <= len(f) <= 548 for f in frags[:-1])


def test_small_message_single_fragment_and_empty() -> None:
    sealer, opener = pair(*SUITES[0])
    msg = Message(SPI_I, SPI_R, ExchangeType.INFORMATIONAL, 4, (), HeaderFlag(0), ())
    (only,) = fragment(sealer, msg, 548)
    assert Reassembler(opener).receive(only).inner == ()


def test_limit_too_small() -> None:
    sealer, _ = pair(*SUITES[1])
    with pytest.raises(ValueError):
        fragment(sealer, big_auth(), 60)


def test_clear_payloads_refused() -> None:
    sealer, _ = pair(*SUITES[0])
    msg = Message(SPI_I, SPI_R, ExchangeType.IKE_AUTH, 1, (VendorIdPayload(b"x"),), HeaderFlag(0), ())
    with pytest.raises(ValueError):
        fragment(sealer, msg, 548)


def test_duplicates_ignored() -> None:
    sealer, opener = pair(*SUITES[0])
    frags = fragment(sealer, big_auth(), 548)
    r = Reassembler(opener)
    assert r.receive(frags[0]) is None
    assert r.receive(frags[0]) is None
    for f in frags[1:-1]:
        assert r.receive(f) is None
        assert r.receive(f) is None
    assert r.receive(frags[-1]) is not None


def test_total_changes() -> None:
    """RFC 7383 §2.6: a larger Total Fragments restarts reassembly, a smaller one is dropped."""
    sealer, opener = pair(*SUITES[0])
    msg = big_auth()
    coarse = fragment(sealer, msg, 1228)
    fine = fragment(sealer, msg, 548)
    assert len(fine) > len(coarse)
    r = Reassembler(opener)
    r.receive(coarse[0])
    assert r.receive(fine[0]) is None  # restart with the finer fragmentation
    assert r.receive(coarse[1]) is None  # stale: smaller total, dropped
    out = None
    for f in fine[1:]:
        out = r.receive(f)
    assert out is not None and out.inner == msg.inner


def test_forged_fragment_rejected_before_storing() -> None:
    sealer, opener = pair(*SUITES[1])
    frags = fragment(sealer, big_auth(), 548)
    r = Reassembler(opener)
    bad = bytearray(frags[1])
    bad[-1] ^= 1
    with pytest.raises(IntegrityError):
        r.receive(bytes(bad))
    assert r.pending == 0
    # Fragment Number/Total are covered by the ICV/AAD (RFC 7383 §2.5)
    for off, value in ((32, 1), (34, len(frags) + 1)):
        bad = bytearray(frags[1])
        struct.pack_into("!H", bad, off, value)
        with pytest.raises(IntegrityError):
            r.receive(bytes(bad))


def test_out_of_range_and_too_many() -> None:
    sealer, opener = pair(*SUITES[0])
    msg = big_auth()
    with pytest.raises(ValueError):
        sealer.seal_fragment(msg, 3, 2, 0, b"x")
    with pytest.raises(ValueError):
        sealer.seal_fragment(msg, 0, 2, 0, b"x")
    # a fragment claiming number > total fails payload decoding (unauthenticated data)
    good = sealer.seal_fragment(msg, 1, 2, PayloadType.V, b"x")
    bad = bytearray(good)
    struct.pack_into("!H", bad, 32, 3)
    with pytest.raises(InvalidSyntax):
        opener.open_fragment(bytes(bad))
    # more fragments than we are willing to hold
    many = sealer.seal_fragment(msg, 1, 100, PayloadType.V, b"x")
    with pytest.raises(FragmentError) as e:
        Reassembler(opener, max_fragments=64).receive(many)
    assert e.value.notify is None


def test_octet_budget() -> None:
    sealer, opener = pair(*SUITES[0])
    frags = fragment(sealer, big_auth(), 548)
    r = Reassembler(opener, max_octets=1000)
    with pytest.raises(FragmentError):
        for f in frags:
            r.receive(f)
    assert r.pending == 0


def test_reassembled_inner_chain_checked() -> None:
    sealer, opener = pair(*SUITES[0])
    msg = big_auth(0)
    # one fragment with a broken chain: IDi claims 200 octets
    chunk = bytes([0, 0, 0, 200, 2, 0, 0, 0]) + b"west"
    f = sealer.seal_fragment(msg, 1, 1, PayloadType.IDi, chunk)
    with pytest.raises(InvalidSyntax):
        Reassembler(opener).receive(f)


def test_separate_messages_kept_apart_and_forget() -> None:
    sealer, opener = pair(*SUITES[0])
    a = fragment(sealer, big_auth(), 548)
    b_msg = Message(SPI_I, SPI_R, ExchangeType.IKE_AUTH, 2, (), HeaderFlag.INITIATOR, big_auth().inner)
    b = fragment(sealer, b_msg, 548)
    r = Reassembler(opener)
    r.receive(a[0])
    r.receive(b[0])
    assert r.pending == 2
    r.forget(2, False)
    assert r.pending == 1


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
@pytest.mark.parametrize("suite", SUITES[:2], ids=lambda s: EncrId(s[0]).name)
def test_tshark_decrypts_skf(tmp_path, suite) -> None:
    """Wireshark recomputes each fragment's ICV/tag: RFC 7383 §2.5 coverage incl. Fragment Number/Total."""
    e = encr(suite[0], suite[1])
    i = integ(suite[2]) if suite[2] is not None else None
    sk_e, sk_a = os.urandom(e.key_bytes), os.urandom(i.key_bytes) if i else b""
    frags = fragment(SkCrypto(e, i, sk_e, sk_a), big_auth(1), 548)
    row = uat_decryption_row(suite[:2], suite[2], sk_e, sk_a)
    out = tshark_verbose(tmp_path, frags, "-o", f"uat:ikev2_decryption_table:{row}")
    assert "Malformed" not in out and "incorrect" not in out
    assert out.count("Payload: Encrypted and Authenticated Fragment (53)") == len(frags)
    assert f"Total Fragments: {len(frags)}" in out
    assert out.count("Integrity Checksum Data:") == len(frags)
    assert out.count("[correct]") == len(frags)


# --------------------------------------------------------------------------- fuzz

_SEALER, _OPENER = pair(*SUITES[0])
_MSG = big_auth(1)
_FRAGS = fragment(_SEALER, _MSG, 548)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, len(_FRAGS) - 1), max_size=3 * len(_FRAGS)))
def test_fuzz_arrival_orders(indices: list[int]) -> None:
    """Any arrival pattern (drops, duplicates, reordering): only the right message or nothing."""
    r = Reassembler(_OPENER)
    got = [m for m in (r.receive(_FRAGS[i]) for i in indices) if m is not None]
    assert len(got) <= len(indices)
    for m in got:
        assert m.inner == _MSG.inner
    if set(indices) == set(range(len(_FRAGS))):
        assert got


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(_FRAGS) - 1), st.integers(0, 10_000), st.integers(0, 255))
def test_fuzz_mutated_fragment(which: int, pos: int, value: int) -> None:
    data = bytearray(_FRAGS[which])
    data[pos % len(data)] = value
    with contextlib.suppress(MessageError, IntegrityError):
        Reassembler(_OPENER).receive(bytes(data))
