#!/bin/sh
# SureHA sample alert: to syslog through logger(1), facility daemon.
#   [alert syslog]
#   program = /opt/sureha/bin/alert_syslog.sh
# Events that need someone are logged at warning, the rest at notice.
case "$HA_ALERT_EVENT" in
failover | takeover | error | node-down | partition | both-claim) pri=daemon.warning ;;
*) pri=daemon.notice ;;
esac
exec logger -t sureha -p "$pri" -- "$HA_ALERT_EVENT on $HA_ALERT_NODE${HA_ALERT_SERVICE:+ ($HA_ALERT_SERVICE)}: $HA_ALERT_DESC"
