#!/bin/sh
# Installs what building and testing sparekey needs on Debian 12 (run as root).
# Rust itself comes from rustup (Debian 12's rustc is too old); see README.md.
set -eu
PACKAGES="build-essential pkg-config libpam0g-dev libssl-dev libpam-wrapper libnss-wrapper pamtester freeradius freeradius-utils libpam-radius-auth sqlite3 util-linux postgresql-15 openssl"
missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "deps.sh: missing Debian packages:$missing; run as root or: sudo apt-get install$missing" >&2
        exit 1
    fi
    echo "deps.sh: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    # The tests start PostgreSQL clusters of their own; the package's default one is not
    # wanted (nor started) on a build machine.
    if ! dpkg-query -W -f='${Status}' postgresql-common 2>/dev/null | grep -q "install ok installed"; then
        mkdir -p /etc/postgresql-common
        grep -qs '^create_main_cluster' /etc/postgresql-common/createcluster.conf ||
            echo "create_main_cluster = false" >>/etc/postgresql-common/createcluster.conf
    fi
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends $missing >/dev/null
    # The tests start FreeRADIUS instances of their own on loopback ports; the package's
    # system service (on 1812 and 1813, where systemd starts it) is not wanted.
    case " $missing " in *" freeradius "*)
        if command -v systemctl >/dev/null 2>&1 && systemctl is-active -q freeradius 2>/dev/null; then
            systemctl disable --now freeradius >/dev/null 2>&1 || true
        fi ;;
    esac
fi
if ! command -v cargo >/dev/null 2>&1; then
    for c in "$HOME/.cargo/bin/cargo" /usr/local/cargo/bin/cargo; do
        [ -x "$c" ] && PATH="$(dirname "$c"):$PATH" && export PATH && break
    done
fi
command -v cargo >/dev/null 2>&1 || {
    echo "deps.sh: cargo not found; install Rust 1.85 or newer with rustup (https://rustup.rs), then run this again" >&2
    exit 1
}
