"""What the sans-IO engine asks of the world, as small immutable records.

The engine never sends, sleeps or touches the kernel: it returns these and
the daemon carries them out (send a datagram, install a Child SA in the data
plane, print a log line). Tests read them directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cygnet.ike.iana import NotifyType
from cygnet.ike.natd import Endpoint
from cygnet.ike.payloads import TrafficSelector


@dataclass(frozen=True, slots=True)
class SendDatagram:
    """An IKE message (or fragment) for the peer, already encoded.

    `local`/`remote` name the ports too: after NAT detection IKE moves to 4500,
    where the daemon prefixes the non-ESP marker (RFC 3948).
    """

    data: bytes
    local: Endpoint
    remote: Endpoint


@dataclass(frozen=True, slots=True)
class LogLine:
    """A console/log line in Libreswan's wording; `rc` is whack's numeric prefix."""

    rc: int
    text: str


@dataclass(frozen=True, slots=True)
class ChildSaKeys:
    """Everything a data plane needs to run one Child SA, both directions."""

    serial: int
    protocol: int  # ProtocolId.ESP
    mode: str  # "tunnel" | "transport"
    spi_in: bytes
    spi_out: bytes
    encr_id: int
    encr_key_bits: int
    integ_id: int  # IntegId.NONE for AEAD
    esn: bool
    key_in_encr: bytes
    key_in_integ: bytes
    key_out_encr: bytes
    key_out_integ: bytes
    ts_local: tuple[TrafficSelector, ...]
    ts_remote: tuple[TrafficSelector, ...]
    udp_encap: bool = False
    conn: str = ""  # the connection this Child SA belongs to (may differ from its IKE SA's)

    def __repr__(self) -> str:  # keys never reach a log by accident
        return (
            f"ChildSaKeys(serial={self.serial}, spi_in={self.spi_in.hex()}, "
            f"spi_out={self.spi_out.hex()}, mode={self.mode}, encr={self.encr_id}/"
            f"{self.encr_key_bits}, integ={self.integ_id}, esn={self.esn})"
        )


@dataclass(frozen=True, slots=True)
class InstallChildSa:
    child: ChildSaKeys
    replaces: int | None = None  # serial of the Child SA this one rekeys
    #: we answered the exchange that made it: the peer installs it only once our answer
    #: arrives, so a data plane that can should hold our outbound traffic on the old SA
    #: until the peer shows it has the new one (its Delete of the old SA, or traffic)
    responder: bool = False


@dataclass(frozen=True, slots=True)
class DeleteChildSa:
    serial: int
    spi_in: bytes
    spi_out: bytes


@dataclass(frozen=True, slots=True)
class IkeSaEstablished:
    serial: int
    peer_id: str
    auth: str


@dataclass(frozen=True, slots=True)
class IkeSaFailed:
    """The IKE SA could not be established; `notify` is what the peer sent or we sent."""

    serial: int
    reason: str
    notify: NotifyType | None = None


@dataclass(frozen=True, slots=True)
class IkeSaDeleted:
    serial: int
    notified: bool = True
    revive: bool = False
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IkeSaRekeyed:
    """The IKE SA `old_serial` was rekeyed; `new_sa` (an IkeSa) takes over its Child SAs."""

    old_serial: int
    new_sa: object


@dataclass(frozen=True, slots=True)
class InitialContact:
    """The peer `peer_id` sent INITIAL_CONTACT (RFC 7296 §2.4): it has no other IKE SAs
    with us, so all of ours with that peer except `keep_serial` are stale. The engine
    deletes those it owns (without notification) and reports each in `deleted`."""

    peer_id: str
    keep_serial: int
    deleted: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class LeaseReceived:
    """The initiator got an address from the peer's pool (CP CFG_REPLY, RFC 7296 §3.15)."""

    serial: int
    addresses: tuple[str, ...]
    dns: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ChildSaFailed:
    """A Child SA we asked for was refused or could not be accepted (the IKE SA stays up)."""

    serial: int
    ike_serial: int
    reason: str
    notify: NotifyType | None = None


Event = (
    SendDatagram
    | LogLine
    | InstallChildSa
    | DeleteChildSa
    | IkeSaEstablished
    | IkeSaFailed
    | IkeSaDeleted
    | IkeSaRekeyed
    | InitialContact
    | LeaseReceived
    | ChildSaFailed
)
