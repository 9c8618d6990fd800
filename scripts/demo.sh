#!/bin/sh
# The sparekey demo on loopback: builds sparekey, starts sparekeyd on a throwaway config and
# store in a temporary directory, issues a temporary code with sparekeyctl, and shows a real
# PAM login (pamtester under pam_wrapper, through pam_sparekey.so) accept it once and refuse
# it when used again, then the same over RADIUS with radtest. Nothing outside the temporary directory changes.
set -eu
cd "$(dirname "$0")/.."
. scripts/deps.sh
echo "==> building sparekey"
cargo build --quiet --locked --workspace --bins --lib
BIN="$PWD/target/debug"
DIR=$(mktemp -d /tmp/sparekey-demo.XXXXXX)
chmod 755 "$DIR"
DAEMON=""
cleanup() {
    [ -n "$DAEMON" ] && kill "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

cat > "$DIR/sparekey.toml" <<TOML
[store]
path = "state/sparekey.db"
key-file = "site.key"

[admin]
socket = "run/admin.sock"

[audit]
syslog = false

[radius]
listen = ["127.0.0.1:18612"]

[[radius.client]]
name = "demo-vpn"
address = "127.0.0.1"
secret-file = "vpn.secret"
service = "vpn"
TOML
(umask 077; head -c 24 /dev/urandom | base64 > "$DIR/vpn.secret")
cat > "$DIR/policy.toml" <<TOML
enabled = true
contact = "the demo helpdesk"

[[policy]]
name = "demo"
users = ["demo-user"]
services = ["demo-login", "vpn"]
default-lifetime = "1h"
TOML

echo "==> checking the configuration"
"$BIN/sparekeyd" --check --config "$DIR/sparekey.toml"

echo "==> starting sparekeyd (config and store in $DIR)"
"$BIN/sparekeyd" --config "$DIR/sparekey.toml" 2>"$DIR/sparekeyd.log" &
DAEMON=$!
i=0
until [ -S "$DIR/run/admin.sock" ]; do
    i=$((i + 1)); [ $i -gt 100 ] && { cat "$DIR/sparekeyd.log"; exit 1; }
    sleep 0.1
done

CTL="$BIN/sparekeyctl --socket $DIR/run/admin.sock"
echo "==> the helpdesk issues a single-use code for demo-user, valid 1 hour"
echo "\$ sparekeyctl issue demo-user --for 1h --reason 'lost phone'"
$CTL issue demo-user --for 1h --reason "lost phone" | tee "$DIR/issued.txt"
CODE=$(sed -n 's/^Code for demo-user: //p' "$DIR/issued.txt")

# A private PAM service under pam_wrapper: pam_sparekey, then pam_deny standing for the usual
# MFA (the person has lost it). The machine's own /etc/pam.d is not touched.
MULTIARCH=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
SEC=/usr/lib/$MULTIARCH/security
[ -f "$SEC/pam_deny.so" ] || SEC=/lib/$MULTIARCH/security
mkdir "$DIR/pam.d"
echo "auth required $SEC/pam_deny.so" > "$DIR/pam.d/other"
cat > "$DIR/pam.d/demo-login" <<PAM
auth [success=done ignore=ignore authinfo_unavail=ignore maxtries=ignore default=die] $BIN/libpam_sparekey.so config=$DIR/sparekey.toml
auth requisite $SEC/pam_deny.so
PAM
echo "    PAM stack ($DIR/pam.d/demo-login):"
sed 's/^/      /' "$DIR/pam.d/demo-login"
login() {
    echo "\$ pamtester demo-login demo-user authenticate   (typing: $1)"
    if printf '%s\n' "$1" | LD_PRELOAD=/usr/lib/$MULTIARCH/libpam_wrapper.so PAM_WRAPPER=1 \
        PAM_WRAPPER_SERVICE_DIR="$DIR/pam.d" pamtester -v demo-login demo-user authenticate 2>&1 \
        | sed 's/^/    /'; then :; fi
}
echo "==> demo-user logs in with a wrong code: refused"
login 0000000000
echo "==> demo-user logs in with the code: accepted"
login "$CODE"
echo "==> demo-user tries the same code again: no code is asked for, the usual MFA (pam_deny) refuses"
login "$CODE"

echo "==> the VPN asks sparekeyd over RADIUS (radtest, with Message-Authenticator)"
echo "\$ sparekeyctl issue demo-user --service vpn --for 2h"
$CTL issue demo-user --service vpn --for 2h | tee "$DIR/issued-vpn.txt"
VPNCODE=$(sed -n 's/^Code for demo-user: //p' "$DIR/issued-vpn.txt")
SECRET=$(cat "$DIR/vpn.secret")
radius() {
    echo "\$ radtest demo-user $1 127.0.0.1:18612 0 SECRET"
    radtest demo-user "$1" 127.0.0.1:18612 0 "$SECRET" 2>&1 | grep -E "Received|Reply-Message|Session-Timeout|no response" | sed 's/^/    /' || true
}
echo "==> the VPN login with the code: Access-Accept, Session-Timeout no later than the code's end"
radius "$VPNCODE"
echo "==> the same code again: Access-Reject with the contact text"
radius "$VPNCODE"

echo "==> what the admin sees"
echo "\$ sparekeyctl list --all"
$CTL list --all
echo "\$ sparekeyctl audit"
$CTL audit
echo "\$ sparekeyctl audit --verify"
$CTL audit --verify
echo "==> demo finished; sparekeyd stops and $DIR is removed"
