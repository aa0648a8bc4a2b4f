#!/bin/sh
# pgsql_start.sh SERVICE — starts PostgreSQL on the service's data directory and waits until
# it accepts connections.
[ -n "$1" ] && [ -n "$HAHOME" ] || { echo "usage: $0 SERVICE (run by hasvrd)" >&2; exit 2; }
. "$HAHOME/bin/pgsql_common.sh"
# On a volume, the volume lock makes this node the only one using the directory: a pid file
# there is a crashed node's, and its number means nothing on this machine.
[ -n "$HA_VOLUME" ] && rm -f "$PGDATA/postmaster.pid"
as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w -t 120 start
