#!/usr/bin/env bash
# The core integration suite (rewind, copy, crash resume, heal, verify, least privilege and
# each major's own behaviour) against every PostgreSQL major of the matrix; `make test` runs
# the whole suite on 15 beside it (scripts/test-all.sh). Expects a finished
# `swift build --build-tests`.
# PG_MAJORS overrides the list (default: 13 14 16 17 18). TEST_LANES majors run at once
# (default 2): a test spends most of its time waiting on servers and fsync, so two lanes keep two
# cores busy where one lane kept a quarter of them. Each lane's servers take ports of their own
# range within TEST_PORTS (default 20000-31999), so no lane takes the port of another lane's
# server while it is down. Prints a table per major, then "N passed, N skipped, N failed" over
# the tests of every major.
set -uo pipefail
cd "$(dirname "$0")/.."
suite=${VERSION_SUITE:-'RewindTests|RejoinAfterFailoverTests|RewindCrashTests|HealTests|LeastPrivilegeTests|VersionTests|UnarchivedWALTests|DebianClusterTests|LostTransactionsTests|TablespaceTests.testThe(CopyPath|RewindPath)'}
majors=${PG_MAJORS:-13 14 16 17 18}
lanes=${TEST_LANES:-2}
ports=${TEST_PORTS:-20000-31999}
versions=$(PG_MAJORS="$majors" scripts/pg-versions.sh) || exit 1
xctest=$(swift build --show-bin-path)/pg-rejoinPackageTests.xctest
# The tests `swift test --filter "$suite"` would run, named for the test binary itself: two
# `swift test` cannot run at once on one build directory.
tests=$("$xctest" --list-tests | grep -E '^[A-Za-z]+\.[A-Za-z]+/' | grep -E "$suite" | paste -sd, -)
[ -n "$tests" ] || { echo "no test matches $suite"; exit 1; }
results=.build/test-versions
rm -rf "$results" && mkdir -p "$results"

# One major: its log, and a line "MAJOR RC SECONDS COUNT SKIPS FAILURES SUMMARY" for the table.
run_major() {
    local major=$1 bindir=$2 libdir=$3 lane_ports=$4
    local log=".build/test-pg$major.log" start rc seconds summary executed count skips failures
    start=$(date +%s)
    PG_BINDIR="$bindir" PG_REJOIN_TEST_PORTS="$lane_ports" \
        LD_LIBRARY_PATH="${libdir}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        "$xctest" "$tests" </dev/null >"$log" 2>&1
    rc=$?
    seconds=$(( $(date +%s) - start ))
    summary=$(grep -E "Executed [0-9]+ tests?, with" "$log" | tail -1 | sed 's/^[[:space:]]*//')
    # "Executed 35 tests, with 0 failures", or "... with 1 test skipped and 0 failures".
    executed=$(sed -nE 's/.*Executed ([0-9]+) tests?, with (([0-9]+) tests? skipped and )?([0-9]+) failures?.*/\1 x\3 \4/p' "$log" | tail -1)
    read -r count skips failures <<<"${executed:-0 x 0}"
    skips=${skips#x}
    echo "$major $rc $seconds $count ${skips:-0} $failures $summary" >"$results/$major"
    echo "== PostgreSQL $major ($bindir): exit $rc in ${seconds}s; $summary"
    grep -E "error: |failed \(" "$log" | head -40
}

low=${ports%-*} high=${ports#*-}
width=$(( (high - low + 1) / lanes ))
for ((lane = 0; lane < lanes; lane++)); do
    lane_ports="$((low + lane * width))-$((low + (lane + 1) * width - 1))"
    (
        index=0
        while read -r major bindir libdir; do
            [ -n "$major" ] || continue
            (( index++ % lanes == lane )) || continue
            run_major "$major" "$bindir" "$libdir" "$lane_ports"
        done <<<"$versions"
    ) &
done
wait

passed=0 skipped=0 failed=0 majors_failed=0
echo
echo "MAJOR  RESULT  TIME    TESTS"
while read -r major _; do
    [ -n "$major" ] || continue
    if [ -f "$results/$major" ]; then
        read -r _ rc seconds count skips failures summary <"$results/$major"
    else
        rc=1 seconds=0 count=0 skips=0 failures=0 summary="did not run"
    fi
    passed=$((passed + count - skips - failures)); skipped=$((skipped + skips)); failed=$((failed + failures))
    if [ "$rc" -eq 0 ]; then result=ok; else result=FAILED; majors_failed=$((majors_failed + 1)); [ "$failures" -gt 0 ] || failed=$((failed + 1)); fi
    printf '%-6s %-7s %5ss  %s\n' "$major" "$result" "$seconds" "$summary"
done <<<"$versions"
echo "$passed passed, $skipped skipped, $failed failed"
[ "$majors_failed" -eq 0 ]
