#!/bin/sh
# nfs_start.sh SERVICE — exports the service's path (kernel: exportfs; else nfs-ganesha)
# and returns once a client can see it.
[ -n "$1" ] && [ -n "$HAHOME" ] || { echo "usage: $0 SERVICE (run by hasvrd)" >&2; exit 2; }
. "$HAHOME/bin/nfs_common.sh"
[ -d "$NFS_PATH" ] || { echo "NFS: $NFS_PATH is not a directory (mounted?)" >&2; exit 6; }
if ! nfs_running; then
    case $NFS_SERVER in
    kernel) exportfs -o rw,sync,no_subtree_check,no_root_squash "*:$NFS_PATH" || exit 1 ;;
    *)
        mkdir -p "$NFS_RUN"
        cat > "$NFS_RUN/$1.conf" <<C
NFS_CORE_PARAM { Protocols = 4; NFS_Port = 2049; Enable_NLM = false; Enable_RQUOTA = false; }
NFSV4 { Graceless = true; }
EXPORT {
    Export_Id = 1;
    Path = "$NFS_PATH";
    Pseudo = "$NFS_PSEUDO";
    Access_Type = RW;
    Squash = No_Root_Squash;
    Protocols = 4;
    Transports = TCP;
    SecType = sys;
    FSAL { Name = VFS; }
}
C
        ganesha.nfsd -f "$NFS_RUN/$1.conf" -L "$NFS_RUN/$1.log" -p "$NFS_PID" -N NIV_WARN || exit 1
        ;;
    esac
fi
for _ in $(seq 60); do
    nfs_ok 2>/dev/null && exit 0
    sleep 0.5
done
nfs_ok
