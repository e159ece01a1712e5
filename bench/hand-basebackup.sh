#!/usr/bin/env bash
# Baseline for pg-rejoin's basebackup path: the classic rejoin done by hand. Stop the old
# primary, move its data directory aside (as pg-rejoin does; nothing deleted), pg_basebackup
# -X stream --checkpoint=fast, put this node's own postgresql.conf back (the copy brought the
# upstream's), write standby config, pg_ctl -w start, wait until the upstream lists the node as
# streaming. Run as the data directory's owner. No password on any command line: libpq reads
# it from PASSFILE.
set -euo pipefail
if [ $# -ne 7 ]; then
    echo "usage: $0 PGBIN PGDATA UPSTREAM_HOST UPSTREAM_PORT PASSFILE NODE_NAME SERVER_LOG" >&2
    exit 64
fi
pgbin=$1 pgdata=$2 host=$3 port=$4 passfile=$5 node=$6 serverlog=$7
upstream="host=$host port=$port user=repl dbname=postgres passfile=$passfile"

"$pgbin/pg_ctl" -w stop -D "$pgdata" -m fast >/dev/null
mv -- "$pgdata" "$pgdata.old"
"$pgbin/pg_basebackup" -D "$pgdata" -d "$upstream" -X stream --checkpoint=fast
cp -- "$pgdata.old/postgresql.conf" "$pgdata/postgresql.conf"
printf "primary_conninfo = '%s'\n" "$upstream application_name=$node" >>"$pgdata/postgresql.auto.conf"
touch "$pgdata/standby.signal"
"$pgbin/pg_ctl" -w start -D "$pgdata" -l "$serverlog" >/dev/null

deadline=$((SECONDS + 300))
until [ "$("$pgbin/psql" -X -At -d "$upstream" -c "SELECT state FROM pg_stat_replication WHERE application_name = '$node'")" = streaming ]; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "not streaming after 300 s" >&2; exit 1; }
    sleep 0.1
done
