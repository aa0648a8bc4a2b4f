# mysql_common.sh — sourced by mysql_start.sh, mysql_stop.sh and ha_ag_mysql.sh: Debian's
# MariaDB (or MySQL) server with its data directory at the service's `path` (usually on its
# volume). Keys: path (the data directory), username (the system user running the server:
# mysql), ha_port (3306). The server listens on every address, on ha_port; its socket and
# pid file are in /run/sureha-mysql/NODE.
. "$HAHOME/bin/shipped_lib.sh"
MY_DATA=$HA_PATH
MY_USER=${HA_USERNAME:-mysql}
MY_PORT=${HA_HA_PORT:-3306}
MY_RUN=/run/sureha-mysql/$HANODE
MY_SOCK=$MY_RUN/$1.sock
MY_PID=$MY_RUN/$1.pid
MYSQLD=$(command -v mariadbd || command -v mysqld || ls /usr/sbin/mariadbd /usr/sbin/mysqld 2>/dev/null | head -n 1)
MYADMIN=$(command -v mariadb-admin || command -v mysqladmin)
if [ -z "$MY_DATA" ] || [ -z "$MYSQLD" ] || [ -z "$MYADMIN" ]; then
    echo "service $1: MYSQL needs path (the data directory: ${MY_DATA:-none}) and the server (Debian: mariadb-server)" >&2
    exit 5
fi
my_ping() {
    "$MYADMIN" --no-defaults --socket="$MY_SOCK" --connect-timeout=5 ping >/dev/null 2>&1
}
