#!/bin/sh
# ha_ag_pgsql.sh SERVICE INTERVAL — the agent of a PGSQL service: a real query (select 1)
# every INTERVAL seconds; INTERVAL 0: once, exit 1 if it answers, 0 if not.
[ -n "$1" ] && [ -n "$2" ] && [ -n "$HAHOME" ] || { echo "usage: $0 SERVICE INTERVAL (run by hasvrd)" >&2; exit 2; }
SVC=$1
INTERVAL=$2
. "$HAHOME/bin/pgsql_common.sh"
PATH=$HAHOME/bin:$PATH
answers() {
    out=$(PGCONNECT_TIMEOUT=5 as_postgres "$PGBIN/psql" -h "${HA_HA_HOST:-127.0.0.1}" \
        -p "${HA_HA_PORT:-5432}" -U "${HA_USERNAME:-postgres}" -d postgres -Atqc 'select 1' 2>&1)
    [ "$out" = 1 ] || { echo "PGSQL: select 1 answered: $out" >&2; return 1; }
}
if [ "$INTERVAL" -eq 0 ]; then
    if answers; then exit 1; else exit 0; fi
fi
APIOPEN.x "$SVC" || exit 1
while :; do
    if answers; then
        APIOK.x "$SVC" || break
    else
        APIERROR.x "$SVC" || break
    fi
    [ "$INTERVAL" -gt 1 ] && sleep $((INTERVAL - 1))
done
APICLOSE.x "$SVC"
exit 0
