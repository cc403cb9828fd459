"""SA proposals: the wire-level shape shared by the SA payload codec and selection.

(Seed: the `Transform` and `Proposal` types below are the contract between
`payloads` and proposal parsing/selection; extend, do not rename.)

Around them this module implements Libreswan 4.10's view of proposals:

* parsing `ike=` / `esp=` (`phase2alg=`) with Libreswan's IKEv2 grammar
  (lib/libswan/v2_proposals.c) and its error wording;
* the built-in defaults used when those keywords are absent;
* responder selection as `process_v2SA_payload()` does it (local
  preference wins, see `select_proposal`);
* the strings pluto logs about proposals and negotiated algorithms.

Local proposals keep Libreswan's placeholders: an AEAD proposal carries
INTEG=NONE and a Child SA proposal without PFS carries KE=NONE.  They make
those transform types optional when matching a peer's proposal; `for_wire`
drops a lone NONE before the proposals are sent, as pluto does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from cygnet.ike.algorithms import (
    Algorithm,
    AlgType,
    by_id,
    by_transform,
    integ_for_prf,
    known_but_unsupported,
    lookup,
    transform_name,
    transform_type_name,
)
from cygnet.ike.iana import EsnId, KeId, NotifyType, ProtocolId, TransformType


@dataclass(frozen=True, slots=True)
class Transform:
    """One transform substructure: type, IANA id, and the KEY_LENGTH attribute if any (bits)."""

    type: TransformType
    id: int
    key_length: int | None = None


@dataclass(frozen=True, slots=True)
class Proposal:
    """One proposal substructure. `spi` is empty for an IKE SA's first proposal."""

    number: int
    protocol: ProtocolId
    spi: bytes
    transforms: tuple[Transform, ...]

    def of_type(self, t: TransformType) -> tuple[Transform, ...]:
        return tuple(x for x in self.transforms if x.type == t)


# ======================================================================== errors


class ProposalError(ValueError):
    """An `ike=`/`esp=` string Libreswan would reject; the message is Libreswan's wording.

    `str(err)` is the bare message (for `file:line: ike: <message>`);
    `whack_message` adds the "ike string error: " prefix pluto prints.
    """

    def __init__(self, message: str, keyword: str = "ike") -> None:
        super().__init__(message)
        self.message = message
        self.keyword = keyword

    @property
    def whack_message(self) -> str:
        return f"{self.keyword} string error: {self.message}"


class NoProposalChosen(Exception):
    """No received proposal is acceptable: answer NO_PROPOSAL_CHOSEN.

    When some received proposal would have matched but for its key exchange
    (transform type 4), `ke_mismatch` is set and `acceptable_groups` lists
    the groups our matching proposals offer, in preference order.
    """

    notify = NotifyType.NO_PROPOSAL_CHOSEN

    def __init__(
        self, reason: str, *, ke_mismatch: bool = False, acceptable_groups: tuple[int, ...] = ()
    ) -> None:
        if ke_mismatch:
            names = ", ".join(_ke_fqn(g) for g in acceptable_groups)
            reason = f"{reason}; matched except KE; acceptable groups [{names}]"
        super().__init__(reason)
        self.reason = reason
        self.ke_mismatch = ke_mismatch
        self.acceptable_groups = acceptable_groups


class ProposalSyntaxError(NoProposalChosen):
    """A received proposal is malformed in a way Libreswan treats as fatal: INVALID_SYNTAX."""

    notify = NotifyType.INVALID_SYNTAX  # type: ignore[assignment]


# ======================================================================== parsing

_AEAD_NONE = "NONE"
_PROTO_NAME = {ProtocolId.IKE: "IKE", ProtocolId.ESP: "ESP", ProtocolId.AH: "AH"}
_ADDKE_TYPES = tuple(
    TransformType(t) for t in range(TransformType.ADDKE1, TransformType.ADDKE7 + 1)
)

#: Libreswan 4.10 IKEv2 defaults (lib/libswan/ike_info.c, esp_info.c; the
#: expansion is `algparse -v2 ike esp` quoted in libreswan issue #1558, Feb
#: 2024, before 5.0 reordered the groups and added CHACHA20_POLY1305).
DEFAULT_IKE = "AES_GCM_16_256,AES_GCM_16_128,AES_CBC_256,AES_CBC_128"
DEFAULT_IKE_PRFS = ("HMAC_SHA2_512", "HMAC_SHA2_256")
DEFAULT_IKE_GROUPS = (
    "MODP2048",
    "MODP3072",
    "MODP4096",
    "MODP8192",
    "DH19",
    "DH20",
    "DH21",
    "DH31",
)
DEFAULT_ESP = "AES_GCM_16_256,AES_GCM_16_128,AES_CBC_256,AES_CBC_128"
DEFAULT_ESP_INTEGS = ("HMAC_SHA2_512_256", "HMAC_SHA2_256_128")

Esn = Literal["yes", "no", "either"]


@dataclass(slots=True)
class _Parsed:
    """A proposal as Libreswan's parser holds it: per-kind algorithm lists."""

    encrypt: list[tuple[Algorithm, int]] = field(default_factory=list)
    prf: list[Algorithm] = field(default_factory=list)
    integ: list[Algorithm] = field(default_factory=list)
    dh: list[Algorithm] = field(default_factory=list)
    addke: dict[int, list[Algorithm]] = field(default_factory=dict)

    def key(self) -> tuple[object, ...]:
        return (
            tuple((a.name, k) for a, k in self.encrypt),
            tuple(a.name for a in self.prf),
            tuple(a.name for a in self.integ),
            tuple(a.name for a in self.dh),
            tuple(sorted((n, tuple(a.name for a in v)) for n, v in self.addke.items())),
        )


class _Parser:
    """Libreswan's proposal parser for one protocol ("IKE" or "ESP") and IKE version."""

    def __init__(self, proto: str, *, fips: bool, version: int = 2) -> None:
        self.proto = proto
        self.fips = fips
        self.version = version

    # -- errors -------------------------------------------------------------

    def error(self, msg: str) -> ProposalError:
        return ProposalError(msg, "ike" if self.proto == "IKE" else "esp")

    # -- algorithm lookup (alg_byname.c) -------------------------------------

    def byname(self, t: AlgType, name: str, print_name: str) -> Algorithm:
        what = f"{self.proto} {t.parser_name} algorithm '{print_name}'"
        a = lookup(t, name, fips=self.fips)
        if a is None:
            if lookup(t, name) is not None or known_but_unsupported(t, name):
                raise self.error(f"{what} is not supported")
            raise self.error(f"{what} is not recognized")
        if self.version == 1:
            if self.proto not in a.ikev1:
                raise self.error(f"{what} is not supported by IKEv1")
            return a
        if a.ikev2_id is None:
            raise self.error(f"{what} is not supported by IKEv2")
        if self.proto not in a.ikev2:
            raise self.error(f"{what} is not supported")
        return a

    def encrypt_byname(self, name: str, keylen: int, print_name: str) -> Algorithm:
        a = self.byname(AlgType.ENCRYPT, name, print_name)
        if keylen > 0:
            if a.keylen_omitted:
                raise self.error(
                    f"{self.proto} encryption algorithm {a.name} does not allow a key lengths"
                )
            if not a.valid_key_length(keylen):
                valid = ", ".join(str(k) for k in reversed(a.key_lengths))
                raise self.error(
                    f"{self.proto} encryption algorithm {a.name} with key length {keylen}"
                    f" invalid; valid key lengths: {valid}"
                )
        return a

    def eklen(self, text: str, print_name: str) -> int:
        digits = len(text) - len(text.lstrip("0123456789"))
        if digits != len(text):
            raise self.error(
                f"{self.proto} encryption algorithm '{print_name}' key length contains a"
                " non-numeric character"
            )
        value = int(text)
        if value >= 2**31 - 1:
            raise self.error(
                f"{self.proto} encryption algorithm '{print_name}' key length WAY too big"
            )
        if value == 0:
            raise self.error(f"{self.proto} encryption key length is zero")
        return value

    # -- one proposal ---------------------------------------------------------

    def parse_encrypt(self, toks: _Tokens) -> tuple[Algorithm, int]:
        this = toks.this
        assert this is not None
        if this == "":
            raise self.error(f"{self.proto} encryption algorithm is empty")
        nxt = toks.next
        if toks.this_term == "-" and nxt and nxt[0].isdigit():
            # <ealg>-<eklen>
            print_name = f"{this}-{nxt}"
            keylen = self.eklen(nxt, print_name)
            alg = self.encrypt_byname(this, keylen, print_name)
            toks.advance(2)
            return alg, keylen
        try:
            alg = self.encrypt_byname(this, 0, this)
        except ProposalError:
            stripped = this.rstrip("0123456789")
            if stripped == this:
                raise
            keylen = self.eklen(this[len(stripped) :], this)
            name = stripped[:-1] if stripped.endswith("_") else stripped
            alg = self.encrypt_byname(name, keylen, this)
            toks.advance()
            return alg, keylen
        toks.advance()
        return alg, 0

    def parse_algs(self, toks: _Tokens, t: AlgType) -> list[Algorithm]:
        """<ALG>[+<ALG>...]; raises on the first bad one."""
        out = [self.parse_alg(toks.this, t)]
        toks.advance()
        while toks.prev_term == "+" and toks.this is not None:
            out.append(self.parse_alg(toks.this, t))
            toks.advance()
        return _dedupe(out)

    def parse_alg(self, token: str | None, t: AlgType) -> Algorithm:
        if not token:
            raise self.error(f"{self.proto} {t.parser_name} algorithm is empty")
        return self.byname(t, token, token)

    def parse_proposal(self, raw: str) -> _Parsed:
        toks = _Tokens(raw)
        p = _Parsed()
        p.encrypt.append(self.parse_encrypt(toks))
        while toks.prev_term == "+":
            if toks.this is None:
                raise self.error(f"{self.proto} encryption algorithm is empty")
            p.encrypt.append(self.parse_encrypt(toks))
        p.encrypt = _dedupe_encrypt(p.encrypt)

        ike = self.proto == "IKE"
        prf_error: ProposalError | None = None
        if ike and toks.this is not None and toks.prev_term != ";" and "=" not in toks.this:
            trial = toks.copy()
            try:
                p.prf = self.parse_algs(trial, AlgType.PRF)
                toks = trial
            except ProposalError as e:
                prf_error = e
        if toks.this is not None and toks.prev_term != ";" and not p.prf and "=" not in toks.this:
            try:
                p.integ = self.parse_algs(toks, AlgType.INTEG)
            except ProposalError as e:
                raise prf_error or e from None
        if (
            ike
            and toks.this is not None
            and toks.prev_term != ";"
            and not p.prf
            and "=" not in toks.this
        ):
            p.prf = self.parse_algs(toks, AlgType.PRF)
        if toks.this is not None and "=" not in toks.this:
            p.dh = self.parse_algs(toks, AlgType.DH)
        # Libreswan 5.x: ";addkeN=ALG[+ALG]" (RFC 9370 additional key exchanges)
        while toks.this is not None and "=" in toks.this:
            key, _, value = toks.this.partition("=")
            slot = _addke_slot(key)
            if slot is None or slot in p.addke:
                break
            toks.replace_this(value)
            p.addke[slot] = self.parse_algs(toks, AlgType.DH)
        if toks.this is not None:
            raise self.error(f"{self.proto} proposal contains unexpected '{toks.this}'")
        self.merge_defaults(p)
        self.check(p)
        return p

    def merge_defaults(self, p: _Parsed) -> None:
        """Fill the kinds the string left out (v2_proposals.c merge_defaults)."""
        aead = all(a.aead for a, _ in p.encrypt)
        norm = not any(a.aead for a, _ in p.encrypt)
        if self.proto == "IKE" and not p.prf:
            p.prf = self.defaults(AlgType.PRF, DEFAULT_IKE_PRFS)
        if not p.integ:
            if aead:
                p.integ = [_integ_none()]
            elif self.proto == "ESP":
                p.integ = self.defaults(AlgType.INTEG, DEFAULT_ESP_INTEGS)
            elif p.prf and norm:
                for prf in p.prf:
                    integ = integ_for_prf(prf)
                    if integ is None:
                        raise self.error(
                            f"{self.proto} integrity derived from PRF {prf.name} is not supported"
                        )
                    p.integ.append(integ)
        if self.proto == "IKE" and not p.dh:
            p.dh = self.defaults(AlgType.DH, DEFAULT_IKE_GROUPS)

    def defaults(self, t: AlgType, names: Sequence[str]) -> list[Algorithm]:
        out = []
        for n in names:
            a = lookup(t, n, fips=self.fips)
            if a is not None:
                out.append(a)
        return out

    def check(self, p: _Parsed) -> None:
        """proposal_aead_none_ok() plus the IKE-only KE=NONE check."""
        aead = all(a.aead for a, _ in p.encrypt)
        norm = not any(a.aead for a, _ in p.encrypt)
        if not aead and not norm:
            raise self.error(
                f"AEAD and non-AEAD {self.proto} encryption algorithm cannot be combined"
            )
        none = all(a.name == _AEAD_NONE for a in p.integ)
        first = p.encrypt[0][0].name
        if aead and not none:
            raise self.error(
                f"AEAD {self.proto} encryption algorithm {first} must have 'NONE' as the"
                " integrity algorithm"
            )
        if norm and none:
            raise self.error(
                f"non-AEAD {self.proto} encryption algorithm {first} cannot have 'NONE' as the"
                " integrity algorithm"
            )
        if self.proto == "IKE" and any(a.ikev2_id == KeId.NONE for a in p.dh):
            raise self.error("IKE DH algorithm 'NONE' not permitted")

    def parse(self, s: str) -> list[_Parsed]:
        if s == "":
            raise self.error(f"{self.proto} proposal is empty")
        out: list[_Parsed] = []
        seen: set[tuple[object, ...]] = set()
        for raw in s.split(","):
            p = self.parse_proposal(raw)
            if p.key() not in seen:  # append_proposal() discards duplicates
                seen.add(p.key())
                out.append(p)
        return out


class _Tokens:
    """Libreswan's proposal tokenizer: tokens split on any of "-;+" with their terminators."""

    __slots__ = ("pos", "toks")

    def __init__(self, raw: str | None = None, delims: str = "-;+") -> None:
        self.toks: list[tuple[str, str]] = []
        self.pos = 0
        if raw is None:
            return
        start = 0
        for i, ch in enumerate(raw):
            if ch in delims:
                self.toks.append((raw[start:i], ch))
                start = i + 1
        self.toks.append((raw[start:], ""))

    def copy(self) -> _Tokens:
        c = _Tokens()
        c.toks = list(self.toks)
        c.pos = self.pos
        return c

    @property
    def this(self) -> str | None:
        return self.toks[self.pos][0] if self.pos < len(self.toks) else None

    @property
    def this_term(self) -> str:
        return self.toks[self.pos][1] if self.pos < len(self.toks) else ""

    @property
    def next(self) -> str | None:
        return self.toks[self.pos + 1][0] if self.pos + 1 < len(self.toks) else None

    @property
    def prev_term(self) -> str:
        return self.toks[self.pos - 1][1] if 0 < self.pos <= len(self.toks) else ""

    def advance(self, n: int = 1) -> None:
        self.pos += n

    def replace_this(self, value: str) -> None:
        self.toks[self.pos] = (value, self.toks[self.pos][1])


def _addke_slot(key: str) -> int | None:
    """`addke1`..`addke7` -> 1..7 (ASCII digits only)."""
    k = key.lower()
    if len(k) == 6 and k.startswith("addke") and k[5] in "1234567":
        return int(k[5])
    return None


def _dedupe(algs: list[Algorithm]) -> list[Algorithm]:
    out: list[Algorithm] = []
    for a in algs:
        if a not in out:
            out.append(a)
    return out


def _dedupe_encrypt(encs: list[tuple[Algorithm, int]]) -> list[tuple[Algorithm, int]]:
    """Drop a later duplicate; keylen 0 is a wildcard covering later lengths (not earlier)."""
    out: list[tuple[Algorithm, int]] = []
    for a, k in encs:
        if any(b is a and (bk == 0 or bk == k) for b, bk in out):
            continue
        out.append((a, k))
    return out


def _integ_none() -> Algorithm:
    a = lookup(AlgType.INTEG, "none")
    assert a is not None
    return a


def _ke_fqn(group: int) -> str:
    a = by_id(AlgType.DH, group)
    return a.name if a is not None else str(group)


# ---------------------------------------------------------------- to proposals


def _encr_transforms(alg: Algorithm, keylen: int, proto: ProtocolId) -> list[Transform]:
    """append_encrypt_transform(): a bare `aes` becomes two key lengths.

    IKE proposes high-to-low (256, 128), ESP low-to-high (128, 256).
    """
    assert alg.ikev2_id is not None
    enc = TransformType.ENCR
    if keylen > 0:
        return [Transform(enc, alg.ikev2_id, keylen)]
    if alg.keylen_omitted:
        return [Transform(enc, alg.ikev2_id)]
    maxlen, deflen = alg.max_key_length, alg.default_key_length
    assert maxlen is not None and deflen is not None
    if deflen == maxlen:
        return [Transform(enc, alg.ikev2_id, deflen)]
    order = (maxlen, deflen) if proto == ProtocolId.IKE else (deflen, maxlen)
    return [Transform(enc, alg.ikev2_id, k) for k in order]


def _ids(t: TransformType, algs: Iterable[Algorithm]) -> list[Transform]:
    return [Transform(t, a.ikev2_id) for a in algs if a.ikev2_id is not None]


def _esn_transforms(esn: Esn) -> list[Transform]:
    if esn not in ("yes", "no", "either"):
        raise ValueError(f"esn must be yes, no or either, not {esn!r}")
    out = []
    if esn in ("yes", "either"):
        out.append(Transform(TransformType.ESN, EsnId.ESN))
    if esn in ("no", "either"):
        out.append(Transform(TransformType.ESN, EsnId.NO_ESN))
    return out


def _build(
    p: _Parsed, number: int, proto: ProtocolId, *, ke: list[Transform], esn: Esn | None
) -> Proposal:
    ts: list[Transform] = []
    for a, k in p.encrypt:
        ts += _encr_transforms(a, k, proto)
    if proto == ProtocolId.IKE:
        ts += _ids(TransformType.PRF, p.prf)
    ts += _ids(TransformType.INTEG, p.integ)
    ts += ke
    if esn is not None:
        ts += _esn_transforms(esn)
    for slot in sorted(p.addke):
        ts += _ids(_ADDKE_TYPES[slot - 1], p.addke[slot])
    return Proposal(number, proto, b"", tuple(ts))


def parse_ike(s: str | None, *, fips: bool = False) -> list[Proposal]:
    """IKE SA proposals for `ike=` (None: Libreswan's defaults), in preference order.

    Grammar (IKEv2): `ENCR[+ENCR][-PRF[+PRF]][-INTEG...][-DH[+DH]]` with `;`
    allowed before the DH part and `,` between proposals; key lengths as
    `aes128`, `aes_128` or `aes-128`; an AEAD cipher's second part is the PRF.
    Each comma-separated part is one proposal (Libreswan does not merge them:
    strongSwan cherry-picks within a proposal).  Raises `ProposalError`.
    """
    parser = _Parser("IKE", fips=fips)
    parsed = parser.parse(DEFAULT_IKE if s is None else s)
    return [
        _build(p, n, ProtocolId.IKE, ke=_ids(TransformType.KE, p.dh), esn=None)
        for n, p in enumerate(parsed, 1)
    ]


def default_ike_proposals(*, fips: bool = False) -> list[Proposal]:
    """Libreswan 4.10's IKE proposals when `ike=` is absent."""
    return parse_ike(None, fips=fips)


def parse_esp(
    s: str | None,
    *,
    pfs: bool = True,
    ike_ke: int | None = None,
    ike_auth: bool = False,
    esn: Esn = "either",
    fips: bool = False,
) -> list[Proposal]:
    """Child SA (ESP) proposals for `esp=`/`phase2alg=` (None: Libreswan's defaults).

    Grammar: `ENCR[+ENCR][-INTEG[+INTEG]][-DH[+DH]]`, `;` allowed before DH;
    an AEAD cipher takes no integrity (or `-null`).  The KE transforms depend
    on the exchange, as in pluto's get_v2_*_child_proposals():

    * `ike_auth=True` (the Child SA inside IKE_AUTH, also what pluto logs at
      "connection add"): KE forced to NONE, which `for_wire` omits;
    * otherwise (CREATE_CHILD_SA) with `pfs`: the DH from the string, else
      `ike_ke` (the IKE SA's group), else NONE;
    * without `pfs`: KE NONE (a DH in the string is ignored, as pluto does).

    `esn` is the connection's `esn=` (Libreswan 4.10 default: either, which
    proposes ESN then no-ESN).  SPIs are left empty for the caller to fill.
    """
    parser = _Parser("ESP", fips=fips)
    parsed = parser.parse(DEFAULT_ESP if s is None else s)
    if not pfs:
        for p in parsed:
            p.dh = []
    else:
        _pfs_vs_dh_check(parser, parsed)
    out = []
    for n, p in enumerate(parsed, 1):
        if ike_auth or not pfs:
            ke = [Transform(TransformType.KE, KeId.NONE)]
            p.addke = {}  # no key exchange at all in IKE_AUTH or without PFS
        elif p.dh:
            ke = _ids(TransformType.KE, p.dh)
        elif ike_ke is not None:
            ke = [Transform(TransformType.KE, ike_ke)]
        else:
            ke = [Transform(TransformType.KE, KeId.NONE)]
        out.append(_build(p, n, ProtocolId.ESP, ke=ke, esn=esn))
    return out


def _pfs_vs_dh_check(parser: _Parser, parsed: list[_Parsed]) -> None:
    """All or no proposals name DH, and (IKEv2, no Child SA INVALID_KE) only one DH."""
    with_dh = [p for p in parsed if p.dh]
    if not with_dh:
        return
    if len(with_dh) != len(parsed):
        raise parser.error("either all or no ESP proposals should specify DH")
    firsts = _dedupe([p.dh[0] for p in with_dh if p.dh[0].ikev2_id != KeId.NONE])
    if len(firsts) > 1:
        raise parser.error(
            f"more than one IKEv2 ESP DH algorithm ({firsts[0].name}, {firsts[1].name})"
            " requires unimplemented CHILD_SA INVALID_KE"
        )


def default_esp_proposals(
    pfs_group: int | None = None, *, esn: Esn = "either", fips: bool = False
) -> list[Proposal]:
    """Libreswan 4.10's ESP proposals when `esp=` is absent; KE is `pfs_group` or NONE."""
    return parse_esp(None, ike_ke=pfs_group, esn=esn, fips=fips)


def with_spi(proposals: Iterable[Proposal], spi: bytes) -> list[Proposal]:
    """The same proposals carrying our SPI (Child SA proposals, IKE SA rekey)."""
    return [replace(p, spi=spi) for p in proposals]


def set_ke(proposals: Iterable[Proposal], groups: Sequence[int]) -> list[Proposal]:
    """The same proposals with their KE transforms replaced by `groups` (empty: NONE).

    For an engine holding KE-less Child SA proposals plus the PFS groups
    separately; the KE transform goes where pluto puts it (after INTEG).
    """
    ke = [Transform(TransformType.KE, g) for g in groups] or [
        Transform(TransformType.KE, KeId.NONE)
    ]
    out = []
    for p in proposals:
        rest = [t for t in p.transforms if t.type != TransformType.KE]
        at = sum(1 for t in rest if int(t.type) < TransformType.KE)
        out.append(replace(p, transforms=(*rest[:at], *ke, *rest[at:])))
    return out


_OPTIONAL_NONE_TYPES = (TransformType.INTEG, TransformType.KE, *_ADDKE_TYPES)


def for_wire(proposals: Iterable[Proposal]) -> list[Proposal]:
    """What an initiator puts in the SA payload: a lone INTEG/KE/ADDKE NONE is omitted.

    NONE stays when other transforms of its type are present (KE=NONE+MODP2048).
    """
    out = []
    for p in proposals:
        ts = []
        for t in p.transforms:
            if t.type in _OPTIONAL_NONE_TYPES and t.id == 0 and len(p.of_type(t.type)) == 1:
                continue
            ts.append(t)
        out.append(replace(p, transforms=tuple(ts)))
    return out


# ======================================================================== IKEv1


@dataclass(frozen=True, slots=True)
class V1Proposal:
    """One IKEv1 proposal (Main/Aggressive Mode or Quick Mode), by Libreswan FQN.

    IKEv1 has one algorithm of each kind per proposal; `key_length` 0 means
    the cipher's default lengths.  `integ` is NONE for AEAD ESP; IKE
    proposals carry the PRF (IKEv1 "hash") and the integrity derived from it.
    """

    encrypt: str | None
    key_length: int
    prf: str | None
    integ: str | None
    dh: str | None


#: Libreswan's IKEv1 defaults (lib/libswan/ike_info.c, esp_info.c).
DEFAULT_V1_IKE = "AES_CBC,3DES"
DEFAULT_V1_IKE_PRFS = ("HMAC_SHA2_256", "HMAC_SHA2_512", "HMAC_SHA1")
DEFAULT_V1_IKE_GROUPS = ("MODP2048", "MODP1536", "DH19", "DH31")
DEFAULT_V1_ESP = "AES_CBC,AES_GCM_16_128,AES_GCM_16_256,3DES"
DEFAULT_V1_ESP_INTEGS = ("HMAC_SHA1_96", "HMAC_SHA2_512_256", "HMAC_SHA2_256_128")


def parse_v1(
    s: str | None, kind: Literal["ike", "esp"], *, pfs: bool = True, fips: bool = False
) -> list[V1Proposal]:
    """`ike=`/`esp=` for an IKEv1 connection (`ikev2=never`), Libreswan's v1 grammar.

    `ENCR[KEYLEN][-PRF|INTEG][;DH]` (no `+`); missing parts are filled from
    the defaults one combination at a time (DH first, then PRF/integrity),
    as lib/libswan/v1_proposals.c does.  Used to validate and expand the
    strings; raises `ProposalError` with Libreswan's wording.
    """
    proto = "IKE" if kind == "ike" else "ESP"
    parser = _Parser(proto, fips=fips, version=1)
    text = (DEFAULT_V1_IKE if kind == "ike" else DEFAULT_V1_ESP) if s is None else s
    if text == "":
        raise parser.error(f"{proto} proposal is empty")
    out: list[V1Proposal] = []
    for raw in text.split(","):
        toks = _Tokens(raw, "-;")
        encrypt: Algorithm | None = None
        keylen = 0
        prf = integ = dh = None
        if toks.this is not None and toks.prev_term != ";":
            encrypt, keylen = parser.parse_encrypt(toks)
        if proto == "IKE" and toks.this is not None and toks.prev_term != ";":
            prf = parser.parse_alg(toks.this, AlgType.PRF)
            toks.advance()
        if proto == "ESP" and toks.this is not None and toks.prev_term != ";":
            integ = parser.parse_alg(toks.this, AlgType.INTEG)
            toks.advance()
        if toks.this is not None:
            dh = parser.parse_alg(toks.this, AlgType.DH)
            toks.advance()
        if toks.this is not None:
            raise parser.error(f"{proto} proposals contain unexpected '{toks.this}'")
        _v1_defaults(parser, out, encrypt, keylen, prf, integ, dh)
    if proto == "ESP":
        dhs = _dedupe([p for p in (lookup(AlgType.DH, x.dh) for x in out if x.dh) if p])
        if dhs and not pfs:
            out = [replace(x, dh=None) for x in out]
        elif len([x for x in out if x.dh]) not in (0, len(out)):
            raise parser.error("either all or no ESP proposals should specify DH")
        elif len(dhs) > 1:
            raise parser.error(
                f"more than one IKEv1 ESP DH algorithm ({dhs[0].name}, {dhs[1].name}) is not"
                " allowed in quick mode"
            )
    return out


def _v1_defaults(
    parser: _Parser,
    out: list[V1Proposal],
    encrypt: Algorithm | None,
    keylen: int,
    prf: Algorithm | None,
    integ: Algorithm | None,
    dh: Algorithm | None,
) -> None:
    """add_proposal_defaults(): recurse over default DH, then PRF, then integrity."""
    ike = parser.proto == "IKE"

    def usable(names: Sequence[str], t: AlgType) -> list[Algorithm]:
        algs = (lookup(t, n, fips=parser.fips) for n in names)
        return [a for a in algs if a is not None and parser.proto in a.ikev1]

    if dh is None and ike:
        for d in usable(DEFAULT_V1_IKE_GROUPS, AlgType.DH):
            _v1_defaults(parser, out, encrypt, keylen, prf, integ, d)
        return
    if prf is None and ike:
        for p in usable(DEFAULT_V1_IKE_PRFS, AlgType.PRF):
            _v1_defaults(parser, out, encrypt, keylen, p, integ, dh)
        return
    if integ is None and encrypt is not None and encrypt.aead:
        integ = _integ_none()
    elif integ is None and not ike:
        for i in usable(DEFAULT_V1_ESP_INTEGS, AlgType.INTEG):
            _v1_defaults(parser, out, encrypt, keylen, prf, i, dh)
        return
    elif integ is None and prf is not None and encrypt is not None:
        integ = integ_for_prf(prf)
        if integ is None:
            raise parser.error(
                f"{parser.proto} integrity derived from PRF {prf.name} is not supported"
            )
    p = _Parsed(
        encrypt=[(encrypt, keylen)] if encrypt else [],
        prf=[prf] if prf else [],
        integ=[integ] if integ else [],
        dh=[dh] if dh else [],
    )
    if p.encrypt:
        parser.check(p)
    v1 = V1Proposal(
        encrypt.name if encrypt else None,
        keylen,
        prf.name if prf else None,
        integ.name if integ else None,
        dh.name if dh else None,
    )
    if v1 not in out:
        out.append(v1)


# ======================================================================== selection


def _ttype(t: Transform) -> int:
    return int(t.type)


def _is_optional(local_ts: Sequence[Transform], ttype: int) -> bool:
    return ttype in _OPTIONAL_NONE_TYPES and any(t.id == 0 for t in local_ts)


def _match(
    local: Proposal, remote: Proposal, *, ignore_ke: bool = False
) -> tuple[Transform, ...] | None:
    """Match one remote proposal against one local proposal (process_transforms()).

    Every type the peer proposed needs a transform we also have (id and key
    length equal); every type we require must be proposed (NONE-able types
    are optional).  For each type our earliest acceptable transform wins.
    """
    types = {_ttype(t) for t in local.transforms} | {_ttype(t) for t in remote.transforms}
    chosen: list[Transform] = []
    for ttype in sorted(types):
        if ignore_ke and ttype == TransformType.KE:
            continue
        mine = [t for t in local.transforms if _ttype(t) == ttype]
        theirs = {(t.id, t.key_length or 0): t for t in remote.transforms if _ttype(t) == ttype}
        if theirs and not mine and ttype in _OPTIONAL_NONE_TYPES and (0, 0) in theirs:
            # our NONE placeholder was dropped (a `for_wire` form): still implied
            chosen.append(theirs[(0, 0)])
        elif theirs:
            pick = next((t for t in mine if (t.id, t.key_length or 0) in theirs), None)
            if pick is None:
                return None  # unmatched remote type
            chosen.append(theirs[(pick.id, pick.key_length or 0)])
        elif mine and not _is_optional(mine, ttype):
            return None  # missing required type
    return tuple(chosen)


def _check_remote(remote: Proposal, spi_size: int | None) -> str | None:
    """Why Libreswan skips this remote proposal without matching it (or None)."""
    if spi_size is not None and len(remote.spi) != spi_size:
        return "[spi-size]"
    for t in remote.transforms:
        if _ttype(t) == 0:
            raise ProposalSyntaxError(f"remote proposal {remote.number} has a transform of type 0")
        if _ttype(t) > TransformType.ADDKE7:
            return "[unknown-transform-type]"
    integ = [t.id for t in remote.transforms if _ttype(t) == TransformType.INTEG]
    if len(integ) > 1 and 0 in integ:
        return "[mixed-integrity]"
    return None


def describe_remote(received: Sequence[Proposal], marks: dict[int, str] | None = None) -> str:
    """pluto's rendering of received proposals: `1:IKE:ENCR=AES_CBC_128;PRF=...`."""
    parts = []
    for i, p in enumerate(received):
        body = ";".join(
            f"{transform_type_name(_ttype(t))}={transform_name(_ttype(t), t.id, t.key_length)}"
            for t in p.transforms
        )
        proto = _PROTO_NAME.get(p.protocol, str(int(p.protocol)))
        parts.append(f"{p.number}:{proto}:{body}{(marks or {}).get(i, '')}")
    return " ".join(parts)


def format_proposal(p: Proposal) -> str:
    """pluto's rendering of one proposal: `1:ESP=AES_CBC_128-HMAC_SHA2_256_128-NONE-ENABLED+DISABLED`.

    Types in numeric order, alternatives joined with `+`; a non-empty SPI is
    appended as ` SPI=<hex>` (the chosen-proposal log line).
    """
    groups: list[str] = []
    for ttype in sorted({_ttype(t) for t in p.transforms}):
        names = [
            transform_name(ttype, t.id, t.key_length) for t in p.transforms if _ttype(t) == ttype
        ]
        groups.append("+".join(names))
    proto = _PROTO_NAME.get(p.protocol, str(int(p.protocol)))
    text = f"{p.number}:{proto}={'-'.join(groups)}"
    if p.spi:
        text += f" SPI={p.spi.hex()}"
    return text


def format_proposals(proposals: Iterable[Proposal]) -> list[str]:
    """The indented lines under pluto's "IKE SA proposals (connection add):" heading."""
    return [f"  {format_proposal(p)}" for p in proposals]


def select_proposal(
    local: Sequence[Proposal],
    received: Sequence[Proposal],
    *,
    spi_size: int | None = None,
    log: list[str] | None = None,
) -> Proposal:
    """Choose from the peer's proposals the way a Libreswan responder does.

    Policy (programs/pluto/ikev2_proposals.c, process_v2SA_payload): *our*
    preference wins.  Each received proposal is compared with our proposals
    in order; a later received proposal only replaces the choice if it
    matches an earlier one of ours.  Within the matched local proposal, our
    first transform of each type that the peer also offered is taken.  Ties
    go to the peer's earlier proposal.

    The result carries the peer's proposal number and SPI and one transform
    of each type, including INTEG/KE NONE only when the peer sent them (pluto
    echoes them then).  Received proposals with an unknown transform type, a
    mix of INTEG NONE and real integrity, or an SPI not `spi_size` bytes long
    are skipped; a transform of type 0 raises `ProposalSyntaxError`.

    Raises `NoProposalChosen` (with `ke_mismatch` when only the key exchange
    kept a proposal from matching).  If `log` is given, pluto's "proposal
    ... chosen from remote proposals ..." line is appended to it.
    """
    best: tuple[int, int, tuple[Transform, ...]] | None = None  # local idx, remote idx, ts
    marks: dict[int, str] = {}
    for ri, rp in enumerate(received):
        skip = _check_remote(rp, spi_size)
        if skip is not None:
            marks[ri] = skip
            continue
        bound = best[0] if best is not None else len(local)
        for li in range(bound):
            lp = local[li]
            if lp.protocol != rp.protocol:
                continue
            ts = _match(lp, rp)
            if ts is not None:
                marks[ri] = "[first-match]" if best is None else "[better-match]"
                best = (li, ri, ts)
                break
    remote_text = describe_remote(received, marks)
    if best is None:
        groups = _ke_only_groups(local, received, spi_size)
        raise NoProposalChosen(
            f"no local proposal matches remote proposals {remote_text}",
            ke_mismatch=bool(groups),
            acceptable_groups=groups,
        )
    _, ri, ts = best
    rp = received[ri]
    chosen = Proposal(rp.number, rp.protocol, rp.spi, ts)
    if log is not None:
        log.append(f"proposal {format_proposal(chosen)} chosen from remote proposals {remote_text}")
    return chosen


def _ke_only_groups(
    local: Sequence[Proposal], received: Sequence[Proposal], spi_size: int | None
) -> tuple[int, ...]:
    """Groups of our proposals that match some received proposal in everything but KE."""
    groups: list[int] = []
    for lp in local:
        for rp in received:
            try:
                if _check_remote(rp, spi_size) is not None:
                    continue
            except ProposalSyntaxError:
                continue
            if lp.protocol == rp.protocol and _match(lp, rp, ignore_ke=True) is not None:
                for t in lp.of_type(TransformType.KE):
                    if t.id != KeId.NONE and t.id not in groups:
                        groups.append(t.id)
                break
    return tuple(groups)


def check_accepted(local: Sequence[Proposal], accepted: Sequence[Proposal]) -> Proposal:
    """Validate the responder's answer to our proposals (initiator side).

    The answer must be exactly one proposal whose number names one of ours
    and whose transforms that proposal allows.  Raises `NoProposalChosen`
    (pluto: "remote accepted the invalid proposal") or `ProposalSyntaxError`.
    """
    if len(accepted) != 1:
        raise ProposalSyntaxError("more than one accepted proposal received")
    a = accepted[0]
    if not 1 <= a.number <= len(local):
        raise ProposalSyntaxError("invalid accepted proposal")
    lp = local[a.number - 1]
    if _check_remote(a, None) is not None or lp.protocol != a.protocol:
        raise NoProposalChosen(f"remote accepted the invalid proposal {describe_remote(accepted)}")
    ts = _match(lp, a)
    types = [_ttype(x) for x in a.transforms]
    if ts is None or len(types) != len(set(types)):
        raise NoProposalChosen(f"remote accepted the invalid proposal {describe_remote(accepted)}")
    return Proposal(a.number, a.protocol, a.spi, ts)


# ======================================================================== queries


def ke_of(proposal: Proposal) -> int | None:
    """The key exchange method of a chosen proposal; None when there is none (absent or NONE)."""
    for t in proposal.of_type(TransformType.KE):
        if t.id != KeId.NONE:
            return t.id
    return None


def addke_of(proposal: Proposal) -> dict[TransformType, int]:
    """The RFC 9370 additional key exchanges of a chosen proposal (NONE slots left out)."""
    out: dict[TransformType, int] = {}
    for ttype in _ADDKE_TYPES:
        for t in proposal.of_type(ttype):
            if t.id != KeId.NONE:
                out[ttype] = t.id
                break
    return out


def esn_of(proposal: Proposal) -> bool:
    """Whether a chosen Child SA proposal uses extended sequence numbers."""
    return any(t.id == EsnId.ESN for t in proposal.of_type(TransformType.ESN))


def first_ke(proposals: Iterable[Proposal]) -> int | None:
    """The group an initiator puts in its KE payload: the first non-NONE one proposed."""
    for p in proposals:
        g = ke_of(p)
        if g is not None:
            return g
    return None


def includes_ke(proposals: Iterable[Proposal], group: int) -> bool:
    """Whether any of the proposals offers `group` (checking an INVALID_KE_PAYLOAD hint)."""
    return any(t.id == group for p in proposals for t in p.of_type(TransformType.KE))


def _alg_of(proposal: Proposal, ttype: TransformType) -> tuple[Algorithm | None, Transform | None]:
    ts = proposal.of_type(ttype)
    if not ts:
        return None, None
    return by_transform(ttype, ts[0].id), ts[0]


def _cipher(proposal: Proposal) -> str:
    alg, t = _alg_of(proposal, TransformType.ENCR)
    if t is None:
        return "n/a"
    name = alg.name if alg is not None else transform_name(TransformType.ENCR, t.id)
    bits = t.key_length or (alg.default_key_length if alg is not None else None)
    return f"{name}_{bits}" if bits else name


def _fqn(proposal: Proposal, ttype: TransformType) -> str | None:
    alg, t = _alg_of(proposal, ttype)
    if t is None:
        return None
    return alg.name if alg is not None else transform_name(ttype, t.id)


def describe(chosen: Proposal, kind: Literal["ike", "esp"] = "ike") -> str:
    """The negotiated-algorithms text pluto logs.

    IKE: `cipher=AES_CBC_128 integ=HMAC_SHA2_256_128 prf=HMAC_SHA2_256 group=MODP2048`
    (AEAD: `integ=n/a`), the part inside "sent IKE_AUTH request {...}".
    ESP: `xfrm=AES_CBC_128-HMAC_SHA2_256_128` (AEAD: `xfrm=AES_GCM_16_256-NONE`,
    with PFS `-MODP2048` appended), the part after the SPIs in "established
    Child SA ... {ESP/ESN=>0x... <0x... xfrm=...}"; `esn_of` tells ESP vs ESP/ESN.
    """
    cipher = _cipher(chosen)
    encr, _ = _alg_of(chosen, TransformType.ENCR)
    integ = _fqn(chosen, TransformType.INTEG)
    group = ke_of(chosen)
    if kind == "ike":
        if integ is None or (encr is not None and encr.aead):
            integ = "n/a"
        prf = _fqn(chosen, TransformType.PRF) or "n/a"
        g = _ke_fqn(group) if group is not None else "n/a"
        return f"cipher={cipher} integ={integ} prf={prf} group={g}"
    parts = [cipher, integ or "NONE"]
    if group is not None:
        parts.append(_ke_fqn(group))
    return "xfrm=" + "-".join(parts)
