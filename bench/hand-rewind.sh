#!/usr/bin/env bash
# Baseline for pg-rejoin's rewind path: the pg_rewind sequence done by hand on a crashed former
# primary. Crash recovery in single-user mode (no connections, no archiving; stdin /dev/null:
# it recovers, then shuts down cleanly), save this node's postgresql.conf (pg_rewind copies
# the upstream's over it), pg_rewind --source-server, put the config back, write standby
# config, pg_ctl -w start, wait until the upstream lists the node as streaming. Run as the data
# directory's owner; libpq reads the password from PASSFILE.
set -euo pipefail
if [ $# -ne 7 ]; then
    echo "usage: $0 PGBIN PGDATA UPSTREAM_HOST UPSTREAM_PORT PASSFILE NODE_NAME SERVER_LOG" >&2
    exit 64
fi
pgbin=$1 pgdata=$2 host=$3 port=$4 passfile=$5 node=$6 serverlog=$7
upstream="host=$host port=$port user=repl dbname=postgres passfile=$passfile"
saved=$(mktemp -d)
trap 'rm -rf -- "$saved"' EXIT

"$pgbin/postgres" --single -D "$pgdata" -c archive_mode=off -c listen_addresses= template1 </dev/null >/dev/null
cp -- "$pgdata/postgresql.conf" "$saved/"
"$pgbin/pg_rewind" --target-pgdata "$pgdata" --source-server "$upstream"
cp -- "$saved/postgresql.conf" "$pgdata/postgresql.conf"
printf "primary_conninfo = '%s'\n" "$upstream application_name=$node" >>"$pgdata/postgresql.auto.conf"
touch "$pgdata/standby.signal"
"$pgbin/pg_ctl" -w start -D "$pgdata" -l "$serverlog" >/dev/null

deadline=$((SECONDS + 300))
until [ "$("$pgbin/psql" -X -At -d "$upstream" -c "SELECT state FROM pg_stat_replication WHERE application_name = '$node'")" = streaming ]; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "not streaming after 300 s" >&2; exit 1; }
    sleep 0.1
done
