#!/bin/sh
# check_docs.sh - the reference tells the truth: docs/reference/ is what tools/refgen.py makes of include/*.h
# today (but for equivalents.md, written by hand), and every function exported by the libraries built in $BUILD
# has a doc comment in a header.
# Prints "N passed, N failed" like the test binaries (tests/run.sh adds it to the total).
cd "$(dirname "$0")/.." || exit 1
passed=0
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if python3 tools/refgen.py "$tmp" include/*.h && diff -r -x equivalents.md "$tmp" docs/reference >"$tmp.diff" 2>&1; then
    echo "PASS reference_up_to_date"
    passed=$((passed + 1))
else
    echo "FAIL reference_up_to_date: docs/reference/ differs from include/*.h; run 'make docs' and commit:"
    head -n 20 "$tmp.diff"
    failed=$((failed + 1))
fi
rm -f "$tmp.diff"

python3 tools/refgen.py --names include/*.h | sort -u >"$tmp/documented"
found=0
for lib in "${BUILD:-build}"/libcorio*.so; do
    [ -e "$lib" ] || continue
    found=1
    readelf --dyn-syms -W "$lib" | awk '$4 == "FUNC" && $5 == "GLOBAL" && $7 != "UND" { sub(/@.*/, "", $8); print $8 }' |
        sort -u >"$tmp/exported"
    missing=$(comm -23 "$tmp/exported" "$tmp/documented")
    if [ -z "$missing" ]; then
        echo "PASS every_export_documented $(basename "$lib") ($(wc -l <"$tmp/exported") functions)"
        passed=$((passed + 1))
    else
        echo "FAIL every_export_documented $(basename "$lib"): no doc comment in include/ for:" $missing
        failed=$((failed + 1))
    fi
done
if [ $found -eq 0 ]; then
    echo "FAIL every_export_documented: no shared library in ${BUILD:-build}"
    failed=$((failed + 1))
fi
# every error code a header promises has a name and a sentence (corio_err_name, corio_strerror): the table in
# src/error.c lists it (ENOTSUP is EOPNOTSUPP's other name on Linux)
unnamed=""
for code in $(grep -oh -e '-E[A-Z0-9]\{2,\}' -e 'errno E[A-Z0-9]\{2,\}' include/*.h | sed 's/^-//; s/^errno //' | sort -u); do
    [ "$code" = ENOTSUP ] && code=EOPNOTSUPP
    grep -q "X($code," src/error.c || unnamed="$unnamed $code"
done
if [ -z "$unnamed" ]; then
    echo "PASS every_documented_error_is_named"
    passed=$((passed + 1))
else
    echo "FAIL every_documented_error_is_named: src/error.c has no entry for:$unnamed"
    failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
