"""Policy groups (/etc/ipsec.d/policies/*): parsing, errors and the most-specific lookup."""

from __future__ import annotations

import ipaddress
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cygnet.config.policies import (
    DEFAULT_PRECEDENCE,
    GROUP_NAMES,
    PolicyError,
    load_policy_groups,
)

DATA = Path(__file__).parent / "data_secrets" / "policies"
net = ipaddress.ip_network


def groups_dir(tmp_path: Path, **files: str) -> str:
    d = tmp_path / "policies"
    d.mkdir(exist_ok=True)
    for name, text in files.items():
        (d / name.replace("_", "-")).write_text(text)
    return str(d)


def error_for(tmp_path: Path, **files: str) -> str:
    d = groups_dir(tmp_path, **files)
    with pytest.raises(PolicyError) as info:
        load_policy_groups(d)
    return str(info.value).replace(d + "/", "")


def test_spec_mesh_procedure() -> None:
    """RHEL 9 4.6 steps 3-5: private 10.15.0.0/16, with exceptions."""
    pg = load_policy_groups(str(DATA))
    assert set(pg.groups) == set(GROUP_NAMES)
    assert pg.groups["private"] == (net("10.15.0.0/16"), net("2001:db8:15::/48"))
    assert pg.groups["private-or-clear"] == (net("10.15.34.0/24"),)
    assert pg.groups["clear"] == (
        net("10.15.1.2/32"),
        net("192.0.2.7/32"),
        net("2001:db8:15::53/128"),
    )
    assert pg.groups["clear-or-private"] == ()
    assert pg.groups["block"] == ()
    assert pg.group_for("10.15.9.9") == "private"
    assert pg.group_for("10.15.34.77") == "private-or-clear"
    assert pg.group_for("10.15.1.2") == "clear"
    assert pg.group_for("10.15.1.3") == "private"
    assert pg.group_for("192.0.2.7") == "clear"
    assert pg.group_for("192.0.2.8") is None
    assert pg.group_for("2001:db8:15::53") == "clear"
    assert pg.group_for("2001:db8:15::54") == "private"
    assert pg.group_for(ipaddress.ip_address("2001:db8:16::1")) is None
    assert pg.warnings == () and pg.errors == ()


def test_missing_directory_means_empty_groups(tmp_path: Path) -> None:
    pg = load_policy_groups(str(tmp_path / "nowhere"))
    assert pg.groups == {name: () for name in GROUP_NAMES}
    assert pg.group_for("10.0.0.1") is None
    assert pg.portexcludes == ()


def test_comments_blank_lines_and_forms(tmp_path: Path) -> None:
    d = groups_dir(
        tmp_path,
        private=(
            "# IPsec required\n"
            "\n"
            "10.0.0.0/8   # trailing comment\n"
            "   \n"
            "192.168.1.1\n"
            "2001:db8::/32\n"
            "2001:db8:1::1\n"
            "172.16.0.0/255.240.0.0\n"
        ),
    )
    pg = load_policy_groups(d)
    assert pg.groups["private"] == (
        net("10.0.0.0/8"),
        net("192.168.1.1/32"),
        net("2001:db8::/32"),
        net("2001:db8:1::1/128"),
        net("172.16.0.0/12"),
    )
    assert [e.line for e in pg.entries] == [3, 5, 6, 7, 8]


def test_longest_prefix_across_groups(tmp_path: Path) -> None:
    d = groups_dir(
        tmp_path,
        clear="0.0.0.0/0\n",
        private_or_clear="10.0.0.0/8\n",
        private="10.1.0.0/16\n",
        block="10.1.2.3\n",
        clear_or_private="10.1.2.0/24\n",
    )
    pg = load_policy_groups(d)
    assert pg.group_for("192.0.2.1") == "clear"
    assert pg.group_for("10.9.9.9") == "private-or-clear"
    assert pg.group_for("10.1.9.9") == "private"
    assert pg.group_for("10.1.2.9") == "clear-or-private"
    assert pg.group_for("10.1.2.3") == "block"
    assert pg.group_for("2001:db8::1") is None  # 0.0.0.0/0 is IPv4 only


def test_same_prefix_in_two_groups_keeps_the_more_restrictive(tmp_path: Path) -> None:
    d = groups_dir(tmp_path, clear="10.15.1.0/24\n", private="10.15.1.0/24\n")
    pg = load_policy_groups(d)
    assert DEFAULT_PRECEDENCE.index("private") < DEFAULT_PRECEDENCE.index("clear")
    assert pg.group_for("10.15.1.9") == "private"
    assert pg.groups["clear"] == ()
    assert pg.warnings == (
        f'{d}/clear:1: subnet "10.15.1.0/24", proto 0, sport 0 dport 0, already "private"; ignored',
    )


def test_precedence_can_follow_the_connection_order(tmp_path: Path) -> None:
    d = groups_dir(tmp_path, clear="10.15.1.0/24\n", private="10.15.1.0/24\n")
    pg = load_policy_groups(d, precedence=("clear", "private"))
    assert pg.group_for("10.15.1.9") == "clear"


def test_custom_group_names(tmp_path: Path) -> None:
    d = groups_dir(tmp_path, mygroup="198.51.100.0/24\n")
    pg = load_policy_groups(d, names=("mygroup",))
    assert pg.groups == {"mygroup": (net("198.51.100.0/24"),)}
    assert pg.group_for("198.51.100.5") == "mygroup"


def test_protocol_and_ports(tmp_path: Path) -> None:
    d = groups_dir(
        tmp_path, private="10.0.0.0/8\n", clear="10.0.0.0/8 tcp 0 22\n10.0.0.5 udp 0 53\n"
    )
    pg = load_policy_groups(d)
    assert pg.group_for("10.1.1.1") == "private"
    assert pg.group_for("10.1.1.1", protocol=6, dport=22) == "clear"
    assert pg.group_for("10.1.1.1", protocol=6, dport=80) == "private"
    assert pg.group_for("10.0.0.5", protocol=17, dport=53) == "clear"
    entry = pg.entry_for("10.1.1.1", protocol=6, dport=22)
    assert (entry.protocol, entry.sport, entry.dport, entry.line) == (6, 0, 22, 1)
    # the same subnet with different ports is a different entry, not a duplicate
    assert pg.warnings == ()


ERRORS = [
    (
        {"private": "10.15.1.2/24\n"},
        "private:1: '10.15.1.2/24' is not a subnet: improper subnet, host-part bits on (did you mean 10.15.1.0/24?)",
    ),
    (
        {"private": "# ok\n10.0.0.0/8\nnot-an-address\n"},
        "private:3: 'not-an-address' is not an address",
    ),
    (
        {"clear": "10.0.0.0/33\n"},
        "clear:1: '10.0.0.0/33' is not a subnet: '33' is not a valid netmask",
    ),
    (
        {"clear": "10.0.0.0/8 esp 0 0\n"},
        "clear:1: invalid protocol 'esp' - mistakenly defined to be 0 or 50(esp) or 51(ah)",
    ),
    (
        {"clear": "10.0.0.0/8 tcp\n"},
        "clear:1: missing source_port: either only specify CIDR, or specify CIDR protocol source_port dest_port",
    ),
    (
        {"clear": "10.0.0.0/8 tcp 0\n"},
        "clear:1: missing dest_port: either only specify CIDR, or specify CIDR protocol source_port dest_port",
    ),
    (
        {"clear": "10.0.0.0/8 tcp 0 22 extra\n"},
        "clear:1: garbage 'extra' at end of line: either only specify CIDR, or specify CIDR protocol source_port dest_port",
    ),
    (
        {"clear": "10.0.0.0/8 nosuchproto 0 22\n"},
        "clear:1: protocol 'nosuchproto' invalid: unknown protocol name",
    ),
    (
        {"clear": "10.0.0.0/8 tcp 0 99999\n"},
        "clear:1: destination port '99999' invalid: out of range",
    ),
    ({"clear": "10.0.0/8\n"}, "clear:1: '10.0.0/8' is not a subnet: Expected 4 octets in '10.0.0'"),
    (
        {"clear": "fe80::1%eth0\n"},
        "clear:1: 'fe80::1%eth0' is not a subnet: scoped addresses are not allowed",
    ),
    ({"clear": "  10.0.0.0/8\n"}, "clear:1: file starts with indentation (continuation notation)"),
    (
        {"portexcludes.conf": "in tcp any\n"},
        "portexcludes.conf:1: broken line: expected DIRECTION PROTOCOL SOURCE DEST PRIORITY",
    ),
    (
        {"portexcludes.conf": "up tcp any 22 1023\n"},
        "portexcludes.conf:1: direction 'up' invalid: expected in, out or both",
    ),
    (
        {"portexcludes.conf": "in tcp 10.0.0.0/8 2001:db8::/32 1023\n"},
        "portexcludes.conf:1: cannot mix ipv4 and ipv6",
    ),
]


@pytest.mark.parametrize(("files", "message"), ERRORS)
def test_errors(tmp_path: Path, files: dict[str, str], message: str) -> None:
    d = tmp_path / "policies"
    d.mkdir()
    for name, text in files.items():
        (d / name).write_text(text)
    with pytest.raises(PolicyError) as info:
        load_policy_groups(str(d))
    assert str(info.value).replace(str(d) + "/", "") == message
    assert info.value.file.startswith(str(d)) and info.value.line == int(message.split(":")[1])


def test_lenient_mode_skips_bad_lines(tmp_path: Path) -> None:
    d = groups_dir(tmp_path, private="10.0.0.0/8\n10.1.1.1/8\ngarbage\n192.168.0.0/16\n")
    pg = load_policy_groups(d, strict=False)
    assert pg.groups["private"] == (net("10.0.0.0/8"), net("192.168.0.0/16"))
    assert [e.replace(d + "/", "").split(": ")[0] for e in pg.errors] == ["private:2", "private:3"]


def test_portexcludes() -> None:
    pg = load_policy_groups(str(DATA))
    first, second = pg.portexcludes
    assert (
        first.direction,
        first.protocol,
        first.source,
        first.sport,
        first.dest,
        first.dport,
    ) == (
        "in",
        6,
        None,
        0,
        None,
        22,
    )
    assert first.priority == 1023 and first.line == 2
    assert (
        second.direction,
        second.protocol,
        second.source,
        second.sport,
        second.dest,
        second.dport,
    ) == (
        "both",
        17,
        net("10.0.0.0/8"),
        514,
        net("10.0.0.0/8"),
        514,
    )


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=list(" \t\n#/:.0123456789abcdefx%tcpudp-") + ["\0", "\u00e9"], max_size=120)
)
def test_fuzz_only_policy_error_escapes(text: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        for name in ("private", "portexcludes.conf"):
            with open(os.path.join(d, name), "w", encoding="utf-8") as f:
                f.write(text)
        try:
            pg = load_policy_groups(d)
        except PolicyError as e:
            assert str(e).startswith(d)
        else:
            for network in pg.groups["private"]:
                assert pg.group_for(network.network_address) == "private"
        load_policy_groups(d, strict=False)
