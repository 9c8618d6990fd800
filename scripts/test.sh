#!/bin/sh
# Runs sparekey's whole test suite: formatting, lints, unit tests and the end-to-end tests
# that drive the real sparekeyd, sparekeyctl, libpam (pam_wrapper) and radclient.
set -eu
cd "$(dirname "$0")/.."
. scripts/deps.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
echo "test.sh: all tests passed"
