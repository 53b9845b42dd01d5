#!/bin/sh
# run.sh - runs each libFuzzer target named as argument (built in $FUZZ_BUILD by `make fuzz`) for $SECONDS seconds
# from its corpus fuzz/corpus/<target>/, prints the executions done and whether it found anything, and exits
# non-zero if any target crashed, leaked or timed out (the input that did is kept in $FUZZ_BUILD/artifacts/).
# New coverage goes to $FUZZ_BUILD/new/<target>/; `fuzz/run.sh --merge TARGET...` minimises the committed corpus
# plus those new inputs back into fuzz/corpus/<target>/ with -merge=1.
# $FUZZ_ARGS adds libFuzzer flags; fuzz/<target>.options holds a target's own (one line, e.g. -max_len=8192).
set -u
cd "$(dirname "$0")/.."
: "${FUZZ_BUILD:=build/fuzz-$(uname -m)}"
: "${SECONDS_:=${SECONDS:-60}}"
: "${FUZZ_ARGS:=}"

opts() { [ -f "fuzz/$1.options" ] && cat "fuzz/$1.options"; }

if [ "${1:-}" = "--merge" ]; then
    shift
    for t in "$@"; do
        tmp="$FUZZ_BUILD/merge/$t"
        rm -rf "$tmp" && mkdir -p "$tmp" "$FUZZ_BUILD/new/$t" "fuzz/corpus/$t" || exit 1
        # shellcheck disable=SC2046
        "$FUZZ_BUILD/$t" -merge=1 -use_counters=0 $(opts "$t") "$tmp" "fuzz/corpus/$t" "$FUZZ_BUILD/new/$t" >"$tmp.log" 2>&1 ||
            { tail -n 20 "$tmp.log"; exit 1; }
        rm -f "fuzz/corpus/$t"/* && cp "$tmp"/* "fuzz/corpus/$t/"
        echo "$t: corpus now $(ls "fuzz/corpus/$t" | wc -l) files, $(du -sk --apparent-size "fuzz/corpus/$t" | cut -f1) KiB"
    done
    exit 0
fi

bad=""
for t in "$@"; do
    new="$FUZZ_BUILD/new/$t"
    art="$FUZZ_BUILD/artifacts/$t"
    log="$FUZZ_BUILD/$t.log"
    mkdir -p "$new" "$art" "fuzz/corpus/$t"
    # the first corpus directory receives new inputs, so the committed corpus is only read
    # shellcheck disable=SC2046,SC2086
    "$FUZZ_BUILD/$t" -max_total_time="$SECONDS_" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$art/" $(opts "$t") $FUZZ_ARGS "$new" "fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    if [ $rc -eq 0 ]; then
        echo "$t: ${execs:-?} executions in ${SECONDS_}s (${speed:-?}/s), corpus $(ls "fuzz/corpus/$t" | wc -l)" \
            "+ $(ls "$new" | wc -l) new inputs: nothing found"
    else
        what=$(grep -m1 -oE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer): [a-zA-Z -]+|runtime error: .*' "$log")
        echo "$t: FOUND after ${execs:-?} executions (exit $rc): ${what:-see $log}"
        grep -m3 -E 'Test unit written to|FUZZ CHECK' "$log" | sed 's/^/    /'
        echo "    log: $log"
        bad="$bad $t"
    fi
done
if [ -n "$bad" ]; then
    echo "fuzz: FAILED:$bad"
    exit 1
fi
echo "fuzz: all targets ran ${SECONDS_}s, nothing found"
