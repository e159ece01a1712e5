#!/usr/bin/env bash
# Peer: repmgr's rejoin of a crashed former primary. repmgr node rejoin needs a cleanly shut
# down node, so crash recovery comes first (single-user mode, as in hand-rewind.sh), then
# `repmgr node rejoin --force-rewind`, which runs pg_rewind, restores the listed config files,
# writes standby config, starts the server and waits for it to attach. The final wait only
# confirms streaming (the same check as the other sequences). Run as the data directory's
# owner with PGPASSFILE set.
set -euo pipefail
if [ $# -ne 7 ]; then
    echo "usage: $0 PGBIN PGDATA REPMGR_CONF UPSTREAM_CONNINFO CONFIG_ARCHIVE_DIR NODE_NAME CHECK_CONNINFO" >&2
    exit 64
fi
pgbin=$1 pgdata=$2 conf=$3 upstream=$4 archive=$5 node=$6 check=$7

"$pgbin/postgres" --single -D "$pgdata" -c archive_mode=off -c listen_addresses= template1 </dev/null >/dev/null
"$pgbin/repmgr" -f "$conf" node rejoin -d "$upstream" --force-rewind \
    --config-files=postgresql.conf --config-archive-dir="$archive"

deadline=$((SECONDS + 300))
until [ "$("$pgbin/psql" -X -At -d "$check" -c "SELECT state FROM pg_stat_replication WHERE application_name = '$node'")" = streaming ]; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "not streaming after 300 s" >&2; exit 1; }
    sleep 0.1
done
