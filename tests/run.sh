#!/bin/sh
# run.sh - runs each test binary given as argument (each forks one process per case) and sums their
# "N passed, N failed" lines into one. $RUNNER (e.g. qemu-aarch64) prefixes each binary; a *.sh argument is a
# check script run with sh, printing the same summary line.
passed=0
failed=0
bad=""
for t in "$@"; do
    echo "== $(basename "$t")"
    case "$t" in
    # scripts (checks of the tree, the installed library...) run as they are, never under the runner
    *.sh) out=$(sh "$t" 2>&1) ;;
    *) out=$($RUNNER "$t" 2>&1) ;;
    esac
    rc=$?
    echo "$out" | grep -v '^PASS ' | grep -v 'passed, .* failed$'
    echo "$out" | grep -c '^PASS ' | sed 's/^/   cases passed: /'
    line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
    if [ -n "$line" ]; then
        p=$(echo "$line" | cut -d' ' -f1)
        f=$(echo "$line" | cut -d' ' -f3)
    else
        p=0
        f=1
    fi
    [ $rc -ne 0 ] && [ "$f" -eq 0 ] && f=1
    [ "$f" -ne 0 ] && bad="$bad $(basename "$t")"
    passed=$((passed + p))
    failed=$((failed + f))
done
[ -n "$bad" ] && echo "failing:$bad"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
