#!/bin/bash
# sparekey's benchmark (issue 7; BENCHMARKS.md says how to read it). One command:
#
#   sudo ./scripts/bench.sh
#
# Builds sparekeyd, pam_sparekey.so and the benchmark tools in release mode, starts a
# private FreeRADIUS 3.2 (Debian's packages, stock default site: PAP against the users
# file) and a private sparekeyd on loopback, and drives both with the same load generator
# (bench/, sparekey-bench) and the same request mixes:
#   accept   a valid multi-use code (FreeRADIUS: the right password)
#   wrong    a wrong code, counted towards lockout (FreeRADIUS: a wrong password)
#   unknown  a user in no policy (FreeRADIUS: a user not in the users file)
#   locked   a wrong code for a user who is locked out (FreeRADIUS: a wrong password)
# Then: a 50,000-accept burst on each; the mixes on sparekeyd at 5,000/s with 1,000
# credentials in the store (and at the end with 1,000,000); latency and loss at 80% of each
# server's peak accept rate; accept latency during a flood of wrong codes for one locked-out
# user; and the PAM benchmark (pam_sparekey against pam_permit, with 100,000 credentials). Nothing outside a temporary directory changes, apart from Debian
# packages installed when missing. Takes about 4 minutes after the build. Not run in CI.
#
# Environment:
#   BENCH_TARGET_DIR  cargo target dir (default: $CARGO_TARGET_DIR, else ./target)
#   BENCH_OUT         where results go (default: $BENCH_TARGET_DIR/bench/<date-time>)
#   BENCH_DURATION    seconds per measurement (default 5), BENCH_WARMUP (default 1)
#   BENCH_SK_PORT     sparekeyd's port (default 18740); BENCH_FR_PORT FreeRADIUS's (18750,
#                     and the two ports after it)
#   BENCH_SKIP_BUILD=1, BENCH_KEEP=1 (keep the temporary directory), BENCH_SKIP_SCALE=1,
#   BENCH_SKIP_PAM=1, BENCH_SKIP_PG=1 (no PostgreSQL part), BENCH_SKIP_CHALLENGE=1
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STARTED=$(date +%s)

TARGET_DIR=${BENCH_TARGET_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}}
DURATION=${BENCH_DURATION:-5}
WARMUP=${BENCH_WARMUP:-1}
SK_PORT=${BENCH_SK_PORT:-18740}
FR_PORT=${BENCH_FR_PORT:-18750}
# The generator: 4 sockets x 32 outstanding = 128 requests in flight, one thread (it drives
# well over 100,000 requests/s on one core here; the other core is left to the server).
GEN_ARGS=(--sockets 4 --threads 1 --window 32 --timeout-ms 1000)
# Scale runs compare CPU per request with 1,000 and 1,000,000 credentials under the same
# load: 5,000 requests/s (below what sparekeyd's duplicate cache holds), at most 8 in
# flight (a server slower than that gets fewer: the generator waits for a free slot) and a
# 5 s timeout, so that even a server that slows down badly with the store's size answers
# and its CPU per request can be read.
SCALE_ARGS=(--rate 5000 --sockets 4 --threads 1 --window 2 --timeout-ms 5000)

say() { printf '==> %s\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
    echo "bench.sh: run as root: pam_sparekey accepts only root callers, and missing Debian packages are installed" >&2
    exit 1
fi
. scripts/deps.sh
if ! command -v freeradius >/dev/null 2>&1 || ! command -v radclient >/dev/null 2>&1; then
    say "installing FreeRADIUS (freeradius freeradius-utils)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends freeradius freeradius-utils >/dev/null
fi

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    say "building in release mode (target dir $TARGET_DIR)"
    CARGO_TARGET_DIR=$TARGET_DIR cargo build --quiet --release --locked \
        -p sparekey-daemon -p pam_sparekey -p sparekey-bench -p sparekey-ctl
fi
BIN=$TARGET_DIR/release
for f in sparekeyd sparekeyctl libpam_sparekey.so sparekey-bench sparekey-bench-fill sparekey-pam-bench sparekey-bench-propagation sparekey-bench-challenge; do
    [ -e "$BIN/$f" ] || { echo "bench.sh: $BIN/$f is missing; build first" >&2; exit 1; }
done

OUT=${BENCH_OUT:-$TARGET_DIR/bench/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: > "$RESULTS"
DIR=$(mktemp -d /tmp/sparekey-bench.XXXXXX)
chmod 755 "$DIR"
SK_PID=""
FR_PID=""
stop_sparekeyd() {
    if [ -n "$SK_PID" ]; then
        kill "$SK_PID" 2>/dev/null || true
        wait "$SK_PID" 2>/dev/null || true
        SK_PID=""
    fi
}
stop_freeradius() {
    if [ -n "$FR_PID" ]; then
        kill "$FR_PID" 2>/dev/null || true
        wait "$FR_PID" 2>/dev/null || true
        FR_PID=""
    fi
}
cleanup() {
    stop_sparekeyd
    stop_freeradius
    # (errexit: a kill of a process already gone must not end the cleanup)
    [ -n "${PG_NODE_PID:-}" ] && { kill "$PG_NODE_PID" 2>/dev/null || true; }
    [ -n "${PG_NODE2_PID:-}" ] && { kill "$PG_NODE2_PID" 2>/dev/null || true; }
    [ -n "${CH_PID:-}" ] && { kill "$CH_PID" 2>/dev/null || true; }
    [ -f "$DIR/pg/data/postmaster.pid" ] &&
        runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$DIR/pg/data" -m immediate stop >/dev/null 2>&1
    cp "$DIR/sparekeyd-pg.log" "$DIR/sparekeyd-pg-b.log" "$DIR/sparekeyd-challenge.log" "$OUT/" 2>/dev/null || true
    cp "$DIR/sparekeyd.log" "$OUT/" 2>/dev/null || true
    cp "$DIR/freeradius/log/radius.log" "$OUT/freeradius.log" 2>/dev/null || true
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        echo "bench.sh: kept $DIR"
    else
        rm -rf "$DIR"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the machine ------------------------------------------------------------------------
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "nproc: $(nproc)"
    echo "cpu: $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
    echo "kernel: $(uname -r)"
    echo "freeradius: $(freeradius -v 2>/dev/null | sed -n '1s/.*FreeRADIUS Version \([^,]*\).*/\1/p')"
    echo "rustc: $(rustc --version)"
    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "sparekeyd built: $(date -u -r "$BIN/sparekeyd" +%Y-%m-%dT%H:%M:%SZ)"
} | tee "$OUT/machine.txt"

# --- sparekeyd's site: config, policies, users and codes --------------------------------
say "setting up sparekeyd and FreeRADIUS in $DIR"
SECRET_FILE=$DIR/bench.secret
(umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$SECRET_FILE")
SECRET=$(cat "$SECRET_FILE")
cat > "$DIR/sparekey.toml" <<TOML
[store]
path = "state/sparekey.db"
key-file = "site.key"

[admin]
socket = "run/admin.sock"

[audit]
syslog = false

[radius]
listen = ["127.0.0.1:$SK_PORT"]

[[radius.client]]
name = "bench"
address = "127.0.0.1"
secret-file = "bench.secret"
service = "vpn"
TOML
list() { # list PREFIX N -> "P0", "P1", ...
    local out="" i
    for ((i = 0; i < $2; i++)); do out="$out\"$1$i\", "; done
    echo "${out%, }"
}
# Policy order matters (the first match decides and conf scans users lists in turn): the
# accept users first, the 1,000 wrong-code users last. "wrong" never locks anyone out
# (lockout after 1,000,000 failures within 1 s), so every wrong code there takes the full
# counted-failure path; "flood" locks its user out after 5, like the default.
cat > "$DIR/policy.toml" <<TOML
enabled = true
contact = "the benchmark"

[[policy]]
name = "bench"
users = [$(list u 100)]
services = ["vpn"]
default-lifetime = "1d"
lockout = { attempts = 5, window = "15m" }

[[policy]]
name = "flood"
users = ["victim"]
services = ["vpn"]
lockout = { attempts = 5, window = "15m" }

[[policy]]
name = "pam"
users = ["pamuser"]
services = ["sk-bench"]
lockout = { attempts = 5, window = "15m" }

[[policy]]
name = "wrong"
users = [$(list w 1000)]
services = ["vpn"]
lockout = { attempts = 1000000, window = "1s" }
TOML
# The PAM part reads the policy file above; the single-use and propagation users are there
# only until then.
cp "$DIR/policy.toml" "$DIR/policy-pam.toml"
cat >> "$DIR/policy.toml" <<TOML

[[policy]]
name = "once"
users = [$(list o 4000)]
services = ["vpn"]
lockout = { attempts = 1000000, window = "1s" }

[[policy]]
name = "propagation"
users = ["prop"]
services = ["vpn"]
lockout = { attempts = 5, window = "15m" }
TOML
"$BIN/sparekeyd" --check --config "$DIR/sparekey.toml" >/dev/null
FILL=("$BIN/sparekey-bench-fill")
"${FILL[@]}" issue --config "$DIR/sparekey.toml" --policy bench --prefix u --users 100 --out "$DIR/accept-codes.tsv"
"${FILL[@]}" issue --config "$DIR/sparekey.toml" --policy wrong --prefix w --users 1000 --out "$DIR/wrong-codes.tsv"
"${FILL[@]}" issue --config "$DIR/sparekey.toml" --policy flood --user victim --out "$DIR/victim-codes.tsv"
"${FILL[@]}" issue --config "$DIR/sparekey.toml" --policy pam --user pamuser --out "$DIR/pam-codes.tsv"
"${FILL[@]}" fill --config "$DIR/sparekey.toml" --total 1000

# 5 single-use codes for each of o0 .. o3999, round by round: the first round for sparekeyd
# on SQLite, the second for one node on PostgreSQL, the third and fourth for two nodes at
# once (users o0 .. o1999 through the first, o2000 .. o3999 through the second).
"${FILL[@]}" issue --config "$DIR/sparekey.toml" --policy once --prefix o --users 4000 \
    --codes-per-user 5 --single-use --out "$DIR/once-codes.tsv"
awk -F'\t' '{print $1"\t"$2"\taccept"}' "$DIR/once-codes.tsv" > "$DIR/once-all.tsv"
sed -n '1,4000p' "$DIR/once-all.tsv" > "$DIR/mix-once.tsv"
sed -n '4001,8000p' "$DIR/once-all.tsv" > "$DIR/mix-once-pg.tsv"
sed -n '8001,16000p' "$DIR/once-all.tsv" | awk -F'\t' 'substr($1, 2) + 0 < 2000' > "$DIR/mix-once-a.tsv"
sed -n '8001,16000p' "$DIR/once-all.tsv" | awk -F'\t' 'substr($1, 2) + 0 >= 2000' > "$DIR/mix-once-b.tsv"

# The mixes: the same lines for both servers.
WRONG_CODE=00000-00000
awk -F'\t' '{print $1"\t"$2"\taccept"}' "$DIR/accept-codes.tsv" > "$DIR/mix-accept.tsv"
awk -F'\t' -v c=$WRONG_CODE '{print $1"\t"c"\treject"}' "$DIR/wrong-codes.tsv" > "$DIR/mix-wrong.tsv"
for ((i = 0; i < 1000; i++)); do printf 'nobody%d\t12345-67890\treject\n' $i; done > "$DIR/mix-unknown.tsv"
printf 'victim\t%s\treject\n' $WRONG_CODE > "$DIR/mix-locked.tsv"

# FreeRADIUS: the same users with the same codes as Cleartext-Password.
cat "$DIR/accept-codes.tsv" "$DIR/wrong-codes.tsv" "$DIR/victim-codes.tsv" > "$DIR/fr-users.tsv"
scripts/bench-freeradius.sh "$DIR/freeradius" "$FR_PORT" "$SECRET" "$DIR/fr-users.tsv"

# --- the servers ------------------------------------------------------------------------
for port in "$SK_PORT" "$FR_PORT" $((FR_PORT + 1)) $((FR_PORT + 2)); do
    if ss -Hlun "sport = :$port" 2>/dev/null | grep -q .; then
        echo "bench.sh: UDP port $port is in use (another benchmark still running?); set BENCH_SK_PORT / BENCH_FR_PORT" >&2
        exit 1
    fi
done
# Waits until SERVER answers on PORT (one accepted request), or gives up after 10 s.
wait_ready() {
    local name=$1 port=$2 i
    for ((i = 0; i < 50; i++)); do
        if "$BIN/sparekey-bench" --server "127.0.0.1:$port" --secret-file "$SECRET_FILE" \
            --requests "$DIR/mix-accept.tsv" --count 1 --warmup 0 --sockets 1 --threads 1 \
            --window 1 --timeout-ms 200 --pool 256 --json 2>/dev/null | grep -q '"accepts":1,'; then
            return 0
        fi
        sleep 0.2
    done
    echo "bench.sh: $name does not answer on 127.0.0.1:$port; its log:" >&2
    cat "$DIR/$name.log" >&2 || true
    [ "$name" = freeradius ] && tail -20 "$DIR/freeradius/log/radius.log" >&2
    exit 1
}
start_sparekeyd() {
    "$BIN/sparekeyd" --config "$DIR/sparekey.toml" 2>>"$DIR/sparekeyd.log" &
    SK_PID=$!
    wait_ready sparekeyd "$SK_PORT"
}
start_freeradius() {
    freeradius -f -d "$DIR/freeradius" >"$DIR/freeradius.log" 2>&1 &
    FR_PID=$!
    wait_ready freeradius "$FR_PORT"
}
say "starting FreeRADIUS $(freeradius -v 2>/dev/null | sed -n '1s/.*FreeRADIUS Version \([^,]*\).*/\1/p') on 127.0.0.1:$FR_PORT and sparekeyd on 127.0.0.1:$SK_PORT"
start_freeradius
start_sparekeyd

CHECK_FAILED=0
# sparekeyd replays replies to retransmits for 5 s and holds at most 65,536 of them per
# socket: each run on sparekeyd starts 5.5 s after the previous one ended, so that it starts
# with an empty duplicate cache whatever the previous run left.
SK_LAST_END=0
quiet_gap() {
    python3 -c "import time,sys; time.sleep(max(0.0, 5.5 - (time.time() - float(sys.argv[1]))))" "$SK_LAST_END"
}
# run SERVER MIX LABEL [generator arguments...]: one measurement, appended to $RESULTS.
run() {
    local server=$1 mix=$2 label=$3 port pid rc=0
    shift 3
    case $server in
        sparekeyd) port=$SK_PORT pid=$SK_PID; quiet_gap ;;
        sparekeyd-pg) port=$PG_NODE_PORT pid=$PG_NODE_PID ;;
        sparekeyd-pg-b) port=$PG_NODE2_PORT pid=$PG_NODE2_PID ;;
        freeradius) port=$FR_PORT pid=$FR_PID ;;
    esac
    "$BIN/sparekey-bench" --server "127.0.0.1:$port" --secret-file "$SECRET_FILE" \
        --requests "$DIR/mix-$mix.tsv" --server-pid "$pid" --label "$label" --jsonl "$RESULTS" \
        "${GEN_ARGS[@]}" --warmup "$WARMUP" "$@" || rc=$?
    [ "$server" = sparekeyd ] && SK_LAST_END=$(date +%s.%N)
    case $rc in
        0) ;;
        3) CHECK_FAILED=1 ;;
        *) echo "bench.sh: the generator failed ($rc)" >&2; exit "$rc" ;;
    esac
}
# field PHASE/SERVER/MIX KEY: a number from the results.
field() {
    python3 -c 'import json,sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["label"] == sys.argv[2]: v = r[sys.argv[3]]
print(v)' "$RESULTS" "$1" "$2"
}

say "locking out the flood's victim on sparekeyd (5 wrong codes)"
run sparekeyd locked setup/sparekeyd/lock --count 10 --warmup 0 >/dev/null

say "throughput: each mix, both servers, ${DURATION}s each after ${WARMUP}s of warm-up"
for mix in accept wrong unknown locked; do
    for server in freeradius sparekeyd; do
        run "$server" "$mix" "base/$server/$mix" --duration "$DURATION"
    done
done
# Every single-use code once, 32 in flight (ONCE_ARGS override GEN_ARGS).
ONCE_ARGS=(--each-once --sockets 1 --window 32)
say "single-use redemptions on sparekeyd (SQLite): 4,000 codes, each sent once"
run sparekeyd once base/sparekeyd/once "${ONCE_ARGS[@]}"

PGBIN=/usr/lib/postgresql/15/bin
if [ "${BENCH_SKIP_PG:-0}" != 1 ] && [ -x "$PGBIN/initdb" ]; then
    # The same mixes on a sparekeyd whose store is in PostgreSQL (issue 14): a private
    # cluster on loopback (as the postgres user; initdb refuses root), the bench's store
    # imported into it, one node on a port of its own.
    say "PostgreSQL: the same mixes on sparekeyd with its store in a PostgreSQL 15 cluster on loopback"
    PG=$DIR/pg
    PG_PORT=$((SK_PORT + 5))
    PG_NODE_PORT=$((SK_PORT + 6))
    mkdir -p "$PG" && chown postgres "$PG" && chmod 700 "$PG"
    runuser -u postgres -- "$PGBIN/initdb" -D "$PG/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 >"$PG/initdb.log"
    printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\nsynchronous_commit = on\n" "$PG_PORT" "$PG" >>"$PG/data/postgresql.conf"
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PG/data" -l "$PG/server.log" -w start >/dev/null
    PG_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
    runuser -u postgres -- psql -h "$PG" -p "$PG_PORT" -U postgres -q -c "CREATE ROLE sparekey LOGIN PASSWORD '$PG_PASSWORD'" -c "CREATE DATABASE sparekey OWNER sparekey"
    mkdir -p "$DIR/pg-node"
    (umask 077; echo "$PG_PASSWORD" >"$DIR/pg-node/db.password")
    sed -e "s|^path = \"state/sparekey.db\"|backend = \"postgresql\"\nurl = \"postgresql://sparekey@127.0.0.1:$PG_PORT/sparekey\"\npassword-file = \"db.password\"\npath = \"state/node.db\"|" \
        -e "s|^key-file = \"site.key\"|key-file = \"$DIR/site.key\"|" \
        -e "s|^socket = \"run/admin.sock\"|socket = \"run/admin.sock\"|" \
        -e "s|127.0.0.1:$SK_PORT|127.0.0.1:$PG_NODE_PORT|" \
        -e "s|^secret-file = \"bench.secret\"|secret-file = \"$SECRET_FILE\"|" \
        "$DIR/sparekey.toml" >"$DIR/pg-node/sparekey.toml"
    cp "$DIR/policy.toml" "$DIR/pg-node/policy.toml"
    chmod 600 "$DIR/pg-node/sparekey.toml" "$DIR/pg-node/policy.toml"
    stop_sparekeyd
    "$BIN/sparekeyd" --config "$DIR/pg-node/sparekey.toml" --import-sqlite "$DIR/state/sparekey.db"
    start_sparekeyd
    "$BIN/sparekeyd" --config "$DIR/pg-node/sparekey.toml" 2>>"$DIR/sparekeyd-pg.log" &
    PG_NODE_PID=$!
    wait_ready sparekeyd-pg "$PG_NODE_PORT"
    for mix in accept wrong unknown locked; do
        run sparekeyd-pg "$mix" "base/sparekeyd-pg/$mix" --duration "$DURATION"
    done
    run sparekeyd-pg once-pg base/sparekeyd-pg/once "${ONCE_ARGS[@]}"

    say "PostgreSQL: a second node on the same database; single-use codes through both at once"
    PG_NODE2_PORT=$((SK_PORT + 7))
    mkdir -p "$DIR/pg-node2"
    cp "$DIR/pg-node/db.password" "$DIR/pg-node/policy.toml" "$DIR/pg-node2/"
    sed -e "s|127.0.0.1:$PG_NODE_PORT|127.0.0.1:$PG_NODE2_PORT|" "$DIR/pg-node/sparekey.toml" >"$DIR/pg-node2/sparekey.toml"
    chmod 600 "$DIR/pg-node2/"*
    "$BIN/sparekeyd" --config "$DIR/pg-node2/sparekey.toml" 2>>"$DIR/sparekeyd-pg-b.log" &
    PG_NODE2_PID=$!
    wait_ready sparekeyd-pg-b "$PG_NODE2_PORT"
    "$BIN/sparekey-bench" --server "127.0.0.1:$PG_NODE_PORT" --secret-file "$SECRET_FILE" \
        --requests "$DIR/mix-once-a.tsv" --server-pid "$PG_NODE_PID" --label twonodes/sparekeyd-pg/once \
        --jsonl "$RESULTS" "${GEN_ARGS[@]}" "${ONCE_ARGS[@]}" > "$DIR/once-a.txt" &
    ONCE_A=$!
    run sparekeyd-pg-b once-b twonodes/sparekeyd-pg-b/once "${ONCE_ARGS[@]}"
    wait "$ONCE_A" || CHECK_FAILED=1
    cat "$DIR/once-a.txt"

    say "PostgreSQL: issue, lockout, unlock and revoke through one node, seen at the other (20 trials)"
    "$BIN/sparekey-bench-propagation" --ctl "$BIN/sparekeyctl" --ctl-config "$DIR/pg-node/sparekey.toml" \
        --via "127.0.0.1:$PG_NODE_PORT" --to "127.0.0.1:$PG_NODE2_PORT" --secret-file "$SECRET_FILE" \
        --user prop --trials 20 --label propagation/pg --jsonl "$RESULTS" || CHECK_FAILED=1
    kill "$PG_NODE2_PID" "$PG_NODE_PID" 2>/dev/null || true
    wait "$PG_NODE2_PID" 2>/dev/null || true
    wait "$PG_NODE_PID" 2>/dev/null || true
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PG/data" -m fast stop >/dev/null || true
fi

say "capacity: 50,000 accepts in one burst (below sparekeyd's duplicate-cache limit of 65,536 replies per 5 s)"
for server in freeradius sparekeyd; do
    run "$server" accept "burst/$server/accept" --count 50000 --warmup 0
done

if [ "${BENCH_SKIP_SCALE:-0}" != 1 ]; then
    say "scale: sparekeyd with 1,000 credentials, 5,000/s, at most 8 in flight"
    for mix in accept wrong unknown locked; do
        run sparekeyd "$mix" "scale1k/sparekeyd/$mix" --duration "$DURATION" "${SCALE_ARGS[@]}"
    done
fi

say "latency at 80% of each server's peak accept rate"
for server in sparekeyd freeradius; do
    peak=$(field "base/$server/accept" requests_per_s)
    rate=$(python3 -c "print(max(100, round(0.8 * $peak)))")
    run "$server" accept "rate80/$server/accept" --rate "$rate" --window 128 --duration $((DURATION * 2))
done

say "lockout flood: accepts of other users alone, then during floods of wrong codes for the locked-out victim"
peak=$(field base/sparekeyd/accept requests_per_s)
locked_peak=$(field base/sparekeyd/locked requests_per_s)
accept_rate=$(python3 -c "print(max(100, round(0.2 * $peak)))")
run sparekeyd accept floodbase/sparekeyd/accept --rate "$accept_rate" --window 64 --duration "$DURATION"
# Two flood rates: a quarter of the locked-out peak, which this machine's two cores carry
# with both generators running, and half of it, which saturates them.
for pct in 25 50; do
    flood_rate=$(python3 -c "print(max(100, round($pct / 100 * $locked_peak)))")
    quiet_gap
    "$BIN/sparekey-bench" --server "127.0.0.1:$SK_PORT" --secret-file "$SECRET_FILE" \
        --requests "$DIR/mix-locked.tsv" --server-pid "$SK_PID" --label "flood$pct/sparekeyd/locked" \
        --jsonl "$RESULTS" "${GEN_ARGS[@]}" --window 64 --rate "$flood_rate" --warmup 1 \
        --duration $((DURATION + 2)) > "$DIR/flood.txt" &
    FLOOD=$!
    sleep 2
    SK_LAST_END=0 # the flood runs on: no gap before these accepts
    run sparekeyd accept "floodaccept$pct/sparekeyd/accept" --rate "$accept_rate" --window 64 --duration "$DURATION" --warmup 0
    wait "$FLOOD" || CHECK_FAILED=1
    SK_LAST_END=$(date +%s.%N)
    cat "$DIR/flood.txt"
done
stop_freeradius

MULTIARCH=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
SEC=/usr/lib/$MULTIARCH/security
[ -f "$SEC/pam_permit.so" ] || SEC=/lib/$MULTIARCH/security
WRAPPER=/usr/lib/$MULTIARCH/libpam_wrapper.so

if [ "${BENCH_SKIP_CHALLENGE:-0}" != 1 ]; then
    # Issue 15: a second sparekeyd (a store of its own) whose client is in challenge mode, its
    # password check a PAM service of pam_permit (under pam_wrapper), so that what is
    # measured is sparekeyd's two rounds and its PAM worker, not a password database.
    say "challenge mode: logins of two rounds (password through PAM, pam_permit; then the code with the State)"
    CH=$DIR/challenge
    CH_PORT=$((SK_PORT + 8))
    mkdir -p "$CH/pam"
    printf 'auth required %s/pam_permit.so\naccount required %s/pam_permit.so\n' "$SEC" "$SEC" >"$CH/pam/sk-bench-primary"
    printf 'auth required %s/pam_deny.so\n' "$SEC" >"$CH/pam/other"
    sed -e "s|^path = \"state/sparekey.db\"|path = \"$CH/state/sparekey.db\"|" \
        -e "s|^key-file = \"site.key\"|key-file = \"$DIR/site.key\"|" \
        -e "s|^socket = \"run/admin.sock\"|socket = \"$CH/admin.sock\"|" \
        -e "s|127.0.0.1:$SK_PORT|127.0.0.1:$CH_PORT|" \
        -e "s|^secret-file = \"bench.secret\"|secret-file = \"$SECRET_FILE\"|" \
        -e "s|^service = \"vpn\"|service = \"vpn\"\nmode = \"challenge\"\nprimary-pam-service = \"sk-bench-primary\"|" \
        "$DIR/sparekey.toml" >"$CH/sparekey.toml"
    cp "$DIR/policy.toml" "$CH/policy.toml"
    chmod 600 "$CH/sparekey.toml" "$CH/policy.toml"
    # A store of its own (one sparekeyd per store), with codes for u0 .. u99.
    "${FILL[@]}" issue --config "$CH/sparekey.toml" --policy bench --prefix u --users 100 --out "$CH/codes.tsv"
    LD_PRELOAD=$WRAPPER PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR=$CH/pam \
        "$BIN/sparekeyd" --config "$CH/sparekey.toml" 2>>"$DIR/sparekeyd-challenge.log" &
    CH_PID=$!
    CHALLENGE=("$BIN/sparekey-bench-challenge" --server "127.0.0.1:$CH_PORT" --secret-file "$SECRET_FILE" --codes "$CH/codes.tsv")
    for ((i = 0; i < 50; i++)); do
        "${CHALLENGE[@]}" --threads 1 --duration 0.05 --label ready/x/x >/dev/null 2>&1 && break
        sleep 0.2
    done
    "${CHALLENGE[@]}" --threads 8 --duration "$DURATION" --server-pid "$CH_PID" \
        --label challenge/sparekeyd/login --jsonl "$RESULTS" || CHECK_FAILED=1
    kill "$CH_PID" 2>/dev/null || true
    wait "$CH_PID" 2>/dev/null || true
    CH_PID=""
fi

if [ "${BENCH_SKIP_PAM:-0}" != 1 ] || [ "${BENCH_SKIP_SCALE:-0}" != 1 ]; then
    stop_sparekeyd
    cp "$DIR/policy-pam.toml" "$DIR/policy.toml"
    say "filling the store to 100,000 credentials"
    "${FILL[@]}" fill --config "$DIR/sparekey.toml" --total 100000
fi

if [ "${BENCH_SKIP_PAM:-0}" != 1 ]; then
    say "PAM: pam_start + pam_authenticate + pam_end, pam_sparekey against pam_permit, under pam_wrapper"
    MULTIARCH=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
    SEC=/usr/lib/$MULTIARCH/security
    [ -f "$SEC/pam_permit.so" ] || SEC=/lib/$MULTIARCH/security
    WRAPPER=/usr/lib/$MULTIARCH/libpam_wrapper.so
    # The same store and key under a second sparekey.toml whose policy file is what a site
    # typically has (a few policies by group, 1 KB), beside the benchmark's own (1,102 users
    # listed by name, 9 KB): parsing it is part of every authentication.
    mkdir -p "$DIR/typical"
    cat > "$DIR/typical/sparekey.toml" <<TOML
[store]
path = "$DIR/state/sparekey.db"
key-file = "$DIR/site.key"

[audit]
syslog = false
TOML
    cat > "$DIR/typical/policy.toml" <<TOML
enabled = true
contact = "IT helpdesk, ext. 4357"

[[policy]]
name = "staff"
groups = ["staff"]
services = ["sshd", "login", "vpn"]
kinds = ["temporary"]
default-lifetime = "1d"
lockout = { attempts = 5, window = "15m" }

[[policy]]
name = "contractors"
groups = ["contractors"]
services = ["vpn"]
max-lifetime = "2d"
lockout = { attempts = 3, window = "30m" }

[[policy]]
name = "pam"
users = ["pamuser"]
services = ["sk-bench"]
lockout = { attempts = 5, window = "15m" }
TOML
    mkdir -p "$DIR/pam.d"
    echo "auth required $SEC/pam_deny.so" > "$DIR/pam.d/other"
    echo "auth required $BIN/libpam_sparekey.so config=$DIR/sparekey.toml" > "$DIR/pam.d/sk-bench"
    echo "auth required $BIN/libpam_sparekey.so config=$DIR/typical/sparekey.toml service=sk-bench" > "$DIR/pam.d/sk-typical"
    echo "auth required $SEC/pam_permit.so" > "$DIR/pam.d/permit-bench"
    PAM_CODE=$(cut -f2 "$DIR/pam-codes.tsv")
    PAM_RESULTS=$OUT/pam.jsonl
    : > "$PAM_RESULTS"
    pam_bench() { # pam_bench SERVICE LABEL [arguments...]
        local service=$1 label=$2
        shift 2
        LD_PRELOAD=$WRAPPER PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR=$DIR/pam.d \
            "$BIN/sparekey-pam-bench" --service "$service" --baseline permit-bench --user pamuser \
            --code "$PAM_CODE" --label "$label" --json "$@" >> "$PAM_RESULTS"
    }
    # A single host runs sparekeyd beside the PAM module (DESIGN.md section 10); sparekeyd
    # holds the store open, which keeps SQLite's WAL index alive for the logins. Then the
    # same without it, as on a host that uses PAM only.
    start_sparekeyd
    pam_bench sk-bench "the benchmark's (9 KB, 1,102 users by name)" --iterations "${BENCH_PAM_ITERATIONS:-1000}"
    pam_bench sk-typical "typical (1 KB, 3 policies, groups)" --iterations "${BENCH_PAM_ITERATIONS:-1000}"
    stop_sparekeyd
    pam_bench sk-bench "the benchmark's, no sparekeyd running" --iterations "${BENCH_PAM_ITERATIONS:-1000}"
    pam_bench sk-typical "typical, no sparekeyd running" --iterations "${BENCH_PAM_ITERATIONS:-1000}"
    # The first authentication of a process loads the module (sshd, login and sudo
    # authenticate once per process).
    for ((i = 0; i < 30; i++)); do
        pam_bench sk-typical "cold typical policy" --iterations 1 --warmup 0
    done

    # Member mode (DESIGN.md section 10): a site of its own (sparekeyd with its store, a
    # member-hosts client on loopback) and a host that asks it over RADIUS: a probe, then
    # the code, two round trips per login. The host's policy file is the typical one.
    say "PAM in member mode: the host asks a site on loopback"
    MEMBER=$DIR/member
    MEMBER_PORT=$((SK_PORT + 3))
    mkdir -p "$MEMBER/host"
    cat > "$MEMBER/sparekey.toml" <<TOML
[store]
path = "state/sparekey.db"
key-file = "site.key"

[admin]
socket = "run/admin.sock"

[audit]
syslog = false

[radius]
listen = ["127.0.0.1:$MEMBER_PORT"]

[[radius.client]]
name = "members"
address = "127.0.0.1"
member-hosts = true
TOML
    cp "$DIR/typical/policy.toml" "$MEMBER/policy.toml"
    cat > "$MEMBER/host/sparekey.toml" <<TOML
[store]
path = "ledger.db"

[audit]
syslog = false

[site]
servers = ["127.0.0.1:$MEMBER_PORT"]
host-file = "host.key"
TOML
    cp "$DIR/typical/policy.toml" "$MEMBER/host/policy.toml"
    chmod 600 "$MEMBER/sparekey.toml" "$MEMBER/policy.toml" "$MEMBER/host/sparekey.toml" "$MEMBER/host/policy.toml"
    "$BIN/sparekeyd" --config "$MEMBER/sparekey.toml" 2>>"$DIR/member-sparekeyd.log" &
    MEMBER_PID=$!
    for ((i = 0; i < 100; i++)); do
        [ -S "$MEMBER/run/admin.sock" ] && break
        sleep 0.1
    done
    CTL=("$BIN/sparekeyctl" --socket "$MEMBER/run/admin.sock")
    "${CTL[@]}" host enroll bench-host --out "$MEMBER/host/host.key" >/dev/null
    MEMBER_CODE=$("${CTL[@]}" --json issue pamuser --multi --service sk-bench | sed -n 's/.*"code":"\([^"]*\)".*/\1/p')
    echo "auth required $BIN/libpam_sparekey.so config=$MEMBER/host/sparekey.toml service=sk-bench" > "$DIR/pam.d/sk-member"
    LD_PRELOAD=$WRAPPER PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR=$DIR/pam.d \
        "$BIN/sparekey-pam-bench" --service sk-member --baseline permit-bench --user pamuser \
        --code "$MEMBER_CODE" --label "member mode, site on loopback (typical policy)" --json \
        --iterations "${BENCH_PAM_ITERATIONS:-1000}" >> "$PAM_RESULTS"
    kill "$MEMBER_PID" 2>/dev/null || true
    wait "$MEMBER_PID" 2>/dev/null || true
    head -2 "$PAM_RESULTS"
fi

if [ "${BENCH_SKIP_SCALE:-0}" != 1 ]; then
    say "scale: filling the store to 1,000,000 credentials"
    "${FILL[@]}" fill --config "$DIR/sparekey.toml" --total 1000000
    start_sparekeyd
    say "scale: sparekeyd with 1,000,000 credentials, 5,000/s, at most 8 in flight"
    for mix in accept wrong unknown locked; do
        run sparekeyd "$mix" "scale1m/sparekeyd/$mix" --duration "$DURATION" "${SCALE_ARGS[@]}"
    done
fi
stop_sparekeyd

echo
python3 scripts/bench_table.py "$RESULTS" "$OUT/pam.jsonl" | tee "$OUT/table.txt"
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"
echo "results: $OUT ($(cd "$OUT" && ls | tr '\n' ' ' | sed 's/ $//')); took $(( $(date +%s) - STARTED )) s"
if [ "$CHECK_FAILED" = 1 ]; then
    echo "bench.sh: some replies failed their checks (see the lines above)" >&2
    exit 3
fi
