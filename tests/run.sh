#!/bin/sh
# run.sh - runs each test binary given as argument (each forks one process per case) and sums their
# "N passed, N failed[, N skipped]" lines into "N passed, N failed, N skipped". $RUNNER (e.g. qemu-aarch64)
# prefixes each binary; a *.sh argument is a check script run with sh, printing the same summary line.
passed=0
failed=0
skipped=0
bad=""
for t in "$@"; do
    echo "== $(basename "$t")"
    case "$t" in
    # scripts (checks of the tree, the installed library...) run as they are, never under the runner
    *.sh) out=$(sh "$t" 2>&1) ;;
    *) out=$($RUNNER "$t" 2>&1) ;;
    esac
    rc=$?
    echo "$out" | grep -v '^PASS ' | grep -v -E 'passed, .* failed(, [0-9]+ skipped)?$'
    echo "$out" | grep -c '^PASS ' | sed 's/^/   cases passed: /'
    line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' | tail -n 1)
    k=0
    if [ -n "$line" ]; then
        p=$(echo "$line" | cut -d' ' -f1)
        f=$(echo "$line" | cut -d' ' -f3 | tr -d ,)
        case "$line" in *skipped) k=$(echo "$line" | cut -d' ' -f5) ;; esac
    else
        p=0
        f=1
    fi
    [ $rc -ne 0 ] && [ "$f" -eq 0 ] && f=1
    [ "$f" -ne 0 ] && bad="$bad $(basename "$t")"
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + k))
done
[ -n "$bad" ] && echo "failing:$bad"
# the skipped cases said why above (SKIP lines): a program or package they need is not installed
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
