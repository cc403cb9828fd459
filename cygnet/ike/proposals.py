"""SA proposals: the wire-level shape shared by the SA payload codec and selection.

(Seed: the `Transform` and `Proposal` types below are the contract between
`payloads` and proposal parsing/selection; extend, do not rename.)
"""

from __future__ import annotations

from dataclasses import dataclass

from cygnet.ike.iana import ProtocolId, TransformType


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
