#!/bin/sh
# ha_ag_ocf.sh SERVICE INTERVAL — the SureHA agent of a service run by an OCF resource agent:
# its monitor action every INTERVAL seconds; 0 is well, anything else a failure (7 is "not
# running"). INTERVAL 0: once, exit 1 if running, 0 if not.
[ -n "$1" ] && [ -n "$2" ] && [ -n "$HAHOME" ] || { echo "usage: $0 SERVICE INTERVAL (run by hasvrd)" >&2; exit 2; }
. "$HAHOME/bin/ocf_common.sh"
monitor() { ocf_run monitor; }
agent_main "$1" "$2" monitor
