#!/bin/sh
# ha_ag_lsb.sh SERVICE INTERVAL — the SureHA agent of a service run by an init script: its
# "status" every INTERVAL seconds; 0 is running (APIOK.x), 3 stopped and any other code
# trouble (APIERROR.x). INTERVAL 0: once, exit 1 if running, 0 if not.
[ -n "$1" ] && [ -n "$2" ] && [ -n "$HAHOME" ] || { echo "usage: $0 SERVICE INTERVAL (run by hasvrd)" >&2; exit 2; }
SVC=$1
INTERVAL=$2
. "$HAHOME/bin/lsb_common.sh"
PATH=$HAHOME/bin:$PATH
if [ "$INTERVAL" -eq 0 ]; then
    if "$LSB_SCRIPT" status >/dev/null 2>&1; then exit 1; else exit 0; fi
fi
APIOPEN.x "$SVC" || exit 1
while :; do
    "$LSB_SCRIPT" status >/dev/null 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then
        APIOK.x "$SVC" || break
    else
        echo "LSB status of $LSB_SCRIPT: $rc ($( [ $rc -eq 3 ] && echo stopped || echo trouble))" >&2
        APIERROR.x "$SVC" || break
    fi
    [ "$INTERVAL" -gt 1 ] && sleep $((INTERVAL - 1))
done
APICLOSE.x "$SVC"
exit 0
