#!/bin/sh
# sybase_start.sh SERVICE — starts the dataserver (startserver -f RUN_SERVER) and waits
# until it answers a query.
[ -n "$1" ] && [ -n "$HAHOME" ] || { echo "usage: $0 SERVICE (run by hasvrd)" >&2; exit 2; }
. "$HAHOME/bin/sybase_common.sh"
isql_sa 'select 1' | grep -q '^ *1 *$' && exit 0
as_owner startserver -f "RUN_$HA_SERVER_NAME" || exit 1
for _ in $(seq 120); do
    isql_sa 'select 1' | grep -q '^ *1 *$' && exit 0
    sleep 1
done
echo "SYBASE: $HA_SERVER_NAME does not answer after its start" >&2
exit 1
