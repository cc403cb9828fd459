"""Reading files: includes, sections, keyword checks, and one exact message per broken input."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cygnet.config import ConfigError, load_config, loads_config


def write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return str(p)


BASE = "conn a\n\tleft=192.1.2.45\n\tright=192.1.2.23\n"


def test_include_glob_relative_to_including_file(tmp_path: Path) -> None:
    write(tmp_path, "ipsec.d/b.conf", "conn b\n\tleft=1.2.3.4\n\tright=1.2.3.5\n")
    write(tmp_path, "ipsec.d/a.conf", "conn a\n\talso=b\n")
    top = write(
        tmp_path,
        "ipsec.conf",
        "config setup\n\tlogtime=no\ninclude ipsec.d/*.conf\nconn z\n\talso=a\n",
    )
    cfg = load_config(top)
    assert list(cfg.conns) == ["a", "b", "z"]  # file order, includes where they appear
    assert cfg.conns["z"].left.host == "1.2.3.4"
    assert cfg.setup.get("logtime") is False
    assert cfg.files[1].endswith("ipsec.d/a.conf")


def test_include_ends_the_section(tmp_path: Path) -> None:
    write(tmp_path, "x.conf", "")
    top = write(tmp_path, "ipsec.conf", "conn a\n\tleft=1.2.3.4\ninclude x.conf\n\tright=1.2.3.5\n")
    with pytest.raises(ConfigError) as e:
        load_config(top)
    assert str(e.value).startswith(f"{top}:4: right: keyword outside of any section")


def test_missing_literal_include_only_warns(tmp_path: Path) -> None:
    """Libreswan 4.10: `warning: could not open include filename: 'X'`, and goes on."""
    top = write(tmp_path, "ipsec.conf", BASE + "include /nonexistent/libreswan.config\n")
    cfg = load_config(top)
    assert cfg.warnings == (
        f"{top}:4: warning: could not open include filename: '/nonexistent/libreswan.config'",
    )
    assert "a" in cfg.conns


def test_wildcard_include_matching_nothing_is_silent(tmp_path: Path) -> None:
    top = write(tmp_path, "ipsec.conf", BASE + "include /nonexistent/*.conf\n")
    assert load_config(top).warnings == ()


def test_include_loop_stops_at_libreswan_depth(tmp_path: Path) -> None:
    top = write(tmp_path, "ipsec.conf", "include ipsec.conf\n")
    with pytest.raises(ConfigError, match="max inclusion depth reached"):
        load_config(top)


def test_obsolete_keywords_warn_and_are_ignored(tmp_path: Path) -> None:
    top = write(tmp_path, "ipsec.conf", "config setup\n\tinterfaces=%defaultroute\n" + BASE)
    cfg = load_config(top)
    assert cfg.warnings == (
        f"{top}:2: warning: obsolete 'config setup' keyword ignored: interfaces=%defaultroute",
    )


def test_keyword_of_the_other_section_warns(tmp_path: Path) -> None:
    top = write(
        tmp_path, "ipsec.conf", "config setup\n\tleft=1.2.3.4\n" + BASE + "\tuniqueids=no\n"
    )
    cfg = load_config(top)
    assert cfg.warnings == (
        f"{top}:2: warning: invalid 'config setup' keyword ignored: left=1.2.3.4",
        f"{top}:6: warning: invalid conn keyword ignored: uniqueids=no",
    )


def test_aliases_and_same_value_twice(tmp_path: Path) -> None:
    top = write(
        tmp_path, "ipsec.conf", BASE + "\tkeylife=1h\n\tsalifetime=1h\n\tleftid=@w\n\tleftid=@w\n"
    )
    c = load_config(top).conns["a"]
    assert c.salifetime.total_seconds() == 3600
    assert c.left.id == "@w"


def test_empty_value_is_ignored_like_libreswan(tmp_path: Path) -> None:
    top = write(tmp_path, "ipsec.conf", BASE + "\tleftid=\n")
    assert load_config(top).conns["a"].left.id is None


def test_version_and_setup_twice(tmp_path: Path) -> None:
    top = write(
        tmp_path,
        "ipsec.conf",
        "version 2\nconfig setup\n\tlogtime=no\nconfig setup\n\tlogappend=no\n",
    )
    s = load_config(top).setup
    assert s.get("logtime") is False and s.get("logappend") is False


# ---- one exact message per class of broken input (FILE:LINE: KEYWORD: message)

BROKEN = [
    ("unknown keyword", BASE + "\tleftfoo=1\n", "4: leftfoo: unrecognized keyword"),
    (
        "bad address",
        "conn a\n\tleft=192.1.2.456\n",
        "2: left: '192.1.2.456' is not a valid IP address or DNS name",
    ),
    (
        "bad subnet",
        BASE + "\tleftsubnet=192.0.1.0/33\n",
        "4: leftsubnet: '192.0.1.0/33' is not a valid subnet",
    ),
    (
        "bad duration",
        BASE + "\tikelifetime=8x\n",
        "4: ikelifetime: '8x' is not a valid duration (like 30s, 1m, 8h, 1d)",
    ),
    ("bad boolean", BASE + "\tpfs=maybe\n", "4: pfs: 'maybe' is not a valid boolean (yes or no)"),
    (
        "bad enum",
        BASE + "\ttype=tunel\n",
        "4: type: 'tunel' is not a valid type (drop|pass|passthrough|reject|transport|tunnel)",
    ),
    (
        "bad tri-state",
        BASE + "\tikev2=sometimes\n",
        "4: ikev2: 'sometimes' is not a valid value (always|insist|never|no|permit|propose|yes)",
    ),
    (
        "bad rsasigkey",
        BASE + "\tleftrsasigkey=0sAQO%%%\n",
        "4: leftrsasigkey: '0sAQO%%%' is not a valid 0s (base64) public key",
    ),
    (
        "bad range",
        BASE + "\trightaddresspool=100.64.13.254-100.64.13.100\n",
        "4: rightaddresspool: '100.64.13.254-100.64.13.100' is not a valid address range",
    ),
    (
        "duplicate key",
        BASE + "\tleftid=@west\n\tleftid=@east\n",
        "5: leftid: duplicate key in conn \"a\": '@west' was already set at {file}:4",
    ),
    (
        "duplicate via alias",
        BASE + "\tkeylife=1h\n\tsalifetime=2h\n",
        "5: salifetime: duplicate key in conn \"a\": '1h' was already set at {file}:4",
    ),
    ("duplicate conn", BASE + "conn a\n", '4: conn "a" is already defined at {file}:1'),
    (
        "keyword outside section",
        "\tleft=1.2.3.4\n",
        "1: left: keyword outside of any section (a 'config setup' or 'conn NAME' line must come first)",
    ),
    (
        "not indented",
        "conn a\nleft=1.2.3.4\n",
        "2: left: keyword line 'left=1.2.3.4' must be indented with spaces or tabs",
    ),
    (
        "header indented",
        "conn a\n\tleft=1.2.3.4\n  conn b\n",
        "3: section header 'conn b' must start in column 0",
    ),
    ("conn without name", "conn \n", "1: conn without a name"),
    (
        "unterminated quote",
        BASE + '\tmodecfgdomains="corp\n',
        "4: modecfgdomains: unterminated quoted string",
    ),
    (
        "also cycle",
        "conn a\n\talso=b\nconn b\n\talso=c\nconn c\n\talso=a\n",
        '6: also: conn "a" includes itself through also= (a -> b -> c -> a)',
    ),
    (
        "also missing",
        BASE + "\talso=nosuch\n",
        "4: also: cannot find conn 'nosuch' needed by conn 'a'",
    ),
    (
        "subnet and subnets",
        BASE + "\tleftsubnet=10.0.0.0/8\n\tleftsubnets=10.1.0.0/16\n",
        "5: leftsubnets: leftsubnet= and leftsubnets= cannot both be set",
    ),
    (
        "family mismatch",
        "conn a\n\tleft=192.1.2.45\n\tright=2001:db8::23\n",
        "3: right: '2001:db8::23' is not the same address family as left='192.1.2.45'",
    ),
]


@pytest.mark.parametrize(("case", "text", "message"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_input_exact_message(tmp_path: Path, case: str, text: str, message: str) -> None:
    top = write(tmp_path, "ipsec.conf", text)
    with pytest.raises(ConfigError) as e:
        load_config(top)
    assert str(e.value) == f"{top}:" + message.format(file=top)
    assert e.value.file == top


def test_error_in_an_included_file_names_that_file(tmp_path: Path) -> None:
    inc = write(
        tmp_path,
        "ipsec.d/x.conf",
        "conn x\n\tleft=1.2.3.4\n\tright=1.2.3.5\n\n\n\n\tleftsubnet=192.0.1.0/33\n",
    )
    top = write(tmp_path, "ipsec.conf", "include ipsec.d/*.conf\n")
    with pytest.raises(ConfigError) as e:
        load_config(top)
    assert str(e.value) == f"{inc}:7: leftsubnet: '192.0.1.0/33' is not a valid subnet"
    assert (e.value.file, e.value.line, e.value.keyword) == (inc, 7, "leftsubnet")


def test_missing_top_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(str(tmp_path / "nope.conf"))
    assert str(e.value) == f"can't load file '{tmp_path / 'nope.conf'}': No such file or directory"


# ---- robustness: any text either parses or fails with one ConfigError

_LINES = st.sampled_from(
    [
        "conn a",
        "conn b",
        "conn %default",
        "config setup",
        "version 2",
        "\tleft=1.2.3.4",
        "\tright=%any",
        "\talso=a",
        "\talso=b",
        "\tleftsubnet=10.0.0.0/8",
        '\tmodecfgdns="1.2.3.4',
        "\tikelifetime=1h",
        "\tbogus=1",
        "left=1.2.3.4",
        "  conn c",
        "# comment",
        "",
        "\t",
        "include /nonexistent",
        "\tinterfaces=x",
        "\tauthby=secret,rsasig",
        "\trekeyfuzz=50%",
        "\ttype=tunnel",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_LINES, st.text(max_size=20)), max_size=12))
def test_any_text_parses_or_raises_config_error(lines: list[str]) -> None:
    try:
        loads_config("\n".join(lines) + "\n", "/tmp/h.conf")
    except ConfigError as e:
        assert str(e)
