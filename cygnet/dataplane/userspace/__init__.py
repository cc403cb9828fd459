"""Userspace ESP over a TUN device, for kernels without XFRM ESP (`protostack=userspace`).

- `esp`: the RFC 4303 codec (AEAD and cipher+HMAC suites, ESN) and the replay window.
- `spd`: selector matching (RFC 4301) and the outbound policy cache.
- `tun`, `routing`: the TUN device, its routes and the fwmark rule (strongSwan-style).
- `worker`: the TX and RX processes; `tungro`: coalesced TUN writes; `shm`: counters.
- `plane`: `UserspaceDataplane`, the `Dataplane` the daemon uses.
- `agent`, `nslab`: static-key drivers for namespace tests, the benchmark and labs.
"""
