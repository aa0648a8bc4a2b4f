#!/bin/sh
# mysql_start.sh SERVICE — starts the server on the service's data directory, in the
# background, and returns once it answers.
[ -n "$1" ] && [ -n "$HAHOME" ] || { echo "usage: $0 SERVICE (run by hasvrd)" >&2; exit 2; }
. "$HAHOME/bin/mysql_common.sh"
my_ping && exit 0
[ -d "$MY_DATA/mysql" ] || { echo "MYSQL: $MY_DATA holds no database (mariadb-install-db; mounted?)" >&2; exit 6; }
mkdir -p "$MY_RUN" && chown "$MY_USER" "$MY_RUN"
# The volume lock makes this node the only one on the directory: a pid file there is a
# crashed node's.
rm -f "$MY_PID"
(cd / && setsid "$MYSQLD" --no-defaults --user="$MY_USER" --datadir="$MY_DATA" \
    --socket="$MY_SOCK" --pid-file="$MY_PID" --port="$MY_PORT" --bind-address=0.0.0.0 \
    --log-error="$MY_RUN/$1.err" </dev/null >/dev/null 2>&1 &)
for _ in $(seq 600); do
    my_ping && exit 0
    sleep 0.1
done
echo "MYSQL: the server does not answer after 60 s; see $MY_RUN/$1.err" >&2
tail -n 5 "$MY_RUN/$1.err" >&2
exit 1
