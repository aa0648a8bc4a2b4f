#!/bin/sh
# mysql_stop.sh SERVICE — a clean shutdown (committed work is kept); not running is stopped.
[ -n "$1" ] && [ -n "$HAHOME" ] || { echo "usage: $0 SERVICE (run by hasvrd)" >&2; exit 2; }
. "$HAHOME/bin/mysql_common.sh"
my_ping || exit 0
"$MYADMIN" --no-defaults --socket="$MY_SOCK" shutdown || exit 1
for _ in $(seq 600); do
    [ -f "$MY_PID" ] || exit 0
    sleep 0.1
done
exit 1
