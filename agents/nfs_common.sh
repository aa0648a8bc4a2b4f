# nfs_common.sh — sourced by nfs_start.sh, nfs_stop.sh and ha_ag_nfs.sh: the service's
# `path` exported over NFS, by the kernel's server (exportfs) where it runs, else by the
# user-space nfs-ganesha (VFS backend, NFSv4, TCP 2049). Keys: path (the exported
# directory), ha_pseudo (its NFSv4 path for clients: path), ha_nfs_server (kernel or
# ganesha, to choose). Ganesha serves one export a node; its files are in /run/sureha-nfs/NODE.
. "$HAHOME/bin/shipped_lib.sh"
NFS_PATH=$HA_PATH
NFS_PSEUDO=${HA_HA_PSEUDO:-$HA_PATH}
NFS_ADDR=$(first_address)
NFS_RUN=/run/sureha-nfs/$HANODE
NFS_PID=$NFS_RUN/$1.pid
NFS_SERVER=$HA_HA_NFS_SERVER
if [ -z "$NFS_SERVER" ]; then
    if command -v exportfs >/dev/null && [ -e /proc/fs/nfsd/threads ]; then
        NFS_SERVER=kernel
    else
        NFS_SERVER=ganesha
    fi
fi
[ -n "$NFS_PATH" ] || { echo "service $1: NFS needs path (the exported directory)" >&2; exit 6; }
if [ "$NFS_SERVER" = ganesha ] && ! command -v ganesha.nfsd >/dev/null; then
    echo "service $1: no NFS server: neither the kernel's (nfs-kernel-server) nor ganesha.nfsd (nfs-ganesha, nfs-ganesha-vfs)" >&2
    exit 5
fi

nfs_running() {
    case $NFS_SERVER in
    kernel) exportfs | grep -q "^$NFS_PATH\( \|$\)" ;;
    *) pid_alive "$NFS_PID" ganesha.nfsd ;;
    esac
}

# 0 when a client can list the export through the service's address (libnfs's nfs-ls), or,
# without libnfs-utils, when the server runs and TCP 2049 answers there.
nfs_ok() {
    nfs_running || { echo "NFS: the $NFS_SERVER server does not export $NFS_PATH" >&2; return 1; }
    [ -n "$NFS_ADDR" ] || return 0
    if command -v nfs-ls >/dev/null; then
        p=$([ "$NFS_SERVER" = ganesha ] && echo "$NFS_PSEUDO" || echo "$NFS_PATH")
        out=$(timeout 10 nfs-ls "nfs://$NFS_ADDR$p?version=4" 2>&1) || {
            echo "NFS: nfs-ls nfs://$NFS_ADDR$p: $out" >&2; return 1; }
    else
        socat -T5 /dev/null "TCP:$NFS_ADDR:2049,connect-timeout=5" 2>/dev/null || {
            echo "NFS: nothing answers on $NFS_ADDR:2049" >&2; return 1; }
    fi
}
