#!/bin/bash
# A private FreeRADIUS 3.2 instance for scripts/bench.sh, made from Debian's stock
# configuration the way ../shared/recipes/freeradius-peer.sh does it: the stock default
# site (PAP, users file), private log/run dirs, no setuid, reject_delay 0, proxying off,
# loopback only, a 4 MiB receive buffer on the auth socket. Then one client for 127.0.0.1
# with SECRET and require_message_authenticator = yes (FreeRADIUS 3.2.1 has no
# limit_proxy_state yet), and the users of USERS_FILE (lines "user<TAB>password") as
# Cleartext-Password entries of the users file, in front of the stock entries.
#
# usage: bench-freeradius.sh DIR PORT SECRET USERS_FILE
# then:  freeradius -f -d DIR      (-X for debug; single-threaded)
set -eu
D=${1:?usage: bench-freeradius.sh DIR PORT SECRET USERS_FILE}
PORT=${2:?port}
SECRET=${3:?secret}
USERS=${4:?users file}
ACCT=$((PORT + 1))
INNER=$((PORT + 2))
rm -rf "$D"; cp -r /etc/freeradius/3.0 "$D"; mkdir -p "$D/log" "$D/run"
# radiusd.conf: private log/run dirs, no setuid to freerad, no reject delay, no proxy sockets
sed -i -e "s|^logdir = .*|logdir = $D/log|" -e "s|^run_dir = .*|run_dir = $D/run|" \
       -e 's/^\(\s*\)\(user\|group\) = freerad/\1#\2 = freerad/' \
       -e 's/^\(\s*\)reject_delay = 1/\1reject_delay = 0/' \
       -e 's/^proxy_requests  = yes/proxy_requests  = no/' "$D/radiusd.conf"
grep -q '^\s*reject_delay = 0' "$D/radiusd.conf" || { echo "bench-freeradius.sh: could not set reject_delay 0" >&2; exit 1; }
# default site: loopback only; auth PORT (the IPv4 one gets a 4 MiB socket buffer), acct PORT+1
S="$D/sites-available/default"
python3 - "$S" "$PORT" "$ACCT" <<'PY'
import re, sys; p, auth, acct_port = sys.argv[1:4]; out=[]
for blk in re.split(r'(?m)^(?=listen \{)', open(p).read()):
    if blk.startswith('listen {'):
        body, rest = blk.split('\n}\n', 1)
        acct = re.search(r'(?m)^\s*type = acct', body) is not None
        body = re.sub(r'(?m)^(\s*)ipaddr = \*', r'\1ipaddr = 127.0.0.1', body)
        body = re.sub(r'(?m)^(\s*)ipv6addr = ::(?=\s|$)', r'\1ipv6addr = ::1', body)
        port = acct_port if acct else auth
        extra = '\n\trecv_buff = 4194304' if (not acct and 'ipaddr = 127.0.0.1' in body) else ''
        body = re.sub(r'(?m)^(\s*)port = 0', r'\1port = ' + port + extra, body, count=1)
        blk = body + '\n}\n' + rest
    out.append(blk)
open(p, 'w').write(''.join(out))
PY
# inner-tunnel's debug listener uses 127.0.0.1:18120 by default -> move it
sed -i "s/port = 18120/port = $INNER/" "$D/sites-available/inner-tunnel"
# Message-Authenticator first in every Access-Accept and Access-Reject, as sparekeyd sends
# them and as FreeRADIUS 3.2.5 and later do by default (3.2.1 adds it to EAP replies only):
# the encoder fills in the zeros.
python3 - "$S" <<'PY'
import sys; p=sys.argv[1]; s=open(p).read()
ma = '\tupdate reply {\n\t\t&Message-Authenticator := 0x00\n\t}\n'
for head in ('\npost-auth {\n', '\tPost-Auth-Type REJECT {\n'):
    assert s.count(head) == 1, head
    s = s.replace(head, head + ma, 1)
open(p, 'w').write(s)
PY
# one client: the load generator on 127.0.0.1
cat > "$D/clients.conf" <<CONF
client bench {
	ipaddr = 127.0.0.1
	proto = udp
	secret = $SECRET
	require_message_authenticator = yes
	nas_type = other
}
CONF
# users file: the bench users first (PAP against Cleartext-Password), then the stock entries
A="$D/mods-config/files/authorize"
{
    while IFS=$'\t' read -r user pass; do
        [ -n "$user" ] || continue
        printf '%s\tCleartext-Password := "%s"\n\n' "$user" "$pass"
    done < "$USERS"
    cat "$A"
} > "$A.new"
mv "$A.new" "$A"
freeradius -C -d "$D" >/dev/null
