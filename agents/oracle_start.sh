#!/bin/sh
# oracle_start.sh SERVICE — starts the listener and the instance (startup), and checks that
# the database is OPEN.
[ -n "$1" ] && [ -n "$HAHOME" ] || { echo "usage: $0 SERVICE (run by hasvrd)" >&2; exit 2; }
. "$HAHOME/bin/oracle_common.sh"
as_owner lsnrctl start >/dev/null 2>&1 || as_owner lsnrctl status >/dev/null 2>&1 || {
    echo "ORACLE: the listener does not start (lsnrctl start)" >&2; exit 1; }
out=$(printf 'whenever sqlerror exit failure\nstartup\nexit\n' | as_owner sqlplus -s "/ as sysdba" 2>&1)
echo "$out"
echo "$out" | grep -q 'ORA-01081' && exit 0   # already started
echo "$out" | grep -q 'ORA-' && exit 1
exit 0
