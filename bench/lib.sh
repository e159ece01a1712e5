# bench/lib.sh: helpers for bench/run.sh (sourced, not run). Everything lives in one sandbox
# directory under /tmp, every server listens on 127.0.0.1 only, and the EXIT trap set by
# run.sh (bench_cleanup) stops every server it started and removes the sandbox.

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
TIME_BIN=${TIME_BIN:-/usr/bin/time}

if [ "$(id -u)" = 0 ]; then
    OSUSER=postgres
    as_pg() { runuser -u postgres -- "$@"; }
else
    OSUSER=$(id -un)
    as_pg() { "$@"; }
fi

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Node layout: $SB/NODE/{data,sock,server.log,repmgr.conf}; ports in PORT_pg1 / PORT_pg2.
node_port() { local var="PORT_$1"; printf '%s' "${!var}"; }
node_data() { printf '%s/%s/data' "$SB" "$1"; }

# psql_node NODE SQL: one query as postgres over the node's Unix socket, unaligned output.
psql_node() {
    as_pg "$PGBIN/psql" -X -q -At -h "$SB/$1/sock" -p "$(node_port "$1")" -U postgres -d postgres \
        -v ON_ERROR_STOP=1 -c "$2"
}

node_running() { [ -d "$(node_data "$1")" ] && as_pg "$PGBIN/pg_ctl" status -D "$(node_data "$1")" >/dev/null 2>&1; }

node_start() { as_pg "$PGBIN/pg_ctl" -w -t 300 start -D "$(node_data "$1")" -l "$SB/$1/server.log" >/dev/null; }

# node_stop NODE [MODE]: stops the node's server if one runs there (default mode fast).
node_stop() {
    if node_running "$1"; then
        as_pg "$PGBIN/pg_ctl" -w -t 300 stop -D "$(node_data "$1")" -m "${2:-fast}" >/dev/null
    fi
}

# Stops every server whose data directory is anywhere in the sandbox (old copies included).
stop_all_servers() {
    [ -n "${SB:-}" ] && [ -d "$SB" ] || return 0
    local pidfile dir
    while IFS= read -r -d '' pidfile; do
        dir=$(dirname "$pidfile")
        as_pg "$PGBIN/pg_ctl" status -D "$dir" >/dev/null 2>&1 &&
            as_pg "$PGBIN/pg_ctl" -w stop -D "$dir" -m immediate >/dev/null 2>&1 || true
    done < <(find "$SB" -maxdepth 4 -name postmaster.pid -print0 2>/dev/null)
}

bench_cleanup() {
    local status=$? kid
    trap - EXIT INT TERM
    # Interrupted during a measurement: the measured command (started in the background, so
    # it ignores SIGINT) gets SIGTERM and up to 20 s to stop its own children.
    if [ -n "${MEASURE_PID:-}" ] && kill -0 "$MEASURE_PID" 2>/dev/null; then
        for kid in $(cat "/proc/$MEASURE_PID/task/$MEASURE_PID/children" 2>/dev/null); do
            kill -TERM "$kid" 2>/dev/null || true
        done
        for _ in $(seq 200); do kill -0 "$MEASURE_PID" 2>/dev/null || break; sleep 0.1; done
    fi
    stop_all_servers
    if [ -n "${SB:-}" ] && [ -d "$SB" ]; then
        if [ -n "${BENCH_KEEP:-}" ]; then log "sandbox kept: $SB"; else rm -rf -- "$SB"; fi
    fi
    exit "$status"
}

# Rewrites the pid in a crashed node's postmaster.pid with one that is certainly dead, as it is
# after a real crash. (pid_max may be small: the snapshot's old pid could belong to anything by
# now, and postgres refuses to start over a pid file whose pid is alive.)
refresh_dead_pid() {
    local pidfile="$1/postmaster.pid" dead
    [ -f "$pidfile" ] || return 0
    dead=$(sh -c 'echo $$')
    sed -i "1s/.*/$dead/" "$pidfile"
}

# measure PREFIX SAMPLE CMD...: runs CMD under GNU time -v. Sets
#   M_RC    exit status of CMD
#   M_WALL  wall seconds (GNU time's "Elapsed (wall clock)", 10 ms resolution)
#   M_RSS   "Maximum resident set size" in kB: GNU time reports the rusage of CMD, which on
#           Linux is the largest of CMD itself and every descendant it waited for
#   M_SELF  with SAMPLE=yes, CMD's own peak (VmHWM of the process GNU time started, sampled
#           every 100 ms from /proc); else "-"
# CMD's stdout and stderr go to PREFIX.out and PREFIX.err, GNU time's report to PREFIX.time.
measure() {
    local prefix=$1 sample=$2 tpid kid key value rest hwm=0
    shift 2
    "$TIME_BIN" -v -o "$prefix.time" "$@" >"$prefix.out" 2>"$prefix.err" &
    tpid=$!
    MEASURE_PID=$tpid
    if [ "$sample" = yes ]; then
        while kill -0 "$tpid" 2>/dev/null; do
            kid=""
            read -r kid _ <"/proc/$tpid/task/$tpid/children" 2>/dev/null || true
            if [ -n "$kid" ] && [ -r "/proc/$kid/status" ]; then
                while read -r key value rest; do
                    if [ "$key" = VmHWM: ]; then
                        [ "$value" -gt "$hwm" ] && hwm=$value
                        break
                    fi
                done <"/proc/$kid/status" 2>/dev/null || true
            fi
            # (Not `read -t` on a pipe to save the fork: bash 5.2 aborts when a trap fires in it.)
            sleep 0.1
        done
    fi
    M_RC=0
    wait "$tpid" || M_RC=$?
    MEASURE_PID=
    M_SELF=-
    [ "$sample" = yes ] && M_SELF=$hwm
    M_RSS=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$prefix.time")
    # "Elapsed (wall clock) time (h:mm:ss or m:ss): 1:02.35"
    M_WALL=$(awk -F': ' '/Elapsed \(wall clock\)/ {
        n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f", s }' "$prefix.time")
    if [ -z "$M_RSS" ] || [ -z "$M_WALL" ]; then
        [ "$M_RC" != 0 ] || M_RC=99   # no report from GNU time: count it as a failure
    fi
}

# record SCENARIO SIZE ROW RUN: appends the last measurement to the results file.
record() {
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$M_WALL" "$M_RSS" "$M_SELF" >>"$RESULTS"
}

# fail_with PREFIX MESSAGE: a benchmark of a run that failed means nothing: stop with the logs.
fail_with() {
    log "$2"
    for f in "$1.out" "$1.err"; do
        [ -s "$f" ] && { log "--- last lines of $f"; tail -n 25 "$f" >&2; }
    done
    [ -f "$SB/pg1/server.log" ] && { log "--- last lines of pg1's server log"; tail -n 15 "$SB/pg1/server.log" >&2; }
    exit 1
}
