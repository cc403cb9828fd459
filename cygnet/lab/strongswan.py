"""Real strongSwan 5.9.8 peers (charon + swanctl, kernel-libipsec or kernel-netlink) in a lab namespace.

strongSwan is the reference behaviour Cygnet is tested against. Recipe from
`reference/peers-lab.md`: one charon per namespace with its own
STRONGSWAN_CONF and vici socket, a private /run (its pid file path is
compiled in), kernel-libipsec loaded before kernel-netlink so SAs go to the
userspace ESP stack (the kernel here has no ESP), and fwmarks that keep
charon's own IKE/ESP packets out of its TUN device.

Typical use::

    peer = Charon(topo.east.ns, tmp_path, "east")
    peer.configure([SwanConn("plab", local_addrs="192.1.2.23", remote_addrs="192.1.2.45",
                             local_id="@east", remote_id="@west", psk="secret",
                             proposals="aes128-sha256-modp2048")])
    peer.start()                      # also loads the config (swanctl --load-all)
    peer.initiate(child="plab")       # or wait for the other side
    peer.list_sas()                   # [{'name': 'plab', 'state': 'ESTABLISHED', ...}]
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cygnet.lab.netns import BackgroundProcess, LabError, Namespace, run, wait_for

CHARON = Path("/usr/lib/ipsec/charon")
SWANCTL = "swanctl"

# kernel-libipsec must come before kernel-netlink, or SAs go to XFRM (errno 93 here).
PLUGINS = (
    "random nonce openssl pem pkcs1 pkcs8 x509 pubkey revocation constraints sha1 sha2 md5 "
    "aes hmac gmp curve25519 kdf gcm ctr ccm chapoly xcbc cmac drbg kernel-libipsec "
    "kernel-netlink socket-default vici updown"
)
# Kernel ESP (a kernel that has it, e.g. the test VM, cygnet/lab/vm.py): SAs and
# policies go to XFRM through kernel-netlink, as on a normal strongSwan host.
PLUGINS_NETLINK = PLUGINS.replace("kernel-libipsec ", "")
KERNELS = ("libipsec", "netlink")


def strongswan_available() -> bool:
    """charon and swanctl are installed (Debian strongswan-charon, strongswan-swanctl)."""
    return CHARON.exists() and shutil.which(SWANCTL) is not None


@dataclass
class SwanConn:
    """One swanctl connection with one child; defaults are host-to-host, tunnel mode.

    `local_ts`/`remote_ts` default to the /32 (/128) of the addresses, which
    is host-to-host; give subnets for subnet-to-subnet. `auth` is "psk" or
    "pubkey"; for pubkey name the files given to `Charon.add_pubkey` /
    `Charon.add_private_key` in `local_pubkeys`/`remote_pubkeys`.
    """

    name: str
    local_addrs: str
    remote_addrs: str
    local_id: str | None = None
    remote_id: str | None = None
    auth: str = "psk"
    psk: str | None = None
    proposals: str = "default"
    esp_proposals: str = "default"
    local_ts: str | None = None
    remote_ts: str | None = None
    local_pubkeys: Sequence[str] = ()
    remote_pubkeys: Sequence[str] = ()
    local_certs: Sequence[str] = ()
    remote_auth: str | None = None  # defaults to `auth`
    child_name: str | None = None
    mode: str = "tunnel"
    start_action: str = "none"
    version: int = 2
    ike_options: dict[str, str] = field(default_factory=dict)
    child_options: dict[str, str] = field(default_factory=dict)

    @property
    def child(self) -> str:
        return self.child_name or self.name

    def render(self) -> str:
        def host_ts(addr: str) -> str:
            return addr if "/" in addr else addr + ("/128" if ":" in addr else "/32")

        local_ts = self.local_ts or host_ts(self.local_addrs)
        remote_ts = self.remote_ts or host_ts(self.remote_addrs)
        lines = [
            f"    {self.name} {{",
            f"        version = {self.version}",
            f"        local_addrs = {self.local_addrs}",
            f"        remote_addrs = {self.remote_addrs}",
            f"        proposals = {self.proposals}",
        ]
        lines += [f"        {k} = {v}" for k, v in self.ike_options.items()]
        lines += ["        local {", f"            auth = {self.auth}"]
        if self.local_id:
            lines.append(f"            id = {self.local_id}")
        if self.local_pubkeys:
            lines.append(f"            pubkeys = {', '.join(self.local_pubkeys)}")
        if self.local_certs:
            lines.append(f"            certs = {', '.join(self.local_certs)}")
        lines += [
            "        }",
            "        remote {",
            f"            auth = {self.remote_auth or self.auth}",
        ]
        if self.remote_id:
            lines.append(f"            id = {self.remote_id}")
        if self.remote_pubkeys:
            lines.append(f"            pubkeys = {', '.join(self.remote_pubkeys)}")
        lines += [
            "        }",
            "        children {",
            f"            {self.child} {{",
            f"                local_ts = {local_ts}",
            f"                remote_ts = {remote_ts}",
            f"                mode = {self.mode}",
            f"                esp_proposals = {self.esp_proposals}",
            f"                start_action = {self.start_action}",
        ]
        lines += [f"                {k} = {v}" for k, v in self.child_options.items()]
        lines += ["            }", "        }", "    }"]
        return "\n".join(lines)

    def render_secret(self) -> str | None:
        if self.psk is None:
            return None
        ids = [i for i in (self.local_id or self.local_addrs, self.remote_id or self.remote_addrs)]
        body = [f"        id-{chr(ord('a') + n)} = {i}" for n, i in enumerate(ids)]
        return "\n".join(
            [f"    ike-{self.name} {{", *body, f'        secret = "{self.psk}"', "    }"]
        )


def render_swanctl_conf(conns: Sequence[SwanConn]) -> str:
    secrets = [s for s in (c.render_secret() for c in conns) if s]
    parts = ["connections {", *(c.render() for c in conns), "}", "", "secrets {", *secrets, "}"]
    return "\n".join(parts) + "\n"


def render_strongswan_conf(
    confdir: Path, loglevel: int = 1, extra: str = "", kernel: str = "libipsec"
) -> str:
    """strongswan.conf for one namespaced charon.

    `kernel="libipsec"` (the default): userspace ESP over charon's TUN device, for
    kernels without ESP. `kernel="netlink"`: the kernel's ESP via XFRM.
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel={kernel!r}: one of {', '.join(KERNELS)}")
    vici = f"unix://{confdir}/run/charon.vici"
    if kernel == "netlink":
        note, plugins, libipsec = " (kernel ESP via kernel-netlink)", PLUGINS_NETLINK, ""
    else:
        # libipsec's own TUN must not swallow charon's IKE/ESP: fwmark them out of it
        note, plugins, libipsec = "", PLUGINS, """\
        kernel-libipsec {
            allow_peer_ts = yes
        }
        socket-default {
            fwmark = 0x42
        }
        kernel-netlink {
            fwmark = !0x42
        }
"""
    return f"""\
# Written by cygnet.lab.strongswan for one lab node{note}.
charon {{
    load_modular = no
    load = {plugins}
    filelog {{
        charon {{
            path = {confdir}/charon.log
            time_format = %b %e %T
            append = no
            flush_line = yes
            default = {loglevel}
        }}
    }}
    plugins {{
        vici {{
            socket = {vici}
        }}
{libipsec}    }}
{extra}
}}
swanctl {{
    socket = {vici}
}}
"""


# ---- swanctl --pretty output parser ---------------------------------------------

_OPEN = re.compile(r"^(\S+(?: \S+)*) \{$")
_KV = re.compile(r"^(\S+) = (.*)$")
_LIST = re.compile(r"^(\S+) = \[$")


def parse_vici_pretty(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Parse `swanctl --pretty` output into (message name, body) pairs.

    Sections become dicts, `key = value` strings, `key = [ ... ]` lists.
    Lines that are not part of a message (log lines) are ignored.
    """
    messages: list[tuple[str, dict[str, Any]]] = []
    stack: list[dict[str, Any]] = []
    current_list: list[str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if current_list is not None:
            if line == "]":
                current_list = None
            else:
                current_list.append(line)
            continue
        if not stack:
            m = _OPEN.match(line)
            if m:
                body: dict[str, Any] = {}
                messages.append((m.group(1), body))
                stack.append(body)
            continue
        if line == "}":
            stack.pop()
            continue
        m = _LIST.match(line)
        if m:
            current_list = []
            stack[-1][m.group(1)] = current_list
            continue
        m = _OPEN.match(line)
        if m:
            body = {}
            stack[-1][m.group(1)] = body
            stack.append(body)
            continue
        m = _KV.match(line)
        if m:
            stack[-1][m.group(1)] = m.group(2)
    return messages


def parse_list_sas(text: str) -> list[dict[str, Any]]:
    """`swanctl --list-sas --pretty` → one dict per IKE SA, with its `name` added.

    Child SAs stay under "child-sas" keyed by swanctl's `<name>-<uniqueid>`.
    """
    sas = []
    for msg, body in parse_vici_pretty(text):
        if msg != "list-sa event":
            continue
        for name, sa in body.items():
            sas.append({"name": name, **sa})
    return sas


# ---- the daemon ------------------------------------------------------------------


class Charon:
    """One strongSwan charon in a namespace, its config folder, and swanctl on it."""

    def __init__(
        self,
        ns: Namespace,
        workdir: Path | str,
        name: str | None = None,
        loglevel: int = 1,
        kernel: str = "libipsec",
    ):
        """`kernel`: "libipsec" (userspace ESP, the default) or "netlink" (kernel ESP)."""
        if kernel not in KERNELS:
            raise ValueError(f"kernel={kernel!r}: one of {', '.join(KERNELS)}")
        self.ns = ns
        self.name = name or ns.role
        self.kernel = kernel
        self.confdir = Path(workdir) / f"strongswan-{self.name}"
        self.loglevel = loglevel
        self.conns: list[SwanConn] = []
        self.proc: BackgroundProcess | None = None
        for sub in ("run", "x509", "x509ca", "private", "pubkey", "rsa", "ecdsa", "pkcs8"):
            (self.confdir / sub).mkdir(parents=True, exist_ok=True)
        self.conf = self.confdir / "strongswan.conf"
        self.swanctl_conf = self.confdir / "swanctl.conf"
        self.vici_uri = f"unix://{self.confdir}/run/charon.vici"
        self.log_path = self.confdir / "charon.log"

    # configuration
    def configure(self, conns: Sequence[SwanConn], extra_charon: str = "") -> None:
        """Write strongswan.conf and swanctl.conf (reload with `load_all` if running)."""
        self.conns = list(conns)
        self.conf.write_text(
            render_strongswan_conf(self.confdir, self.loglevel, extra_charon, self.kernel)
        )
        self.swanctl_conf.write_text(render_swanctl_conf(self.conns))

    def add_pubkey(self, filename: str, pem: bytes | str) -> Path:
        """A raw public key (PEM SubjectPublicKeyInfo) for `pubkeys = filename`."""
        path = self.confdir / "pubkey" / filename
        path.write_bytes(pem.encode() if isinstance(pem, str) else pem)
        return path

    def add_private_key(self, filename: str, pem: bytes | str) -> Path:
        """A private key (any PEM type) loaded by `swanctl --load-all`."""
        path = self.confdir / "private" / filename
        path.write_bytes(pem.encode() if isinstance(pem, str) else pem)
        path.chmod(0o600)
        return path

    # lifecycle
    def start(self, timeout: float = 15.0, load: bool = True) -> None:
        """Start charon in a private mount namespace; wait for vici; load the config."""
        if not self.conf.exists():
            self.configure(self.conns)
        script = (
            f"mount --bind {self.confdir}/run /run && exec env STRONGSWAN_CONF={self.conf} {CHARON}"
        )
        self.proc = self.ns.spawn(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            f"charon-{self.name}.out",
        )

        def ready() -> bool:
            if not self.proc or not self.proc.running():
                raise LabError(
                    f"charon {self.name} exited:\n{self.proc and self.proc.log()}\n{self.log()}"
                )
            try:  # a slow machine (the TCG test VM) may need more than one try
                return self.swanctl("--stats", check=False, timeout=10).returncode == 0
            except LabError:
                return False

        wait_for(ready, timeout=timeout, interval=0.1, what=f"charon {self.name} vici")
        if load:
            self.load_all()

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()

    def running(self) -> bool:
        return bool(self.proc and self.proc.running())

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # swanctl
    def swanctl(
        self, *args: str, check: bool = True, timeout: float = 30.0
    ) -> subprocess.CompletedProcess[str]:
        """Run swanctl against this charon's vici socket."""
        env = {"STRONGSWAN_CONF": str(self.conf), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        return run([SWANCTL, *args, "--uri", self.vici_uri], check=check, timeout=timeout, env=env)

    def load_all(self) -> str:
        """`swanctl --load-all --file <confdir>/swanctl.conf` (credentials from that folder)."""
        return self.swanctl("--load-all", "--file", str(self.swanctl_conf)).stdout

    def initiate(
        self,
        child: str | None = None,
        ike: str | None = None,
        timeout: int = 15,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Initiate a child (and its IKE SA) or an IKE SA alone; waits for the result."""
        args = ["--initiate", "--timeout", str(timeout)]
        if child:
            args += ["--child", child]
        if ike:
            args += ["--ike", ike]
        return self.swanctl(*args, check=check, timeout=timeout + 10)

    def terminate(
        self,
        ike: str | None = None,
        child: str | None = None,
        timeout: int = 10,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        args = ["--terminate", "--timeout", str(timeout)]
        if ike:
            args += ["--ike", ike]
        if child:
            args += ["--child", child]
        return self.swanctl(*args, check=check, timeout=timeout + 10)

    def list_sas(self, ike: str | None = None) -> list[dict[str, Any]]:
        """IKE SAs as dicts (swanctl's keys: state, local-host, child-sas, ...)."""
        args = ["--list-sas", "--pretty"] + (["--ike", ike] if ike else [])
        return parse_list_sas(self.swanctl(*args).stdout)

    def list_conns(self) -> list[tuple[str, dict[str, Any]]]:
        return parse_vici_pretty(self.swanctl("--list-conns", "--pretty").stdout)

    def established(self, ike: str | None = None) -> list[dict[str, Any]]:
        """IKE SAs in state ESTABLISHED with at least one INSTALLED child."""
        return [
            sa
            for sa in self.list_sas(ike)
            if sa.get("state") == "ESTABLISHED"
            and any(c.get("state") == "INSTALLED" for c in sa.get("child-sas", {}).values())
        ]

    def wait_established(
        self, ike: str | None = None, timeout: float = 15.0
    ) -> list[dict[str, Any]]:
        return wait_for(
            lambda: self.established(ike),
            timeout=timeout,
            interval=0.2,
            what=f"charon {self.name}: established IKE SA with installed child",
        )


def generate_rsa_keypair(bits: int = 2048) -> tuple[bytes, bytes]:
    """(private PKCS#8 PEM, public SubjectPublicKeyInfo PEM) for raw-key auth."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    priv = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    pub = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return priv, pub


def pki_rsa_keypair(workdir: Path | str, name: str, bits: int = 2048) -> tuple[bytes, bytes]:
    """Like generate_rsa_keypair, but made by strongSwan's own `pki --gen`/`--pub`."""
    key = Path(workdir) / f"{name}.key.pem"
    key.parent.mkdir(parents=True, exist_ok=True)
    priv = run(["pki", "--gen", "--type", "rsa", "--size", str(bits), "--outform", "pem"]).stdout
    key.write_text(priv)
    pub = run(["pki", "--pub", "--in", str(key), "--type", "rsa", "--outform", "pem"]).stdout
    return priv.encode(), pub.encode()
