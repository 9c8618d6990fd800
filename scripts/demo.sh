#!/bin/sh
# The sparekey demo on loopback: builds sparekey, starts sparekeyd on a throwaway config and
# store in a temporary directory, issues a temporary code with sparekeyctl, and shows a login
# accept it once and refuse it when used again. Nothing outside the temporary directory changes.
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
TOML
cat > "$DIR/policy.toml" <<TOML
enabled = true
contact = "the demo helpdesk"

[[policy]]
name = "demo"
users = ["demo-user"]
services = ["demo-login"]
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

login() {
    "$BIN/redeem_probe" "$DIR/sparekey.toml" demo-user demo-login "$1" || true
}
echo "==> demo-user logs in with a wrong code"
login 0000000000
echo "==> demo-user logs in with the code"
login "$CODE"
echo "==> demo-user tries the same code again"
login "$CODE"

echo "==> what the admin sees"
echo "\$ sparekeyctl list --all"
$CTL list --all
echo "\$ sparekeyctl audit"
$CTL audit
echo "\$ sparekeyctl audit --verify"
$CTL audit --verify
echo "==> demo finished; sparekeyd stops and $DIR is removed"
