#!/bin/sh
# ha_ag_sybase.sh SERVICE INTERVAL — the agent of a SYBASE service: select 1 through isql
# every INTERVAL seconds.
[ -n "$1" ] && [ -n "$2" ] && [ -n "$HAHOME" ] || { echo "usage: $0 SERVICE INTERVAL (run by hasvrd)" >&2; exit 2; }
. "$HAHOME/bin/sybase_common.sh"
answers() {
    out=$(isql_sa 'select 1')
    echo "$out" | grep -q '^ *1 *$' || { echo "SYBASE: select 1 answered: $out" >&2; return 1; }
}
agent_main "$1" "$2" answers
