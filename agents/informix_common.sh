# informix_common.sh — sourced by informix_start.sh, informix_stop.sh and ha_ag_informix.sh:
# an Informix server driven with its own tools (oninit, onmode, onstat) as its owner.
# Keys: server_name (INFORMIXSERVER), username (the owner: informix), path (INFORMIXDIR),
# ha_onconfig (ONCONFIG: onconfig.SERVER_NAME).
. "$HAHOME/bin/shipped_lib.sh"
[ -n "$HA_SERVER_NAME" ] && [ -n "$HA_USERNAME" ] && [ -n "$HA_PATH" ] || {
    echo "service $1: INFORMIX needs server_name, username and path" >&2; exit 6; }
INFORMIXSERVER=$HA_SERVER_NAME
INFORMIXDIR=$HA_PATH
ONCONFIG=${HA_HA_ONCONFIG:-onconfig.$HA_SERVER_NAME}
PATH=$INFORMIXDIR/bin:$PATH
export INFORMIXSERVER INFORMIXDIR ONCONFIG PATH
# The tools run as the owner, with this environment.
as_owner() { as_user "$HA_USERNAME" "$@"; }
# The server's mode as onstat's banner line says it (On-Line, Quiescent, ...), or nothing.
mode() {
    as_owner onstat - 2>/dev/null | sed -n 's/.*-- \([A-Za-z-]*\) --.*/\1/p' | head -n 1
}
command -v onstat >/dev/null || { echo "service $1: no onstat in $INFORMIXDIR/bin" >&2; exit 5; }
