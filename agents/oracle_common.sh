# oracle_common.sh — sourced by oracle_start.sh, oracle_stop.sh and ha_ag_oracle.sh: an
# Oracle database driven with Oracle's own tools (lsnrctl, sqlplus) as its owner.
# Keys: sid (ORACLE_SID), username (the owner: oracle), ha_oracle_home (ORACLE_HOME; else
# the owner's environment decides).
. "$HAHOME/bin/shipped_lib.sh"
[ -n "$HA_SID" ] && [ -n "$HA_USERNAME" ] || { echo "service $1: ORACLE needs sid and username" >&2; exit 6; }
ORACLE_SID=$HA_SID
export ORACLE_SID
if [ -n "$HA_HA_ORACLE_HOME" ]; then
    ORACLE_HOME=$HA_HA_ORACLE_HOME
    PATH=$ORACLE_HOME/bin:$PATH
    export ORACLE_HOME PATH
fi
# The tools run as the owner, with this environment.
as_owner() { as_user "$HA_USERNAME" "$@"; }
command -v sqlplus >/dev/null || { echo "service $1: no sqlplus in PATH (set ha_oracle_home)" >&2; exit 5; }
