#!/bin/sh
# ocf_start.sh SERVICE — starts the service's OCF resource agent (validate-all, then start).
[ -n "$1" ] && [ -n "$HAHOME" ] || { echo "usage: $0 SERVICE (run by hasvrd)" >&2; exit 2; }
. "$HAHOME/bin/ocf_common.sh"
# An agent without validate-all (3) is not refused for it.
ocf_run validate-all || [ $? -eq 3 ] || exit 1
ocf_run start
