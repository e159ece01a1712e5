#!/usr/bin/env bash
# make demo: a real two-node failover and rejoin in a temporary sandbox on 127.0.0.1.
#   pg1 primary with rows -> pg2 streaming standby -> pg1 takes rows pg2 never gets and crashes
#   -> pg2 promoted and written to -> `pg-rejoin --from pg2` on pg1 -> pg1 streams from pg2.
# Runs as root (servers run as the postgres OS user) or as an ordinary user.
set -euo pipefail

BIN=${PG_REJOIN:-$(cd "$(dirname "$0")/.." && pwd)/.build/debug/pg-rejoin}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
SANDBOX=$(mktemp -d /tmp/pg-rejoin-demo.XXXXXX)
chmod 755 "$SANDBOX"

if [ "$(id -u)" = 0 ]; then
    OSUSER=postgres
    as_pg() { runuser -u postgres -- "$@"; }
else
    OSUSER=$(id -un)
    as_pg() { "$@"; }
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P1=$(free_port); P2=$(free_port)
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
psql1() { as_pg "$PGBIN/psql" -X -q -h "$SANDBOX/pg1/sock" -p "$P1" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
psql2() { as_pg "$PGBIN/psql" -X -q -h "$SANDBOX/pg2/sock" -p "$P2" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }

cleanup() {
    for n in pg1 pg2; do
        [ -f "$SANDBOX/$n/data/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" stop -D "$SANDBOX/$n/data" -m immediate >/dev/null 2>&1 || true
    done
    if [ -z "${KEEP_SANDBOX:-}" ]; then rm -rf "$SANDBOX"; else echo "sandbox kept: $SANDBOX"; fi
}
trap cleanup EXIT

for n in pg1 pg2; do
    mkdir -p "$SANDBOX/$n/sock"
done
[ "$(id -u)" = 0 ] && chown -R "$OSUSER" "$SANDBOX/pg1" "$SANDBOX/pg2"

say "pg1: a primary on 127.0.0.1:$P1"
as_pg "$PGBIN/initdb" -D "$SANDBOX/pg1/data" -U postgres -A trust --data-checksums >/dev/null  # checksums: pg_rewind works
cat >> "$SANDBOX/pg1/data/postgresql.conf" <<CONF
port = $P1
listen_addresses = '127.0.0.1'
unix_socket_directories = '$SANDBOX/pg1/sock'
wal_level = replica
hot_standby = on
wal_keep_size = '256MB'
max_wal_senders = 10
CONF
cat >> "$SANDBOX/pg1/data/pg_hba.conf" <<CONF
host replication repl 127.0.0.1/32 scram-sha-256
host all         repl 127.0.0.1/32 scram-sha-256
CONF
as_pg "$PGBIN/pg_ctl" start -w -D "$SANDBOX/pg1/data" -l "$SANDBOX/pg1/server.log" >/dev/null
psql1 -c "CREATE ROLE repl LOGIN REPLICATION PASSWORD 'demo-secret'; GRANT pg_monitor, pg_checkpoint TO repl;"
# What pg_rewind's source role needs (PostgreSQL documentation, pg_rewind).
psql1 -c "GRANT EXECUTE ON FUNCTION pg_ls_dir(text, boolean, boolean), pg_stat_file(text, boolean),
          pg_read_binary_file(text), pg_read_binary_file(text, bigint, bigint, boolean) TO repl;"
psql1 -c "CREATE TABLE orders (id int PRIMARY KEY, note text); INSERT INTO orders SELECT g, 'before failover' FROM generate_series(1, 1000) g;"
printf '127.0.0.1:*:*:repl:demo-secret\n' > "$SANDBOX/pgpass"
chmod 600 "$SANDBOX/pgpass"; [ "$(id -u)" = 0 ] && chown "$OSUSER" "$SANDBOX/pgpass"

say "pg2: a streaming standby of pg1 on 127.0.0.1:$P2"
as_pg env PGPASSFILE="$SANDBOX/pgpass" "$PGBIN/pg_basebackup" -D "$SANDBOX/pg2/data" -h 127.0.0.1 -p "$P1" -U repl -X stream -R --checkpoint=fast -w
sed -i "s|^port = .*|port = $P2|; s|$SANDBOX/pg1/sock|$SANDBOX/pg2/sock|" "$SANDBOX/pg2/data/postgresql.conf"
as_pg "$PGBIN/pg_ctl" start -w -D "$SANDBOX/pg2/data" -l "$SANDBOX/pg2/server.log" >/dev/null
for _ in $(seq 50); do
    [ "$(psql2 -Atc "SELECT count(*) FROM orders" 2>/dev/null)" = 1000 ] && break; sleep 0.2
done
echo "pg2 has $(psql2 -Atc 'SELECT count(*) FROM orders') orders"

say "pg1 takes 50 orders pg2 never receives, then crashes (kill -9)"
as_pg "$PGBIN/pg_ctl" stop -w -D "$SANDBOX/pg2/data" -m fast >/dev/null
psql1 -c "INSERT INTO orders SELECT g, 'lost with pg1' FROM generate_series(1001, 1050) g;"
kill -9 "$(head -1 "$SANDBOX/pg1/data/postmaster.pid")"
sleep 1

say "failover: pg2 is promoted (new timeline) and takes new orders"
as_pg "$PGBIN/pg_ctl" start -w -D "$SANDBOX/pg2/data" -l "$SANDBOX/pg2/server.log" >/dev/null
as_pg "$PGBIN/pg_ctl" promote -w -D "$SANDBOX/pg2/data" >/dev/null
psql2 -c "INSERT INTO orders SELECT g, 'after failover' FROM generate_series(2001, 2100) g;"
echo "pg2: $(psql2 -Atc "SELECT 'timeline ' || timeline_id FROM pg_control_checkpoint()"), $(psql2 -Atc 'SELECT count(*) FROM orders') orders"

say "pg-rejoin --from 127.0.0.1:$P2 on pg1"
echo "\$ pg-rejoin --from 127.0.0.1:$P2 --pgdata $SANDBOX/pg1/data --passfile $SANDBOX/pgpass --node-name pg1"
"$BIN" --from "127.0.0.1:$P2" --pgdata "$SANDBOX/pg1/data" --passfile "$SANDBOX/pgpass" --node-name pg1

say "result"
echo "pg1 in recovery: $(psql1 -Atc 'SELECT pg_is_in_recovery()')"
echo "pg1 WAL receiver: $(psql1 -Atc "SELECT status || ' from ' || sender_host || ':' || sender_port FROM pg_stat_wal_receiver")"
echo "pg2 sees: $(psql2 -Atc "SELECT application_name || ' ' || state FROM pg_stat_replication")"
echo "pg1 orders: $(psql1 -Atc 'SELECT count(*) FROM orders') (pg2's 1100; pg1's 50 lost ones were rewound away)"
echo "what the rewind threw away is saved beside PGDATA:"
cat "$SANDBOX"/pg1/data.rejoin/divergence-*/report.txt | sed 's/^/  /'

say "the same story again, with a full copy (--method basebackup)"
as_pg "$PGBIN/pg_ctl" stop -w -D "$SANDBOX/pg1/data" -m fast >/dev/null
psql2 -c "INSERT INTO orders SELECT g, 'later' FROM generate_series(3001, 3010) g;"
"$BIN" --from "127.0.0.1:$P2" --pgdata "$SANDBOX/pg1/data" --passfile "$SANDBOX/pgpass" --node-name pg1 --method basebackup
echo "pg1 orders: $(psql1 -Atc 'SELECT count(*) FROM orders'), $(psql1 -Atc "SELECT status FROM pg_stat_wal_receiver") from pg2"
echo "old data kept beside PGDATA:"
ls -d "$SANDBOX"/pg1/data.old-* | sed 's/^/  /'
say "rerun: already a standby"
"$BIN" --from "127.0.0.1:$P2" --pgdata "$SANDBOX/pg1/data" --passfile "$SANDBOX/pgpass" --node-name pg1
