#!/bin/sh
# ha_ag_informix.sh SERVICE INTERVAL — the agent of an INFORMIX service: onstat every
# INTERVAL seconds; On-Line is well.
[ -n "$1" ] && [ -n "$2" ] && [ -n "$HAHOME" ] || { echo "usage: $0 SERVICE INTERVAL (run by hasvrd)" >&2; exit 2; }
. "$HAHOME/bin/informix_common.sh"
online() {
    m=$(mode)
    [ "$m" = On-Line ] || { echo "INFORMIX: $INFORMIXSERVER is ${m:-offline}" >&2; return 1; }
}
agent_main "$1" "$2" online
