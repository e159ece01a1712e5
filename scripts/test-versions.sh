#!/usr/bin/env bash
# The core integration suite (rewind, copy, crash resume, heal, verify, least privilege and
# each major's own behaviour) against every PostgreSQL major of the matrix; `make test` runs
# the whole suite on 15 first. Expects a finished `swift build --build-tests`.
# PG_MAJORS overrides the list (default: 13 14 16 17 18). Prints a table per major, then
# "N passed, N skipped, N failed" over the tests of every major.
set -uo pipefail
cd "$(dirname "$0")/.."
suite=${VERSION_SUITE:-'RewindTests|RejoinAfterFailoverTests|RewindCrashTests|HealTests|LeastPrivilegeTests|VersionTests|UnarchivedWALTests|DebianClusterTests|LostTransactionsTests|TablespaceTests.testThe(CopyPath|RewindPath)'}
majors=${PG_MAJORS:-13 14 16 17 18}
versions=$(PG_MAJORS="$majors" scripts/pg-versions.sh) || exit 1
passed=0 skipped=0 failed=0 majors_failed=0 table=""
while read -r major bindir libdir; do
    [ -n "$major" ] || continue
    log=".build/test-pg$major.log"
    echo "== PostgreSQL $major ($bindir)"
    start=$(date +%s)
    PG_BINDIR="$bindir" LD_LIBRARY_PATH="${libdir}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        swift test --skip-build --filter "$suite" >"$log" 2>&1
    rc=$?
    seconds=$(( $(date +%s) - start ))
    summary=$(grep -E "Executed [0-9]+ tests?, with" "$log" | tail -1 | sed 's/^[[:space:]]*//')
    grep -E "error: |failed \(" "$log" | head -40
    # "Executed 35 tests, with 0 failures", or "... with 1 test skipped and 0 failures".
    executed=$(sed -nE 's/.*Executed ([0-9]+) tests?, with (([0-9]+) tests? skipped and )?([0-9]+) failures?.*/\1 x\3 \4/p' "$log" | tail -1)
    read -r count skips failures <<<"${executed:-0 x 0}"
    skips=${skips#x}; skips=${skips:-0}
    passed=$((passed + count - skips - failures)); skipped=$((skipped + skips)); failed=$((failed + failures))
    if [ $rc -eq 0 ]; then result=ok; else result=FAILED; majors_failed=$((majors_failed + 1)); [ "$failures" -gt 0 ] || failed=$((failed + 1)); fi
    table+=$(printf '%-6s %-7s %5ss  %s' "$major" "$result" "$seconds" "$summary")$'\n'
done <<<"$versions"
echo
echo "MAJOR  RESULT  TIME    TESTS"
printf '%s' "$table"
echo "$passed passed, $skipped skipped, $failed failed"
[ "$majors_failed" -eq 0 ]
