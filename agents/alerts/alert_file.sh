#!/bin/sh
# SureHA sample alert: one line per event appended to a file (default /var/log/sureha-alerts.log;
# another: copy this script and change FILE). Lines are shorter than PIPE_BUF and appended
# in one write, so runs at once do not mix.
FILE=${HA_ALERT_FILE:-/var/log/sureha-alerts.log}
printf '%s %s %s %s %s\n' "$HA_ALERT_TIME" "$HA_ALERT_NODE" "$HA_ALERT_EVENT" "${HA_ALERT_SERVICE:--}" "$HA_ALERT_DESC" | cut -c1-4000 >> "$FILE"
