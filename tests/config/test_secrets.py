"""ipsec.secrets: every accepted form, every class of error, Libreswan's best-match lookup."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cygnet.config.secrets import (
    Id,
    IdKind,
    Secret,
    SecretKind,
    SecretsError,
    check_permissions,
    load_secrets,
    parse_id,
    ttodata,
)

DATA = Path(__file__).parent / "data_secrets"
SPEC_PPKS = '@west @east : PPKS "user1" "thestringismeanttobearandomstr"'


def write(tmp_path: Path, text: str, name: str = "ipsec.secrets", mode: int = 0o600) -> str:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return str(path)


def load_text(tmp_path: Path, text: str, **kw):
    return load_secrets(write(tmp_path, text), **kw)


def error_for(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(SecretsError) as info:
        load_secrets(path)
    assert info.value.file.endswith("ipsec.secrets") or info.value.file.startswith(str(tmp_path))
    return str(info.value).replace(str(tmp_path) + "/", "")


# ---------------------------------------------------------------- valid forms


def test_fixture_file_every_form() -> None:
    s = load_secrets(str(DATA / "ipsec.secrets"))
    got = [(e.kind, e.ids, e.value, e.ppk_id, Path(e.file).name, e.line) for e in s]
    assert got == [
        (SecretKind.PSK, ("@west", "@east"), b"a very secret string", None, "ipsec.secrets", 4),
        (
            SecretKind.PSK,
            ("192.1.2.45", "192.1.2.23"),
            bytes.fromhex("1234567890abcdef1234567890abcdef"),
            None,
            "ipsec.secrets",
            5,
        ),
        (
            SecretKind.PSK,
            ("%any",),
            b"shared secret with many roadwarriors",
            None,
            "ipsec.secrets",
            6,
        ),
        (SecretKind.PSK, ("%any6",), bytes.fromhex("01bada09a75a6eb6be"), None, "ipsec.secrets", 7),
        (SecretKind.PSK, (), b"default", None, "ipsec.secrets", 8),
        (
            SecretKind.PPKS,
            ("@west", "@east"),
            b"thestringismeanttobearandomstr",
            b"user1",
            "ipsec.secrets",
            11,
        ),
        (SecretKind.XAUTH, ("@user",), b"password", None, "ipsec.secrets", 13),
        (
            SecretKind.PSK,
            ("user@example.com", "@gateway.example.com"),
            b"single quoted # not a comment",
            None,
            "ipsec.secrets",
            14,
        ),
        (
            SecretKind.PSK,
            ("C=CA, O=Libreswan, CN=west", "C=CA, O=Libreswan, CN=east"),
            b"continued on the next line",
            None,
            "ipsec.secrets",
            15,
        ),
        (
            SecretKind.RSA,
            (),
            b"{ Modulus : 0x00c3 PublicExponent : 0x03 }",
            None,
            "ipsec.secrets",
            19,
        ),
        (
            SecretKind.PPKS,
            ("@road", "@east"),
            bytes.fromhex("00112233445566778899aabbccddeeff"),
            b"road-ppk",
            "ppk.secrets",
            1,
        ),
        (
            SecretKind.PSK,
            ("@road", "@east"),
            b"text token with spaces # kept, not a comment",
            None,
            "road.secrets",
            1,
        ),
    ]
    assert [Path(f).name for f in s.files] == ["ipsec.secrets", "ppk.secrets", "road.secrets"]
    assert any("RSA entries are ignored" in w and ":19:" in w for w in s.warnings)
    assert s.errors == ()


def test_spec_ppks_line_verbatim(tmp_path: Path) -> None:
    s = load_text(tmp_path, SPEC_PPKS + "\n")
    (ppk,) = s.entries
    assert ppk.kind == "PPKS"
    assert ppk.ppk_id == b"user1"
    assert ppk.value == b"thestringismeanttobearandomstr"
    assert [sel.kind for sel in ppk.selectors] == [IdKind.FQDN, IdKind.FQDN]
    assert s.find_ppk("@west", "@east") is ppk
    assert s.find_ppk("@east", "@west") is ppk
    assert s.find_ppk_by_id(b"user1") is ppk
    assert s.find_ppk_by_id("user1") is ppk
    assert s.find_ppk_by_id("user2") is None


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ('@west @east : PSK "a very secret string"', b"a very secret string"),
        ("@west @east : PSK 'single quotes'", b"single quotes"),
        ("@west @east : PSK `back quotes`", b"back quotes"),
        ("@west @east : PSK \"#hash and 'quote' inside\"", b"#hash and 'quote' inside"),
        ('@west @east : PSK "trailing comment" # comment', b"trailing comment"),
        ('@west @east: PSK "colon glued to the id"', b"colon glued to the id"),
        ('@west @east : psk "kind is case-insensitive"', b"kind is case-insensitive"),
        ("@west @east : PSK 0x0102_0304", b"\x01\x02\x03\x04"),
        ("@west @east : PSK 0XABCDEF", b"\xab\xcd\xef"),
        ("@west @east : PSK 0sDA==", b"\x0c"),
        ("@west @east : PSK 0sDCA=", b"\x0c\x20"),
        ("@west @east : PSK 0SAbraCadabra+", bytes.fromhex("01bada09a75a6eb6be")),
        ("@west @east : PSK 0tsecret with spaces", b"secret with spaces"),
        ('@west @east : PSK "\u00e9t\u00e9 UTF-8"', "\u00e9t\u00e9 UTF-8".encode()),
    ],
)
def test_psk_value_forms(tmp_path: Path, line: str, value: bytes) -> None:
    (e,) = load_text(tmp_path, line + "\n").entries
    assert e.value == value
    assert e.ids == ("@west", "@east")


def test_colon_glued_to_ipv6_selector(tmp_path: Path) -> None:
    (e,) = load_text(tmp_path, '2001:db8::1 2001:db8::2: PSK "glued to an IPv6 address"\n').entries
    assert e.ids == ("2001:db8::1", "2001:db8::2")
    assert [str(sel) for sel in e.selectors] == ["2001:db8::1", "2001:db8::2"]


def test_continuation_lines_and_comments(tmp_path: Path) -> None:
    text = (
        "# leading comment\n"
        "\n"
        "@west\n"
        "    @east\n"
        "  # indented comment inside the record\n"
        "\t:\n"
        "\tPSK\n"
        '\t"spread over five lines"\n'
        '@road : XAUTH "pw"\n'
    )
    s = load_text(tmp_path, text)
    assert [(e.ids, e.value, e.line) for e in s] == [
        (("@west", "@east"), b"spread over five lines", 3),
        (("@road",), b"pw", 9),
    ]


@pytest.mark.parametrize(
    ("text", "kind", "shown"),
    [
        ("@west", IdKind.FQDN, "@west"),
        ("@@user", IdKind.FQDN, "@@user"),
        ("user@example.com", IdKind.USER_FQDN, "user@example.com"),
        ("192.1.2.45", IdKind.IPV4_ADDR, "192.1.2.45"),
        ("2001:db8:1:2::45", IdKind.IPV6_ADDR, "2001:db8:1:2::45"),
        ("%any", IdKind.IPV4_ADDR, "%any"),
        ("%any6", IdKind.IPV6_ADDR, "%any"),
        ("0.0.0.0", IdKind.NONE, "(none)"),
        ("%none", IdKind.NONE, "(none)"),
        ("%null", IdKind.NULL, "ID_NULL"),
        ("%fromcert", IdKind.FROMCERT, "%fromcert"),
        ("C=CA, O=Libreswan, CN=west", IdKind.DER_ASN1_DN, "C=CA, O=Libreswan, CN=west"),
        ("@#0x0a0b", IdKind.KEY_ID, "@#0x0a0b"),
        ("@[keyid]", IdKind.KEY_ID, "@#0x6b65796964"),
        ("west", IdKind.HOSTNAME, "west"),
    ],
)
def test_id_forms(text: str, kind: IdKind, shown: str) -> None:
    ident = parse_id(text)
    assert ident.kind is kind
    assert str(ident) == shown


def test_selector_wildcards() -> None:
    for text in ("%any", "%any6", "0.0.0.0", "::", "%none"):
        assert parse_id(text).is_any(), text
    for text in ("@west", "192.1.2.45", "user@example.com", "C=CA, CN=x", "%null"):
        assert not parse_id(text).is_any(), text


def test_id_comparison_rules() -> None:
    assert parse_id("@West.Example.COM.").same(parse_id("@west.example.com"))
    assert parse_id("User@Example.com").same(parse_id("user@example.com"))
    assert not parse_id("@west").same(parse_id("west"))  # FQDN ID vs a name to resolve
    assert not parse_id("@user").same(parse_id("user@example.com"))
    assert parse_id("2001:db8::1").same(parse_id("2001:0db8:0:0::1"))
    assert not parse_id("192.1.2.45").same(parse_id("192.1.2.23"))
    assert parse_id("C=CA,O=Libreswan,CN=West").same(parse_id("c=ca, o=libreswan, cn=west"))
    assert parse_id("/C=CA/O=Libreswan/CN=west").same(parse_id("C=CA, O=Libreswan, CN=west"))
    assert not parse_id("C=CA, CN=west").same(parse_id("C=CA, CN=east"))
    assert parse_id("%none").same(parse_id("@anything"))  # ID_NONE is Libreswan's wildcard


def test_ttodata_matches_libreswan_regression_table() -> None:
    good = {
        "0xab": b"\xab",
        "0xabcd": b"\xab\xcd",
        "0XaBc0_eEd8": b"\xab\xc0\xee\xd8",
        "0sDCBA": b"\x0c\x20\x40",
        "0sDA==": b"\x0c",
        "0sDCA=": b"\x0c\x20",
        "0tabc_xyz": b"abc_xyz",
    }
    for text, data in good.items():
        assert ttodata(text) == data, text
    for text in (
        "",
        "0",
        "0x",
        "0xa",
        "0xabc",
        "0x01x",
        "0XaBc0_",
        "0X_aBc0",
        "0Xa_Bc0",
        "0s",
        "0sA",
        "0sBA",
        "0sCBA",
        "0sDC==",
        "0sDCB=",
        "0t",
        "0q12",
    ):
        with pytest.raises(ValueError):
            ttodata(text)


# ---------------------------------------------------------------- includes


def test_include_glob_relative_to_including_file(tmp_path: Path) -> None:
    write(tmp_path, 'include ipsec.d/*.secrets\n@a : PSK "top-level!!"\n')
    write(tmp_path, '@b : PSK "from b.secrets"\n', "ipsec.d/b.secrets")
    write(tmp_path, '@c : PSK "from c.secrets"\n', "ipsec.d/c.secrets")
    write(tmp_path, '@x : PSK "not matched"\n', "ipsec.d/x.conf")
    s = load_secrets(str(tmp_path / "ipsec.secrets"))
    assert [e.ids for e in s] == [("@b",), ("@c",), ("@a",)]
    assert [Path(f).name for f in s.files] == ["ipsec.secrets", "b.secrets", "c.secrets"]


def test_include_absolute_and_nested(tmp_path: Path) -> None:
    inner = write(tmp_path, '@inner : PSK "inner secret"\n', "deep/inner.secrets")
    write(tmp_path, f"include {inner}\n", "mid.secrets")
    s = load_text(tmp_path, "include mid.secrets\n")
    assert [e.ids for e in s] == [("@inner",)]


def test_include_glob_matching_nothing_is_only_a_warning(tmp_path: Path) -> None:
    s = load_text(tmp_path, 'include /nonexistent-dir/*.secrets\n@a : PSK "still loaded"\n')
    assert len(s) == 1
    assert (
        'ipsec.secrets:1: no secrets filename matched "/nonexistent-dir/*.secrets"'
        in s.warnings[-1]
    )


def test_include_depth_limit(tmp_path: Path) -> None:
    # ipsec.secrets includes f1, f1 includes f2, ...: Libreswan opens at most 10 levels below the top.
    def chain(n: int) -> None:
        for i in range(1, n + 1):
            nxt = f"include f{i + 1}\n" if i < n else ""
            write(tmp_path, f'{nxt}@f{i} : PSK "level {i} secret"\n', f"f{i}")

    chain(10)
    assert len(load_text(tmp_path, "include f1\n")) == 10
    # one more level is refused, as pluto refuses it, naming the including file and line
    write(tmp_path, 'include f11\n@f10 : PSK "level 10 secret"\n', "f10")
    write(tmp_path, '@f11 : PSK "level 11 secret"\n', "f11")
    with pytest.raises(SecretsError) as info:
        load_secrets(str(tmp_path / "ipsec.secrets"))
    assert (
        str(info.value)
        == f'{tmp_path}/f10:1: preshared secrets file "{tmp_path}/f11" nested too deeply'
    )
    lenient = load_secrets(str(tmp_path / "ipsec.secrets"), strict=False)
    assert len(lenient) == 10 and len(lenient.errors) == 1


# ---------------------------------------------------------------- errors

ERRORS = [
    ('@west @east : PSK "unterminated\n', "ipsec.secrets:1: unterminated string"),
    (
        '@west @east PSK "no colon"\n',
        'ipsec.secrets:1: unexpected end of id list: missing ":" before the secret kind',
    ),
    ("@west @east :\n", 'ipsec.secrets:1: missing secret kind after ":" (PSK, PPKS or XAUTH)'),
    (
        '@west @east : PIN "1234"\n',
        'ipsec.secrets:1: unrecognized secret kind "PIN" (expected PSK, PPKS or XAUTH)',
    ),
    ("@west @east : PSK\n", "ipsec.secrets:1: unexpected end of record: no value after PSK"),
    (
        "@west @east : PSK 0x123\n",
        "ipsec.secrets:1: PSK data malformed (input ends in mid-byte, perhaps truncated)",
    ),
    (
        "@west @east : PSK 0x12zz\n",
        "ipsec.secrets:1: PSK data malformed (unknown character (`z') in input)",
    ),
    (
        "@west @east : PSK 0sDC==\n",
        "ipsec.secrets:1: PSK data malformed (bad (non-zero) padding at end of base64 input)",
    ),
    (
        "@west @east : PSK 0x\n",
        "ipsec.secrets:1: PSK data malformed (no data bytes specified by input)",
    ),
    (
        "@west @east : PSK unquoted\n",
        "ipsec.secrets:1: PSK data malformed (input does not begin with format prefix)",
    ),
    ('@west @east : PSK ""\n', "ipsec.secrets:1: empty PSK"),
    (
        '@west @east : PSK "two" "values"\n',
        "ipsec.secrets:1: expected record boundary after the PSK value "
        "(quote values containing spaces; continuation lines must be indented)",
    ),
    (
        "@west @east : PPKS\n",
        'ipsec.secrets:1: PPKS needs a quoted PPK ID and a value: PPKS "id" "secret"',
    ),
    (
        '@west @east : PPKS user1 "secret"\n',
        "ipsec.secrets:1: no quotation marks found, PPK ID should be in quotation marks",
    ),
    (
        '@west @east : PPKS "user1"\n',
        "ipsec.secrets:1: no PPK found, PPK should be specified after PPK ID",
    ),
    ('@west @east : PPKS "" "secret"\n', "ipsec.secrets:1: empty PPK ID"),
    ('@west @east : PPKS "user1" ""\n', "ipsec.secrets:1: empty PPK"),
    (
        '@west @east : PPKS "user1" 0xZZ\n',
        "ipsec.secrets:1: PPK data malformed (unknown character (`Z') in input)",
    ),
    (
        '@west @east :PSK "glued"\n',
        'ipsec.secrets:1: unexpected end of id list: missing ":" before the secret kind (":PSK" needs a space after ":")',
    ),
    (
        '@west : PSK "x"\n:PSK "glued"\n',
        'ipsec.secrets:2: unexpected end of id list: missing ":" before the secret kind (":PSK" needs a space after ":")',
    ),
    (
        '2001:db8::zz : PSK "bad address"\n',
        'ipsec.secrets:1: index "2001:db8::zz" is not a valid IPv6 address',
    ),
    (
        'we$t : PSK "bad name"\n',
        'ipsec.secrets:1: index "we$t" is not an address, and has an illegal (non-DNS-name) character',
    ),
    (
        '"C=CA, Libreswan" : PSK "bad DN"\n',
        'ipsec.secrets:1: index "C=CA, Libreswan" DN component "Libreswan" has no "="',
    ),
    (
        '  @west : PSK "indented first record"\n',
        "ipsec.secrets:1: file starts with indentation (continuation notation)",
    ),
    ("include\n", "ipsec.secrets:1: unexpected end of include directive"),
    (
        "include a b\n",
        'ipsec.secrets:1: malformed include: expected only a file name after "include"',
    ),
    (
        '# line 1\n\n@ok : PSK "fine secret"\ninclude missing.secrets\n',
        'ipsec.secrets:4: include file "missing.secrets" not found',
    ),
    (
        "include ipsec.secrets\n",
        'ipsec.secrets:1: include loop: "ipsec.secrets" is already being read',
    ),
]


@pytest.mark.parametrize(("text", "message"), ERRORS)
def test_error_messages(tmp_path: Path, text: str, message: str) -> None:
    assert error_for(tmp_path, text) == message


def test_error_carries_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, '\n\n@west : PSK "fine secret"\n@east : PSK 0xq\n')
    with pytest.raises(SecretsError) as info:
        load_secrets(path)
    err = info.value
    assert (err.file, err.line) == (path, 4)
    assert err.message.startswith("PSK data malformed")
    assert isinstance(err, ValueError)


def test_error_in_included_file_names_that_file(tmp_path: Path) -> None:
    inc = write(tmp_path, '@ok : PSK "fine secret"\n@bad PSK "x"\n', "ipsec.d/bad.secrets")
    path = write(tmp_path, "include ipsec.d/*.secrets\n")
    with pytest.raises(SecretsError) as info:
        load_secrets(path)
    assert (
        str(info.value) == f'{inc}:2: unexpected end of id list: missing ":" before the secret kind'
    )


def test_missing_top_level_file(tmp_path: Path) -> None:
    with pytest.raises(SecretsError) as info:
        load_secrets(str(tmp_path / "nope.secrets"))
    assert str(info.value) == f"{tmp_path}/nope.secrets: secrets file not found"
    s = load_secrets(str(tmp_path / "nope.secrets"), strict=False)
    assert len(s) == 0 and len(s.errors) == 1


def test_lenient_mode_skips_bad_records_like_pluto(tmp_path: Path) -> None:
    text = (
        '@a : PSK "first good one"\n'
        "@b : PSK 0xbad\n"
        '@c : FOO "unknown kind"\n'
        '@d : PSK "second good one"\n'
        "include nothing-here.secrets\n"
    )
    s = load_text(tmp_path, text, strict=False)
    assert [e.ids for e in s] == [("@a",), ("@d",)]
    assert [e.split(": ", 1)[0].rsplit(":", 1)[1] for e in s.errors] == ["2", "3", "5"]


def test_weak_psk_warning(tmp_path: Path) -> None:
    s = load_text(tmp_path, '@a : PSK "short"\n@b : PSK "long enough"\n')
    assert [w for w in s.warnings if "weak" in w] == [
        f"{tmp_path}/ipsec.secrets:1: WARNING: using a weak secret (PSK)"
    ]


# ---------------------------------------------------------------- lookups

LOOKUP = """\
%any : PSK "any-v4"
: PSK "default"
@west @east : PSK "west-east"
@west : PSK "west-default"
@west %any : PSK "west-any"
%any @road : PSK "any-road"
192.1.2.45 192.1.2.23 : PSK "by-address"
@West.Example.COM. @east.example.com : PSK "case-insensitive"
@first @second : PSK "first in file"
@first @second : PSK "second in file"
@only-remote : PSK "never alone"
"""


@pytest.fixture
def table(tmp_path: Path):
    return load_text(tmp_path, LOOKUP)


@pytest.mark.parametrize(
    ("local", "remote", "value"),
    [
        ("@west", "@east", b"west-east"),  # LOCAL|REMOTE: exact pair wins
        ("@east", "@west", b"west-east"),  # symmetric: either end may be local
        ("@west", "@north", b"west-any"),  # LOCAL|ANY beats LOCAL|DEFAULT
        ("@north", "@road", b"any-road"),  # REMOTE|ANY
        ("@south", "@north", b"any-v4"),  # wildcards: first of equal scores in the file
        ("192.1.2.45", "192.1.2.23", b"by-address"),
        ("192.1.2.23", "192.1.2.45", b"by-address"),
        ("@west.example.com", "@EAST.example.com.", b"case-insensitive"),
        ("@first", "@second", b"first in file"),
        ("@north", "@only-remote", b"any-v4"),  # REMOTE alone never counts
    ],
)
def test_best_match(table, local: str, remote: str, value: bytes) -> None:
    found = table.find_psk(local, remote)
    assert found is not None and found.value == value


def test_best_match_default_peer_and_empty_selector(tmp_path: Path) -> None:
    s = load_text(tmp_path, ': PSK "default"\n@west : PSK "west-default"\n')
    assert s.find_psk("@west", "@anyone").value == b"west-default"  # LOCAL|DEFAULT
    assert s.find_psk("@east", "@west").value == b"default"  # remote-only match loses to default
    assert s.find_psk("@east", "@north").value == b"default"


def test_no_match(tmp_path: Path) -> None:
    s = load_text(tmp_path, '@west @east : PSK "west-east"\n')
    assert s.find_psk("@north", "@south") is None
    assert s.find_psk("@west", "@south") is None  # LOCAL alone: PSKs are symmetric


def test_libreswan_quirk_three_way_selector_is_not_accepted(tmp_path: Path) -> None:
    # LOCAL|REMOTE|ANY is not in pluto's accepted set; keep the same answer.
    s = load_text(tmp_path, '@west @east %any : PSK "three"\n')
    assert s.find_psk("@west", "@east") is None


def test_ipv6_wildcard_and_addresses(tmp_path: Path) -> None:
    s = load_text(
        tmp_path, '%any6 : PSK "v6 wildcard"\n2001:db8:1:2::45 2001:db8:1:2::23 : PSK "v6 pair"\n'
    )
    assert s.find_psk("2001:db8:1:2:0:0:0:45", "2001:db8:1:2::23").value == b"v6 pair"
    assert s.find_psk("2001:db8::1", "2001:db8::2").value == b"v6 wildcard"


def test_hostname_selector_and_resolver(tmp_path: Path) -> None:
    path = write(tmp_path, 'west east : PSK "by host name"\n')
    offline = load_secrets(path)
    assert offline.find_psk("west", "east").value == b"by host name"
    assert offline.find_psk("@west", "@east") is None
    hosts = {"west": "192.1.2.45", "east": "192.1.2.23"}
    resolved = load_secrets(path, resolver=hosts.get)
    assert resolved.find_psk("192.1.2.45", "192.1.2.23").value == b"by host name"
    with pytest.raises(SecretsError) as info:
        load_secrets(path, resolver=lambda name: None)
    assert str(info.value) == f'{path}:1: index "west" does not look numeric and name lookup failed'


def test_query_with_id_objects(table) -> None:
    local = Id(IdKind.FQDN, name="west")
    remote = Id(IdKind.FQDN, name="east")
    assert table.find_psk(local, remote).value == b"west-east"
    assert table.find("psk", "@west", "@east").value == b"west-east"


def test_ppk_lookup(tmp_path: Path) -> None:
    text = (
        '@west @east : PPKS "ppk-a" "first ppk for the pair"\n'
        '@west @east : PPKS "ppk-b" "second ppk for the pair"\n'
        '%any : PPKS "ppk-any" "for everybody else"\n'
        '@road @east : PPKS "ppk-a" "same id, later in the file"\n'
    )
    s = load_text(tmp_path, text)
    assert s.find_ppk("@west", "@east").ppk_id == b"ppk-a"
    assert s.find_ppk("@west", "@east", ppk_ids=[b"ppk-b"]).ppk_id == b"ppk-b"
    assert s.find_ppk("@west", "@east", ppk_ids=["ppk-nope"]) is None
    assert s.find_ppk("@north", "@south").ppk_id == b"ppk-any"
    # responder side: pluto keeps its list newest first, so the last record with the ID wins
    assert s.find_ppk_by_id(b"ppk-a").value == b"same id, later in the file"
    assert s.find_psk("@west", "@east") is None  # kinds never mix


def test_xauth_lookup(tmp_path: Path) -> None:
    s = load_text(tmp_path, '@alice : XAUTH "alice pw"\n@bob @carol : XAUTH 0t bob and carol\n')
    assert s.find_xauth("alice").value == b"alice pw"
    assert s.find_xauth("ALICE").value == b"alice pw"
    assert s.find_xauth("carol").value == b" bob and carol"  # asymmetric: LOCAL alone counts
    assert s.find_xauth("mallory") is None


# ---------------------------------------------------------------- secrecy


def test_repr_never_shows_values(tmp_path: Path) -> None:
    s = load_text(
        tmp_path, '@west @east : PSK "hunter2hunter2"\n' + SPEC_PPKS + "\n@u : XAUTH 0x68756e74\n"
    )
    for e in s:
        for text in (repr(e), str(e), f"{e}", repr(list(s)), repr(s)):
            assert "hunter2" not in text
            assert "thestringismeant" not in text
            assert "68756e74" not in text and "hunt" not in text
        assert "value=<hidden>" in repr(e)
    assert "ppk_id=b'user1'" in repr(s.entries[1])


def test_malformed_value_is_not_echoed(tmp_path: Path) -> None:
    msg = error_for(tmp_path, "@west @east : PSK my-unquoted-password\n")
    assert "my-unquoted-password" not in msg


def test_no_value_equality(tmp_path: Path) -> None:
    a, b = load_text(tmp_path, '@w : PSK "same secret"\n@w : PSK "same secret"\n').entries
    assert a != b and a == a
    assert len({a, b}) == 2
    assert isinstance(a, Secret)


# ---------------------------------------------------------------- permissions


def test_permissions_ok(tmp_path: Path) -> None:
    path = write(tmp_path, '@a : PSK "a fine secret"\n', mode=0o600)
    assert check_permissions(path) == []
    assert load_secrets(path).warnings == ()


@pytest.mark.parametrize(
    ("mode", "what"),
    [
        (0o644, "readable"),
        (0o640, "readable"),
        (0o604, "readable"),
        (0o620, "writable"),
        (0o666, "readable and writable"),
        (0o610, "executable"),
    ],
)
def test_permissions_loose(tmp_path: Path, mode: int, what: str) -> None:
    path = write(tmp_path, '@a : PSK "a fine secret"\n', mode=mode)
    expected = (
        f'WARNING: "{path}" is {what} by group or others (mode {mode:04o}); it should be mode 0600'
    )
    assert check_permissions(path) == [expected]
    assert load_secrets(path).warnings == (expected,)


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_permissions_wrong_owner(tmp_path: Path) -> None:
    path = write(tmp_path, '@a : PSK "a fine secret"\n', mode=0o600)
    os.chown(path, 1000, -1)
    assert check_permissions(path) == [
        f'WARNING: "{path}" is owned by uid 1000, not by uid 0 (the user running the IKE daemon); '
        "it should be owned by uid 0"
    ]
    assert check_permissions(path, expected_uid=1000) == []


def test_permissions_checked_for_included_files(tmp_path: Path) -> None:
    inc = write(tmp_path, '@b : PSK "included secret"\n', "inc.secrets", mode=0o644)
    s = load_text(tmp_path, "include inc.secrets\n")
    assert s.warnings == (
        f'WARNING: "{inc}" is readable by group or others (mode 0644); it should be mode 0600',
    )


# ---------------------------------------------------------------- reload


def test_reload_reads_the_file_again(tmp_path: Path) -> None:
    path = write(tmp_path, '@a : PSK "old secret value"\n')
    s = load_secrets(path)
    Path(path).write_text('@a : PSK "new secret value"\n')
    fresh = s.reload()
    assert fresh is not s
    assert s.find_psk("@a", "@b").value == b"old secret value"
    assert fresh.find_psk("@a", "@b").value == b"new secret value"


# ---------------------------------------------------------------- fuzz

_ALPHABET = st.sampled_from(
    list(" \t\n:@%#\"'`0xst=,.PSKPPKSXAUTHRSAinclude*[]~_-abcAZ19") + ["\0", "\u00e9", "\r"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_ALPHABET, max_size=200).map("".join))
def test_fuzz_only_secrets_error_escapes(text: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "ipsec.secrets")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(path, 0o600)
        try:
            s = load_secrets(path)
        except SecretsError as e:
            assert e.file and str(e).startswith(e.file)
        else:
            for e in s:
                assert isinstance(e.value, bytes)
        lenient = load_secrets(path, strict=False)
        assert all(isinstance(m, str) for m in lenient.errors)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=120))
def test_fuzz_binary_input(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "ipsec.secrets")
        with open(path, "wb") as f:
            f.write(data.replace(b"/", b"."))
        try:
            load_secrets(path)
        except SecretsError as e:
            assert e.line is None or e.line >= 1
        load_secrets(path, strict=False)


def test_numeric_but_invalid_ipv4_selector(tmp_path: Path) -> None:
    msg = error_for(tmp_path, '192.1.2.456 : PSK "bad address"\n')
    assert msg == 'ipsec.secrets:1: index "192.1.2.456" is not a valid IPv4 address'


def test_score_order_local_default_beats_remote_any(tmp_path: Path) -> None:
    s = load_text(tmp_path, '%any @road : PSK "remote-any"\n@west : PSK "local-default"\n')
    assert s.find_psk("@west", "@road").value == b"local-default"
    assert s.find_psk("@north", "@road").value == b"remote-any"
    assert s.find_psk("@road", "%any").value == b"remote-any"  # roadwarrior template lookup


def test_secret_built_by_hand_parses_its_ids() -> None:
    s = Secret(SecretKind.PSK, ("@west", "@east"), b"by hand", None, "<test>", 0)
    assert [str(sel) for sel in s.selectors] == ["@west", "@east"]
