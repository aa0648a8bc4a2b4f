#!/usr/bin/env bash
# Idle CPU per node of a two-node cluster on loopback (alpha 127.0.0.1, beta 127.0.0.2):
# 1 s heartbeats, one protected service without agent, nothing happening. CPU time from
# /proc/PID/task/*/schedstat (nanoseconds) of every process of the node, per DURATION
# seconds, RUNS runs. No root needed.
# Usage: bench/idle-pair.sh   (env: DURATION=60 RUNS=3)
set -euo pipefail
DURATION=${DURATION:-60}
RUNS=${RUNS:-3}
top=$(cd "$(dirname "$0")/.." && pwd)
A=$(mktemp -d /tmp/sureha-idle-alpha.XXXXXX)
B=$(mktemp -d /tmp/sureha-idle-beta.XXXXXX)

pids_of() {
    for e in /proc/[0-9]*/environ; do
        if grep -qxzF "HAHOME=$1" "$e" 2>/dev/null; then
            p=${e#/proc/}; echo "${p%/environ}"
        fi
    done
}
cleanup() {
    for _ in 1 2 3; do
        for h in "$A" "$B"; do for p in $(pids_of "$h"); do kill -9 "$p" 2>/dev/null || true; done; done
        sleep 0.1
    done
    rm -rf "$A" "$B"
}
trap cleanup EXIT

port=$((24000 + $$ % 1000 * 2))
for h in "$A" "$B"; do
    make -s -C "$top" install HAHOME="$h" >/dev/null
    printf '#!/bin/sh\nexit 0\n' > "$h/bin/svc.start"
    cp "$h/bin/svc.start" "$h/bin/svc.stop"
    chmod 755 "$h/bin/svc.start" "$h/bin/svc.stop"
    cat > "$h/etc/sureha.conf" <<C
[privnet lan]
type = socket
host1 = alpha
host2 = beta
ip1 = 127.0.0.1
ip2 = 127.0.0.2
port = $port
interval = 1s

[service web]
active_server = alpha
standby_server = beta
start = svc.start
stop = svc.stop
C
done
cp "$A/etc/authkey" "$B/etc/authkey"
HAHOME=$A HANODE=alpha "$A/bin/hamond"
HAHOME=$B HANODE=beta "$B/bin/hamond"
sleep 3
HAHOME=$A HANODE=alpha "$A/bin/haadm" service bringin web >/dev/null
sleep 3

cpu_ns() {
    local sum=0 v
    for p in $(pids_of "$1"); do
        for t in /proc/"$p"/task/*/schedstat; do
            v=$(awk '{ print $1 }' "$t" 2>/dev/null || echo 0)
            sum=$((sum + v))
        done
    done
    echo "$sum"
}
echo "SureHA idle, two nodes on loopback, 1 s heartbeats, one service, no agent"
for r in $(seq "$RUNS"); do
    a0=$(cpu_ns "$A"); b0=$(cpu_ns "$B"); sleep "$DURATION"; a1=$(cpu_ns "$A"); b1=$(cpu_ns "$B")
    echo "  run $r: CPU per node in ${DURATION}s: alpha $(awk -v d=$((a1 - a0)) 'BEGIN { printf "%.4f", d / 1e9 }') s, beta $(awk -v d=$((b1 - b0)) 'BEGIN { printf "%.4f", d / 1e9 }') s; processes alpha $(pids_of "$A" | wc -l), beta $(pids_of "$B" | wc -l)"
done
HAHOME=$A HANODE=alpha "$A/bin/haadm" stop >/dev/null || true
HAHOME=$B HANODE=beta "$B/bin/haadm" stop >/dev/null || true
