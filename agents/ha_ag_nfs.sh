#!/bin/sh
# ha_ag_nfs.sh SERVICE INTERVAL — the agent of an NFS service: the export listed by an NFS
# client through the service's address every INTERVAL seconds.
[ -n "$1" ] && [ -n "$2" ] && [ -n "$HAHOME" ] || { echo "usage: $0 SERVICE INTERVAL (run by hasvrd)" >&2; exit 2; }
. "$HAHOME/bin/nfs_common.sh"
agent_main "$1" "$2" nfs_ok
