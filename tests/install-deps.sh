#!/usr/bin/env bash
# What `make test`, `make demo` and CI need on a Debian machine, installed when missing:
# a newcomer runs the README's two commands and nothing else. Without root it only says
# what is missing. Usage: tests/install-deps.sh [demo|deb|bench]   (demo: only what the
# demo needs; deb: what tests/deb.sh needs besides; bench: keepalived, for the side-by-side)
set -euo pipefail
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v socat >/dev/null || need+=(socat)
# The encryption test taps the links as an eavesdropper would.
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v ps >/dev/null || need+=(procps)
command -v cc >/dev/null || need+=(gcc libc6-dev)
if [ "${1:-}" = deb ]; then
    command -v lintian >/dev/null || need+=(lintian)
    command -v systemd-analyze >/dev/null || need+=(systemd)
    command -v man >/dev/null || need+=(man-db)
elif [ "${1:-}" = bench ]; then
    command -v keepalived >/dev/null || [ -x /usr/sbin/keepalived ] || need+=(keepalived)
elif [ "${1:-}" != demo ]; then
    command -v make >/dev/null || need+=(make)
    command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
    command -v losetup >/dev/null || need+=(mount)
    command -v nsenter >/dev/null || need+=(util-linux)
    command -v man >/dev/null || need+=(man-db)
    # Shared-disk tests: a failing disk path is a loop device over a FUSE mount (bindfs);
    # the database test runs Debian's PostgreSQL on the shared volume.
    command -v bindfs >/dev/null || need+=(bindfs fuse3)
    ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need+=(postgresql)
    # The exported Pacemaker CIB is checked with crm_verify; OCF services run Debian's
    # resource agents.
    command -v crm_verify >/dev/null || need+=(pacemaker-cli-utils)
    # ... and runs on a live Pacemaker pair in the test's namespaces.
    command -v pacemakerd >/dev/null || [ -x /usr/sbin/pacemakerd ] || need+=(pacemaker)
    command -v corosync >/dev/null || [ -x /usr/sbin/corosync ] || need+=(corosync)
    [ -x /usr/lib/ocf/resource.d/heartbeat/Dummy ] || need+=(resource-agents)
    # The WWW type's test serves from the shared volume with Debian's lighttpd.
    command -v lighttpd >/dev/null || [ -x /usr/sbin/lighttpd ] || need+=(lighttpd)
    # The NFS type's test: the user-space nfs-ganesha (the kernel here has no NFS server)
    # and libnfs's client.
    command -v ganesha.nfsd >/dev/null || need+=(nfs-ganesha nfs-ganesha-vfs)
    command -v nfs-cat >/dev/null || need+=(libnfs-utils)
    # The MYSQL type's test runs Debian's MariaDB on the shared volume.
    [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server mariadb-client)
    # The console test drives Debian's Chromium headless through chromedriver.
    command -v chromium >/dev/null || need+=(chromium)
    command -v chromedriver >/dev/null || need+=(chromium-driver)
    # The webhook sample alert posts with curl; `haadm metrics` is checked with promtool.
    command -v curl >/dev/null || need+=(curl)
    command -v promtool >/dev/null || need+=(prometheus)
    # The chaos run's link loss: nftables' numgen random drops.
    command -v nft >/dev/null || [ -x /usr/sbin/nft ] || need+=(nftables)
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "missing: ${need[*]}; as root: apt-get install ${need[*]} (or run this as root)" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "missing: ${need[*]}; install them with this system's package manager" >&2
    exit 0
fi
echo "installing: ${need[*]}"
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
