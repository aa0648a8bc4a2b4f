#!/bin/sh
# pgsql_stop.sh SERVICE — stops PostgreSQL (fast: sessions end, committed work is kept);
# a server that is not running is stopped already.
[ -n "$1" ] && [ -n "$HAHOME" ] || { echo "usage: $0 SERVICE (run by hasvrd)" >&2; exit 2; }
. "$HAHOME/bin/pgsql_common.sh"
as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1 || exit 0
as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop
