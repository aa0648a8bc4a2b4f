#!/bin/sh
# SureHA sample alert: a mail through sendmail(8) (any MTA that provides it).
# Copy this script and set TO (and FROM) to your addresses.
TO=${HA_ALERT_MAIL_TO:-root}
FROM=${HA_ALERT_MAIL_FROM:-sureha@$(uname -n)}
SENDMAIL=${HA_ALERT_SENDMAIL:-/usr/sbin/sendmail}
[ -x "$SENDMAIL" ] || { echo "no $SENDMAIL: install an MTA (e.g. postfix, msmtp-mta)"; exit 1; }
"$SENDMAIL" -t -f "$FROM" <<MAIL
From: $FROM
To: $TO
Subject: [SureHA] $HA_ALERT_EVENT on $HA_ALERT_NODE${HA_ALERT_SERVICE:+: $HA_ALERT_SERVICE}

Event:   $HA_ALERT_EVENT
Node:    $HA_ALERT_NODE
Service: ${HA_ALERT_SERVICE:-(none: a node's event)}
Time:    $HA_ALERT_TIME

$HA_ALERT_DESC
MAIL
