#!/bin/sh
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 30, what CI runs), starting
# from the committed seeds in fuzz/seeds/TARGET and growing a throwaway corpus, and fails if
# any target crashes, panics (a broken invariant), hangs or runs out of memory. The input
# that did it is kept in fuzz/artifacts/TARGET/ and named on stderr with the command that
# replays it. Run them longer with, e.g., scripts/fuzz.sh 3600.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]
# FUZZ_FLAGS, if set, is added to every target's libFuzzer flags (e.g. FUZZ_FLAGS=-fork=2,
# or FUZZ_FLAGS=-detect_leaks=0 where LeakSanitizer cannot run, as under some ptrace limits).
#
# Needs cargo (rustup's stable toolchain is enough) and a C++ compiler, with which
# libfuzzer-sys builds libFuzzer: on Debian, build-essential, installed here when run as
# root (scripts/deps.sh installs it too). Installs cargo-fuzz into ~/.cargo/bin the first
# time (from crates.io, about a minute). The first build takes about two minutes; later
# ones reuse fuzz/target.
set -eu
cd "$(dirname "$0")/.."

usage="usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 30)"
seconds=${1:-30}
case $seconds in
    '' | *[!0-9]* | 0) echo "$usage" >&2; exit 2 ;;
esac
[ $# -le 1 ] || { echo "$usage" >&2; exit 2; }

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    PATH="$HOME/.cargo/bin:$PATH"
    export PATH
fi
command -v cargo >/dev/null 2>&1 || {
    echo "fuzz.sh: cargo not found; install Rust with rustup (https://rustup.rs), then run this again" >&2
    exit 1
}
if ! command -v "${CXX:-c++}" >/dev/null 2>&1; then
    # libfuzzer-sys compiles libFuzzer, which is C++.
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "fuzz.sh: no C++ compiler; install one (Debian: sudo apt-get install build-essential)" >&2
        exit 1
    fi
    echo "fuzz.sh: installing build-essential (a C++ compiler, for libFuzzer)"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends build-essential >/dev/null
fi

CARGO_FUZZ_VERSION=0.13.2
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz $CARGO_FUZZ_VERSION into ~/.cargo/bin"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

# cargo-fuzz builds the targets with AddressSanitizer, which rustc accepts only as the
# unstable flag -Zsanitizer=address, and CI (like a machine set up from README.md) has only
# a stable toolchain. RUSTC_BOOTSTRAP=1 lets stable rustc take unstable flags. It is set for
# this script's builds, in their own target directory (fuzz/target), and nothing they make
# is shipped. (`cargo fuzz build --sanitizer none` needs no unstable flag, but finds less.)
RUSTC_BOOTSTRAP=1
export RUSTC_BOOTSTRAP

# fuzz/Cargo.lock is the fuzz crate's own; cargo-fuzz has no --locked, so check it here
# rather than let the build rewrite it.
cargo fetch --locked --manifest-path fuzz/Cargo.toml || {
    echo "fuzz.sh: fuzz/Cargo.lock is out of date (did a dependency of a fuzzed crate change?);" \
        "update it with: cargo fetch --manifest-path fuzz/Cargo.toml, and commit it" >&2
    exit 1
}
echo "fuzz.sh: building the fuzz targets (AddressSanitizer)"
cargo fuzz build
targets=$(cargo fuzz list)

work=$(mktemp -d "${TMPDIR:-/tmp}/sparekey-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
mkdir "$work/tmp"

failed=""
for target in $targets; do
    corpus="$work/corpus/$target"
    mkdir -p "$corpus"
    seeds="fuzz/seeds/$target"
    [ -d "$seeds" ] || seeds=""
    log="$work/$target.log"
    touch "$work/started"
    echo "fuzz.sh: $target: fuzzing for ${seconds}s from ${seeds:-no seeds}"
    # libFuzzer adds what it finds to the first corpus directory (the throwaway one); the
    # seeds are only read. TMPDIR: daemon_config's private directory goes in $work too.
    # Standard input is /dev/null so that nothing a target opens can wait on a terminal.
    # shellcheck disable=SC2086 # FUZZ_FLAGS is a list of flags
    if TMPDIR="$work/tmp" cargo fuzz run "$target" "$corpus" ${seeds:+"$seeds"} -- \
        -max_total_time="$seconds" -timeout=20 -print_final_stats=1 ${FUZZ_FLAGS:-} \
        </dev/null >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
        cov=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 |
            sed 's/^#[0-9]*[[:space:]]*DONE[[:space:]]*//; s/[[:space:]]*lim:.*exec/ exec/')
        echo "fuzz.sh: $target: ok, ${runs:-?} inputs, $(ls "$corpus" | wc -l) new in the corpus; $cov"
    else
        failed="$failed $target"
        mkdir -p "fuzz/artifacts/$target"
        cp "$log" "fuzz/artifacts/$target/failure.log"
        echo "fuzz.sh: $target FAILED (whole log: fuzz/artifacts/$target/failure.log):" >&2
        grep -E -A2 'panicked at|==[0-9]+==ERROR|^SUMMARY:|^Base64:' "$log" >&2 || tail -n 40 "$log" >&2
        found=$(find "fuzz/artifacts/$target" -type f ! -name failure.log -newer "$work/started")
        for artifact in $found; do
            echo "fuzz.sh: $target: the input is kept in $artifact; replay it with:" \
                "RUSTC_BOOTSTRAP=1 cargo fuzz run $target $artifact" >&2
        done
        [ -n "$found" ] || echo "fuzz.sh: $target: no input was kept (the log above says why)" >&2
    fi
done

if [ -n "$failed" ]; then
    echo "fuzz.sh: failed:$failed" >&2
    exit 1
fi
echo "fuzz.sh: every target ran ${seconds}s without a finding:" $targets
