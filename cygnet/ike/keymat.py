"""IKEv2 key derivation: SKEYSEED, the IKE SA keys, Child SA KEYMAT.

RFC 7296 §2.13 (prf+, in `transforms.PrfAlg.prf_plus`), §2.14 (IKE SA keys),
§2.17 (Child SA keys), §2.18 (IKE SA rekey), RFC 9370 §2.2.2 (additional key
exchanges). Key lengths come from the negotiated transforms: SK_d, SK_pi and
SK_pr are the PRF's preferred key length, SK_a* the INTEG key length, SK_e*
the ENCR key material including any salt (RFC 5282 §7.1).

Key dataclasses never print their contents: secrets stay out of logs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

from cygnet.ike.iana import PrfId
from cygnet.ike.transforms import EncrAlg, IntegAlg, PrfAlg

__all__ = [
    "ChildKeys",
    "IkeKeys",
    "additional_ke_skeyseed",
    "child_sa_keys",
    "ike_sa_keys",
    "rekey_skeyseed",
    "skeyseed",
]

#: RFC 7296 §2.14: PRFs that take only the first 64 bits of each nonce for SKEYSEED.
_FIXED_KEY_PRFS = frozenset({PrfId.AES128_XCBC, PrfId.AES128_CMAC})


def _hidden_repr(self: object) -> str:
    parts = ", ".join(f"{f.name}=<{len(getattr(self, f.name))} bytes>" for f in fields(self))  # type: ignore[arg-type]
    return f"{type(self).__name__}({parts})"


@dataclass(frozen=True, repr=False)
class IkeKeys:
    """The seven IKE SA keys of RFC 7296 §2.14 (i = initiator, r = responder)."""

    sk_d: bytes
    sk_ai: bytes
    sk_ar: bytes
    sk_ei: bytes
    sk_er: bytes
    sk_pi: bytes
    sk_pr: bytes

    __repr__ = _hidden_repr


@dataclass(frozen=True, repr=False)
class ChildKeys:
    """Child SA KEYMAT split per RFC 7296 §2.17: `*_i` protect traffic from the
    initiator of the exchange that created the SA to its responder."""

    encr_i: bytes
    integ_i: bytes
    encr_r: bytes
    integ_r: bytes

    __repr__ = _hidden_repr


def skeyseed(prf: PrfAlg, ni: bytes, nr: bytes, g_ir: bytes) -> bytes:
    """SKEYSEED = prf(Ni | Nr, g^ir) (RFC 7296 §2.14).

    "If the negotiated PRF is AES-XCBC-PRF-128 or AES-CMAC-PRF-128, only the
    first 64 bits of Ni and the first 64 bits of Nr are used in calculating
    SKEYSEED, but all the bits are used for input to the prf+ function."
    """
    key = ni[:8] + nr[:8] if prf.id in _FIXED_KEY_PRFS else ni + nr
    return prf.prf(key, g_ir)


def ike_sa_keys(prf: PrfAlg, encr: EncrAlg, integ: IntegAlg | None, skeyseed: bytes,
                ni: bytes, nr: bytes, spi_i: bytes, spi_r: bytes) -> IkeKeys:
    """{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
    = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) (RFC 7296 §2.14).

    `integ` is None for AEAD ciphers, which makes SK_ai/SK_ar empty (RFC 5282 §7).
    """
    if len(spi_i) != 8 or len(spi_r) != 8:
        raise ValueError("IKE SPIs are 8 octets")
    lp, la, le = prf.key_bytes, (integ.key_bytes if integ else 0), encr.key_bytes
    km = prf.prf_plus(skeyseed, ni + nr + spi_i + spi_r, 3 * lp + 2 * la + 2 * le)
    pos = 0

    def take(n: int) -> bytes:
        nonlocal pos
        pos += n
        return km[pos - n: pos]

    return IkeKeys(
        sk_d=take(lp), sk_ai=take(la), sk_ar=take(la), sk_ei=take(le), sk_er=take(le),
        sk_pi=take(lp), sk_pr=take(lp),
    )


def rekey_skeyseed(prf_old: PrfAlg, sk_d_old: bytes, g_ir_new: bytes, ni: bytes, nr: bytes,
                   additional: Iterable[bytes] = ()) -> bytes:
    """SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr) for a rekeyed IKE SA (RFC 7296 §2.18).

    "Because the rekeying exchange belongs to the old IKE SA, it is the old IKE
    SA's PRF that is used to generate SKEYSEED"; the new SA's keys then come
    from `ike_sa_keys` with the new PRF. Ni, Nr are the CREATE_CHILD_SA nonces.
    With RFC 9370 additional key exchanges, their secrets SK(1)..SK(n) follow
    g^ir (RFC 9370 §2.2.4).
    """
    return prf_old.prf(sk_d_old, g_ir_new + b"".join(additional) + ni + nr)


def additional_ke_skeyseed(prf: PrfAlg, sk_d: bytes, shared: bytes, ni: bytes, nr: bytes) -> bytes:
    """SKEYSEED(n) = prf(SK_d(n-1), SK(n) | Ni | Nr) after each IKE_INTERMEDIATE
    key exchange (RFC 9370 §2.2.2); Ni, Nr are the IKE_SA_INIT nonces. Feed the
    result to `ike_sa_keys` with the unchanged SPIs to get the next key set."""
    return prf.prf(sk_d, shared + ni + nr)


def child_sa_keys(prf: PrfAlg, encr: EncrAlg, integ: IntegAlg | None, sk_d: bytes,
                  ni: bytes, nr: bytes, g_ir: bytes | None = None,
                  additional: Iterable[bytes] = ()) -> ChildKeys:
    """KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr), taken in the order
    encr_i, integ_i, encr_r, integ_r (RFC 7296 §2.17).

    Ni, Nr: the nonces of the exchange that creates the SA (IKE_AUTH reuses the
    IKE_SA_INIT ones). With RFC 9370 additional key exchanges in
    CREATE_CHILD_SA, their secrets follow g^ir (RFC 9370 §2.2.4).
    """
    le, la = encr.key_bytes, (integ.key_bytes if integ else 0)
    seed = (g_ir or b"") + b"".join(additional) + ni + nr
    km = prf.prf_plus(sk_d, seed, 2 * (le + la))
    return ChildKeys(
        encr_i=km[:le], integ_i=km[le: le + la],
        encr_r=km[le + la: 2 * le + la], integ_r=km[2 * le + la:],
    )
