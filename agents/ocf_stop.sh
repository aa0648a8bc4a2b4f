#!/bin/sh
# ocf_stop.sh SERVICE — stops the service's OCF resource agent; stopping what is stopped
# succeeds (OCF: stop returns 0 when not running).
[ -n "$1" ] && [ -n "$HAHOME" ] || { echo "usage: $0 SERVICE (run by hasvrd)" >&2; exit 2; }
. "$HAHOME/bin/ocf_common.sh"
ocf_run stop
