#!/bin/sh
# SureHA sample alert: a JSON POST with curl(1) to a webhook (chat, incident tool).
# Copy this script and set URL; keep the [alert] timeout above curl's --max-time.
URL=${HA_ALERT_WEBHOOK_URL:-http://127.0.0.1:9099/sureha}
# JSON strings: backslashes and quotes escaped, control characters dropped.
json() { printf '%s' "$1" | tr -d '\000-\037' | sed 's/\\/\\\\/g; s/"/\\"/g'; }
body=$(printf '{"event":"%s","node":"%s","service":"%s","time":"%s","description":"%s"}' \
    "$(json "$HA_ALERT_EVENT")" "$(json "$HA_ALERT_NODE")" "$(json "$HA_ALERT_SERVICE")" \
    "$(json "$HA_ALERT_TIME")" "$(json "$HA_ALERT_DESC")")
exec curl -fsS --max-time 8 -H 'Content-Type: application/json' --data-binary "$body" "$URL"
