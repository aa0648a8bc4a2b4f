#!/bin/sh
# oracle_stop.sh SERVICE — shutdown immediate (abort when that fails), then the listener.
[ -n "$1" ] && [ -n "$HAHOME" ] || { echo "usage: $0 SERVICE (run by hasvrd)" >&2; exit 2; }
. "$HAHOME/bin/oracle_common.sh"
out=$(printf 'shutdown immediate\nexit\n' | as_owner sqlplus -s "/ as sysdba" 2>&1)
echo "$out"
if echo "$out" | grep 'ORA-' | grep -qv 'ORA-01034'; then
    printf 'shutdown abort\nexit\n' | as_owner sqlplus -s "/ as sysdba"
fi
as_owner lsnrctl stop >/dev/null 2>&1
exit 0
