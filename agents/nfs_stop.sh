#!/bin/sh
# nfs_stop.sh SERVICE — stops exporting the service's path (kernel: exportfs -u; ganesha:
# TERM, then KILL after 10 s).
[ -n "$1" ] && [ -n "$HAHOME" ] || { echo "usage: $0 SERVICE (run by hasvrd)" >&2; exit 2; }
. "$HAHOME/bin/nfs_common.sh"
nfs_running || { rm -f "$NFS_PID"; exit 0; }
if [ "$NFS_SERVER" = kernel ]; then
    exportfs -u "*:$NFS_PATH"
    exit $?
fi
pid=$(cat "$NFS_PID")
kill "$pid"
for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$NFS_PID"; exit 0; }
    sleep 0.1
done
kill -9 "$pid" 2>/dev/null
rm -f "$NFS_PID"
exit 0
