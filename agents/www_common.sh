# www_common.sh — sourced by www_start.sh, www_stop.sh and ha_ag_www.sh: a web server
# (Debian's lighttpd) for a WWW service. Keys: path (the document root, or a lighttpd
# configuration file ending in .conf), ha_port (80), ha_lighttpd (the program). The server
# listens on the service's first address; the agent's check is an HTTP GET through it.
. "$HAHOME/bin/shipped_lib.sh"
WWW_PATH=$HA_PATH
WWW_PORT=${HA_HA_PORT:-80}
WWW_ADDR=$(first_address)
# Runtime files where the server, once it is www-data, can still write its log.
WWW_RUN=/run/sureha-www/$HANODE
WWW_CONF=$WWW_RUN/$1.conf
WWW_PID=$WWW_RUN/$1.pid
WWW_LOG=$WWW_RUN/$1.error.log
LIGHTTPD=${HA_HA_LIGHTTPD:-$(command -v lighttpd || echo /usr/sbin/lighttpd)}
if [ -z "$WWW_PATH" ] || [ -z "$WWW_ADDR" ]; then
    echo "service $1: WWW needs path (${WWW_PATH:-none}) and active_ip (${WWW_ADDR:-none})" >&2
    exit 6
fi

# 0 when the server answers a GET through the service's address with 2xx or 3xx.
http_ok() {
    url=http://$WWW_ADDR:$WWW_PORT/
    if command -v curl >/dev/null; then
        code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' "$url")
    elif command -v wget >/dev/null; then
        wget -q -T 5 -t 1 -O /dev/null "$url" && code=200 || code=000
    else
        code=$(printf 'GET / HTTP/1.0\r\nHost: %s\r\n\r\n' "$WWW_ADDR" \
            | socat -T5 - "TCP:$WWW_ADDR:$WWW_PORT,connect-timeout=5" 2>/dev/null \
            | head -n 1 | awk '{ print $2 }')
    fi
    case $code in
    2??|3??) return 0 ;;
    *) echo "WWW: GET $url answered ${code:-nothing}" >&2; return 1 ;;
    esac
}

www_running() { pid_alive "$WWW_PID" "$(basename "$LIGHTTPD")"; }
