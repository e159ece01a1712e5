#!/usr/bin/env bash
# `make test` after the build: the whole suite (unit and integration tests) on PostgreSQL 15,
# in two halves, and beside them the core integration suite on 13, 14, 16, 17 and 18
# (scripts/test-versions.sh, two majors at a time). The tests wait on servers and fsync most
# of the time: one at a time kept a quarter of two cores busy, and took 31 minutes in CI. Each
# process's servers take ports of a range of its own. Prints each log's failures, then the
# figures: "Executed N tests" per half, and the matrix's table.
set -uo pipefail
cd "$(dirname "$0")/.."
xctest=$(swift build --show-bin-path)/pg-rejoinPackageTests.xctest
# The test classes into two halves of about equal time (one test binary, two processes): the
# longest first, each into the half with less so far. Seconds per class as measured on 15
# (2026-12-06); a class not listed counts 2 (the unit test classes take well under a second).
weights="RerunAdviceTests 158 BadInputTests 72 TablespaceTests 63 CrashMatrixTests 63 DataLayoutTests 58
HealTests 43 InterruptionTests 39 RootLinkTests 36 LeastPrivilegeTests 34 LostTransactionsTests 40 VersionTests 28
RewindTests 27 RewindCrashTests 27 OldDataTests 27 RefusalTests 24 ResumeSafetyTests 23 SlotTests 19
SecretsTests 19 DebianClusterTests 17 RejoinAfterFailoverTests 15 KeepalivedEndToEndTests 14"
classes=$("$xctest" --list-tests | sed -nE 's#^([A-Za-z]+\.[A-Za-z]+)/.*#\1#p' | sort -u)
[ -n "$classes" ] || { echo "the test binary lists no tests"; exit 1; }
halves=$(awk -v weights="$weights" '
    BEGIN { n = split(weights, w, /[ \n]+/); for (i = 1; i < n; i += 2) seconds[w[i]] = w[i + 1] }
    { split($0, parts, "."); t = (parts[2] in seconds) ? seconds[parts[2]] : 2; print t, $0 }' <<<"$classes" \
    | sort -k1,1nr -k2 | awk '{ if (a <= b) { a += $1; ha = ha (ha ? "," : "") $2 } else { b += $1; hb = hb (hb ? "," : "") $2 } }
                              END { print ha; print hb }')
half_a=$(sed -n 1p <<<"$halves")
half_b=$(sed -n 2p <<<"$halves")
start=$(date +%s)
PG_REJOIN_TEST_PORTS=20000-21999 "$xctest" "$half_a" </dev/null >.build/test-pg15-a.log 2>&1 &
pid_a=$!
PG_REJOIN_TEST_PORTS=22000-23999 "$xctest" "$half_b" </dev/null >.build/test-pg15-b.log 2>&1 &
pid_b=$!
echo "== PostgreSQL 15, the whole suite in two halves: .build/test-pg15-a.log, .build/test-pg15-b.log"
TEST_PORTS=24000-31999 scripts/test-versions.sh
versions_rc=$?
ok=1
for half in a b; do
    pid=pid_$half
    wait "${!pid}"
    rc=$?
    log=.build/test-pg15-$half.log
    echo
    echo "== PostgreSQL 15, half $half: exit $rc after $(( $(date +%s) - start ))s"
    grep -E "error: |failed \(" "$log" | head -60
    if [ "$rc" -ne 0 ]; then
        ok=0
        echo "-- the last lines of $log:"
        tail -40 "$log"
    fi
    grep -E "Executed [0-9]+ tests?, with" "$log" | tail -1
done
[ "$ok" -eq 1 ] && [ "$versions_rc" -eq 0 ]
