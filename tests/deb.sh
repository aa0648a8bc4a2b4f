#!/usr/bin/env bash
# The Debian package, end to end, on this machine (root; CI runs it on its fresh machine):
# make deb; lintian without errors; installed, the unit verified, SureHA started and
# answering, man pages and completion in place; stopped; purged without a trace.
# It installs into the system: run it on a machine you can spare (CI, a VM).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "tests/deb.sh needs root (it installs the package)"; exit 1; }
for c in lintian dpkg-deb systemd-analyze; do
    command -v "$c" >/dev/null || { echo "tests/deb.sh needs $c (apt-get install lintian systemd)"; exit 1; }
done
fail() { echo "deb: $*" >&2; exit 1; }
deb=$(make -s deb | tail -1)
[ -f "$deb" ] || fail "make deb made no package"
lint=$(lintian "$deb" 2>&1 | grep -v 'running with root privileges' || true)
echo "$lint"
! echo "$lint" | grep -q '^E:' || fail "lintian found errors"
dpkg -s sureha >/dev/null 2>&1 && fail "sureha is already installed here; remove it first"
cleanup() { dpkg --purge sureha >/dev/null 2>&1 || true; }
trap cleanup EXIT
dpkg -i "$deb"
systemd-analyze verify /lib/systemd/system/sureha.service || fail "systemd-analyze verify refuses the unit"
for _ in $(seq 100); do /usr/sbin/haadm status >/dev/null 2>&1 && break; sleep 0.1; done
/usr/sbin/haadm status | grep -q "^NODE $(uname -n) UP local" || fail "not started by the install"
test "$(stat -c %a /etc/sureha/authkey)" = 600 || fail "authkey not 0600"
test "$(stat -c %a /var/lib/sureha/tmp)" = 700 || fail "tmp not 0700"
/usr/sbin/haadm check >/dev/null || fail "haadm check"
man hamond 2>/dev/null | grep -q hamond || fail "man hamond"
man 5 sureha.conf 2>/dev/null | grep -q "privnet NAME" || fail "man 5 sureha.conf"
test -e /usr/share/bash-completion/completions/haadm || fail "no completion"
# Stopped as the package stops it, then started again and purged while running.
if [ -d /run/systemd/system ]; then systemctl stop sureha.service; else /usr/lib/sureha/bin/S999sureha stop; fi
/usr/sbin/haadm status >/dev/null 2>&1 && fail "still answering after stop"
if [ -d /run/systemd/system ]; then systemctl start sureha.service; else /usr/lib/sureha/bin/S999sureha start; fi
/usr/sbin/haadm status >/dev/null || fail "not started again"
dpkg --purge sureha
trap - EXIT
for p in /usr/lib/sureha /etc/sureha /var/lib/sureha /usr/sbin/haadm /lib/systemd/system/sureha.service; do
    [ ! -e "$p" ] && [ ! -L "$p" ] || fail "$p left after purge"
done
pgrep -f /usr/lib/sureha/bin/ >/dev/null && fail "a SureHA process left after purge"
echo "deb: $deb: lintian clean of errors, installed, started, stopped, purged"
