#!/bin/sh
# ha_ag_mysql.sh SERVICE INTERVAL — the agent of a MYSQL service: a real query (select 1)
# every INTERVAL seconds; INTERVAL 0: once, exit 1 if it answers, 0 if not.
[ -n "$1" ] && [ -n "$2" ] && [ -n "$HAHOME" ] || { echo "usage: $0 SERVICE INTERVAL (run by hasvrd)" >&2; exit 2; }
. "$HAHOME/bin/mysql_common.sh"
MYCLIENT=$(command -v mariadb || command -v mysql)
answers() {
    out=$("$MYCLIENT" --no-defaults --socket="$MY_SOCK" --connect-timeout=5 -u root -N -B -e 'select 1' 2>&1)
    [ "$out" = 1 ] || { echo "MYSQL: select 1 answered: $out" >&2; return 1; }
}
agent_main "$1" "$2" answers
