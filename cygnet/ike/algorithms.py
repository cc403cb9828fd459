"""Libreswan's algorithm table: names, aliases, key sizes, where each applies, FIPS.

This is the vocabulary of `ike=`/`esp=` and of the `pluto --selftest` report,
not the crypto (that lives in `transforms`).  Rows and their order follow
Libreswan 4.10's `pluto --selftest` ("Encryption algorithms:" ... "IPCOMP
algorithms:"); the ML-KEM rows are Libreswan 5.x additions (IKEv2 only, used
as RFC 9370 additional key exchanges) and are left out of the 4.10 report.

Aliases are the names printed after the backend column (the FQN itself is a
name too).  Lookups are case-insensitive, as in Libreswan.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from cygnet.ike.iana import EncrId, EsnId, IntegId, KeId, PrfId, TransformType, name_of


class AlgType(Enum):
    """Algorithm kinds in `pluto --selftest` order; the value is the report's word."""

    ENCRYPT = "Encryption"
    HASH = "Hash"
    PRF = "PRF"
    INTEG = "Integrity"
    DH = "DH"
    IPCOMP = "IPCOMP"

    @property
    def parser_name(self) -> str:
        """The word Libreswan's proposal parser uses in errors ("IKE PRF algorithm ...")."""
        return _PARSER_NAMES[self]


_PARSER_NAMES = {
    AlgType.ENCRYPT: "encryption",
    AlgType.HASH: "hash",
    AlgType.PRF: "PRF",
    AlgType.INTEG: "integrity",
    AlgType.DH: "DH",
    AlgType.IPCOMP: "IPCOMP",
}

#: Transform type each negotiable algorithm kind is carried in (IKEv2).
TRANSFORM_TYPE: dict[AlgType, TransformType] = {
    AlgType.ENCRYPT: TransformType.ENCR,
    AlgType.PRF: TransformType.PRF,
    AlgType.INTEG: TransformType.INTEG,
    AlgType.DH: TransformType.KE,
}

_NO = frozenset[str]()


def _f(s: str) -> frozenset[str]:
    return frozenset(s.split())


@dataclass(frozen=True, slots=True)
class Algorithm:
    """One row of Libreswan's algorithm table.

    `ikev1`/`ikev2` are the protocols ("IKE", "ESP", "AH") the algorithm is
    listed for; `ikev2_id` is its IANA number in the transform type it
    belongs to (None: no IKEv2 number).  For ciphers, `key_lengths` is in
    Libreswan's (descending) order, `keylen_omitted` means no KEY_LENGTH
    attribute is ever sent (3DES, NULL, ChaCha20-Poly1305).  `prf` names the
    PRF an integrity algorithm is built from (how `ike=aes-sha2` derives
    its integrity algorithm).
    """

    type: AlgType
    name: str
    ikev2_id: int | None
    ikev1: frozenset[str]
    ikev2: frozenset[str]
    fips: bool
    backend: str | None = None
    aliases: tuple[str, ...] = ()
    key_lengths: tuple[int, ...] = ()
    default_key_length: int | None = None
    keylen_omitted: bool = False
    aead: bool = False
    prf: str | None = None
    selftest: bool = True

    @property
    def names(self) -> tuple[str, ...]:
        """All names this algorithm answers to, lower case, FQN first."""
        return (self.name.lower(), *self.aliases)

    @property
    def max_key_length(self) -> int | None:
        return max(self.key_lengths) if self.key_lengths else None

    def valid_key_length(self, bits: int) -> bool:
        return bits in self.key_lengths


_AES = (256, 192, 128)


def _enc(
    name: str,
    ikev2_id: int | None,
    v1: str,
    v2: str,
    fips: bool,
    backend: str | None,
    aliases: str = "",
    *,
    keys: tuple[int, ...] = _AES,
    default: int | None = 128,
    omitted: bool = False,
    aead: bool = False,
) -> Algorithm:
    return Algorithm(
        AlgType.ENCRYPT,
        name,
        ikev2_id,
        _f(v1),
        _f(v2),
        fips,
        backend,
        tuple(a for a in aliases.split(", ") if a),
        keys,
        default,
        omitted,
        aead,
    )


def _alg(
    t: AlgType,
    name: str,
    ikev2_id: int | None,
    v1: str,
    v2: str,
    fips: bool,
    backend: str | None,
    aliases: str = "",
    *,
    prf: str | None = None,
    selftest: bool = True,
) -> Algorithm:
    return Algorithm(
        t,
        name,
        ikev2_id,
        _f(v1),
        _f(v2),
        fips,
        backend,
        tuple(a for a in aliases.split(", ") if a),
        prf=prf,
        selftest=selftest,
    )


E, H, P, I, D, C = (  # noqa: E741 - table shorthand
    AlgType.ENCRYPT,
    AlgType.HASH,
    AlgType.PRF,
    AlgType.INTEG,
    AlgType.DH,
    AlgType.IPCOMP,
)

#: Every algorithm, in `pluto --selftest` order within each kind.
ALGORITHMS: tuple[Algorithm, ...] = (
    # --- Encryption
    _enc(
        "AES_CCM_16", EncrId.AES_CCM_16, "ESP", "ESP", True, None, "aes_ccm, aes_ccm_c", aead=True
    ),
    _enc("AES_CCM_12", EncrId.AES_CCM_12, "ESP", "ESP", True, None, "aes_ccm_b", aead=True),
    _enc("AES_CCM_8", EncrId.AES_CCM_8, "ESP", "ESP", True, None, "aes_ccm_a", aead=True),
    _enc(
        "3DES_CBC",
        EncrId.TRIPLE_DES,
        "IKE ESP",
        "IKE ESP",
        True,
        "NSS(CBC)",
        "3des",
        keys=(192,),
        default=192,
        omitted=True,
    ),
    _enc("CAMELLIA_CTR", EncrId.CAMELLIA_CTR, "ESP", "ESP", False, None),
    _enc("CAMELLIA_CBC", EncrId.CAMELLIA_CBC, "IKE ESP", "IKE ESP", False, "NSS(CBC)", "camellia"),
    _enc(
        "AES_GCM_16",
        EncrId.AES_GCM_16,
        "ESP",
        "IKE ESP",
        True,
        "NSS(GCM)",
        "aes_gcm, aes_gcm_c",
        aead=True,
    ),
    _enc(
        "AES_GCM_12", EncrId.AES_GCM_12, "ESP", "IKE ESP", True, "NSS(GCM)", "aes_gcm_b", aead=True
    ),
    _enc("AES_GCM_8", EncrId.AES_GCM_8, "ESP", "IKE ESP", True, "NSS(GCM)", "aes_gcm_a", aead=True),
    _enc("AES_CTR", EncrId.AES_CTR, "IKE ESP", "IKE ESP", True, "NSS(CTR)", "aesctr"),
    _enc("AES_CBC", EncrId.AES_CBC, "IKE ESP", "IKE ESP", True, "NSS(CBC)", "aes"),
    _enc(
        "NULL_AUTH_AES_GMAC",
        EncrId.NULL_AUTH_AES_GMAC,
        "ESP",
        "ESP",
        True,
        None,
        "aes_gmac",
        aead=True,
    ),
    _enc("NULL", EncrId.NULL, "ESP", "ESP", False, None, keys=(), default=None, omitted=True),
    _enc(
        "CHACHA20_POLY1305",
        EncrId.CHACHA20_POLY1305,
        "",
        "IKE ESP",
        False,
        "NSS(AEAD)",
        "chacha20poly1305",
        keys=(256,),
        default=256,
        omitted=True,
        aead=True,
    ),
    # --- Hash (no IKEv2 transform; numbers are RFC 7427's)
    _alg(H, "MD5", None, "IKE", "", False, "NSS"),
    _alg(H, "SHA1", 1, "IKE", "IKE", True, "NSS", "sha"),
    _alg(H, "SHA2_256", 2, "IKE", "IKE", True, "NSS", "sha2, sha256"),
    _alg(H, "SHA2_384", 3, "IKE", "IKE", True, "NSS", "sha384"),
    _alg(H, "SHA2_512", 4, "IKE", "IKE", True, "NSS", "sha512"),
    _alg(H, "IDENTITY", 5, "", "", True, None),
    # --- PRF
    _alg(P, "HMAC_MD5", PrfId.HMAC_MD5, "IKE", "IKE", False, "native(HMAC)", "md5"),
    _alg(P, "HMAC_SHA1", PrfId.HMAC_SHA1, "IKE", "IKE", True, "NSS", "sha, sha1"),
    _alg(
        P, "HMAC_SHA2_256", PrfId.HMAC_SHA2_256, "IKE", "IKE", True, "NSS", "sha2, sha256, sha2_256"
    ),
    _alg(P, "HMAC_SHA2_384", PrfId.HMAC_SHA2_384, "IKE", "IKE", True, "NSS", "sha384, sha2_384"),
    _alg(P, "HMAC_SHA2_512", PrfId.HMAC_SHA2_512, "IKE", "IKE", True, "NSS", "sha512, sha2_512"),
    _alg(P, "AES_XCBC", PrfId.AES128_XCBC, "", "IKE", False, "native(XCBC)", "aes128_xcbc"),
    # --- Integrity
    _alg(
        I,
        "HMAC_MD5_96",
        IntegId.HMAC_MD5_96,
        "IKE ESP AH",
        "IKE ESP AH",
        False,
        "native(HMAC)",
        "md5, hmac_md5",
        prf="HMAC_MD5",
    ),
    _alg(
        I,
        "HMAC_SHA1_96",
        IntegId.HMAC_SHA1_96,
        "IKE ESP AH",
        "IKE ESP AH",
        True,
        "NSS",
        "sha, sha1, sha1_96, hmac_sha1",
        prf="HMAC_SHA1",
    ),
    _alg(
        I,
        "HMAC_SHA2_512_256",
        IntegId.HMAC_SHA2_512_256,
        "IKE ESP AH",
        "IKE ESP AH",
        True,
        "NSS",
        "sha512, sha2_512, sha2_512_256, hmac_sha2_512",
        prf="HMAC_SHA2_512",
    ),
    _alg(
        I,
        "HMAC_SHA2_384_192",
        IntegId.HMAC_SHA2_384_192,
        "IKE ESP AH",
        "IKE ESP AH",
        True,
        "NSS",
        "sha384, sha2_384, sha2_384_192, hmac_sha2_384",
        prf="HMAC_SHA2_384",
    ),
    _alg(
        I,
        "HMAC_SHA2_256_128",
        IntegId.HMAC_SHA2_256_128,
        "IKE ESP AH",
        "IKE ESP AH",
        True,
        "NSS",
        "sha2, sha256, sha2_256, sha2_256_128, hmac_sha2_256",
        prf="HMAC_SHA2_256",
    ),
    _alg(I, "HMAC_SHA2_256_TRUNCBUG", None, "ESP AH", "AH", False, None, prf="HMAC_SHA2_256"),
    _alg(
        I,
        "AES_XCBC_96",
        IntegId.AES_XCBC_96,
        "ESP AH",
        "IKE ESP AH",
        False,
        "native(XCBC)",
        "aes_xcbc, aes128_xcbc, aes128_xcbc_96",
        prf="AES_XCBC",
    ),
    _alg(I, "AES_CMAC_96", IntegId.AES_CMAC_96, "ESP AH", "ESP AH", True, None, "aes_cmac"),
    _alg(I, "NONE", IntegId.NONE, "ESP", "IKE ESP", True, None, "null"),
    # --- DH (key exchange methods)
    _alg(D, "NONE", KeId.NONE, "", "IKE ESP AH", True, "NSS(MODP)", "null, dh0"),
    _alg(D, "MODP1536", KeId.MODP1536, "IKE ESP AH", "IKE ESP AH", False, "NSS(MODP)", "dh5"),
    _alg(D, "MODP2048", KeId.MODP2048, "IKE ESP AH", "IKE ESP AH", True, "NSS(MODP)", "dh14"),
    _alg(D, "MODP3072", KeId.MODP3072, "IKE ESP AH", "IKE ESP AH", True, "NSS(MODP)", "dh15"),
    _alg(D, "MODP4096", KeId.MODP4096, "IKE ESP AH", "IKE ESP AH", True, "NSS(MODP)", "dh16"),
    _alg(D, "MODP6144", KeId.MODP6144, "IKE ESP AH", "IKE ESP AH", True, "NSS(MODP)", "dh17"),
    _alg(D, "MODP8192", KeId.MODP8192, "IKE ESP AH", "IKE ESP AH", True, "NSS(MODP)", "dh18"),
    _alg(D, "DH19", KeId.ECP_256, "IKE", "IKE ESP AH", True, "NSS(ECP)", "ecp_256, ecp256"),
    _alg(D, "DH20", KeId.ECP_384, "IKE", "IKE ESP AH", True, "NSS(ECP)", "ecp_384, ecp384"),
    _alg(D, "DH21", KeId.ECP_521, "IKE", "IKE ESP AH", True, "NSS(ECP)", "ecp_521, ecp521"),
    _alg(D, "DH31", KeId.CURVE25519, "IKE", "IKE ESP AH", False, "NSS(ECP)", "curve25519"),
    # Libreswan 5.x names (lib/libswan/ike_alg_kem.c: "ml_kem_768,mlkem768"); not in 4.10.
    _alg(
        D,
        "ML_KEM_768",
        KeId.ML_KEM_768,
        "",
        "IKE ESP AH",
        True,
        "NSS(ML_KEM)",
        "ml_kem_768, mlkem768",
        selftest=False,
    ),
    _alg(
        D,
        "ML_KEM_1024",
        KeId.ML_KEM_1024,
        "",
        "IKE ESP AH",
        True,
        "NSS(ML_KEM)",
        "ml_kem_1024, mlkem1024",
        selftest=False,
    ),
    # --- IPCOMP (RFC 7296 / IPCOMP transform ids)
    _alg(C, "DEFLATE", 2, "ESP AH", "ESP AH", True, None),
    _alg(C, "LZS", 3, "", "ESP AH", True, None),
    _alg(C, "LZJH", 4, "", "ESP AH", True, None),
)

del E, H, P, I, D, C

_BY_NAME: dict[tuple[AlgType, str], Algorithm] = {}
for _a in ALGORITHMS:
    for _n in _a.names:
        _BY_NAME.setdefault((_a.type, _n), _a)
_BY_ID: dict[tuple[AlgType, int], Algorithm] = {
    (a.type, a.ikev2_id): a for a in ALGORITHMS if a.ikev2_id is not None
}


def algorithms(t: AlgType, *, fips: bool = False) -> tuple[Algorithm, ...]:
    """The algorithms of one kind in table order; with `fips`, only approved ones."""
    return tuple(a for a in ALGORITHMS if a.type is t and (a.fips or not fips))


def lookup(t: AlgType, name: str, *, fips: bool = False) -> Algorithm | None:
    """Find an algorithm by any of its names (case-insensitive); FIPS mode hides non-FIPS ones."""
    a = _BY_NAME.get((t, name.lower()))
    if a is None or (fips and not a.fips):
        return None
    return a


def by_id(t: AlgType, ikev2_id: int) -> Algorithm | None:
    """The algorithm with this IKEv2 transform id in its kind, if Libreswan knows it."""
    return _BY_ID.get((t, ikev2_id))


def by_transform(ttype: int, tid: int) -> Algorithm | None:
    """The algorithm for an IKEv2 transform (type, id); ADDKE types use the KE table."""
    if ttype == TransformType.ENCR:
        return by_id(AlgType.ENCRYPT, tid)
    if ttype == TransformType.PRF:
        return by_id(AlgType.PRF, tid)
    if ttype == TransformType.INTEG:
        return by_id(AlgType.INTEG, tid)
    if ttype == TransformType.KE or TransformType.ADDKE1 <= ttype <= TransformType.ADDKE7:
        return by_id(AlgType.DH, tid)
    return None


def integ_for_prf(prf: Algorithm) -> Algorithm | None:
    """The first integrity algorithm built from `prf` (how `ike=aes-sha2` gets its integrity)."""
    for a in ALGORITHMS:
        if a.type is AlgType.INTEG and a.prf == prf.name:
            return a
    return None


# Names Libreswan would recognise from the IANA registries but does not implement;
# they get "is not supported" rather than "is not recognized".
_KNOWN_UNSUPPORTED: dict[AlgType, frozenset[str]] = {
    AlgType.ENCRYPT: frozenset(
        {
            "des",
            "des_cbc",
            "des_iv64",
            "des_iv32",
            "rc5",
            "idea",
            "cast",
            "cast_cbc",
            "blowfish",
            "blowfish_cbc",
            "3idea",
            "triple_idea",
            "serpent",
            "serpent_cbc",
            "twofish",
            "twofish_cbc",
            "twofish_cbc_ssh",
            "camellia_ccm_a",
            "camellia_ccm_b",
            "camellia_ccm_c",
            "camellia_ccm_8",
            "camellia_ccm_12",
            "camellia_ccm_16",
            "mars",
            "rc6",
        }
    ),
    AlgType.PRF: frozenset({"hmac_tiger", "tiger", "aes128_cmac", "aes_cmac"}),
    AlgType.INTEG: frozenset(
        {
            "des_mac",
            "kpdk_md5",
            "hmac_md5_128",
            "hmac_sha1_160",
            "aes_128_gmac",
            "aes_192_gmac",
            "aes_256_gmac",
        }
    ),
    AlgType.DH: frozenset(
        {
            "modp768",
            "dh1",
            "modp1024",
            "dh2",
            "modp1024s160",
            "dh22",
            "modp2048s224",
            "dh23",
            "modp2048s256",
            "dh24",
            "ecp_192",
            "ecp192",
            "dh25",
            "ecp_224",
            "ecp224",
            "dh26",
            "dh27",
            "dh28",
            "dh29",
            "dh30",
            "curve448",
            "dh32",
            "ml_kem_512",
            "mlkem512",
        }
    ),
}


def known_but_unsupported(t: AlgType, name: str) -> bool:
    """True for registry names Libreswan knows of but does not implement (e.g. `des`, `modp1024`)."""
    return name.lower() in _KNOWN_UNSUPPORTED.get(t, _NO)


# ---------------------------------------------------------------- display names

_ENCR_SHORT = {EncrId.TRIPLE_DES: "3DES"}
_ESN_SHORT = {EsnId.NO_ESN: "DISABLED", EsnId.ESN: "ENABLED"}


def transform_name(ttype: int, tid: int, key_length: int | None = None) -> str:
    """Libreswan's short name for a transform as its proposal log lines print it.

    `AES_CBC_128`, `HMAC_SHA2_256`, `HMAC_SHA2_256_128`, `MODP2048`, `ECP_256`,
    `ENABLED` (ESN, 4.10 wording).  Unknown ids print as their number.
    """
    if ttype == TransformType.ENCR:
        if tid in _ENCR_SHORT:
            base = _ENCR_SHORT[EncrId(tid)]
        else:
            a = by_id(AlgType.ENCRYPT, tid)
            base = a.name if a is not None else name_of(EncrId, tid)
        return f"{base}_{key_length}" if key_length else base
    if ttype == TransformType.PRF:
        return name_of(PrfId, tid)
    if ttype == TransformType.INTEG:
        return name_of(IntegId, tid)
    if ttype == TransformType.KE or TransformType.ADDKE1 <= ttype <= TransformType.ADDKE7:
        return name_of(KeId, tid)
    if ttype == TransformType.ESN:
        return _ESN_SHORT.get(tid, str(tid))
    return str(tid)


def transform_type_name(ttype: int) -> str:
    """`ENCR`, `PRF`, `INTEG`, `DH` (4.10 wording for type 4), `ESN`, `ADDKE1`..."""
    if ttype == TransformType.KE:
        return "DH"
    return name_of(TransformType, ttype)


# ---------------------------------------------------------------- pluto --selftest

_KEYSIZES_WIDTH = len("{256,192,*128}")


def _widths(algs: tuple[Algorithm, ...]) -> tuple[int, int]:
    name_width = 0
    backend_width = 0
    for a in algs:
        n = len(a.name) + (_KEYSIZES_WIDTH + 1 if a.type is AlgType.ENCRYPT else 0)
        name_width = max(name_width, n)
        if a.backend:
            backend_width = max(backend_width, len(a.backend))
    return name_width, backend_width


def _flags(protocols: frozenset[str]) -> str:
    return (
        (" IKE" if "IKE" in protocols else "    ")
        + (" ESP" if "ESP" in protocols else "    ")
        + (" AH" if "AH" in protocols else "   ")
    )


def _line(a: Algorithm, name_width: int, backend_width: int) -> str:
    out = [a.name]
    width = name_width - len(a.name)
    if a.type is AlgType.ENCRYPT:
        width -= _KEYSIZES_WIDTH
        out.append(" " * width)
        sizes = ",".join(("*" if k == a.default_key_length else "") + str(k) for k in a.key_lengths)
        ks = ("[" if a.keylen_omitted else "{") + sizes + ("]" if a.keylen_omitted else "}")
        out.append(ks.ljust(_KEYSIZES_WIDTH))
    else:
        out.append(" " * width)
    out.append(" ")
    out.append("IKEv1:" + _flags(a.ikev1) + "  IKEv2:" + _flags(a.ikev2))
    out.append("  FIPS" if a.fips else "      ")
    if backend_width > 0:
        out.append(" " + (a.backend or "").ljust(backend_width))
    if a.aliases:
        out.append(" " + ", ".join(a.aliases))
    return "  " + "".join(out)


def selftest_algorithm_lines(fips: bool) -> list[str]:
    """The algorithm part of `pluto --selftest` output, as Libreswan 4.10 prints it.

    Without FIPS: "Encryption algorithms:" through the IPCOMP table.  In FIPS
    mode Libreswan first logs one "<Kind> algorithm <NAME> disabled; not FIPS
    compliant" line per stripped algorithm (all kinds, table order), then the
    tables of what is left with "FIPS " before each heading.
    """
    shown = tuple(a for a in ALGORITHMS if a.selftest)
    name_width, backend_width = _widths(shown)
    lines: list[str] = []
    if fips:
        for t in AlgType:
            for a in shown:
                if a.type is t and not a.fips:
                    lines.append(f"{t.value} algorithm {a.name} disabled; not FIPS compliant")
        # widths are computed over what survives stripping
        name_width, backend_width = _widths(tuple(a for a in shown if a.fips))
    for t in AlgType:
        lines.append(f"{'FIPS ' if fips else ''}{t.value} algorithms:")
        for a in shown:
            if a.type is t and (a.fips or not fips):
                lines.append(_line(a, name_width, backend_width))
    return lines
