#!/bin/sh
# ha_ag_ocf.sh SERVICE INTERVAL — the SureHA agent of a service run by an OCF resource agent:
# its monitor action every INTERVAL seconds; 0 is well (APIOK.x), anything else a failure
# (APIERROR.x; 7 is "not running"). INTERVAL 0: once, exit 1 if running, 0 if not.
[ -n "$1" ] && [ -n "$2" ] && [ -n "$HAHOME" ] || { echo "usage: $0 SERVICE INTERVAL (run by hasvrd)" >&2; exit 2; }
SVC=$1
INTERVAL=$2
. "$HAHOME/bin/ocf_common.sh"
PATH=$HAHOME/bin:$PATH
if [ "$INTERVAL" -eq 0 ]; then
    if ocf_run monitor; then exit 1; else exit 0; fi
fi
APIOPEN.x "$SVC" || exit 1
while :; do
    if ocf_run monitor; then
        APIOK.x "$SVC" || break
    else
        APIERROR.x "$SVC" || break
    fi
    [ "$INTERVAL" -gt 1 ] && sleep $((INTERVAL - 1))
done
APICLOSE.x "$SVC"
exit 0
