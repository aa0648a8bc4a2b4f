#!/bin/sh
# ha_ag_tmp.sh - template of a SureHA agent in shell.
#
# The "service" this template watches is the file $HAHOME/tmp/agent.SERVICENAME: it is well
# while the file exists. Replace check_service with a real check of your service.
#
# Started by hasvrd as:  ha_ag_tmp.sh SERVICENAME INTERVAL
#   INTERVAL 0: check once, exit 1 if the service is available, 0 if not.
#   otherwise:  report every INTERVAL seconds until told to stop.
# APIOK.x and APIERROR.x exit 0 while the agent should go on, non-zero when it should stop.

SVC=$1
INTERVAL=$2
if [ -z "$SVC" ] || [ -z "$INTERVAL" ] || [ -z "$HAHOME" ]; then
    echo "usage: $0 SERVICENAME INTERVAL (with HAHOME set)" >&2
    exit 2
fi
PATH=$HAHOME/bin:$PATH
WATCHED=$HAHOME/tmp/agent.$SVC

check_service() {
    [ -e "$WATCHED" ]
}

if [ "$INTERVAL" -eq 0 ]; then
    if check_service; then exit 1; else exit 0; fi
fi

APIOPEN.x "$SVC" || exit 1
while :; do
    if check_service; then
        APIOK.x "$SVC" || break
    else
        APIERROR.x "$SVC" || break
    fi
    if [ "$INTERVAL" -gt 1 ]; then
        sleep $((INTERVAL - 1))
    fi
done
APICLOSE.x "$SVC"
exit 0
