#!/bin/sh
# lsb_stop.sh SERVICE — "stop" of the service's init script (LSB: 0 also when stopped).
[ -n "$1" ] && [ -n "$HAHOME" ] || { echo "usage: $0 SERVICE (run by hasvrd)" >&2; exit 2; }
. "$HAHOME/bin/lsb_common.sh"
exec "$LSB_SCRIPT" stop
