#!/bin/sh
# ha_ag_www.sh SERVICE INTERVAL — the agent of a WWW service: an HTTP GET through the
# service's address every INTERVAL seconds (2xx or 3xx is well); INTERVAL 0: once, exit 1
# if it answers, 0 if not.
[ -n "$1" ] && [ -n "$2" ] && [ -n "$HAHOME" ] || { echo "usage: $0 SERVICE INTERVAL (run by hasvrd)" >&2; exit 2; }
. "$HAHOME/bin/www_common.sh"
agent_main "$1" "$2" http_ok
