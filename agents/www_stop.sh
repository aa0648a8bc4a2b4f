#!/bin/sh
# www_stop.sh SERVICE — stops the service's lighttpd (TERM, then KILL after 10 s).
[ -n "$1" ] && [ -n "$HAHOME" ] || { echo "usage: $0 SERVICE (run by hasvrd)" >&2; exit 2; }
. "$HAHOME/bin/www_common.sh"
stop_pidfile "$WWW_PID" "$(basename "$LIGHTTPD")"
