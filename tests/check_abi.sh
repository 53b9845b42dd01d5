#!/bin/sh
# check_abi.sh - the ABI promises of docs/abi.md, checked on the shared libraries built in $BUILD:
#  - symbols_LIB: LIB exports exactly the functions listed in abi/NAME.symbols, each declared in include/NAME.h,
#    so a new public function enters the list on purpose and a removed or renamed one cannot go unnoticed;
#  - abidiff_LIB: libabigail's abidiff of LIB against the last release's ABI (abi/LIB.abi) finds no change to an
#    existing function or type, unless the SONAME moved. A field taken from a struct's reserved space is not a
#    change (abi/compatible.abignore); a struct whose size changed always is. Skipped, and counted, where
#    abigail-tools is not installed or the baseline is for another architecture.
# Prints "N passed, N failed, N skipped" (tests/run.sh adds it to the total).
#   BUILD=build/<config> sh tests/check_abi.sh          the checks (make test runs them)
#   BUILD=build/<config> sh tests/check_abi.sh --dump   writes abi/*.symbols and abi/*.abi (make abi-dump, at a release)
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
export LC_ALL=C
passed=0
failed=0
skipped=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# what the dumps keep: the exported functions and the types of the public headers, without paths of this machine
ABIDW="abidw --no-corpus-path --short-locs --no-comp-dir-path --no-elf-needed --headers-dir include \
--drop-private-types --exported-interfaces-only"

pass() { echo "PASS $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
skip() { echo "SKIP $*"; skipped=$((skipped + 1)); }
# the defined global symbols of the dynamic table (nm -D --defined-only; readelf reads any architecture's ELF)
exported() {
    readelf --dyn-syms -W "$1" | awk '($5 == "GLOBAL" || $5 == "WEAK") && $7 != "UND" && NF >= 8 { sub(/@.*/, "", $8); print $8 }' |
        sort -u
}
# the names include/NAME.h declares: the same expression as the Makefile's version scripts
declared() { sed -n 's/^CORIO_EXTERN[^(]*[ *]\(corio_[a-z0-9_]*\)(.*/\1/p' "include/$1.h" | sort -u; }
soname() { sed -n "1,3s/.*<abi-corpus [^>]*soname='\([^']*\)'.*/\1/p" "$1"; }
arch() { sed -n "1,3s/.*<abi-corpus [^>]*architecture='\([^']*\)'.*/\1/p" "$1"; }
# "NAME: OLD -> NEW bytes" for every struct of both dumps whose size differs (abidiff would let the suppression of
# abi/compatible.abignore hide a growth past the reserved space)
size_changes() {
    python3 - "$1" "$2" <<'EOF'
import sys
import xml.etree.ElementTree as ET

def sizes(path):
    return {e.get("name"): int(e.get("size-in-bits")) for e in ET.parse(path).iter("class-decl")
            if e.get("size-in-bits") and e.get("is-anonymous") != "yes"}

old, new = sizes(sys.argv[1]), sizes(sys.argv[2])
for name in sorted(set(old) & set(new)):
    if old[name] != new[name]:
        print(f"{name}: {old[name] // 8} -> {new[name] // 8} bytes")
EOF
}

libs=""
for lib in "$BUILD"/libcorio*.so; do
    [ -e "$lib" ] && libs="$libs $lib"
done
if [ -z "$libs" ]; then
    echo "FAIL abi: no shared library in $BUILD"
    echo "0 passed, 1 failed"
    exit 1
fi

if [ "${1:-}" = --dump ]; then
    command -v abidw >/dev/null 2>&1 || { echo "check_abi.sh: abidw not found (Debian: apt-get install abigail-tools)"; exit 1; }
    mkdir -p abi
    for lib in $libs; do
        name=$(basename "$lib" .so)
        exported "$lib" >"abi/${name#lib}.symbols"
        $ABIDW "$lib" >"abi/$name.abi" || exit 1
        echo "check_abi.sh: wrote abi/${name#lib}.symbols ($(wc -l <"abi/${name#lib}.symbols") functions), abi/$name.abi ($(soname "abi/$name.abi"))"
    done
    exit 0
fi

for lib in $libs; do
    name=$(basename "$lib" .so)
    h=${name#lib}
    list=abi/$h.symbols
    exported "$lib" >"$tmp/exported"
    declared "$h" >"$tmp/declared"
    if [ ! -e "$list" ]; then
        fail "symbols_$name: no $list; write it from the library built here: make abi-dump"
    else
        new=$(comm -23 "$tmp/exported" "$list")
        gone=$(comm -13 "$tmp/exported" "$list")
        undefined=$(comm -23 "$tmp/declared" "$tmp/exported")
        if [ -z "$new$gone$undefined" ]; then
            pass "symbols_$name ($(wc -l <"$list") functions, as $list lists)"
        else
            fail "symbols_$name: the exported functions differ from $list (docs/abi.md):"
            [ -n "$new" ] && echo "    exported but not listed (a new public function? add it to $list):" $new
            [ -n "$gone" ] && echo "    listed but not exported (removed or renamed: binaries built against the last" \
                "release break, which needs a SOVERSION bump; then update $list):" $gone
            [ -n "$undefined" ] && echo "    declared in include/$h.h but not defined:" $undefined
        fi
    fi

    base=abi/$name.abi
    if ! command -v abidiff >/dev/null 2>&1 || ! command -v abidw >/dev/null 2>&1; then
        skip "abidiff_$name: abigail-tools is not installed (Debian: apt-get install abigail-tools)"
        continue
    fi
    if [ ! -e "$base" ]; then
        skip "abidiff_$name: no baseline $base (a library new since the last release; make abi-dump at the next)"
        continue
    fi
    if ! $ABIDW "$lib" >"$tmp/new.abi" 2>"$tmp/err"; then
        fail "abidiff_$name: abidw failed: $(head -n 3 "$tmp/err")"
        continue
    fi
    if [ "$(arch "$base")" != "$(arch "$tmp/new.abi")" ]; then
        skip "abidiff_$name: the baseline $base is for $(arch "$base"), this build for $(arch "$tmp/new.abi")"
        continue
    fi
    abidiff --no-added-syms --suppressions abi/compatible.abignore "$base" "$tmp/new.abi" >"$tmp/report" 2>&1
    rc=$?
    sizes=$(size_changes "$base" "$tmp/new.abi") || { fail "abidiff_$name: could not read the dumps"; continue; }
    old_so=$(soname "$base")
    new_so=$(soname "$tmp/new.abi")
    # abidiff's status is a bit mask: 1 an error, 2 a usage error, 4 an ABI change, 8 an incompatible one
    if [ $((rc & 3)) -ne 0 ]; then
        fail "abidiff_$name: abidiff failed (status $rc):"
        head -n 20 "$tmp/report"
    elif [ $((rc & 12)) -eq 0 ] && [ -z "$sizes" ]; then
        pass "abidiff_$name (compatible with $base, $old_so)"
    elif [ "$old_so" != "$new_so" ]; then
        pass "abidiff_$name (incompatible with $base, and the SONAME moved: $old_so -> $new_so; make abi-dump at the release)"
    else
        fail "abidiff_$name: an incompatible change to $old_so without a SOVERSION bump (docs/abi.md):"
        [ -n "$sizes" ] && echo "$sizes" | sed 's/^/    size changed: /'
        grep -v '^$' "$tmp/report" | head -n 60 | sed 's/^/    /'
    fi
done
echo "$passed passed, $failed failed, $skipped skipped"
