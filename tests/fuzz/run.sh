#!/usr/bin/env bash
# Runs libFuzzer targets for a bounded time each.
#
#   bash tests/fuzz/run.sh SECONDS BIN...      (make fuzz FUZZ_SECONDS=N runs this)
#
# For each binary build-fuzz/<target>: copies tests/fuzz/corpus/<target>/ (the
# seeds) into tests/fuzz/corpus-work/<target>/ (git-ignored; kept across runs
# so coverage accumulates, FUZZ_FRESH=1 starts it over), runs the target on it
# for SECONDS with -max_len=65536 -timeout=10 -rss_limit_mb=2048 and a
# dictionary (json.dict for the JSON targets, <name>.dict when
# tests/fuzz/<name>.dict exists for fuzz_<name>), and prints one line per target
# with the executions run.  Logs and crash artifacts go to
# tests/fuzz/corpus-work/{logs,artifacts}/.  Exits non-zero if any target crashed,
# timed out, ran out of memory or could not run.  No network is used.
#
# FUZZ_KEEP_GOING=1 runs each target in libFuzzer's fork mode with
# -ignore_crashes/-ignore_timeouts/-ignore_ooms, so that one known bug does not
# stop the search: every crash is still saved and still fails the run, and the
# distinct crash sites are listed.
#
# Reproduce a crash: build-fuzz/<target> <artifact-or-tests/fuzz/crashes/...-file>
set -u

if [ $# -lt 2 ] || ! [[ $1 =~ ^[0-9]+$ ]]; then
    echo "usage: $0 SECONDS BIN..." >&2
    exit 2
fi
secs=$1
shift

here=$(cd "$(dirname "$0")" && pwd)
work=$here/corpus-work
mkdir -p "$work/logs" "$work/artifacts"

export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

failed=0
summary=()
for bin in "$@"; do
    name=$(basename "$bin")
    corpus=$work/$name
    log=$work/logs/$name.log
    art=$work/artifacts/$name/
    if [ ! -x "$bin" ]; then
        summary+=("$(printf '%-16s MISSING  %s is not an executable (make %s)' "$name" "$bin" "$bin")")
        failed=1
        continue
    fi
    if [ "${FUZZ_FRESH:-0}" = 1 ]; then
        rm -rf "$corpus"
    fi
    mkdir -p "$corpus" "$art"
    if [ -d "$here/corpus/$name" ]; then
        cp -f "$here/corpus/$name"/* "$corpus"/ 2>/dev/null
    fi

    dict=()
    short=${name#fuzz_}
    if [ -f "$here/$short.dict" ]; then
        dict=(-dict="$here/$short.dict")
    elif [[ $name == fuzz_v* ]]; then
        dict=(-dict="$here/json.dict")
    fi

    extra=()
    if [ "${FUZZ_KEEP_GOING:-0}" = 1 ]; then
        extra=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
    fi

    before=$(ls "$art" | wc -l)
    start=$(date +%s)
    # the outer timeout only guards against a wedged process; libFuzzer stops itself
    timeout -k 10 $((secs + 120)) "$bin" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$art" "${dict[@]}" "${extra[@]}" "$corpus" >"$log" 2>&1
    rc=$?
    elapsed=$(( $(date +%s) - start ))

    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if [ -z "$execs" ]; then
        execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
    fi
    execs=${execs:-0}
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
    files=$(ls "$corpus" | wc -l)
    after=$(ls "$art" | wc -l)

    if [ $rc -eq 0 ] && [ "$after" -eq "$before" ]; then
        summary+=("$(printf '%-16s ok       %10s execs in %ss (cov %s, corpus %s files)' "$name" "$execs" "$elapsed" "${cov:-?}" "$files")")
    else
        failed=1
        if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
            what=HUNG
        else
            what=$(grep -oE 'ERROR: libFuzzer: [a-z-]+|ERROR: AddressSanitizer: [a-z-]+|runtime error|FUZZ CONTRACT VIOLATION' "$log" | head -1)
            what=${what:-exit $rc}
        fi
        artifact=$(ls -t "$art" | head -1)
        summary+=("$(printf '%-16s FAILED   %10s execs in %ss: %s; %s new artifact(s), latest %s; log %s' "$name" "$execs" "$elapsed" "$what" "$((after - before))" "${artifact:+$art$artifact}" "$log")")
        if [ "${FUZZ_KEEP_GOING:-0}" = 1 ]; then
            # one line per distinct place that failed
            while IFS= read -r line; do
                summary+=("    distinct: $line")
            done < <(grep -oE '[^ ]*(src|tests)/[^ :]+:[0-9]+:[0-9]+: runtime error|SUMMARY: AddressSanitizer: [a-z-]+ [^ ]+|CONTRACT VIOLATION: .*' "$log" |
                sed -E 's/(CONTRACT VIOLATION: .{0,80}).*/\1/' | sort | uniq -c | sort -rn | head -20)
        fi
        # the report's first lines, for the reader of make's output
        grep -E 'runtime error|ERROR: AddressSanitizer|ERROR: LeakSanitizer|SUMMARY: |CONTRACT VIOLATION|^    #[0-9]+ .*(/src/|/tests/fuzz/)' "$log" |
            head -12 | sed 's/^/    | /'
    fi
done

printf '%s\n' "${summary[@]}"
exit $failed
