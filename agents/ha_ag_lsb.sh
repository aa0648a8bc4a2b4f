#!/bin/sh
# ha_ag_lsb.sh SERVICE INTERVAL — the SureHA agent of a service run by an init script: its
# "status" every INTERVAL seconds; 0 is running, 3 stopped and any other code trouble.
# INTERVAL 0: once, exit 1 if running, 0 if not.
[ -n "$1" ] && [ -n "$2" ] && [ -n "$HAHOME" ] || { echo "usage: $0 SERVICE INTERVAL (run by hasvrd)" >&2; exit 2; }
. "$HAHOME/bin/lsb_common.sh"
status() {
    "$LSB_SCRIPT" status >/dev/null 2>&1
    rc=$?
    [ $rc -eq 0 ] && return 0
    echo "LSB status of $LSB_SCRIPT: $rc ($([ $rc -eq 3 ] && echo stopped || echo trouble))" >&2
    return 1
}
agent_main "$1" "$2" status
