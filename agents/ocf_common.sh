# ocf_common.sh — sourced by ocf_start.sh, ocf_stop.sh and ha_ag_ocf.sh: runs the OCF
# resource agent a service names (agent = ocf:PROVIDER:NAME) with the OCF conventions.
# Its parameters are the service's ha_NAME keys (HA_HA_NAME here), given as OCF_RESKEY_NAME.
# OCF_ROOT: /usr/lib/ocf (Debian's resource-agents), or the service's ocf_root... as HA_HA_OCF_ROOT.
. "$HAHOME/bin/shipped_lib.sh"
spec=${HA_AGENT#ocf:}
OCF_RESOURCE_PROVIDER=${spec%%:*}
OCF_RESOURCE_TYPE=${spec#*:}
OCF_ROOT=${HA_HA_OCF_ROOT:-/usr/lib/ocf}
OCF_RESOURCE_INSTANCE=$1
OCF_RA_VERSION_MAJOR=1
OCF_RA_VERSION_MINOR=0
# Where agents keep their state: cleared at boot (/run), one directory a node.
HA_RSCTMP=${HA_HA_RSCTMP:-/run/sureha-ocf/$HANODE}
mkdir -p "$HA_RSCTMP"
export HA_RSCTMP OCF_ROOT OCF_RESOURCE_INSTANCE OCF_RESOURCE_TYPE OCF_RESOURCE_PROVIDER \
    OCF_RA_VERSION_MAJOR OCF_RA_VERSION_MINOR
for var in $(env | sed -n 's/^HA_HA_\([A-Z0-9_]*\)=.*/\1/p'); do
    case $var in OCF_ROOT|RSCTMP) continue ;; esac
    eval "export OCF_RESKEY_$(echo "$var" | tr 'A-Z' 'a-z')=\"\$HA_HA_$var\""
done
OCF_AGENT=$OCF_ROOT/resource.d/$OCF_RESOURCE_PROVIDER/$OCF_RESOURCE_TYPE
if [ -z "$HA_AGENT" ] || [ ! -x "$OCF_AGENT" ]; then
    echo "service $1: no OCF agent $OCF_AGENT (agent = ${HA_AGENT:-none}); install it (Debian: resource-agents)" >&2
    exit 5
fi

# Runs an action; says what an OCF exit code means when it is not success.
ocf_run() {
    "$OCF_AGENT" "$1"
    rc=$?
    case $rc in
    0) ;;
    1) echo "OCF $1: generic error (1)" >&2 ;;
    2) echo "OCF $1: invalid argument (2): check the ha_ keys" >&2 ;;
    3) echo "OCF $1: unimplemented (3)" >&2 ;;
    4) echo "OCF $1: insufficient privileges (4)" >&2 ;;
    5) echo "OCF $1: not installed (5)" >&2 ;;
    6) echo "OCF $1: not configured (6): check the ha_ keys" >&2 ;;
    7) [ "$1" = monitor ] || echo "OCF $1: not running (7)" >&2 ;;
    *) echo "OCF $1: exit code $rc" >&2 ;;
    esac
    return $rc
}
