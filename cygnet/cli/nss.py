"""`ipsec initnss|checknss|newhostkey|showhostkey|import`: the key-store verbs.

Each mirrors its Libreswan 4.10 counterpart — the `ipsec` shell script's
initnss/checknss/import branches, `newhostkey` (rsasigkey/ecdsasigkey) and
`showhostkey` — down to output bytes, stream and exit code, because scripts
and the RHEL procedures parse them. Reads go through `cygnet.pki.nssdb`;
writes through NSS's certutil/pk12util like Libreswan's own scripts.
"""

from __future__ import annotations

import getopt
import getpass
import os
import random
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable

from cygnet import VERSION_STRING, paths
from cygnet.pki import nsstools
from cygnet.pki.nssdb import KeyInfo, NssAuthError, NssDb, NssDbError, NssError, db_exists
from cygnet.pki.nsspassword import find_password
from cygnet.pki.rawkey import (
    RawKeyError,
    format_ipseckey,
    format_leftright,
    keyid_of,
    pem_public_key,
)


def _err(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def _nssdir_from_argv(argv: list[str]) -> tuple[str | None, list[str]]:
    """Pull `--nssdir D` / `--nssdir=D` / `-d D` (and the old spellings) out of argv."""
    rest: list[str] = []
    nssdir: str | None = None
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--nssdir", "-d", "--configdir", "--ipsecdir") and i + 1 < len(argv):
            nssdir = argv[i + 1]
            i += 2
            continue
        if a.startswith("--nssdir="):
            nssdir = a.split("=", 1)[1]
        else:
            rest.append(a)
        i += 1
    return nssdir, rest


def _dir(nssdir: str | None) -> str:
    return paths.nss_dir(nssdir)


# --- initnss / checknss ------------------------------------------------------------


def _init_or_check(argv: list[str], check: bool) -> int:
    nssdir, rest = _nssdir_from_argv(argv)
    settrust = "--settrust" in rest
    rest = [a for a in rest if a != "--settrust"]
    if nssdir is None and rest and not rest[0].startswith("-"):
        nssdir = rest[0]  # Libreswan also takes the directory bare
    d = _dir(nssdir)
    os.makedirs(d, exist_ok=True)
    if db_exists(d):
        if check:
            return _settrust(d) if settrust else 0
        print("NSS database already initialised - aborted")
        print(f"To wipe the old NSS database, issue: rm {d}/*.db")
        return 42
    print("Initializing NSS database")
    print("")
    sys.stdout.flush()
    try:
        r = nsstools.create_db(d)
    except NssError as err:
        _err(f"{err}\n")
        return 4
    if r.returncode != 0:
        _err(r.stderr)
        _err(f"Failed to initialize nss database sql:{d}\n")
        return 4
    if shutil.which("restorecon"):
        # As Libreswan does: give the new files pluto's SELinux label.
        subprocess.run(["restorecon", "-Rv", d], check=False)
    return 0


def _settrust(d: str) -> int:
    try:
        with NssDb.open(d) as db:
            for nick in nsstools.fix_ca_trust(d, db, _db_password(db)):
                print(f"correcting trust bits for {nick}")
    except NssError as err:
        _err(f"{err}\n")
        return 1
    return 0


def initnss(argv: list[str]) -> int:
    """`ipsec initnss [--nssdir D]`: create an empty-password DB; refuse if one exists."""
    return _init_or_check(argv, check=False)


def checknss(argv: list[str]) -> int:
    """`ipsec checknss [--nssdir D] [--settrust]`: create the DB only if missing."""
    return _init_or_check(argv, check=True)


# --- opening the DB the way Libreswan's tools do -------------------------------------


def _open(
    prog: str,
    nssdir: str | None,
    password: str | None,
    password_file: str | None,
    verbose: bool,
) -> NssDb | int:
    """Open and log in, or print Libreswan's two error lines and return exit status 1."""
    log: Callable[[str], None] | None = (lambda m: _err(f"{prog}: {m}\n")) if verbose else None
    try:
        return NssDb.open(nssdir, password_file=password_file, password=password, log=log)
    except NssAuthError as err:
        _err(f'{prog}: authentication of "{err.token}" failed\n')
        _err(f"FATAL ERROR: {prog}: NSS: could not authenticate slot\n")
        return 1
    except NssDbError as err:
        _err(f"FATAL ERROR: {prog}: {err}\n")
        return 1


def _db_password(db: NssDb, password: str | None = None, password_file: str | None = None) -> str:
    """The password certutil needs for this DB ('' when it has none)."""
    if not db.needs_login:
        return ""
    if password is not None:
        return password
    return find_password(db.token, password_file).password or ""


# --- newhostkey ---------------------------------------------------------------------

NEWHOSTKEY_USAGE = """Usage:
\tipsec newhostkey [--seeddev device] [--keytype rsa] [--bits n]
\tipsec newhostkey [--seeddev device] --keytype ecdsa [--curve curve]

\tother options: [--quiet] [--hostname host] [--nssdir /var/lib/ipsec/nss] \\
\t\t[--password password]"""

#: Libreswan's RSA limits: at least 2192 bits, at most 20000, a multiple of 16.
MIN_KEYBIT = 2192
MAX_KEYBIT = 20000


def default_rsa_bits(rng: random.Random | None = None) -> int:
    """Libreswan's default: a random multiple of 16 in [3072, 4096), against key-size monoculture."""
    r = rng or random.SystemRandom()
    return 3072 + 16 * r.randrange(1024 // 16)


def newhostkey(argv: list[str]) -> int:
    """`ipsec newhostkey`: generate an RSA (default) or ECDSA key pair in the DB."""
    me = "ipsec newhostkey"
    bits: str | None = None
    curve: str | None = None
    keytype = "rsa"
    nssdir: str | None = None
    password: str | None = None
    password_file: str | None = None
    i = 0
    while i < len(argv):
        a = argv[i]
        val = argv[i + 1] if i + 1 < len(argv) else None
        if a in ("--bits", "--curve", "--keytype", "--seeddev", "--nssdir", "--password",
                 "--hostname", "--nsspassword", "--seedbits"):
            if val is None:
                _err(f"{me}: option {a} needs an argument\n")
                return 2
            if a == "--bits":
                bits = val
            elif a == "--curve":
                curve = val
            elif a == "--keytype":
                keytype = val
            elif a == "--nssdir":
                nssdir = val
            elif a == "--password":
                password = val
            elif a == "--nsspassword":
                password_file = val
            i += 2
            continue
        if a in ("--quiet", "--verbose"):
            pass
        elif a == "--version":
            print(f"{me} {VERSION_STRING}")
            return 0
        elif a == "--help":
            print(NEWHOSTKEY_USAGE)
            return 0
        elif a == "--":
            i += 1
            break
        elif a.startswith("-"):
            _err(f"{me}: unknown option `{a}'\n")
            return 2
        else:
            break
        i += 1
    if bits and curve:
        _err(f"{me}: --bits and --curve are mutually exclusive\n")
        return 2
    if keytype == "rsa" and curve:
        _err(f"{me}: --curve and --keytype rsa are mutually exclusive\n")
        return 2
    if keytype == "ecdsa" and bits:
        _err(f"{me}: --bits and --keytype {keytype} are mutually exclusive\n")
        return 2
    if keytype not in ("rsa", "ecdsa"):
        _err(f"{me}: unknown key type `{keytype}'\n")
        return 2
    d = _dir(nssdir)
    if not os.path.isdir(d):
        print(f"No such directory: {d}")
        return 255
    if not db_exists(d):
        _err(f"NSS database in {d} not initialized.\n")
        _err(f"    Please run 'ipsec initnss --nssdir {d}'\n")
        return 255
    prog = "ipsec rsasigkey" if keytype == "rsa" else "ipsec ecdsasigkey"
    if keytype == "rsa":
        if bits is None:
            nbits = default_rsa_bits()
        else:
            try:
                nbits = int(bits, 10)
            except ValueError:
                _err(f"{prog}: keysize specification is malformed: {bits}\n")
                return 1
        if nbits < MIN_KEYBIT:
            _err(f"{prog}: requested RSA key size ({nbits}) is too small - use {MIN_KEYBIT} or more\n")
            return 1
        if nbits > MAX_KEYBIT:
            _err(f"{prog}: requested RSA key size ({nbits}) is too large - (max {MAX_KEYBIT})\n")
            return 1
        if nbits % 16:
            _err(f"{prog}: requested RSA key size ({nbits}) is not a multiple of 16\n")
            return 1
    else:
        nbits = 0
        curve = curve or "secp256r1"
        if curve not in nsstools.CURVES:
            _err(f"{prog}: curve specification is malformed: {curve}\n")
            return 1
    opened = _open(prog, d, password, password_file, verbose=False)
    if isinstance(opened, int):
        return opened
    with opened as db:
        dbpw = _db_password(db, password, password_file)
    try:
        ckaid = nsstools.generate_key(
            d, keytype, bits=nbits or None, curve=curve or "secp256r1", password=dbpw
        )
    except NssError as err:
        _err(f"{prog}: {err}\n")
        return 1
    kind = "RSA" if keytype == "rsa" else "ECDSA"
    _err(f"Generated {kind} key pair with CKAID {ckaid.hex()} was stored in the NSS database\n")
    _err(f"The public key can be displayed using: ipsec showhostkey --left --ckaid {ckaid.hex()}\n")
    return 0


# --- showhostkey -------------------------------------------------------------------

SHOWHOSTKEY_USAGE = """Usage:
   showhostkey --version
   showhostkey { --dump | --list }
   showhostkey { --left | --right }
               [ --pubkey ]
               { --rsaid <rsaid> | --ckaid <ckaid> }
   showhostkey --ipseckey
               [ --pubkey ]
               { --rsaid <rsaid> | --ckaid <ckaid> }
               [ --precedence <precedence> ]\x20
               [ --gateway <gateway> ]
   showhostkey --pem
               { --rsaid <rsaid> | --ckaid <ckaid> }
Additional options:
   --verbose
   --debug
   --nssdir <nssdir>
   --password <password>
"""

_SHOWHOSTKEY_LONG = [
    "help", "left", "right", "dump", "debug", "list", "ipseckey", "gateway=",
    "precedence=", "ckaid=", "rsaid=", "version", "verbose", "configdir=", "nssdir=",
    "password=", "pem", "pubkey", "nsspassword=",
]


def _glibc_getopt_message(err: getopt.GetoptError) -> str:
    """Reword Python's getopt complaint the way glibc's getopt_long prints it."""
    long_opt = f"--{err.opt}" in err.msg
    opt = ("--" if long_opt else "-") + err.opt
    if "requires argument" in err.msg:
        return f"option '{opt}' requires an argument"
    if "not a unique prefix" in err.msg:
        return f"option '{opt}' is ambiguous"
    if "must not have an argument" in err.msg:
        return f"option '{opt}' doesn't allow an argument"
    if not long_opt:
        return f"invalid option -- '{err.opt}'"
    return f"unrecognized option '{opt}'"


def list_line(n: int, key: KeyInfo) -> str:
    """One `showhostkey --list` line: `< 1> RSA keyid: AwEAAcEyU ckaid: fc0c...`."""
    return f"<{n:2d}> {key.key_type} keyid: {keyid_of(key.public_key)} ckaid: {key.ckaid_hex}\n"


def showhostkey(argv: list[str]) -> int:
    """`ipsec showhostkey`: list keys or print one as ipsec.conf, IPSECKEY or PEM."""
    prog = "ipsec showhostkey"
    try:
        opts, _args = getopt.gnu_getopt(argv, "vd:lr", _SHOWHOSTKEY_LONG)
    except getopt.GetoptError as err:
        _err(f"{prog}: {_glibc_getopt_message(err)}\n{SHOWHOSTKEY_USAGE}")
        return 1
    ops: list[str] = []
    gateway: str | None = None
    precedence = 10
    ckaid: str | None = None
    rsaid: str | None = None
    nssdir: str | None = None
    password: str | None = None
    password_file: str | None = None
    pubkey = False
    verbose = False
    for opt, val in opts:
        if opt == "--help":
            _err(SHOWHOSTKEY_USAGE)
            return 1
        if opt in ("--left", "-l"):
            ops.append("left")
        elif opt in ("--right", "-r"):
            ops.append("right")
        elif opt in ("--dump", "--list", "--ipseckey", "--pem"):
            ops.append(opt[2:])
        elif opt == "--gateway":
            ops.append("ipseckey")
            gateway = val
        elif opt == "--precedence":
            try:
                precedence = int(val, 10)
                if precedence < 0:
                    raise ValueError("negative")
            except ValueError:
                _err(f"{prog}: precedence '{val}' malformed: not a number\n")
                return 5
        elif opt == "--ckaid":
            ckaid = val
        elif opt == "--rsaid":
            rsaid = val
        elif opt in ("--nssdir", "--configdir", "-d"):
            nssdir = val
        elif opt == "--password":
            password = val
        elif opt == "--nsspassword":
            password_file = val
        elif opt == "--pubkey":
            pubkey = True
        elif opt in ("--verbose", "-v"):
            verbose = True
        elif opt == "--version":
            print(VERSION_STRING)
            return 0
    distinct = set(ops)
    if not distinct:
        _err(f"{prog}: You must specify an operation\n{SHOWHOSTKEY_USAGE}")
        return 1
    if len(distinct) > 1:
        _err(f"{prog}: You must specify only one operation\n{SHOWHOSTKEY_USAGE}")
        return 1
    op = ops[0]
    selects = op in ("left", "right", "ipseckey", "pem")
    if selects and ckaid is None and rsaid is None:
        _err(f"{prog}: You must select a key using --ckaid or --rsaid\n{SHOWHOSTKEY_USAGE}")
        return 1
    if not selects and (ckaid is not None or rsaid is not None):
        _err(f"{prog}: You must not select a key\n{SHOWHOSTKEY_USAGE}")
        return 1
    opened = _open(prog, nssdir, password, password_file, verbose)
    if isinstance(opened, int):
        return opened
    with opened as db:
        keys = db.private_keys()
    if op in ("list", "dump"):
        for n, key in enumerate(keys, 1):
            sys.stdout.write(list_line(n, key))
        return 0
    if rsaid is not None:
        found = next(
            (k for k in keys if k.key_type == "RSA" and keyid_of(k.public_key) == rsaid), None
        )
    else:
        prefix = (ckaid or "").lower()
        found = next((k for k in keys if k.ckaid_hex.startswith(prefix)), None)
    if found is None:
        _err(f"{prog}: No keys found\n")
        return 20
    try:
        if op in ("left", "right"):
            sys.stdout.write(format_leftright(found.public_key, op, pubkey))
        elif op == "ipseckey":
            if pubkey:
                _err(f"{prog}: --ipseckey --pubkey is not supported\n")
                return 5
            sys.stdout.write(
                format_ipseckey(found.public_key, socket.gethostname(), precedence, gateway)
            )
        else:
            sys.stdout.write(pem_public_key(found.public_key))
    except RawKeyError as err:
        _err(f"{prog}: {err}")
        return 5
    return 0


# --- import ---------------------------------------------------------------------------

IMPORT_USAGE = "usage: ipsec import [--nssdir /var/lib/ipsec/nss] /path/to/pkcs.12\n"


def import_p12(argv: list[str]) -> int:
    """`ipsec import [--nssdir D] FILE.p12`: pk12util -i, then give CAs 'CT,,' trust.

    Beyond Libreswan: `-W PW`/`-w FILE` pass the .p12 password as pk12util's
    options do (else pk12util prompts); `-K PW`/`--nsspassword FILE` give
    the DB password (else it comes from the nsspassword file).
    """
    nssdir, rest = _nssdir_from_argv(argv)
    p12_pw: str | None = None
    p12_pw_file: str | None = None
    db_pw: str | None = None
    password_file: str | None = None
    files: list[str] = []
    i = 0
    while i < len(rest):
        a = rest[i]
        if a in ("-W", "-w", "-K", "-k", "--nsspassword") and i + 1 < len(rest):
            v = rest[i + 1]
            if a == "-W":
                p12_pw = v
            elif a == "-w":
                p12_pw_file = v
            elif a == "-K":
                db_pw = v
            else:
                password_file = v
            i += 2
            continue
        files.append(a)
        i += 1
    if len(files) != 1 or not os.path.isfile(files[0]):
        _err(IMPORT_USAGE)
        return 1
    d = _dir(nssdir)
    if db_pw is None and sys.stdin.isatty():
        # At a terminal, ask for the DB password the way pk12util would.
        try:
            NssDb.open(d, password_file=password_file).close()
        except NssAuthError as err:
            db_pw = getpass.getpass(f'Enter Password or Pin for "{err.token}":')
        except NssDbError:
            pass
    opened = _open("ipsec import", d, db_pw, password_file, verbose=False)
    if isinstance(opened, int):
        return opened
    with opened as db:
        dbpw = _db_password(db, db_pw, password_file)
    interactive = False
    if p12_pw is None and p12_pw_file is None:
        if sys.stdin.isatty():
            interactive = True  # pk12util prompts on the terminal itself
        else:
            p12_pw = sys.stdin.readline().rstrip("\n")  # scripted: password on stdin
    try:
        r = nsstools.pk12_import(
            d, files[0], p12_password=p12_pw, p12_password_file=p12_pw_file,
            db_password=dbpw, interactive=interactive,
        )
    except NssError as err:
        _err(f"{err}\n")
        return 1
    if not interactive:
        sys.stdout.write(r.stdout)
        _err(r.stderr)
    if r.returncode != 0:
        return r.returncode
    try:
        with NssDb.open(d, password=dbpw if db.needs_login else None) as db2:
            for nick in nsstools.fix_ca_trust(d, db2, dbpw):
                print(f"correcting trust bits for {nick}")
    except NssError as err:
        _err(f"{err}\n")
        return 1
    return 0


__all__ = ["checknss", "import_p12", "initnss", "newhostkey", "showhostkey"]
