#!/usr/bin/env bash
# Runs the test suites and ends with one line: "N passed, N failed".
#
#   tests/run.sh unit   cmocka unit tests (build/tests/*)
#   tests/run.sh e2e    end-to-end tests against build/kserve (pytest)
#   tests/run.sh asan   unit + end-to-end tests against the ASan+UBSan build
#   tests/run.sh all    all of the above
set -u
cd "$(dirname "$0")/.."

PY=/usr/bin/python3
passed=0
failed=0
skipped=0
failures=()

export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:halt_on_error=1:allocator_may_return_null=1"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

# cmocka prints "[  PASSED  ] N test(s)." and "[  FAILED  ] N test(s)"
run_unit() { # dir label
    local dir=$1 label=$2 t out p f
    for t in "$dir"/tests/test_*; do
        [ -x "$t" ] || continue
        out=$("$t" 2>&1)
        rc=$?
        p=$(grep -oE '\[  PASSED  \] [0-9]+' <<<"$out" | grep -oE '[0-9]+$' | tail -1)
        f=$(grep -oE '\[  FAILED  \] [0-9]+' <<<"$out" | grep -oE '[0-9]+$' | tail -1)
        p=${p:-0}
        f=${f:-0}
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
            f=1 # crashed before its summary
        fi
        if [ "$f" -ne 0 ]; then
            echo "$out" | grep -E "FAILED|ERROR|error|Sanitizer|runtime error" | head -20
            failures+=("$label $(basename "$t")")
        fi
        echo "$label $(basename "$t"): $p passed, $f failed"
        passed=$((passed + p))
        failed=$((failed + f))
    done
}

run_e2e() { # binary label
    local bin=$1 label=$2 out p f e s
    out=$(KSERVE_BIN="$bin" $PY -m pytest -q -p no:cacheprovider tests/e2e 2>&1)
    rc=$?
    echo "$out" | tail -40 | grep -vE '^\.*$' | grep -E "FAILED|ERROR|passed|failed|Error" | head -40
    p=$(grep -oE '[0-9]+ passed' <<<"$out" | tail -1 | grep -oE '^[0-9]+')
    f=$(grep -oE '[0-9]+ failed' <<<"$out" | tail -1 | grep -oE '^[0-9]+')
    e=$(grep -oE '[0-9]+ errors?' <<<"$out" | tail -1 | grep -oE '^[0-9]+')
    s=$(grep -oE '[0-9]+ skipped' <<<"$out" | tail -1 | grep -oE '^[0-9]+')
    p=${p:-0}; f=${f:-0}; e=${e:-0}; s=${s:-0}
    f=$((f + e))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "$out" | tail -30
    fi
    [ "$f" -ne 0 ] && failures+=("$label pytest")
    echo "$label end-to-end: $p passed, $f failed, $s skipped"
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
}

what=${1:-all}
case "$what" in
unit) run_unit build unit ;;
e2e) run_e2e build/kserve e2e ;;
asan) run_unit build-asan unit-asan; run_e2e build-asan/kserve e2e-asan ;;
all)
    run_unit build unit
    run_e2e build/kserve e2e
    run_unit build-asan unit-asan
    run_e2e build-asan/kserve e2e-asan
    ;;
*) echo "usage: $0 unit|e2e|asan|all" >&2; exit 2 ;;
esac

if [ ${#failures[@]} -ne 0 ]; then
    echo "failing: ${failures[*]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
