#!/bin/bash
# End-to-end test of pg-rejoin behind keepalived, in two network namespaces of its own.
# Driven by KeepalivedEndToEndTests.swift (test harness only: the product never uses a shell).
#
#   PG_REJOIN_BIN=... PG_BINDIR=... FIXTURES=.../fixtures/ha WORK=/tmp/dir keepalived-e2e.sh
#
# Two namespaces joined by a veth pair, addresses of the test's own (10.201.0.1 and .2, VIP
# .100), PostgreSQL and keepalived (Debian's, configured from fixtures/ha/keepalived-pg*.conf
# and fixtures/ha/pg-check-promote.sh) in each. pg1 is the primary holding the VIP, pg2 its
# standby. The test kills pg1's postgres: the VIP moves to pg2 and the check script promotes
# it. pg1's postgres is started again (a stale primary on the old timeline); keepalived's
# notify on pg1 calls `pg-rejoin keepalived-notify`, whose detached heal makes pg1 a streaming
# standby of pg2. Every connection to a namespace address is made from inside a namespace.
# Exit 0: passed; 77: skipped (no root, or `ip netns add` not permitted); else failed.
set -euo pipefail

: "${PG_REJOIN_BIN:?}" "${PG_BINDIR:?}" "${FIXTURES:?}" "${WORK:?}"

say() { printf '%s e2e: %s\n' "$(date -u +%H:%M:%S.%N | cut -c1-12)" "$*"; }
fail() { say "FAILED: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || { echo "SKIP: the keepalived end-to-end test needs root (network namespaces, keepalived)"; exit 77; }
command -v keepalived >/dev/null || fail "keepalived is not installed (make deps installs it: apt-get install keepalived)"

run_id=$(printf '%04x%04x' "$$" "$RANDOM")
ns_a="pgrj-a-$run_id"
ns_b="pgrj-b-$run_id"
veth_a="pgrja$run_id"
veth_b="pgrjb$run_id"
vrid=$(( (RANDOM % 200) + 20 ))
ip_a=10.201.0.1
ip_b=10.201.0.2
vip=10.201.0.100
port=5432
secure="/run/pgrj-$run_id"      # root-owned path for keepalived's script security
password="e2e-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
keepalived_pids=()

if ! ip netns add "$ns_a" 2>/dev/null; then
    echo "SKIP: creating a network namespace is not permitted here (ip netns add failed); the keepalived end-to-end test needs it"
    exit 77
fi

cleanup() {
    local status=$?
    set +e
    trap - EXIT INT TERM
    say "cleaning up (status $status)"
    for pid in "${keepalived_pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${keepalived_pids[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
    done
    # Heals that keepalived-notify started (their pids are in the stamp files).
    for stamp in "$WORK"/pg?/data.rejoin/keepalived-notify.stamp; do
        [ -f "$stamp" ] || continue
        read -r pid _ < "$stamp" || continue
        kill -KILL "$pid" 2>/dev/null
    done
    for node in pg1 pg2; do
        if [ -f "$WORK/$node/data/postmaster.pid" ]; then
            runuser -u postgres -- "$PG_BINDIR/pg_ctl" stop -D "$WORK/$node/data" -m immediate -w >/dev/null 2>&1
        fi
    done
    if [ "$status" -ne 0 ]; then
        for f in "$WORK"/keepalived-*.log "$WORK"/pg?/data.rejoin/keepalived-notify.log "$WORK"/pg?/server.log; do
            [ -f "$f" ] || continue
            echo "----- tail of $f"
            tail -n 40 "$f"
        done
    fi
    ip netns del "$ns_a" 2>/dev/null
    ip netns del "$ns_b" 2>/dev/null
    rm -rf "$secure"
    exit "$status"
}
trap cleanup EXIT INT TERM

# Polls `$@` until it succeeds, for at most $1 seconds.
wait_for() {
    local seconds=$1 what=$2
    shift 2
    local deadline=$(( $(date +%s) + seconds ))
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$deadline" ] || fail "timed out after ${seconds}s waiting for: $what"
        sleep 0.2
    done
    say "ok: $what"
}

# ---- network: two namespaces, a veth pair, nothing else
ip netns add "$ns_b"
ip link add "$veth_a" netns "$ns_a" type veth peer name "$veth_b" netns "$ns_b"
ip -n "$ns_a" addr add "$ip_a/24" dev "$veth_a"
ip -n "$ns_b" addr add "$ip_b/24" dev "$veth_b"
for ns in "$ns_a" "$ns_b"; do ip -n "$ns" link set lo up; done
ip -n "$ns_a" link set "$veth_a" up
ip -n "$ns_b" link set "$veth_b" up
say "namespaces $ns_a ($ip_a) and $ns_b ($ip_b), VIP $vip, virtual_router_id $vrid"

# ---- PostgreSQL helpers (always inside the node's namespace)
# sql_is NODE SQL EXPECTED: the query's answer is EXPECTED (evaluated anew on each call).
sql_is() { [ "$(psql_on "$1" "$2" 2>/dev/null)" = "$3" ]; }
ns_of() { [ "$1" = pg1 ] && echo "$ns_a" || echo "$ns_b"; }
ip_of() { [ "$1" = pg1 ] && echo "$ip_a" || echo "$ip_b"; }
in_ns_pg() { local node=$1; shift; ip netns exec "$(ns_of "$node")" runuser -u postgres -- "$@"; }
psql_on() { in_ns_pg "$1" "$PG_BINDIR/psql" -X -q -A -t -h "$WORK/$1/sock" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -c "$2"; }
pg_start() { in_ns_pg "$1" "$PG_BINDIR/pg_ctl" start -w -t 60 -D "$WORK/$1/data" -l "$WORK/$1/server.log" >/dev/null; }
node_settings() {
    cat <<EOF

# e2e node $1
listen_addresses = '$(ip_of "$1")'
port = $port
unix_socket_directories = '$WORK/$1/sock'
wal_level = replica
hot_standby = on
wal_log_hints = on
max_wal_senders = 10
wal_keep_size = '256MB'
fsync = off
EOF
}

mkdir -p "$WORK/pg1/sock" "$WORK/pg2/sock"
printf '*:*:*:repl:%s\n' "$password" > "$WORK/pgpass"
chmod 600 "$WORK/pgpass"
chown -R postgres:postgres "$WORK"

runuser -u postgres -- "$PG_BINDIR/initdb" -D "$WORK/pg1/data" -U postgres -A trust >/dev/null
node_settings pg1 >> "$WORK/pg1/data/postgresql.conf"
cat >> "$WORK/pg1/data/pg_hba.conf" <<EOF
host replication repl 10.201.0.0/24 scram-sha-256
host all         repl 10.201.0.0/24 scram-sha-256
EOF
pg_start pg1
psql_on pg1 "CREATE ROLE repl LOGIN REPLICATION PASSWORD '$password';"
psql_on pg1 "CREATE TABLE orders (id int PRIMARY KEY, note text); INSERT INTO orders SELECT g, 'before' FROM generate_series(1, 1000) g;"
in_ns_pg pg2 env PGPASSFILE="$WORK/pgpass" "$PG_BINDIR/pg_basebackup" -D "$WORK/pg2/data" -h "$ip_a" -p "$port" -U repl \
    -X stream -R --checkpoint=fast -w
node_settings pg2 >> "$WORK/pg2/data/postgresql.conf"
pg_start pg2
wait_for 30 "pg2 streams from pg1" sql_is pg2 "SELECT status FROM pg_stat_wal_receiver" streaming

# ---- pg-rejoin and keepalived, from the fixtures
install -d -m 0755 "$secure"
install -m 0755 "$PG_REJOIN_BIN" "$secure/pg-rejoin"
install -m 0755 "$FIXTURES/pg-check-promote.sh" "$secure/pg-check-promote.sh"
for node in pg1 pg2; do
    cat > "$secure/$node.toml" <<EOF
pgdata = "$WORK/$node/data"
bindir = "$PG_BINDIR"
passfile = "$WORK/pgpass"
node_name = "$node"
peers = ["$ip_a:$port", "$ip_b:$port"]
method = "basebackup"
verify_timeout = 90
connect_timeout = 5

[heal]
discovery_timeout = 2
# Behind keepalived, a primary without the VIP is the stale one: the operator lets heal stop
# and rejoin it (without this, heal alerts with exit 13 and changes nothing).
demote_on_split_brain = true

[keepalived]
# Decide at once: the heal a FAULT starts finds no primary yet and leaves the crashed node
# alone; the BACKUP after postgres is back (a stale primary) is the one that rejoins it.
wait_for_primary = 0
debounce = 60
EOF
    "$secure/pg-rejoin" config check --config "$secure/$node.toml" >/dev/null
    if [ "$node" = pg1 ]; then fixture=keepalived-pg1.conf; else fixture=keepalived-pg2.conf; fi
    if [ "$node" = pg1 ]; then veth=$veth_a; else veth=$veth_b; fi
    sed -e "s|10\.0\.0\.100|$vip|g" -e "s|10\.0\.0\.1|$ip_a|g" -e "s|10\.0\.0\.2|$ip_b|g" \
        -e "s|interface eth0|interface $veth|" -e "s|virtual_router_id 51|virtual_router_id $vrid|" \
        -e "s|/usr/local/lib/pg-rejoin/pg-check-promote.sh|$secure/pg-check-promote.sh|" \
        -e "s|/var/lib/postgresql/15/main|$WORK/$node/data|" -e "s|/usr/lib/postgresql/15/bin|$PG_BINDIR|" \
        -e "s|/var/run/postgresql|$WORK/$node/sock|" \
        -e "s|/usr/local/bin/pg-rejoin|$secure/pg-rejoin|" -e "s|/etc/pg-rejoin/pg-rejoin.toml|$secure/$node.toml|" \
        "$FIXTURES/$fixture" > "$secure/keepalived-$node.conf"
    ip netns exec "$(ns_of "$node")" keepalived -t -f "$secure/keepalived-$node.conf" >"$WORK/keepalived-check-$node.log" 2>&1 \
        || { cat "$WORK/keepalived-check-$node.log"; fail "keepalived -t refused the $node config made from $fixture"; }
done

start_keepalived() {
    local node=$1
    ip netns exec "$(ns_of "$node")" keepalived -n -l -D -f "$secure/keepalived-$node.conf" \
        -p "$secure/keepalived-$node.pid" -r "$secure/vrrp-$node.pid" -c "$secure/checkers-$node.pid" \
        >"$WORK/keepalived-$node.log" 2>&1 &
    keepalived_pids+=("$!")
}
# pg1 first, alone: it wins the first election for sure, and pg2 then joins as BACKUP.
start_keepalived pg1

holds_vip() { ip -n "$(ns_of "$1")" -o -4 addr show | grep -qF " $vip/"; }
notified() { grep -qF "$2" "$WORK/$1/data.rejoin/keepalived-notify.log"; }
heal_done() {
    local stamp="$WORK/$1/data.rejoin/keepalived-notify.stamp" pid
    [ -f "$stamp" ] || return 0
    read -r pid _ < "$stamp"
    ! kill -0 "$pid" 2>/dev/null || grep -q '^[^)]*) Z' "/proc/$pid/stat" 2>/dev/null
}

wait_for 30 "pg1 holds the VIP" holds_vip pg1
start_keepalived pg2
wait_for 20 "keepalived notified pg2 of BACKUP at start-up" notified pg2 "BACKUP"
wait_for 20 "the start-up heal on pg2 found it healthy" notified pg2 "heal: healthy: streaming standby of $ip_a:$port"
holds_vip pg2 && fail "both nodes hold the VIP"
pg1_pid=$(head -n 1 "$WORK/pg1/data/postmaster.pid")
[ "$(psql_on pg1 "SELECT pg_is_in_recovery()")" = f ] || fail "pg1 is not the primary"

# ---- the failure: pg1's postgres dies
say "killing pg1's postmaster (pid $pg1_pid)"
kill -KILL "$pg1_pid"
wait_for 30 "the VIP moved to pg2" holds_vip pg2
wait_for 60 "the check script promoted pg2" sql_is pg2 "SELECT pg_is_in_recovery()" f
holds_vip pg1 && fail "pg1 still holds the VIP"
psql_on pg2 "INSERT INTO orders SELECT g, 'after' FROM generate_series(5001, 5100) g"
wait_for 30 "keepalived notified pg1 of FAULT" notified pg1 "FAULT"
fault_handled() { awk '/keepalived-notify: .*FAULT/ { f = 1; next } f && /started heal|not starting heal/ { ok = 1 } END { exit !ok }' \
    "$WORK/pg1/data.rejoin/keepalived-notify.log"; }
wait_for 10 "keepalived-notify handled FAULT" fault_handled
wait_for 60 "the heal started by FAULT finished" heal_done pg1
if [ "$(psql_on pg1 "SELECT pg_is_in_recovery()" 2>/dev/null)" = t ]; then
    say "the heal started by FAULT already rejoined pg1 (pg2 was promoted before it looked)"
else
    # ---- pg1's postgres comes back: a stale primary on the old timeline
    backups=$(grep -c "keepalived-notify: .*BACKUP" "$WORK/pg1/data.rejoin/keepalived-notify.log" || true)
    say "starting pg1's postgres again"
    for _ in $(seq 1 20); do pg_start pg1 2>/dev/null && break; sleep 0.25; done
    more_backups() { [ "$(grep -c "keepalived-notify: .*BACKUP" "$WORK/pg1/data.rejoin/keepalived-notify.log")" -gt "$backups" ]; }
    wait_for 30 "keepalived notified pg1 of BACKUP after postgres came back" more_backups
fi

# ---- the outcome: pg1 is a streaming standby of pg2, the VIP stays on pg2
wait_for 180 "pg1 is a standby streaming from pg2" \
    sql_is pg1 "SELECT pg_is_in_recovery() || ' ' || (SELECT status || ' ' || sender_host FROM pg_stat_wal_receiver)" "true streaming $ip_b"
wait_for 60 "pg2 lists pg1 as streaming" sql_is pg2 "SELECT state FROM pg_stat_replication WHERE application_name = 'pg1'" streaming
wait_for 30 "pg1 has pg2's new rows" sql_is pg1 "SELECT count(*) FROM orders WHERE note = 'after'" 100
wait_for 120 "every heal on pg1 finished" heal_done pg1
holds_vip pg2 || fail "pg2 lost the VIP"
holds_vip pg1 && fail "pg1 holds the VIP"
notified pg1 "rejoined: streaming standby of $ip_b:$port" || fail "pg1's notify log does not show the rejoin"
grep -qF "$password" "$WORK/pg1/data.rejoin/keepalived-notify.log" && fail "the password is in the notify log"
say "PASSED: pg1 rejoined as a streaming standby of pg2 through keepalived's notify"
