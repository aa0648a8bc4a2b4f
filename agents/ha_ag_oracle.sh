#!/bin/sh
# ha_ag_oracle.sh SERVICE INTERVAL — the agent of an ORACLE service: the instance's status
# from v$instance through sqlplus every INTERVAL seconds; OPEN is well.
[ -n "$1" ] && [ -n "$2" ] && [ -n "$HAHOME" ] || { echo "usage: $0 SERVICE INTERVAL (run by hasvrd)" >&2; exit 2; }
. "$HAHOME/bin/oracle_common.sh"
is_open() {
    out=$(printf 'set heading off feedback off\nselect status from v$instance;\nexit\n' \
        | as_owner sqlplus -s "/ as sysdba" 2>&1)
    echo "$out" | grep -qw OPEN || { echo "ORACLE: v\$instance says: $out" >&2; return 1; }
}
agent_main "$1" "$2" is_open
