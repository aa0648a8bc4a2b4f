#!/bin/sh
# www_stop.sh SERVICE — stops the service's lighttpd (TERM, then KILL after 10 s).
[ -n "$1" ] && [ -n "$HAHOME" ] || { echo "usage: $0 SERVICE (run by hasvrd)" >&2; exit 2; }
. "$HAHOME/bin/www_common.sh"
www_running || { rm -f "$WWW_PID"; exit 0; }
pid=$(cat "$WWW_PID")
kill "$pid"
for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$WWW_PID"; exit 0; }
    sleep 0.1
done
kill -9 "$pid" 2>/dev/null
rm -f "$WWW_PID"
exit 0
