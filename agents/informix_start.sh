#!/bin/sh
# informix_start.sh SERVICE — oninit, then waits until onstat says On-Line.
[ -n "$1" ] && [ -n "$HAHOME" ] || { echo "usage: $0 SERVICE (run by hasvrd)" >&2; exit 2; }
. "$HAHOME/bin/informix_common.sh"
[ "$(mode)" = On-Line ] && exit 0
as_owner oninit -y || exit 1
for _ in $(seq 120); do
    [ "$(mode)" = On-Line ] && exit 0
    sleep 1
done
echo "INFORMIX: $INFORMIXSERVER is $(mode) after oninit, not On-Line" >&2
exit 1
