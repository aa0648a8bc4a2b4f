# shipped_lib.sh — sourced by the scripts and agents SureHA ships for its service types
# (through their *_common.sh).
#
# as_user USER COMMAND...: runs COMMAND as USER when this is root and USER is not (the
# environment goes along), from /, where any user may be.
as_user() {
    u=$1
    shift
    if [ "$(id -u)" = 0 ] && [ "$u" != root ]; then
        (cd / && runuser -u "$u" -- "$@")
    else
        (cd / && "$@")
    fi
}

# first_address: the service's first floating address (active_ip may list several, or a
# range a~b).
first_address() {
    echo "$HA_ACTIVE_IP" | tr '~;' '  ' | awk '{ print $1 }'
}

# pid_alive FILE [NAME]: the process a pid file names runs (and, given NAME, is that
# program: a file left by a server that was killed names a number the system may since
# have given to another process).
pid_alive() {
    [ -f "$1" ] || return 1
    pid=$(cat "$1")
    kill -0 "$pid" 2>/dev/null || return 1
    [ -z "$2" ] || [ "$(ps -p "$pid" -o comm= 2>/dev/null)" = "$2" ]
}

# stop_pidfile FILE [NAME]: stops the process a pid file names (TERM, then KILL after 10 s)
# and removes the file; nothing running is stopped already, and with NAME, nothing but
# that program.
stop_pidfile() {
    if pid_alive "$1" "$2"; then
        pid=$(cat "$1")
        kill "$pid"
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$1"
    return 0
}

# The agent contract of DESIGN §6 around one check. `agent_main SERVICE INTERVAL CHECK` runs
# the shell function CHECK (0: the service is well) every INTERVAL seconds and reports it
# (APIOK.x / APIERROR.x) until SureHA says stop; INTERVAL 0: once, exit 1 if well, 0 if not.
agent_main() {
    svc=$1 interval=$2 check=$3
    PATH=$HAHOME/bin:$PATH
    if [ "$interval" -eq 0 ]; then
        if $check; then exit 1; else exit 0; fi
    fi
    APIOPEN.x "$svc" || exit 1
    while :; do
        if $check; then
            APIOK.x "$svc" || break
        else
            APIERROR.x "$svc" || break
        fi
        # The API call itself waits about a second.
        [ "$interval" -gt 1 ] && sleep $((interval - 1))
    done
    APICLOSE.x "$svc"
    exit 0
}
