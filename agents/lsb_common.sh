# lsb_common.sh — sourced by lsb_start.sh, lsb_stop.sh and ha_ag_lsb.sh: the init script a
# service names (agent = lsb:NAME is /etc/init.d/NAME, or $HA_HA_INITDIR/NAME), run with the
# LSB conventions: start, stop, status (0 running, 3 stopped, other codes trouble).
. "$HAHOME/bin/shipped_lib.sh"
LSB_SCRIPT=${HA_HA_INITDIR:-/etc/init.d}/${HA_AGENT#lsb:}
if [ -z "$HA_AGENT" ] || [ ! -x "$LSB_SCRIPT" ]; then
    echo "service $1: no init script $LSB_SCRIPT (agent = ${HA_AGENT:-none})" >&2
    exit 5
fi
