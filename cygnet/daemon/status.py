"""The status verbs in Libreswan's wording, and the same facts as JSON.

`ipsec trafficstatus` lines are what admins grep (the spec's troubleshooting
starts there): `006 #2: "c", type=ESP, add_time=..., inBytes=84,
outBytes=84, maxBytes=2^63B, id='@east'`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cygnet.ike.sa import State
from cygnet.pki.nsspassword import fips_mode

if TYPE_CHECKING:
    from cygnet.daemon.pluto import Pluto

VERBS = frozenset({
    "status", "globalstatus", "briefstatus", "showstates", "trafficstatus", "shuntstatus",
    "fipsstatus", "connectionstatus", "xfrmstat",
})

#: /proc/net/xfrm_stat's counters, in the kernel's order (net/xfrm/xfrm_proc.c).
XFRM_STAT_NAMES = (
    "XfrmInError", "XfrmInBufferError", "XfrmInHdrError", "XfrmInNoStates",
    "XfrmInStateProtoError", "XfrmInStateModeError", "XfrmInStateSeqError",
    "XfrmInStateExpired", "XfrmInStateMismatch", "XfrmInStateInvalid", "XfrmInTmplMismatch",
    "XfrmInNoPols", "XfrmInPolBlock", "XfrmInPolError", "XfrmOutError", "XfrmOutBundleGenError",
    "XfrmOutBundleCheckError", "XfrmOutNoStates", "XfrmOutStateProtoError",
    "XfrmOutStateModeError", "XfrmOutStateSeqError", "XfrmOutStateExpired", "XfrmOutPolBlock",
    "XfrmOutPolDead", "XfrmOutPolError", "XfrmFwdHdrError", "XfrmOutStateInvalid",
    "XfrmAcquireError",
)


def xfrm_stat(p: Pluto) -> dict[str, int]:
    """The data plane's drop counters under /proc/net/xfrm_stat's names.

    Userspace ESP counts them itself (`xfrm_stat()`); with XFRM they are the kernel's
    (the namespace's /proc/net/xfrm_stat)."""
    dp = p.dataplane
    got: dict[str, int] = {}
    fn = getattr(dp, "xfrm_stat", None)
    if fn is not None:
        got = dict(fn())
    else:
        try:
            with open("/proc/net/xfrm_stat") as f:
                for line in f:
                    k, _, v = line.partition(" ")
                    if v.strip().isdigit():
                        got[k] = int(v)
        except OSError:
            pass
    out = {k: int(got.get(k, 0)) for k in XFRM_STAT_NAMES}
    out.update({k: int(v) for k, v in got.items() if k not in out})
    return out


def _traffic(p: Pluto) -> list[dict[str, Any]]:
    out = []
    for serial, rec in sorted(p.children.items()):
        c = p.dataplane.counters(serial) if p.dataplane else None
        out.append({
            "serial": serial, "connection": rec.conn, "type": "ESP", "add_time": rec.add_time,
            "inBytes": c.in_bytes if c else 0, "outBytes": c.out_bytes if c else 0,
            "inPackets": c.in_packets if c else 0, "outPackets": c.out_packets if c else 0,
            "maxBytes": "2^63B", "id": rec.peer_id, "ike_serial": rec.ike_serial,
            "spi_in": rec.spi_in.hex(), "spi_out": rec.spi_out.hex(), "mode": rec.mode,
            "algorithms": rec.description,
        })
    return out


def _states(p: Pluto) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if p.engine is None:
        return out
    for sa in sorted(p.engine.sas.values(), key=lambda s: s.serial):
        out.append({
            "serial": sa.serial, "connection": sa.name, "kind": "IKE",
            "state": sa.state.value, "port": sa.local.port,
            "established": sa.state is State.ESTABLISHED, "peer_id": str(sa.peer_id or ""),
            "local": str(sa.local), "remote": str(sa.remote),
            "algorithms": sa.ike_description() if sa.chosen else None,
        })
        for serial in sorted(sa.children):
            out.append({
                "serial": serial, "connection": sa.name, "kind": "Child",
                "state": "STATE_V2_ESTABLISHED_CHILD_SA", "port": sa.local.port,
                "ike_serial": sa.serial, "established": True,
            })
    return out


def _conns(p: Pluto) -> list[dict[str, Any]]:
    out = []
    for c in p.conns.conns.values():
        pol = c.policy
        out.append({
            "name": c.name, "serial": c.serial, "local": c.oriented.local_addr,
            "local_id": str(pol.local_id), "remote": c.remote_host,
            "remote_id": str(pol.remote_id) if pol.remote_id else "%any",
            "routed": c.routed, "newest_ike": c.newest_ike, "newest_child": c.newest_child,
            "authby": pol.local_auth.authby, "type": "transport" if pol.transport else "tunnel",
        })
    return out


def _counts(p: Pluto) -> dict[str, int]:
    sas = list(p.engine.sas.values()) if p.engine else []
    est = [s for s in sas if s.state is State.ESTABLISHED]
    return {"ike_total": len(sas), "ike_half_open": len(sas) - len(est),
            "ike_authenticated": len(est), "ipsec_total": len(p.children)}


def as_json(p: Pluto, verb: str, name: str | None = None) -> dict[str, Any]:
    if verb == "trafficstatus":
        return {"trafficstatus": _traffic(p)}
    if verb == "showstates":
        return {"states": _states(p)}
    if verb == "fipsstatus":
        return {"fips": fips_mode()}
    if verb == "xfrmstat":
        return {"xfrm_stat": xfrm_stat(p)}
    if verb == "shuntstatus":
        return {"bare_shunts": []}
    if verb == "briefstatus":
        return {"counts": _counts(p)}
    conns = _conns(p)
    if verb == "connectionstatus" and name:
        conns = [c for c in conns if c["name"] == name]
    return {
        "kernel_interface": p.dataplane.name if p.dataplane else None,
        "interfaces": [str(e) for e in p.sockets.by_endpoint],
        "fips": fips_mode(), "connections": conns, "states": _states(p),
        "counts": _counts(p), "trafficstatus": _traffic(p),
    }


def _brief(p: Pluto) -> list[str]:
    n = _counts(p)
    return [
        "000 State Information: DDoS cookies not required, Accepting new IKE connections",
        f"000 IKE SAs: total({n['ike_total']}), half-open({n['ike_half_open']}), open(0), "
        f"authenticated({n['ike_authenticated']}), anonymous(0)",
        f"000 IPsec SAs: total({n['ipsec_total']}), authenticated({n['ipsec_total']}), anonymous(0)",
    ]


def _state_lines(p: Pluto) -> list[str]:
    lines = []
    if p.engine is None:
        return lines
    for sa in sorted(p.engine.sas.values(), key=lambda s: s.serial):
        desc = "established IKE SA" if sa.state is State.ESTABLISHED else "negotiating IKE SA"
        lines.append(f'000 #{sa.serial}: "{sa.name}":{sa.local.port} {sa.state.value} ({desc}); '
                     "newest; idle;")
        for serial in sorted(sa.children):
            lines.append(f'000 #{serial}: "{sa.name}":{sa.local.port} '
                         "STATE_V2_ESTABLISHED_CHILD_SA (established Child SA); newest; "
                         f"eroute owner; IKE SA #{sa.serial}; idle;")
            rec = p.children.get(serial)
            c = p.dataplane.counters(serial) if p.dataplane and rec else None
            if rec is not None:
                kind = "tun" if rec.mode == "tunnel" else "trans"
                lines.append(
                    f'000 #{serial}: "{sa.name}" esp.{rec.spi_out.hex()}@{rec.remote.ip} '
                    f"esp.{rec.spi_in.hex()}@{rec.local.ip} {kind}.0@{rec.remote.ip} "
                    f"{kind}.0@{rec.local.ip} Traffic: ESPin={c.in_bytes if c else 0}B "
                    f"ESPout={c.out_bytes if c else 0}B ESPmax=2^63B ")
    return lines


def _conn_lines(p: Pluto, only: str | None = None) -> list[str]:
    lines = []
    for c in _conns(p):
        if only and c["name"] != only:
            continue
        n = c["name"]
        route = "routed" if c["routed"] else "unrouted"
        lines += [
            f'000 "{n}": {c["local"]}[{c["local_id"]}]...{c["remote"]}[{c["remote_id"]}]; '
            f"{route}; eroute owner: #{c['newest_child']}",
            f'000 "{n}":   our auth:{c["authby"]}, their auth:{c["authby"]}',
            f'000 "{n}":   newest IKE SA: #{c["newest_ike"]}; newest IPsec SA: '
            f"#{c['newest_child']}; conn serial: ${c['serial']};",
        ]
    return lines


def lines(p: Pluto, verb: str, name: str | None = None) -> list[str]:
    if verb == "trafficstatus":
        return [
            f'006 #{t["serial"]}: "{t["connection"]}", type=ESP, add_time={t["add_time"]}, '
            f"inBytes={t['inBytes']}, outBytes={t['outBytes']}, maxBytes=2^63B, id='{t['id']}'"
            for t in _traffic(p)
        ]
    if verb == "fipsstatus":
        return [f"000 FIPS mode {'enabled' if fips_mode() else 'disabled'}"]
    if verb == "xfrmstat":
        return [f"{k:<28}{v}" for k, v in xfrm_stat(p).items()]
    if verb == "shuntstatus":
        return ["000 Bare Shunt list:", "000  "]
    if verb == "briefstatus":
        return _brief(p)
    if verb == "showstates":
        return _state_lines(p)
    if verb == "connectionstatus":
        return _conn_lines(p, name)
    out = [f"000 using kernel interface: {p.dataplane.name if p.dataplane else 'none'}", "000  "]
    out += [f"000 interface UDP {e}" for e in p.sockets.by_endpoint]
    out += ["000  ", f"000 fips mode={'enabled' if fips_mode() else 'disabled'};", "000  "]
    out += ["000 Connection list:", "000  ", *_conn_lines(p), "000  "]
    total = len(p.conns.conns)
    active = sum(1 for c in p.conns.conns.values() if c.children)
    out += [f"000 Total IPsec connections: loaded {total}, active {active}", "000  "]
    out += _brief(p)
    out += ["000  ", *_state_lines(p), "000  ", "000 Bare Shunt list:", "000  "]
    return out
