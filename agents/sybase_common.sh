# sybase_common.sh — sourced by sybase_start.sh, sybase_stop.sh and ha_ag_sybase.sh: an
# Adaptive Server driven with Sybase's own tools (startserver, isql) as its owner.
# Keys: server_name (the dataserver), username (the owner: sybase), ha_sybase (SYBASE, the
# installation: its install/ and OCS bin/ go in PATH), ha_password (sa's password: empty).
. "$HAHOME/bin/shipped_lib.sh"
[ -n "$HA_SERVER_NAME" ] && [ -n "$HA_USERNAME" ] || { echo "service $1: SYBASE needs server_name and username" >&2; exit 6; }
if [ -n "$HA_HA_SYBASE" ]; then
    SYBASE=$HA_HA_SYBASE
    PATH=$SYBASE/install:$SYBASE/bin:$PATH
    export SYBASE PATH
fi
# The tools run as the owner, with this environment.
as_owner() { as_user "$HA_USERNAME" "$@"; }
# A query through isql as sa: its output.
isql_sa() {
    printf '%s\ngo\n' "$1" | as_owner isql -U sa -P "${HA_HA_PASSWORD:-}" -S "$HA_SERVER_NAME" -b 2>&1
}
command -v isql >/dev/null || { echo "service $1: no isql in PATH (set ha_sybase)" >&2; exit 5; }
