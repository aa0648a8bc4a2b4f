#!/bin/sh
# nfs_stop.sh SERVICE — stops exporting the service's path (kernel: exportfs -u; ganesha:
# TERM, then KILL after 10 s).
[ -n "$1" ] && [ -n "$HAHOME" ] || { echo "usage: $0 SERVICE (run by hasvrd)" >&2; exit 2; }
. "$HAHOME/bin/nfs_common.sh"
if [ "$NFS_SERVER" = kernel ]; then
    nfs_running || exit 0
    exportfs -u "*:$NFS_PATH"
    exit $?
fi
stop_pidfile "$NFS_PID" ganesha.nfsd
