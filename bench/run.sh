#!/usr/bin/env bash
# make bench: pg-rejoin against the raw tools and a peer, on real PostgreSQL 15 clusters on
# 127.0.0.1, after a real failover. For each size: pg1 primary loaded with pgbench, pg2 its
# standby (both registered with repmgr); pg2 stops, pg1 takes ~BENCH_DIVERGE_MB of writes pg2
# never gets and is killed (kill -9); pg2 is promoted (repmgr standby promote) and written to.
# Both data directories are then snapshotted, and every timed run starts from a fresh copy of
# that state. Scenarios (BENCH_SCENARIOS):
#   basebackup  pg-rejoin --method basebackup vs the hand sequence (bench/hand-basebackup.sh),
#               the old primary running (both stop it first); also pg-rejoin's peak memory
#   rewind      the crashed, diverged old primary: pg-rejoin auto / auto --lost-rows skip /
#               rewind / basebackup, raw
#               pg_basebackup alone, the hand pg_rewind sequence, repmgr node rejoin
#   archive     --old-data archive throughput vs tar -I 'zstd -1' (n/a while pg-rejoin lacks it)
# Each figure is the median of BENCH_RUNS runs; the rows of one run are interleaved. Tables are
# printed by bench/report.py; BENCH_RESULTS=DIR keeps the raw measurements.
#
# Environment: BENCH_RUNS (3), BENCH_SIZES in MB ("100 1000"), BENCH_DIVERGE_MB (10),
# BENCH_SCENARIOS ("basebackup rewind archive"), PG_REJOIN (.build/release/pg-rejoin),
# PGBIN (/usr/lib/postgresql/15/bin), BENCH_RESULTS (unset: results die with the sandbox),
# BENCH_KEEP (set: keep the sandbox, with the last size's clusters). Quick smoke run:
#   BENCH_RUNS=1 BENCH_SIZES="20 40" bench/run.sh
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_SIZES=${BENCH_SIZES:-100 1000}
BENCH_DIVERGE_MB=${BENCH_DIVERGE_MB:-10}
BENCH_SCENARIOS=${BENCH_SCENARIOS:-basebackup rewind archive}
BIN=${PG_REJOIN:-$ROOT/.build/release/pg-rejoin}

is_count() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }
is_count "$BENCH_RUNS" || die "BENCH_RUNS must be a positive integer, not '$BENCH_RUNS'"
is_count "$BENCH_DIVERGE_MB" || die "BENCH_DIVERGE_MB must be a positive integer, not '$BENCH_DIVERGE_MB'"
read -r -a SIZES <<<"$BENCH_SIZES"
[ "${#SIZES[@]}" -gt 0 ] || die "BENCH_SIZES is empty"
for s in "${SIZES[@]}"; do is_count "$s" || die "BENCH_SIZES: '$s' is not a size in MB"; done
read -r -a SCENARIOS <<<"$BENCH_SCENARIOS"
for s in "${SCENARIOS[@]}"; do
    case $s in basebackup | rewind | archive) ;; *) die "BENCH_SCENARIOS: unknown scenario '$s'" ;; esac
done
[ -x "$BIN" ] || die "no pg-rejoin binary at $BIN (swift build -c release, or set PG_REJOIN)"
[ -x "$TIME_BIN" ] || die "GNU time is missing at $TIME_BIN (apt-get install time)"
for tool in initdb pg_ctl postgres psql pgbench pg_basebackup pg_rewind; do
    [ -x "$PGBIN/$tool" ] || die "$PGBIN/$tool is missing (apt-get install postgresql-15)"
done
HAVE_REPMGR=no
[ -x "$PGBIN/repmgr" ] && HAVE_REPMGR=yes

has_scenario() { [[ " ${SCENARIOS[*]} " == *" $1 "* ]]; }

SB=$(mktemp -d "${TMPDIR:-/tmp}/pg-rejoin-bench.XXXXXX")
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
chmod 755 "$SB"
# Paths go unquoted into conninfo strings and repmgr.conf: refuse anything that would need quoting.
[[ $SB =~ ^[A-Za-z0-9/._-]+$ ]] || die "sandbox path '$SB' has characters that need quoting; set TMPDIR"

RESULTS=$SB/results.tsv   # scenario size row run wall_s maxrss_kb self_kb
META=$SB/meta.tsv         # size key value
STEPS=$SB/steps.tsv       # scenario size row run step seconds
: >"$RESULTS"; : >"$META"; : >"$STEPS"
mkdir -p "$SB/runs" "$SB/bin"
cp "$HERE"/hand-*.sh "$SB/bin/"   # readable by the postgres OS user whatever the checkout's modes
chmod 755 "$SB"/bin/*.sh
PASSFILE=$SB/pgpass
SECRET=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
printf '127.0.0.1:*:*:repl:%s\n127.0.0.1:*:*:repmgr:%s\n' "$SECRET" "$SECRET" >"$PASSFILE"
chmod 600 "$PASSFILE"
if [ "$(id -u)" = 0 ]; then
    chown "$OSUSER" "$PASSFILE"
    AS_PG=(runuser -u "$OSUSER" --)
else
    AS_PG=()
fi

meta() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$META"; }

# psql_stdin NODE: SQL from stdin (so no password is ever an argument).
psql_stdin() {
    as_pg "$PGBIN/psql" -X -q -h "$SB/$1/sock" -p "$(node_port "$1")" -U postgres -d postgres -v ON_ERROR_STOP=1 -f -
}

repmgr_conf() { # NODE ID
    local node=$1 id=$2
    cat >"$SB/$node/repmgr.conf" <<CONF
node_id=$id
node_name='$node'
conninfo='host=127.0.0.1 port=$(node_port "$node") user=repmgr dbname=repmgr connect_timeout=5 passfile=$PASSFILE'
data_directory='$(node_data "$node")'
pg_bindir='$PGBIN'
use_replication_slots=false
service_start_command='$PGBIN/pg_ctl -w -D $(node_data "$node") -l $SB/$node/server.log start'
service_stop_command='$PGBIN/pg_ctl -w -D $(node_data "$node") -m fast stop'
log_level='INFO'
CONF
    if [ "$(id -u)" = 0 ]; then chown "$OSUSER" "$SB/$node/repmgr.conf"; fi
}

repmgr_as_pg() { as_pg env PGPASSFILE="$PASSFILE" "$PGBIN/repmgr" "$@"; }

# wait_replayed STANDBY PRIMARY: until the standby replayed the primary's current WAL position.
wait_replayed() {
    local target deadline=$((SECONDS + 300))
    target=$(psql_node "$2" "SELECT pg_current_wal_lsn()")
    until [ "$(psql_node "$1" "SELECT pg_last_wal_replay_lsn() >= '$target'::pg_lsn" 2>/dev/null)" = t ]; do
        [ "$SECONDS" -lt "$deadline" ] || die "$1 did not replay up to $target"
        sleep 0.2
    done
}

# setup_pair SIZE_MB: the failover described at the top, then snapshots in $SB/snap.
setup_pair() {
    local size=$1 scale fork wal_mb batch=0
    scale=$(((size * 7 + 50) / 100))
    [ "$scale" -ge 1 ] || scale=1
    rm -rf -- "$SB/pg1" "$SB/pg2" "$SB/snap"
    mkdir -p "$SB/pg1/sock" "$SB/pg2/sock" "$SB/snap" "$SB/repmgr-archive" "$SB/scratch"
    PORT_pg1=$(free_port)
    PORT_pg2=$(free_port)
    if [ "$(id -u)" = 0 ]; then chown -R "$OSUSER" "$SB/pg1" "$SB/pg2" "$SB/repmgr-archive" "$SB/scratch"; fi

    log "size $size MB: pg1 primary on 127.0.0.1:$PORT_pg1, pgbench scale $scale"
    # Checksums: pg_rewind works (as in the demo). Local socket trusted, TCP with SCRAM.
    as_pg "$PGBIN/initdb" -D "$(node_data pg1)" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
        --data-checksums >/dev/null
    {
        printf "port = %s\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n" "$PORT_pg1" "$SB/pg1/sock"
        printf "wal_level = replica\nhot_standby = on\nmax_wal_senders = 10\nwal_keep_size = '256MB'\n"
        if [ "$HAVE_REPMGR" = yes ]; then printf "shared_preload_libraries = 'repmgr'\n"; fi
    } >>"$(node_data pg1)/postgresql.conf"
    node_start pg1
    psql_stdin pg1 <<SQL
CREATE ROLE repl LOGIN REPLICATION PASSWORD '$SECRET';
GRANT pg_monitor, pg_checkpoint TO repl;
GRANT EXECUTE ON FUNCTION pg_ls_dir(text, boolean, boolean), pg_stat_file(text, boolean),
      pg_read_binary_file(text), pg_read_binary_file(text, bigint, bigint, boolean) TO repl;
CREATE ROLE repmgr LOGIN SUPERUSER REPLICATION PASSWORD '$SECRET';
CREATE DATABASE repmgr OWNER repmgr;
SQL
    # synchronous_commit=off only while loading; the servers run with default settings.
    as_pg env PGOPTIONS='-c synchronous_commit=off' "$PGBIN/pgbench" -i -q -s "$scale" \
        -h "$SB/pg1/sock" -p "$PORT_pg1" -U postgres postgres >"$SB/pgbench-init.log" 2>&1 ||
        { tail "$SB/pgbench-init.log" >&2; die "pgbench -i failed"; }
    if [ "$HAVE_REPMGR" = yes ]; then
        repmgr_conf pg1 1
        repmgr_conf pg2 2
        repmgr_as_pg -f "$SB/pg1/repmgr.conf" primary register >"$SB/repmgr-setup.log" 2>&1 ||
            { tail "$SB/repmgr-setup.log" >&2; die "repmgr primary register failed"; }
    fi
    psql_node pg1 "CHECKPOINT" >/dev/null

    log "size $size MB: pg2 standby on 127.0.0.1:$PORT_pg2"
    as_pg env PGPASSFILE="$PASSFILE" "$PGBIN/pg_basebackup" -D "$(node_data pg2)" \
        -d "host=127.0.0.1 port=$PORT_pg1 user=repl dbname=postgres" -X stream --checkpoint=fast
    sed -i "s|^port = .*|port = $PORT_pg2|; s|$SB/pg1/sock|$SB/pg2/sock|" "$(node_data pg2)/postgresql.conf"
    printf "primary_conninfo = 'host=127.0.0.1 port=%s user=repl passfile=%s application_name=pg2'\n" \
        "$PORT_pg1" "$PASSFILE" >>"$(node_data pg2)/postgresql.auto.conf"
    as_pg touch "$(node_data pg2)/standby.signal"
    node_start pg2
    if [ "$HAVE_REPMGR" = yes ]; then
        wait_replayed pg2 pg1
        repmgr_as_pg -f "$SB/pg2/repmgr.conf" standby register >>"$SB/repmgr-setup.log" 2>&1 ||
            { tail "$SB/repmgr-setup.log" >&2; die "repmgr standby register failed"; }
    fi
    wait_replayed pg2 pg1

    log "size $size MB: failover: pg2 stops, pg1 takes ~$BENCH_DIVERGE_MB MB of writes pg2 never gets, pg1 is killed"
    node_stop pg2 fast
    fork=$(psql_node pg1 "SELECT pg_current_wal_lsn()")
    psql_node pg1 "CREATE TABLE diverged (id int, note text)" >/dev/null
    # Scattered updates (pgbench's TPC-B-like transactions: pg_rewind must fetch those blocks),
    # then inserts until the WAL written after the fork reaches the target.
    as_pg "$PGBIN/pgbench" -n -c 1 -t 300 -h "$SB/pg1/sock" -p "$PORT_pg1" -U postgres postgres >/dev/null 2>&1
    while :; do
        wal_mb=$(psql_node pg1 "SELECT round(pg_wal_lsn_diff(pg_current_wal_lsn(), '$fork') / 1048576.0, 1)")
        awk -v w="$wal_mb" -v t="$BENCH_DIVERGE_MB" 'BEGIN { exit !(w >= t) }' && break
        psql_node pg1 "INSERT INTO diverged SELECT g, repeat(md5(g::text), 3) FROM generate_series($((batch * 5000 + 1)), $((batch * 5000 + 5000))) g" >/dev/null
        batch=$((batch + 1))
    done
    kill -9 "$(head -1 "$(node_data pg1)/postmaster.pid")"
    sleep 2
    node_start pg2
    if [ "$HAVE_REPMGR" = yes ]; then
        repmgr_as_pg -f "$SB/pg2/repmgr.conf" standby promote >>"$SB/repmgr-setup.log" 2>&1 ||
            { tail "$SB/repmgr-setup.log" >&2; die "repmgr standby promote failed"; }
    else
        as_pg "$PGBIN/pg_ctl" -w promote -D "$(node_data pg2)" >/dev/null
    fi
    psql_node pg2 "CREATE TABLE after_failover (id int); INSERT INTO after_failover SELECT generate_series(1, 100)" >/dev/null
    meta "$size" db_mb "$(psql_node pg2 "SELECT round(sum(pg_database_size(oid)) / 1048576.0) FROM pg_database")"
    # A clean stop: pg2's control file shows its new timeline, as it does on a primary that
    # has run for a while (a just-promoted one may still be checkpointing).
    node_stop pg2 fast

    cp -a "$(node_data pg1)" "$SB/snap/pg1"
    cp -a "$(node_data pg2)" "$SB/snap/pg2"
    meta "$size" scale "$scale"
    meta "$size" data_mb "$(du -sm "$SB/snap/pg1" | cut -f1)"
    meta "$size" upstream_mb "$(du -sm "$SB/snap/pg2" | cut -f1)"
    meta "$size" diverge_wal_mb "$wal_mb"
    meta "$size" fork_lsn "$fork"
    log "size $size MB: data directory $(du -sh "$SB/snap/pg1" | cut -f1), $wal_mb MB of WAL after the fork; snapshots taken"
}

# restore_state crashed|running: both nodes back to the snapshot; pg2 (the new primary) runs;
# pg1 (the old primary) is crashed, or with "running" started again as a primary.
restore_state() {
    stop_all_servers
    rm -rf -- "$SB/pg1/data" "$SB/pg1"/data.* "$SB/pg2/data" "$SB/pg2"/data.*
    rm -rf -- "${SB:?}/scratch"/* "${SB:?}/repmgr-archive"/*
    cp -a "$SB/snap/pg1" "$(node_data pg1)"
    cp -a "$SB/snap/pg2" "$(node_data pg2)"
    refresh_dead_pid "$(node_data pg1)"
    sync
    node_start pg2
    # (pg_ctl warns about the crashed server's postmaster.pid: expected here.)
    if [ "$1" = running ]; then node_start pg1 2>"$SB/pg1/pg_ctl-start.err"; fi
}

# check_standby PREFIX: pg1 is a streaming standby of pg2 with pg2's data, pg1's divergent
# table gone (the run really rejoined).
check_standby() {
    local recovery receiver rows diverged
    recovery=$(psql_node pg1 "SELECT pg_is_in_recovery()" 2>/dev/null || true)
    receiver=$(psql_node pg1 "SELECT status FROM pg_stat_wal_receiver" 2>/dev/null || true)
    rows=$(psql_node pg1 "SELECT count(*) FROM after_failover" 2>/dev/null || true)
    diverged=$(psql_node pg1 "SELECT to_regclass('diverged') IS NULL" 2>/dev/null || true)
    [ "$recovery" = t ] && [ "$receiver" = streaming ] && [ "$rows" = 100 ] && [ "$diverged" = t ] ||
        fail_with "$1" "pg1 is not a streaming standby of pg2 after the run (in recovery: '$recovery', receiver: '$receiver', rows from pg2: '$rows', divergent table gone: '$diverged')"
}

# pg_rejoin_steps PREFIX SCENARIO SIZE ROW RUN: the per-step seconds from the --json summary.
pg_rejoin_steps() {
    python3 - "$1.out" "$2" "$3" "$4" "$5" >>"$STEPS" <<'PY' || true
import json, re, sys
path, scenario, size, row, run = sys.argv[1:]
UNITS = {"B": 1, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
method = "?"
for line in open(path, encoding="utf-8", errors="replace"):
    try:
        event = json.loads(line)
    except ValueError:
        continue
    if event.get("event") == "plan":
        method = event.get("method", method)
    if event.get("event") == "info":
        # "old data: archived 1.2 GB in 1234 entries to 300 MB, re-read and verified 1200 files against the directory in 12.3 s (...)"
        # The seconds are printed to 0.1 s; the rate to 4 significant digits.
        m = re.match(r"old data: archived .* in ([0-9.]+) s(?: \(([0-9.]+) (\w+)/s\))?", event.get("message", ""))
        if m:
            print(f"{scenario}\t{size}\t{row}\t{run}\t(archive)\t{m.group(1)}")
            if m.group(2) and m.group(3) in UNITS:
                print(f"{scenario}\t{size}\t{row}\t{run}\t(archive-rate)\t{float(m.group(2)) * UNITS[m.group(3)]:.0f}")
    if event.get("event") == "summary":
        for step, seconds in (event.get("step_seconds") or {}).items():
            print(f"{scenario}\t{size}\t{row}\t{run}\t{step}\t{seconds}")
        print(f"{scenario}\t{size}\t{row}\t{run}\t(method)\t{method}")
PY
}

# run_pg_rejoin SCENARIO SIZE ROW RUN ARGS...: one timed pg-rejoin run on pg1, checked.
run_pg_rejoin() {
    local scenario=$1 size=$2 row=$3 run=$4 prefix
    shift 4
    prefix=$SB/runs/$scenario-$size-$row-$run
    measure "$prefix" yes "$BIN" --from "127.0.0.1:$PORT_pg2" --pgdata "$(node_data pg1)" --passfile "$PASSFILE" \
        --node-name pg1 --json "$@"
    [ "$M_RC" = 0 ] || fail_with "$prefix" "pg-rejoin $* exited $M_RC"
    check_standby "$prefix"
    record "$scenario" "$size" "$row" "$run"
    pg_rejoin_steps "$prefix" "$scenario" "$size" "$row" "$run"
}

# run_hand SCENARIO SIZE ROW RUN SCRIPT ARGS...: a timed hand sequence as the postgres OS user.
run_hand() {
    local scenario=$1 size=$2 row=$3 run=$4 script=$5 prefix
    shift 5
    prefix=$SB/runs/$scenario-$size-$row-$run
    measure "$prefix" no "${AS_PG[@]}" env PGPASSFILE="$PASSFILE" bash "$SB/bin/$script" "$@"
    [ "$M_RC" = 0 ] || fail_with "$prefix" "$script exited $M_RC"
    check_standby "$prefix"
    record "$scenario" "$size" "$row" "$run"
}

# rotate N WORDS...: the words starting at index N mod count (interleaves rows across runs).
rotate() {
    local n=$1
    shift
    local words=("$@") i
    for ((i = 0; i < ${#words[@]}; i++)); do printf '%s\n' "${words[$(((i + n) % ${#words[@]}))]}"; done
}

scenario_basebackup() {
    local size=$1 run row
    for ((run = 1; run <= BENCH_RUNS; run++)); do
        for row in $(rotate "$run" rejoin hand); do
            log "size $size MB, basebackup run $run/$BENCH_RUNS: $row"
            restore_state running
            case $row in
                rejoin) run_pg_rejoin basebackup "$size" rejoin "$run" --method basebackup --demote ;;
                hand) run_hand basebackup "$size" hand "$run" hand-basebackup.sh "$PGBIN" "$(node_data pg1)" \
                    127.0.0.1 "$PORT_pg2" "$PASSFILE" pg1 "$SB/pg1/server.log" ;;
            esac
        done
    done
}

scenario_rewind() {
    local size=$1 run row rows=(auto auto-skip rewind basebackup raw hand) prefix method
    if [ "$HAVE_REPMGR" = yes ]; then
        rows+=(repmgr)
    else
        meta "$size" repmgr "n/a ($PGBIN/repmgr missing: apt-get install postgresql-15-repmgr)"
    fi
    for ((run = 1; run <= BENCH_RUNS; run++)); do
        for row in $(rotate "$run" "${rows[@]}"); do
            log "size $size MB, rewind run $run/$BENCH_RUNS: $row"
            restore_state crashed
            prefix=$SB/runs/rewind-$size-$row-$run
            case $row in
                auto-skip)
                    # The same without reading the lost transactions as rows (issue 17's cost).
                    run_pg_rejoin rewind "$size" "$row" "$run" --method auto --lost-rows skip
                    ;;
                auto | rewind | basebackup)
                    run_pg_rejoin rewind "$size" "$row" "$run" --method "$row"
                    method=$(awk -F'\t' -v r="$row" -v n="$run" -v z="$size" \
                        '$1 == "rewind" && $2 == z && $3 == r && $4 == n && $5 == "(method)" { print $6 }' "$STEPS")
                    [ "$row" != auto ] || [ "$method" = rewind ] ||
                        log "WARNING: --method auto ran '$method', not rewind (see $prefix.out)"
                    # Not a method: pg_waldump alone over the divergent WAL pg-rejoin saved, to
                    # show how much of pg-rejoin's rewind step the raw tool accounts for.
                    if [ "$row" != basebackup ]; then
                        local saved
                        saved=$(find "$SB/pg1/data.rejoin" -maxdepth 2 -type d -name wal -path '*divergence-*' | head -1)
                        if [ -n "$saved" ]; then
                            measure "$prefix-waldump" no "${AS_PG[@]}" "$PGBIN/pg_waldump" --path "$saved" --timeline 1 \
                                --start "$(awk -F'\t' -v z="$size" '$1 == z && $2 == "fork_lsn" { print $3 }' "$META")"
                            # It exits 1 at the end of the WAL ("invalid record length"), as it should.
                            if [ "$M_RC" -le 1 ]; then record rewind "$size" "waldump-$row" "$run"; fi
                        fi
                    fi
                    ;;
                raw)
                    measure "$prefix" no "${AS_PG[@]}" env PGPASSFILE="$PASSFILE" "$PGBIN/pg_basebackup" -D "$SB/scratch/raw" \
                        -d "host=127.0.0.1 port=$PORT_pg2 user=repl dbname=postgres" -X stream --checkpoint=fast
                    [ "$M_RC" = 0 ] || fail_with "$prefix" "pg_basebackup exited $M_RC"
                    record rewind "$size" raw "$run"
                    ;;
                hand) run_hand rewind "$size" hand "$run" hand-rewind.sh "$PGBIN" "$(node_data pg1)" \
                    127.0.0.1 "$PORT_pg2" "$PASSFILE" pg1 "$SB/pg1/server.log" ;;
                repmgr) run_hand rewind "$size" repmgr "$run" hand-repmgr.sh "$PGBIN" "$(node_data pg1)" \
                    "$SB/pg1/repmgr.conf" "host=127.0.0.1 port=$PORT_pg2 user=repmgr dbname=repmgr connect_timeout=5" \
                    "$SB/repmgr-archive" pg1 "host=127.0.0.1 port=$PORT_pg2 user=repl dbname=postgres" ;;
            esac
        done
    done
}

# --old-data archive (issue 7): pg-rejoin's archiving of the old data directory after verify
# (the seconds it reports in its "old data: archived ... in N s" event: writing the archive,
# then re-reading it against the manifest) vs tar -I 'zstd -1' -cf of the same directory, as
# MB/s of that directory.
scenario_archive() {
    local size=$1 run row prefix seconds src_bytes
    if ! "$BIN" rejoin --help 2>&1 | grep -q -- '--old-data'; then
        meta "$size" archive "n/a (not implemented: this pg-rejoin has no --old-data option)"
        log "size $size MB, archive: n/a (pg-rejoin has no --old-data option yet)"
        return 0
    fi
    src_bytes=$(du -sb "$SB/snap/pg1" | cut -f1)   # -b: apparent size, in bytes
    meta "$size" archive_src_mb "$(awk -v b="$src_bytes" 'BEGIN { printf "%.1f", b / 1048576 }')"
    for ((run = 1; run <= BENCH_RUNS; run++)); do
        for row in $(rotate "$run" rejoin tar); do
            log "size $size MB, archive run $run/$BENCH_RUNS: $row"
            restore_state crashed
            prefix=$SB/runs/archive-$size-$row-$run
            case $row in
                rejoin)
                    prefix=$SB/runs/archive-$size-rejoin-total-$run
                    run_pg_rejoin archive "$size" rejoin-total "$run" --method basebackup --old-data archive
                    # As seconds for the directory's apparent size (tar's basis): from pg-rejoin's
                    # rate when it printed one, else its seconds.
                    seconds=$(awk -F'\t' -v z="$size" -v n="$run" -v bytes="$src_bytes" '
                        $1 == "archive" && $2 == z && $3 == "rejoin-total" && $4 == n && $5 == "(archive)" { s = $6 }
                        $1 == "archive" && $2 == z && $3 == "rejoin-total" && $4 == n && $5 == "(archive-rate)" && $6 > 0 { r = $6 }
                        END { if (r) printf "%.3f\n", bytes / r; else if (s != "") print s }' "$STEPS")
                    if [ -n "$seconds" ]; then
                        M_WALL=$seconds
                        record archive "$size" rejoin "$run"
                    else
                        fail_with "$prefix" "pg-rejoin --old-data archive reported no 'old data: archived ... in N s' event"
                    fi
                    ;;
                tar)
                    # The same bytes pg-rejoin archives: the old primary's data directory.
                    cp -a "$SB/snap/pg1" "$SB/scratch/old-data"
                    sync
                    measure "$prefix" no "${AS_PG[@]}" tar -I 'zstd -1' -cf "$SB/scratch/old.tar.zst" -C "$SB/scratch" old-data
                    [ "$M_RC" = 0 ] || fail_with "$prefix" "tar exited $M_RC"
                    record archive "$size" tar "$run"
                    ;;
            esac
        done
    done
}

log "pg-rejoin $("$BIN" --version 2>/dev/null || echo '?'), sizes: ${SIZES[*]} MB, runs: $BENCH_RUNS, scenarios: ${SCENARIOS[*]}, sandbox $SB"
for size in "${SIZES[@]}"; do
    setup_pair "$size"
    for s in basebackup rewind archive; do
        if has_scenario "$s"; then "scenario_$s" "$size"; fi
    done
    stop_all_servers
    # BENCH_KEEP keeps the last size's clusters and snapshots too, for a look afterwards.
    if [ -z "${BENCH_KEEP:-}" ] || [ "$size" != "${SIZES[${#SIZES[@]}-1]}" ]; then
        rm -rf -- "$SB/pg1" "$SB/pg2" "$SB/snap" "$SB/scratch" "$SB/repmgr-archive"
    fi
done

if [ -n "${BENCH_RESULTS:-}" ]; then
    mkdir -p "$BENCH_RESULTS"
    cp "$RESULTS" "$META" "$STEPS" "$BENCH_RESULTS/"
    log "raw measurements kept in $BENCH_RESULTS"
fi
python3 "$HERE/report.py" "$RESULTS" "$META" "$STEPS" "${SCENARIOS[@]}"
