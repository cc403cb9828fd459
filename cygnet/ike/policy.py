"""What the engine needs to know about a connection, already resolved.

The daemon turns a Libreswan `conn` (plus secrets and keys) into an
`IkePolicy`; the engine never reads files or the key store. A responder may
switch policies at IKE_AUTH once it knows the peer's ID, through a
`PolicyLookup` the daemon provides (a pure lookup, no I/O).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from cygnet.ike.iana import AuthMethod, HashAlgorithm, KeId
from cygnet.ike.natd import Endpoint
from cygnet.ike.payloads import Identity
from cygnet.ike.proposals import Proposal
from cygnet.ike.ts import Selectors

#: Libreswan `authby=` words and the AUTH methods each allows us to accept.
AUTHBY_METHODS: dict[str, frozenset[AuthMethod]] = {
    "secret": frozenset({AuthMethod.PSK}),
    "null": frozenset({AuthMethod.NULL}),
    "rsasig": frozenset({AuthMethod.DIGITAL_SIGNATURE, AuthMethod.RSA_SIG}),
    "rsa-sha2": frozenset({AuthMethod.DIGITAL_SIGNATURE}),
    "rsa-sha1": frozenset({AuthMethod.RSA_SIG}),
    "ecdsa": frozenset(
        {
            AuthMethod.DIGITAL_SIGNATURE,
            AuthMethod.ECDSA_SHA256_P256,
            AuthMethod.ECDSA_SHA384_P384,
            AuthMethod.ECDSA_SHA512_P521,
        }
    ),
}

#: What we offer in SIGNATURE_HASH_ALGORITHMS, in Libreswan's order; we sign with the
#: strongest one the peer also offers (Libreswan's ikev2_auth.c does the same).
SIGNATURE_HASHES = (HashAlgorithm.SHA2_256, HashAlgorithm.SHA2_384, HashAlgorithm.SHA2_512)


@dataclass(frozen=True)
class AuthPolicy:
    """One end's authentication: how it proves itself and with what."""

    authby: str = "secret"
    psk: bytes | None = field(default=None, repr=False)
    private_key: Any = field(default=None, repr=False)  # ours: a cryptography private key
    public_key: Any = None  # the peer's: a cryptography public key (raw key or from its cert)

    def __post_init__(self) -> None:
        if self.authby not in AUTHBY_METHODS:
            raise ValueError(f"authby={self.authby} is not supported")


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class LeaseReply:
    """What an address pool hands a peer (Libreswan `rightaddresspool=`, `modecfgdns=`,
    `modecfgdomains=`): sent in CP(CFG_REPLY) and used to narrow the peer's TSi."""

    addresses: tuple[Address, ...]
    dns: tuple[Address, ...] = ()
    domains: tuple[str, ...] = ()

    @classmethod
    def of(cls, *addresses: str, dns: tuple[str, ...] = (), domains: tuple[str, ...] = ()) -> LeaseReply:
        return cls(tuple(ipaddress.ip_address(a) for a in addresses),
                   tuple(ipaddress.ip_address(d) for d in dns), tuple(domains))


#: Lease callback: the peer's authenticated ID -> a lease, or None when the pool is empty.
LeaseFn = Callable[[Identity], LeaseReply | None]


@dataclass(frozen=True)
class IkePolicy:
    """A connection as the engine sees it (Libreswan `conn`, oriented local/remote)."""

    name: str
    local_id: Identity
    remote_id: Identity | None  # None: any ID the peer proves (right=%any, rightid unset)
    local_auth: AuthPolicy
    remote_auth: AuthPolicy
    ike_proposals: tuple[Proposal, ...]
    esp_proposals: tuple[Proposal, ...]  # without KE transforms; see `pfs_groups`
    local_ts: Selectors
    remote_ts: Selectors
    pfs_groups: tuple[KeId, ...] = ()  # KE for CREATE_CHILD_SA; empty = pfs=no
    transport: bool = False
    narrowing: bool = False
    send_initial_contact: bool = True
    retransmit_interval: float = 0.5
    retransmit_timeout: float = 60.0
    dpd_delay: float = 0.0  # 0 = no liveness probes of our own (Libreswan: DPD=passive)
    nonce_bytes: int = 32
    #: RFC 9242 IKE_INTERMEDIATE (Libreswan `intermediate=`): None = offer it when our IKE
    #: proposals carry additional key exchanges, and accept it from peers; False = never.
    intermediate: bool | None = None
    #: RFC 7383 (Libreswan `fragmentation=yes`, the default): announce and use SKF fragments.
    fragmentation: bool = True
    #: DER X.509 certificates sent as CERT payloads in IKE_AUTH (ours first, then its chain).
    local_certs: tuple[bytes, ...] = field(default=(), repr=False)
    #: Libreswan `leftmodecfgclient=yes`: ask for an address (and DNS) with CP(CFG_REQUEST).
    modecfg_client: bool = False
    #: Responder address pool (Libreswan `rightaddresspool=`): pure, no I/O. When set, a
    #: peer must send CP(CFG_REQUEST) (else FAILED_CP_REQUIRED) and gets TSi narrowed to it.
    lease: LeaseFn | None = field(default=None, compare=False)
    #: Libreswan `encapsulation=`: "auto" (UDP-encapsulate ESP when a NAT is detected),
    #: "yes" (always: fake our NAT_DETECTION_SOURCE_IP, RFC 7296 §2.23), "no" (never).
    encapsulation: str = "auto"

    @property
    def mode(self) -> str:
        return "transport" if self.transport else "tunnel"


class PolicyLookup(Protocol):
    """How a responder finds the connection for a peer (implemented by the daemon)."""

    def for_ike_sa_init(self, local: Endpoint, remote: Endpoint) -> IkePolicy | None:
        """A candidate connection from addresses alone (IKE_SA_INIT)."""

    def for_ike_auth(
        self, current: IkePolicy, local: Endpoint, remote: Endpoint, peer_id: Identity,
        our_id: Identity | None,
    ) -> IkePolicy | None:
        """The best connection once the peer's ID (and the ID it wants us to be) is known."""
