#!/bin/sh
# Builds the Debian packages (debian/) and tests them: lintian, their contents and
# modes, the shipped configuration through `sparekeyd --check`, the unit through
# `systemd-analyze verify`, and the maintainer scripts (install, pam-auth-update, a
# real PAM login with a code, reinstall, remove, purge) in a throwaway Debian 12 root
# made with debootstrap. That root is also booted with systemd-nspawn, to check
# sparekeyd.service as systemd runs it (readiness, capabilities, sandbox, reload).
#
# It never touches this machine's /etc or PAM configuration: packages are built in a
# copy of the tree and installed only inside the root (chroot, systemd-nspawn), and the
# script runs in a private mount namespace, so its mounts vanish when it ends. On this
# machine it only installs the Debian packages it needs (debhelper, lintian, ...).
#
# Needs root and the network to Debian's archive (debootstrap, the first time) and to
# crates.io. Work files: $SPAREKEY_PKG_WORK (default /var/tmp/sparekey-packages); the
# cargo target directory and the debootstrap root are kept there between runs.
# SPAREKEY_PKG_NO_BOOT=1 skips the systemd-nspawn stage.
# Takes about 6 minutes the first time on 2 cores (release build, debootstrap), and
# about 1 to 2 minutes after that.
set -eu

if [ "$(id -u)" != 0 ]; then
    echo "test-packages.sh: needs root (debootstrap, chroot)" >&2
    exit 1
fi
if [ -z "${SPAREKEY_PKG_NS:-}" ]; then
    SPAREKEY_PKG_NS=1 exec unshare --mount --propagation private "$0" "$@"
fi

cd "$(dirname "$0")/.."
TREE=$(pwd)
export DEBIAN_FRONTEND=noninteractive
WORK=${SPAREKEY_PKG_WORK:-/var/tmp/sparekey-packages}
MIRROR=${SPAREKEY_DEBIAN_MIRROR:-http://deb.debian.org/debian}
START=$(date +%s)
PASSED=0
FAILED=0

DAEMON=""
NOTIFY_PID=""
# The processes this script starts end with it.
trap 'for p in $DAEMON $NOTIFY_PID; do kill "$p" 2>/dev/null || true; done' EXIT
say() { echo "test-packages: $*"; }
pass() { PASSED=$((PASSED + 1)); echo "  ok: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "  FAILED: $*"; }
check() { # check DESCRIPTION COMMAND...
    what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

# --- what the build and the test need ---------------------------------------------
. scripts/deps.sh
missing=""
for p in debhelper pandoc lintian debootstrap dpkg-dev libpam0g-dev libssl-dev pkg-config systemd-container; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
if [ -n "$missing" ]; then
    say "installing$missing"
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends $missing >/dev/null
fi

# --- build, in a copy of the tree so that no file appears in it or beside it --------
mkdir -p "$WORK"
rm -rf "$WORK/src" "$WORK/out" "$WORK"/*.deb "$WORK"/*.changes "$WORK"/*.buildinfo
mkdir -p "$WORK/src" "$WORK/out"
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$WORK/src"
say "building the packages (log: $WORK/out/build.log)"
if ! (cd "$WORK/src" && CARGO_TARGET_DIR="$WORK/target" dpkg-buildpackage -b -us -uc) >"$WORK/out/build.log" 2>&1; then
    tail -40 "$WORK/out/build.log"
    say "dpkg-buildpackage failed"
    exit 1
fi
mv "$WORK"/*.deb "$WORK"/*.changes "$WORK"/*.buildinfo "$WORK/out/"
VERSION=$(dpkg-parsechangelog -l "$TREE/debian/changelog" -S Version)
ARCH=$(dpkg --print-architecture)
MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
DEB="$WORK/out/sparekey_${VERSION}_${ARCH}.deb"
PAMDEB="$WORK/out/libpam-sparekey_${VERSION}_${ARCH}.deb"
say "built $(basename "$DEB") and $(basename "$PAMDEB") in $(($(date +%s) - START)) s"

# --- lintian ----------------------------------------------------------------------
say "lintian"
if lintian --fail-on error,warning "$WORK/out/sparekey_${VERSION}_${ARCH}.changes" >"$WORK/out/lintian.log" 2>&1; then
    pass "lintian: no errors or warnings that debian/*.lintian-overrides does not explain"
else
    cat "$WORK/out/lintian.log"
    fail "lintian"
fi

# --- contents, modes and control fields -------------------------------------------
say "contents and modes"
contents() { dpkg-deb -c "$1" | awk '{print $1, $2, $6}'; }
has_entry() { # has_entry DEB "MODE OWNER PATH"
    contents "$1" | grep -qxF -- "$2"
}
for entry in \
    "-rwxr-xr-x root/root ./usr/sbin/sparekeyd" \
    "-rwxr-xr-x root/root ./usr/bin/sparekeyctl" \
    "-rw-r----- root/root ./etc/sparekey/sparekey.toml" \
    "-rw-r----- root/root ./etc/sparekey/policy.toml" \
    "-rw-r--r-- root/root ./etc/pam.d/sparekey-radius" \
    "-rw-r--r-- root/root ./lib/systemd/system/sparekeyd.service" \
    "-rw-r--r-- root/root ./usr/share/man/man8/sparekeyd.8.gz" \
    "-rw-r--r-- root/root ./usr/share/man/man8/sparekeyctl.8.gz" \
    "-rw-r--r-- root/root ./usr/share/man/man5/sparekey.toml.5.gz" \
    "-rw-r--r-- root/root ./usr/share/man/man5/sparekey-policy.toml.5.gz" \
    "-rw-r--r-- root/root ./usr/share/doc/sparekey/README.Debian"; do
    check "sparekey: $entry" has_entry "$DEB" "$entry"
done
# dh_compress gzips the larger pages, so only the start of each name is matched.
check "sparekey: the README and the administrator's guide (docs/guide)" \
    sh -c "dpkg-deb -c '$DEB' | grep -q ' \./usr/share/doc/sparekey/README\.md' && dpkg-deb -c '$DEB' | grep -q ' \./usr/share/doc/sparekey/guide/01-installing\.md'"
for entry in \
    "-rw-r--r-- root/root ./usr/lib/$MULTIARCH/security/pam_sparekey.so" \
    "-rw-r--r-- root/root ./usr/share/pam-configs/sparekey" \
    "-rw-r--r-- root/root ./usr/share/man/man8/pam_sparekey.8.gz"; do
    check "libpam-sparekey: $entry" has_entry "$PAMDEB" "$entry"
done
for deb in "$DEB" "$PAMDEB"; do
    check "$(basename "$deb"): every file is root's" \
        sh -c "dpkg-deb -c '$deb' | awk '\$2 != \"root/root\" {exit 1}'"
    check "$(basename "$deb"): nothing is setuid, setgid or world-writable" \
        sh -c "dpkg-deb -c '$deb' | awk '\$1 !~ /^l/ && (substr(\$1,4,1) ~ /[sS]/ || substr(\$1,7,1) ~ /[sS]/ || substr(\$1,9,1) == \"w\") {exit 1}'"
done
check "sparekey: both TOML files and the PAM service sparekey-radius are conffiles" \
    sh -c "[ \"\$(dpkg-deb --ctrl-tarfile '$DEB' | tar -xOf - ./conffiles | sort | tr '\n' ' ')\" = '/etc/pam.d/sparekey-radius /etc/sparekey/policy.toml /etc/sparekey/sparekey.toml ' ]"
check "libpam-sparekey depends on the same version of sparekey" \
    sh -c "dpkg-deb -f '$PAMDEB' Depends | grep -qF 'sparekey (= $VERSION)'"
check "sparekey depends on adduser and procps (addgroup, /bin/kill)" \
    sh -c "dpkg-deb -f '$DEB' Depends | grep -q 'adduser' && dpkg-deb -f '$DEB' Depends | grep -q 'procps'"

# --- the shipped configuration ----------------------------------------------------
say "the shipped configuration"
X="$WORK/out/extracted"
dpkg-deb -x "$DEB" "$X"
dpkg-deb -x "$PAMDEB" "$X"
check "the packaged pam_sparekey.so holds no test hooks (x-test-panic)" \
    sh -c "! grep -qa 'x-test-panic' '$X/usr/lib/$MULTIARCH/security/pam_sparekey.so'"
check "sparekeyd --check accepts the shipped files (switch off, no policy)" \
    sh -c "'$X/usr/sbin/sparekeyd' --check --config '$X/etc/sparekey/sparekey.toml' | grep -q '(0 policies, temporary codes disabled)'"
check "the switch is off as shipped" grep -qx 'enabled = false' "$X/etc/sparekey/policy.toml"
check "RADIUS is off as shipped" grep -qx 'listen = \[\]' "$X/etc/sparekey/sparekey.toml"
# The commented examples in the shipped files, switched on, must be valid too.
mkdir -p "$WORK/out/examples"
sed -e '/^# \[\[admin.role\]\]/,/^$/ s/^# //' "$X/etc/sparekey/sparekey.toml" >"$WORK/out/examples/sparekey.toml"
sed -e '/^# \[\[policy\]\]/,$ s/^# //' -e 's/^enabled = false/enabled = true/' \
    "$X/etc/sparekey/policy.toml" >"$WORK/out/examples/policy.toml"
check "the shipped files' commented role and policy, uncommented, are valid" \
    sh -c "'$X/usr/sbin/sparekeyd' --check --config '$WORK/out/examples/sparekey.toml' | grep -q '(1 policies, temporary codes enabled)'"
check "the PAM profile is off until enabled, Additional, after other Additional modules" \
    sh -c "grep -qx 'Default: no' '$X/usr/share/pam-configs/sparekey' && grep -qx 'Auth-Type: Additional' '$X/usr/share/pam-configs/sparekey' && grep -qx 'Priority: -1' '$X/usr/share/pam-configs/sparekey'"

# --- a throwaway Debian 12 root ---------------------------------------------------
INCLUDE=adduser,procps,systemd,pamtester,libpam-cap
BASE="$WORK/cache/bookworm-$(echo "$INCLUDE" | cksum | cut -d' ' -f1).tar"
if [ ! -s "$BASE" ]; then
    say "debootstrap bookworm (once; cached in $BASE)"
    rm -rf "$WORK/cache/root"
    mkdir -p "$WORK/cache"
    if ! debootstrap --variant=minbase --include="$INCLUDE" bookworm "$WORK/cache/root" "$MIRROR" \
        >"$WORK/cache/debootstrap.log" 2>&1; then
        tail -20 "$WORK/cache/debootstrap.log"
        say "debootstrap failed"
        exit 1
    fi
    tar -C "$WORK/cache/root" -cf "$BASE.tmp" .
    mv "$BASE.tmp" "$BASE"
    rm -rf "$WORK/cache/root"
fi
R="$WORK/root"
rm -rf "$R"
mkdir -p "$R"
tar -C "$R" -xf "$BASE"
mount -t proc proc "$R/proc"
# No service is started in the root (it runs no systemd anyway).
printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
chmod 755 "$R/usr/sbin/policy-rc.d"
cp "$DEB" "$PAMDEB" "$R/tmp/"
in_root() { chroot "$R" "$@"; }

say "install in the throwaway root"
cp "$R/etc/pam.d/common-auth" "$WORK/out/common-auth.before"
in_root dpkg -i "/tmp/$(basename "$DEB")" "/tmp/$(basename "$PAMDEB")" >"$WORK/out/install.log" 2>&1 ||
    { cat "$WORK/out/install.log"; fail "dpkg -i"; }
check "the group sparekey-admin exists" sh -c "chroot '$R' getent group sparekey-admin >/dev/null"
check "site key: 32 bytes, 0600 root:root" \
    sh -c "[ \"\$(stat -c '%s %a %U:%G' '$R/etc/sparekey/site.key')\" = '32 600 root:root' ]"
check "state directory: 0700 root:root" sh -c "[ \"\$(stat -c '%a %U:%G' '$R/var/lib/sparekey')\" = '700 root:root' ]"
check "configuration: 0640 root:root" \
    sh -c "[ \"\$(stat -c '%a %U:%G' '$R/etc/sparekey/sparekey.toml' '$R/etc/sparekey/policy.toml' | sort -u)\" = '640 root:root' ]"
check "the module is installed" test -f "$R/usr/lib/$MULTIARCH/security/pam_sparekey.so"
check "installing changed no PAM file (the profile is off)" cmp -s "$WORK/out/common-auth.before" "$R/etc/pam.d/common-auth"
check "sparekeyd.service is enabled" test -L "$R/etc/systemd/system/multi-user.target.wants/sparekeyd.service"
if systemd-analyze verify --root="$R" --man=no sparekeyd.service >"$WORK/out/verify.log" 2>&1 && [ ! -s "$WORK/out/verify.log" ]; then
    pass "systemd-analyze verify sparekeyd.service: clean"
else
    cat "$WORK/out/verify.log"
    fail "systemd-analyze verify sparekeyd.service"
fi
EXPOSURE=$(systemd-analyze security --offline=true --root="$R" sparekeyd.service 2>/dev/null | sed -n 's/.*Overall exposure level for sparekeyd.service: //p')
say "systemd-analyze security: $EXPOSURE"
check "systemd-analyze security: exposure at most 2.5 of 10 (1.9 when written)" \
    sh -c "systemd-analyze security --offline=true --threshold=25 --root='$R' --no-pager sparekeyd.service >/dev/null 2>&1"

# --- pam-auth-update --------------------------------------------------------------
say "pam-auth-update in the throwaway root"
in_root pam-auth-update --enable sparekey
LINE='auth	[success=done ignore=ignore authinfo_unavail=ignore maxtries=ignore default=die]	pam_sparekey.so'
auth_lines() { grep '^auth' "$R/etc/pam.d/common-auth" | sed 's/[[:space:]]*$//'; }
check "enabled: pam_sparekey is the last auth line of common-auth" sh -c "[ \"\$(grep '^auth' '$R/etc/pam.d/common-auth' | tail -1 | sed 's/[[:space:]]*\$//')\" = '$LINE' ]"
check "enabled: after 'requisite pam_deny.so' and pam_cap (the other Additional module)" \
    sh -c "grep '^auth' '$R/etc/pam.d/common-auth' | awk '/pam_deny/ {d=NR} /pam_cap/ {c=NR} /pam_sparekey/ {s=NR} END {exit !(d && c && s > d && s > c)}'"
check "enabled: the first factor is unchanged" \
    sh -c "[ \"\$(grep '^auth' '$WORK/out/common-auth.before' | head -1)\" = \"\$(grep '^auth' '$R/etc/pam.d/common-auth' | head -1)\" ]"
auth_lines >"$WORK/out/common-auth.enabled"

# --- a real login through the generated common-auth -------------------------------
say "a login with a code through the generated common-auth"
in_root useradd --create-home alice
echo 'alice:right password' | in_root chpasswd
cat >"$R/etc/pam.d/sparekey-test" <<'EOF'
@include common-auth
# Stands for the usual second factor, which alice has lost: it always fails here.
auth [success=ok default=die] pam_deny.so
account required pam_permit.so
EOF
cp "$R/etc/sparekey/policy.toml" "$WORK/out/policy.toml.shipped"
cat >"$R/etc/sparekey/policy.toml" <<'EOF'
enabled = true
contact = "the test"
[[policy]]
name = "test"
users = ["alice"]
services = ["sparekey-test"]
kinds = ["temporary"]
EOF
# sparekeyd with the capabilities the unit leaves it (CapabilityBoundingSet=CAP_CHOWN)
# and /etc read-only (ProtectSystem=strict), telling readiness over $NOTIFY_SOCKET.
mount --bind -o ro "$R/etc" "$R/etc"
mount -o remount,ro,bind "$R/etc"
NOTIFY_NAME="sparekey-test-packages-$$"
python3 - "$NOTIFY_NAME" >"$WORK/out/notify.log" 2>&1 <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + sys.argv[1])
s.settimeout(30)
print(s.recv(4096).decode(), flush=True)
EOF
NOTIFY_PID=$!
sleep 0.5
NOTIFY_SOCKET="@$NOTIFY_NAME" chroot "$R" setpriv --bounding-set=-all,+chown --inh-caps=-all --no-new-privs \
    /usr/sbin/sparekeyd --config /etc/sparekey/sparekey.toml >"$WORK/out/sparekeyd.log" 2>&1 &
DAEMON=$!
if wait "$NOTIFY_PID" && grep -q 'READY=1' "$WORK/out/notify.log"; then
    pass "sparekeyd (only CAP_CHOWN, /etc read-only) said READY=1 on \$NOTIFY_SOCKET"
else
    fail "sparekeyd said READY=1 on \$NOTIFY_SOCKET ($(cat "$WORK/out/notify.log"))"
    i=0
    while [ ! -S "$R/run/sparekey/admin.sock" ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
fi
NOTIFY_PID=""
GID=$(in_root getent group sparekey-admin | cut -d: -f3)
check "admin socket: 0660 root:sparekey-admin in a 0750 root:sparekey-admin directory" \
    sh -c "[ \"\$(stat -c '%a %u:%g' '$R/run/sparekey/admin.sock' '$R/run/sparekey' | tr '\n' ' ')\" = '660 0:$GID 750 0:$GID ' ]"
code() { in_root sparekeyctl --json issue alice --for 1h | sed -n 's/.*"code":"\([^"]*\)".*/\1/p'; }
login() { # login PASSWORD [CODE]: 0 when pamtester authenticated alice
    printf '%s\n%s\n' "$1" "${2:-}" | in_root pamtester sparekey-test alice authenticate >>"$WORK/out/pamtester.log" 2>&1
}
if login 'right password'; then fail "no code: login refused"; else pass "no code: login refused by the usual second factor"; fi
CODE=$(code)
check "sparekeyctl issued a code" test -n "$CODE"
if login 'wrong password' "$CODE"; then fail "wrong password + code: refused"; else pass "wrong password + code: refused"; fi
if login 'right password' "$CODE"; then pass "right password + code: logged in (the code was not spent by the wrong password)"; else fail "right password + code: logged in"; fi
if login 'right password' "$CODE"; then fail "the single-use code again: refused"; else pass "the single-use code again: refused"; fi
kill "$DAEMON" 2>/dev/null || true
wait "$DAEMON" 2>/dev/null || true
DAEMON=""
umount "$R/etc"
# sparekeyd needs CAP_CHOWN: without it the admin socket cannot get its group.
rm -rf "$R/run/sparekey"
if chroot "$R" setpriv --bounding-set=-all --inh-caps=-all --no-new-privs \
    /usr/sbin/sparekeyd --config /etc/sparekey/sparekey.toml >"$WORK/out/sparekeyd-nocaps.log" 2>&1; then
    fail "sparekeyd without CAP_CHOWN fails to start"
else
    check "sparekeyd without CAP_CHOWN fails to start (so the unit keeps it)" grep -q 'cannot set its group' "$WORK/out/sparekeyd-nocaps.log"
fi
cp "$WORK/out/policy.toml.shipped" "$R/etc/sparekey/policy.toml"
chmod 0640 "$R/etc/sparekey/policy.toml"

# --- the unit under a real systemd ------------------------------------------------
# The root boots in a container (systemd-nspawn, sharing this machine's network but
# nothing else). A oneshot unit there checks sparekeyd.service as systemd runs it, with
# the shipped configuration, writes PASS/FAIL lines and powers the container off.
say "sparekeyd.service under systemd (systemd-nspawn --boot)"
if [ -n "${SPAREKEY_PKG_NO_BOOT:-}" ]; then
    say "skipped: SPAREKEY_PKG_NO_BOOT is set"
else
    install -m 0755 "$TREE/scripts/sparekey-boot-check" "$R/usr/local/sbin/sparekey-boot-check"
    touch "$R/etc/sparekey-throwaway-root"
    printf '[Unit]\nAfter=sparekeyd.service\n[Service]\nType=oneshot\nExecStart=/usr/local/sbin/sparekey-boot-check\n' \
        >"$R/etc/systemd/system/sparekey-boot-check.service"
    ln -sf /etc/systemd/system/sparekey-boot-check.service "$R/etc/systemd/system/multi-user.target.wants/"
    rm -f "$R/var/tmp/sparekey-boot-check.log" "$R/var/tmp/sparekey-boot-check.detail"
    umount "$R/proc"
    timeout 180 systemd-nspawn --register=no --keep-unit --quiet --console=passive -D "$R" --boot \
        >"$WORK/out/boot.log" 2>&1 </dev/null || true
    mount -t proc proc "$R/proc"
    if grep -q '^DONE' "$R/var/tmp/sparekey-boot-check.log" 2>/dev/null; then
        before=$FAILED
        while read -r result what; do
            case $result in
            PASS) pass "$what" ;;
            FAIL) fail "$what" ;;
            esac
        done <"$R/var/tmp/sparekey-boot-check.log"
        [ "$FAILED" = "$before" ] || cat "$R/var/tmp/sparekey-boot-check.detail"
    else
        tail -20 "$WORK/out/boot.log"
        fail "the container booted and ran the checks (log: $WORK/out/boot.log)"
    fi
    rm -f "$R/etc/systemd/system/multi-user.target.wants/sparekey-boot-check.service" \
        "$R/etc/systemd/system/sparekey-boot-check.service" "$R/usr/local/sbin/sparekey-boot-check" \
        "$R/etc/sparekey-throwaway-root"
fi

# --- reinstall, remove, purge -----------------------------------------------------
say "reinstall, remove, purge"
KEYSUM=$(sha256sum <"$R/etc/sparekey/site.key")
in_root dpkg -i "/tmp/$(basename "$DEB")" "/tmp/$(basename "$PAMDEB")" >>"$WORK/out/install.log" 2>&1 || fail "dpkg -i again"
check "reinstall: the site key is kept" sh -c "[ \"\$(sha256sum <'$R/etc/sparekey/site.key')\" = '$KEYSUM' ]"
check "reinstall: the store is kept" test -f "$R/var/lib/sparekey/sparekey.db"
check "reinstall: the enabled profile stays enabled" sh -c "grep -q pam_sparekey.so '$R/etc/pam.d/common-auth'"
in_root dpkg --remove libpam-sparekey >>"$WORK/out/install.log" 2>&1 || fail "dpkg --remove libpam-sparekey"
check "remove libpam-sparekey: common-auth no longer names the module" sh -c "! grep -q pam_sparekey '$R/etc/pam.d/common-auth'"
check "remove libpam-sparekey: common-auth is as before" \
    sh -c "[ \"\$(grep '^auth' '$R/etc/pam.d/common-auth' | sed 's/[[:space:]]*\$//')\" = \"\$(grep '^auth' '$WORK/out/common-auth.before' | sed 's/[[:space:]]*\$//')\" ]"
in_root dpkg --remove sparekey >>"$WORK/out/install.log" 2>&1 || fail "dpkg --remove sparekey"
check "remove sparekey: configuration, key and store are kept" \
    test -f "$R/etc/sparekey/sparekey.toml" -a -f "$R/etc/sparekey/site.key" -a -f "$R/var/lib/sparekey/sparekey.db"
in_root dpkg -i "/tmp/$(basename "$DEB")" >>"$WORK/out/install.log" 2>&1 || fail "dpkg -i after remove"
check "install after remove: the same site key" sh -c "[ \"\$(sha256sum <'$R/etc/sparekey/site.key')\" = '$KEYSUM' ]"
umask 077
echo "a RADIUS secret" >"$R/etc/sparekey/vpn-gw.secret"
umask 022
in_root dpkg --purge sparekey >>"$WORK/out/install.log" 2>&1 || fail "dpkg --purge sparekey"
check "purge: configuration, key and store are gone" \
    sh -c "[ ! -e '$R/etc/sparekey/sparekey.toml' ] && [ ! -e '$R/etc/sparekey/policy.toml' ] && [ ! -e '$R/etc/sparekey/site.key' ] && [ ! -e '$R/var/lib/sparekey' ]"
check "purge: a file the admin added is kept" test -f "$R/etc/sparekey/vpn-gw.secret"
check "purge: the group is kept" sh -c "chroot '$R' getent group sparekey-admin >/dev/null"
check "purge: the unit's enable link is gone" test ! -e "$R/etc/systemd/system/multi-user.target.wants/sparekeyd.service"

umount "$R/proc"
rm -rf "$R"
say "$(($(date +%s) - START)) s"
echo "test-packages: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
