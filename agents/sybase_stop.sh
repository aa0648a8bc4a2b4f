#!/bin/sh
# sybase_stop.sh SERVICE — shutdown (with nowait when a plain one is refused).
[ -n "$1" ] && [ -n "$HAHOME" ] || { echo "usage: $0 SERVICE (run by hasvrd)" >&2; exit 2; }
. "$HAHOME/bin/sybase_common.sh"
isql_sa 'select 1' | grep -q '^ *1 *$' || exit 0
isql_sa 'shutdown' >/dev/null
isql_sa 'select 1' | grep -q '^ *1 *$' && isql_sa 'shutdown with nowait' >/dev/null
exit 0
