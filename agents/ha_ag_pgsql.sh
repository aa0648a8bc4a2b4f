#!/bin/sh
# ha_ag_pgsql.sh SERVICE INTERVAL — the agent of a PGSQL service: a real query (select 1)
# every INTERVAL seconds; INTERVAL 0: once, exit 1 if it answers, 0 if not.
[ -n "$1" ] && [ -n "$2" ] && [ -n "$HAHOME" ] || { echo "usage: $0 SERVICE INTERVAL (run by hasvrd)" >&2; exit 2; }
. "$HAHOME/bin/pgsql_common.sh"
answers() {
    out=$(PGCONNECT_TIMEOUT=5 as_postgres "$PGBIN/psql" -h "${HA_HA_HOST:-127.0.0.1}" \
        -p "${HA_HA_PORT:-5432}" -U "${HA_USERNAME:-postgres}" -d postgres -Atqc 'select 1' 2>&1)
    [ "$out" = 1 ] || { echo "PGSQL: select 1 answered: $out" >&2; return 1; }
}
agent_main "$1" "$2" answers
