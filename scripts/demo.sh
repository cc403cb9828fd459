#!/usr/bin/env bash
# The main demo: RHEL 9 "Configuring a VPN with IPsec" §4.3 (host-to-host with
# raw RSA keys) and §4.4 (site-to-site) on two hosts built as network
# namespaces on this machine, with Cygnet as `ipsec`. Run as root.
#
#   ./scripts/demo.sh          set up, run, tear down
#   ./scripts/demo.sh --keep   leave the namespaces and files for a look
#
# The hosts are linked only to each other (192.1.2.0/24), never to this
# machine's network. This kernel may lack ESP, so Cygnet carries ESP itself
# (protostack=userspace, a TUN device per host).
set -euo pipefail
cd "$(dirname "$0")/.."
KEEP=0
[ "${1:-}" = "--keep" ] && KEEP=1

./scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"

LAB=/run/cygnet-demo
W=cyg-west E=cyg-east
cleanup() {
  for h in west east; do
    [ -S "$LAB/$h/run/pluto.ctl" ] && ip netns exec "cyg-$h" ipsec whack --shutdown \
      --ctlsocket "$LAB/$h/run/pluto.ctl" >/dev/null 2>&1 || true
  done
  sleep 0.5
  ip netns del "$W" 2>/dev/null || true
  ip netns del "$E" 2>/dev/null || true
  rm -rf "$LAB"
}
cleanup
[ "$KEEP" = 1 ] || trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
on() { local host=$1; shift; printf '%s# %s\n' "$host" "$*"; ip netns exec "cyg-$host" "$@"; }

say "Two hosts: west (192.1.2.23) and east (192.1.2.45), as in the spec's example"
ip netns add "$W"; ip netns add "$E"
ip link add cyg-w0 netns "$W" type veth peer name cyg-e0 netns "$E"
ip -n "$W" addr add 192.1.2.23/24 dev cyg-w0; ip -n "$W" link set cyg-w0 up; ip -n "$W" link set lo up
ip -n "$E" addr add 192.1.2.45/24 dev cyg-e0; ip -n "$E" link set cyg-e0 up; ip -n "$E" link set lo up
for h in west east; do mkdir -p "$LAB/$h/nss" "$LAB/$h/ipsec.d" "$LAB/$h/run"; done

say "§4.2 step 2: ipsec initnss (each host's own NSS database)"
for h in west east; do on $h ipsec initnss --nssdir "$LAB/$h/nss"; done

say "§4.3 step 1: ipsec newhostkey"
declare -A CKAID
for h in west east; do
  out=$(on $h ipsec newhostkey --nssdir "$LAB/$h/nss" 2>&1)
  echo "$out"
  CKAID[$h]=$(sed -n 's/.*with CKAID \([0-9a-f]*\) was stored.*/\1/p' <<<"$out")
done

say "§4.3 step 2: ipsec showhostkey --left / --right"
on west ipsec showhostkey --nssdir "$LAB/west/nss" --left --ckaid "${CKAID[west]}" | tee "$LAB/west.key"
on east ipsec showhostkey --nssdir "$LAB/east/nss" --right --ckaid "${CKAID[east]}" | tee "$LAB/east.key"
LEFTKEY=$(sed -n 's/^\s*leftrsasigkey=//p' "$LAB/west.key")
RIGHTKEY=$(sed -n 's/^\s*rightrsasigkey=//p' "$LAB/east.key")

say "§4.3 step 3: /etc/ipsec.d/my_host-to-host.conf (the same file on both hosts)"
for h in west east; do
  cat > "$LAB/$h/ipsec.d/my_host-to-host.conf" <<CONF
conn mytunnel
    leftid=@west
    left=192.1.2.23
    leftrsasigkey=$LEFTKEY
    rightid=@east
    right=192.1.2.45
    rightrsasigkey=$RIGHTKEY
    authby=rsasig
CONF
  printf 'config setup\n\tprotostack=userspace\n\ninclude %s/ipsec.d/*.conf\n' "$LAB/$h" \
    > "$LAB/$h/ipsec.conf"
  : > "$LAB/$h/ipsec.secrets"; chmod 600 "$LAB/$h/ipsec.secrets"
done
sed -e 's/\(rsasigkey=0s.\{24\}\).*\(.\{12\}\)$/\1 [...] \2/' "$LAB/west/ipsec.d/my_host-to-host.conf"

say "§4.4 step 2: my_site-to-site.conf adds subnets with also=mytunnel"
for h in west east; do
  cat > "$LAB/$h/ipsec.d/my_site-to-site.conf" <<'CONF'
conn mysubnet
     also=mytunnel
     leftsubnet=192.0.1.0/24
     rightsubnet=192.0.2.0/24
     auto=start

conn mysubnet6
     also=mytunnel
     leftsubnet=2001:db8:0:1::/64
     rightsubnet=2001:db8:0:2::/64
     auto=start
CONF
done

say "Checking the configuration as Libreswan's 'ipsec addconn --checkconfig' does"
for h in west east; do on $h ipsec addconn --checkconfig --config "$LAB/$h/ipsec.conf" && echo "(ok)"; done

say "How each host reads it: one file, two orientations"
on west cygnet config show --orient --config "$LAB/west/ipsec.conf" mysubnet | grep -E '^conn|^\s(left|right|leftsubnet|rightsubnet|authby|auto)=|^# conn'
on east cygnet config show --orient --config "$LAB/east/ipsec.conf" mysubnet | grep -E '^# conn'

say "A broken file gets one clear error naming file, line and keyword"
printf 'conn broken\n    left=192.1.2.23\n    leftsubnet=192.0.1.0/33\n' > "$LAB/broken.conf"
on west ipsec addconn --checkconfig --config "$LAB/broken.conf" || true

say "The key store is NSS's own: certutil lists the key Cygnet made"
on west certutil -K -d "sql:$LAB/west/nss" | sed -n '1,3p'

say "§4.3 step 4: start the ipsec service on both hosts (pluto, in each namespace)"
for h in west east; do
  ip netns exec "cyg-$h" ipsec pluto --nofork --config "$LAB/$h/ipsec.conf" \
    --secretsfile "$LAB/$h/ipsec.secrets" --nssdir "$LAB/$h/nss" --rundir "$LAB/$h/run" \
    --logfile "$LAB/$h/pluto.log" &
done
for h in west east; do
  for _ in $(seq 50); do [ -S "$LAB/$h/run/pluto.ctl" ] && break; sleep 0.1; done
done
C() { echo "--ctlsocket $LAB/$1/run/pluto.ctl"; }

say "§4.3 step 5: ipsec auto --add mytunnel"
for h in west east; do on $h ipsec auto --add mytunnel --config "$LAB/$h/ipsec.conf" $(C $h); done

say "§4.3 step 6: ipsec auto --up mytunnel"
on west ipsec auto --up mytunnel --config "$LAB/west/ipsec.conf" $(C west)

say "Traffic through the tunnel, and what the wire sees (tcpdump on west's link)"
# everything between the two hosts (IPv6 link housekeeping - MLD, ND - is not theirs)
ip netns exec "$W" timeout 4 tcpdump -n -l -i cyg-w0 -c 6 'ip and host 192.1.2.45' \
  2>/dev/null > "$LAB/wire.txt" &
DUMP=$!
sleep 0.5
on west ping -c 3 -i 0.3 192.1.2.45
wait "$DUMP" || true
cat "$LAB/wire.txt"
if grep -qv ESP "$LAB/wire.txt"; then echo "!! clear text on the wire"; exit 1; fi
echo "(only ESP crossed the link)"

say "Troubleshooting, first step: ipsec trafficstatus"
on west ipsec trafficstatus $(C west)
on east ipsec trafficstatus $(C east)

say "§4.3 step 7 would add auto=start; mysubnet (§4.4) already has it"
on west ipsec auto --down mytunnel $(C west)
[ "$KEEP" = 1 ] && echo "kept: ip netns exec $W ..., files and pluto logs in $LAB"
exit 0
