#!/bin/sh
# www_start.sh SERVICE — starts lighttpd on the service's document root (or its own
# configuration) and returns once it answers through the service's address.
[ -n "$1" ] && [ -n "$HAHOME" ] || { echo "usage: $0 SERVICE (run by hasvrd)" >&2; exit 2; }
. "$HAHOME/bin/www_common.sh"
[ -x "$LIGHTTPD" ] || { echo "WWW: no lighttpd ($LIGHTTPD; Debian: lighttpd)" >&2; exit 5; }
www_running && exit 0
case $WWW_PATH in
*.conf) conf=$WWW_PATH ;;
*)
    [ -d "$WWW_PATH" ] || { echo "WWW: path $WWW_PATH is not a directory (mounted?)" >&2; exit 6; }
    mkdir -p "$WWW_RUN" && chmod 755 "$WWW_RUN" && : > "$WWW_LOG"
    user=
    if [ "$(id -u)" = 0 ] && id www-data >/dev/null 2>&1; then
        chown www-data "$WWW_LOG"
        user='server.username = "www-data"
server.groupname = "www-data"'
    fi
    cat > "$WWW_CONF" <<C
server.document-root = "$WWW_PATH"
server.bind = "$WWW_ADDR"
server.port = $WWW_PORT
server.pid-file = "$WWW_PID"
server.errorlog = "$WWW_LOG"
index-file.names = ( "index.html", "index.htm" )
mimetype.assign = ( ".html" => "text/html", ".htm" => "text/html", ".txt" => "text/plain", ".css" => "text/css", ".js" => "text/javascript", "" => "application/octet-stream" )
$user
C
    conf=$WWW_CONF ;;
esac
"$LIGHTTPD" -t -f "$conf" >/dev/null || { echo "WWW: lighttpd refuses $conf" >&2; exit 6; }
"$LIGHTTPD" -f "$conf" || exit 1
for _ in $(seq 100); do
    http_ok 2>/dev/null && exit 0
    sleep 0.1
done
http_ok
