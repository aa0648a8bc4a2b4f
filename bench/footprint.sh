#!/usr/bin/env bash
# Idle footprint and repair time of one SureHA node (no root needed).
#
# - CPU of every SureHA process (hamond, hasvrd, both agents and everything they run) over
#   DURATION seconds with two services at check_interval = 1s (the C template agent and the
#   shell template agent), median of RUNS runs;
# - resident memory of hamond and hasvrd;
# - time from kill -9 of hasvrd (then of hamond) until a new one runs and hasvrd answers,
#   median of REPAIRS runs.
# Usage: bench/footprint.sh   (env: DURATION=60 RUNS=3 REPAIRS=5)
set -euo pipefail
DURATION=${DURATION:-60}
RUNS=${RUNS:-3}
REPAIRS=${REPAIRS:-5}
top=$(cd "$(dirname "$0")/.." && pwd)
H=$(mktemp -d /tmp/sureha-bench.XXXXXX)
export HAHOME=$H HANODE=alpha
TCK=$(getconf CLK_TCK)

pids_of_node() {
    for e in /proc/[0-9]*/environ; do
        if grep -qxzF "HAHOME=$H" "$e" 2>/dev/null; then
            p=${e#/proc/}; echo "${p%/environ}"
        fi
    done
}
cleanup() {
    for _ in 1 2 3; do
        for p in $(pids_of_node); do kill -9 "$p" 2>/dev/null || true; done
        sleep 0.1
    done
    rm -rf "$H"
}
trap cleanup EXIT

make -s -C "$top" install HAHOME="$H" >/dev/null
(cd "$H/bin" && cc ha_ag_tmp.c -o ha_ag_tmp.x -I"$H/include" -L"$H/lib" -lhaapi)
cat > "$H/bin/svc.start" <<'S'
#!/bin/sh
exit 0
S
cp "$H/bin/svc.start" "$H/bin/svc.stop"
chmod 755 "$H/bin/svc.start" "$H/bin/svc.stop"
cat > "$H/etc/sureha.conf" <<'C'
[privnet lan]
type = socket
host1 = alpha
host2 = beta
ip1 = 127.0.0.1
ip2 = 127.0.0.2
interval = 1s

[service cweb]
active_server = alpha
standby_server = beta
start = svc.start
stop = svc.stop
agent = ha_ag_tmp.x
check_interval = 1s

[service sweb]
active_server = alpha
standby_server = beta
start = svc.start
stop = svc.stop
agent = ha_ag_tmp.sh
check_interval = 1s
C
touch "$H/tmp/agent" "$H/tmp/agent.sweb"
"$H/bin/hamond"
"$H/bin/haadm" service bringin cweb >/dev/null
"$H/bin/haadm" service bringin sweb >/dev/null

# utime+stime of a process and of its reaped children, in ticks.
ticks() {
    awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
total_ticks() {
    local sum=0
    for p in $(pids_of_node); do sum=$((sum + $(ticks "$p"))); done
    echo $sum
}
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

sleep 3
echo "SureHA idle footprint: two services, check_interval 1s, C and shell template agents"
cpus=()
for r in $(seq "$RUNS"); do
    # Only long-lived processes count; short ones end up in their parent's reaped-child time.
    before=$(total_ticks); sleep "$DURATION"; after=$(total_ticks)
    pct=$(awk -v d=$((after - before)) -v t="$TCK" -v s="$DURATION" 'BEGIN { printf "%.3f", 100 * d / (t * s) }')
    echo "  run $r: $((after - before)) ticks in ${DURATION}s = ${pct}% of one CPU"
    cpus+=("$pct")
done
echo "  CPU, all SureHA processes (median of $RUNS): $(printf '%s\n' "${cpus[@]}" | median)%"
for d in hamond hasvrd; do
    pid=$(cat "$H/tmp/$d.pid")
    echo "  $d: RSS $(awk '/^Rss/ { print $2 }' "/proc/$pid/smaps_rollup") kB, of which shared with other processes (libc, ld.so) $(awk '/^Shared_(Clean|Dirty)/ { s += $2 } END { print s }' "/proc/$pid/smaps_rollup") kB; private $(awk '/^Private_(Clean|Dirty)/ { s += $2 } END { print s }' "/proc/$pid/smaps_rollup") kB; PSS $(awk '/^Pss:/ { print $2 }' "/proc/$pid/smaps_rollup") kB"
done

now_ms() { date +%s%3N; }
repair() {
    local d=$1 old new t0
    old=$(cat "$H/tmp/$d.pid")
    t0=$(now_ms)
    kill -9 "$old"
    for _ in $(seq 500); do
        new=$(cat "$H/tmp/$d.pid" 2>/dev/null || true)
        if [ -n "$new" ] && [ "$new" != "$old" ] && kill -0 "$new" 2>/dev/null \
            && "$H/bin/haadm" status >/dev/null 2>&1; then
            echo $(( $(now_ms) - t0 )); return
        fi
        sleep 0.01
    done
    echo 99999
}
for d in hasvrd hamond; do
    times=()
    for _ in $(seq "$REPAIRS"); do times+=("$(repair $d)"); sleep 12; done
    echo "  repair after kill -9 $d: median $(printf '%s\n' "${times[@]}" | median) ms (runs: ${times[*]})"
done
"$H/bin/haadm" status | grep SERVICE | sed 's/^/  /'
"$H/bin/haadm" stop >/dev/null
