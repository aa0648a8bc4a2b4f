#!/bin/sh
# informix_stop.sh SERVICE — onmode -ky (takes the server offline); offline already is fine.
[ -n "$1" ] && [ -n "$HAHOME" ] || { echo "usage: $0 SERVICE (run by hasvrd)" >&2; exit 2; }
. "$HAHOME/bin/informix_common.sh"
[ -z "$(mode)" ] && exit 0
as_owner onmode -ky
exit 0
