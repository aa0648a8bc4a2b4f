# pgsql_common.sh — sourced by pgsql_start.sh, pgsql_stop.sh and ha_ag_pgsql.sh: Debian's
# PostgreSQL with its data directory at the service's `path` (usually on its volume).
# Keys: path (the data directory), username (the system user running the server: postgres),
# ha_pgbin (the directory of pg_ctl: the newest /usr/lib/postgresql/*/bin), ha_host and
# ha_port (where the agent's query goes: 127.0.0.1, 5432).
. "$HAHOME/bin/shipped_lib.sh"
PGDATA=$HA_PATH
PGBIN=${HA_HA_PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
PGOSUSER=${HA_USERNAME:-postgres}
if [ -z "$PGDATA" ] || [ ! -x "$PGBIN/pg_ctl" ]; then
    echo "service $1: PGSQL needs path (the data directory: ${PGDATA:-none}) and pg_ctl (${PGBIN:-none}; Debian: postgresql)" >&2
    exit 5
fi
# The server never runs as root.
as_postgres() { as_user "$PGOSUSER" "$@"; }
