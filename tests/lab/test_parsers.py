"""Parsers of the peers' outputs (no root needed)."""

from __future__ import annotations

from cygnet.lab.strongswan import parse_list_sas

SAMPLE = """\
list-sa event {
  plab {
    uniqueid = 1
    state = ESTABLISHED
    child-sas {
      plab-1 {
        name = plab
        state = INSTALLED
        local-ts = [
          192.1.2.23/32
        ]
      }
    }
  }
}
list-sas reply {
}
"""


def test_parse_list_sas_pretty() -> None:
    (sa,) = parse_list_sas(SAMPLE)
    assert sa["name"] == "plab" and sa["state"] == "ESTABLISHED"
    assert sa["child-sas"]["plab-1"]["local-ts"] == ["192.1.2.23/32"]
