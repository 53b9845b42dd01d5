#!/bin/sh
# check_man.sh - the man pages tools/mangen.py makes of include/*.h (what make install installs):
#  - man_pages_cover_every_name: every name the headers document or declare has a page of its own or a .so link;
#  - man_pages_render: all pages go through groff's man macros (what man(1) runs) without a warning, .so links
#    resolved; then man -l renders corio(7) and a link page, and lexgrog (man-db's whatis parser) reads every
#    NAME line. With no groff, mandoc -T lint instead; with neither, or without python3, skipped and counted.
# Prints "N passed, N failed, N skipped" (tests/run.sh adds it to the total).
cd "$(dirname "$0")/.." || exit 1
export LC_ALL=C
passed=0
failed=0
skipped=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass() { echo "PASS $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
skip() { echo "SKIP $*"; skipped=$((skipped + 1)); }
summary() { echo "$passed passed, $failed failed, $skipped skipped"; }

if ! command -v python3 >/dev/null 2>&1; then
    skip "man_pages: python3 is not installed (Debian: apt-get install python3)"
    summary
    exit 0
fi
headers="include/corio.h $(ls include/corio_*.h)"
# shellcheck disable=SC2086 # the header list is split on purpose
if ! python3 tools/mangen.py "$tmp/man" $headers 2>"$tmp/err"; then
    fail "man_pages: tools/mangen.py failed: $(head -n 5 "$tmp/err")"
    summary
    exit 1
fi
# the documented names (refgen's list; an enum's constants one by one) and the declared functions
# shellcheck disable=SC2086
{
    python3 tools/refgen.py --names $headers | sed 's|/\*[^*]*\*/||g' | tr ',' '\n' |
        sed -n 's/^ *\([A-Za-z_][A-Za-z0-9_]*\).*/\1/p'
    cat $headers | sed -n 's/^CORIO_EXTERN[^(]*[ *]\(corio_[a-z0-9_]*\)(.*/\1/p'
} | grep -i '^corio_' | sort -u >"$tmp/names"
cd "$tmp/man" || exit 1
missing=""
for n in $(cat "$tmp/names"); do
    [ -s "man3/$n.3" ] || missing="$missing $n"
done
if [ -z "$missing" ]; then
    pass "man_pages_cover_every_name ($(wc -l <"$tmp/names") names; $(grep -L '^\.so ' man3/*.3 | wc -l) pages," \
        "$(grep -l '^\.so ' man3/*.3 | wc -l) links)"
else
    fail "man_pages_cover_every_name: no page nor link for:$missing"
fi

pages=$(ls man3/*.3 man7/*.7)
if command -v groff >/dev/null 2>&1; then
    # one groff for all (one per page costs seconds); a warning names no file, so then each is run alone
    # shellcheck disable=SC2086
    if groff -man -Tutf8 -ww -z -s $pages >"$tmp/out" 2>&1 && [ ! -s "$tmp/out" ]; then
        why=""
    else
        why=$(for p in $pages; do
            out=$(groff -man -Tutf8 -ww -z -s "$p" 2>&1) || out="$out (failed)"
            [ -n "$out" ] && echo "    $p: $out"
        done | head -n 20)
        [ -n "$why" ] || why="    $(head -n 5 "$tmp/out")"
    fi
    if [ -z "$why" ] && command -v man >/dev/null 2>&1; then
        for p in man7/corio.7 man3/corio_task_opts.3; do
            MANWIDTH=80 man --warnings -E UTF-8 -l "$p" >"$tmp/page" 2>"$tmp/err" && [ ! -s "$tmp/err" ] &&
                grep -q '^SYNOPSIS' "$tmp/page" || why="$why    man -l $p: $(head -n 3 "$tmp/err")"
        done
    fi
    if [ -z "$why" ] && command -v lexgrog >/dev/null 2>&1; then
        # shellcheck disable=SC2086
        # (in the C locale lexgrog takes 100 times longer: it converts every page to guess its encoding)
        bad=$(LC_ALL=C.UTF-8 lexgrog $pages 2>&1 | grep -v ': "' | head -n 5)
        [ -z "$bad" ] || why="    lexgrog: $bad"
    fi
    if [ -z "$why" ]; then
        pass "man_pages_render ($(echo "$pages" | wc -w) pages through groff -man -ww$(command -v man >/dev/null 2>&1 &&
            echo ', man -l')$(command -v lexgrog >/dev/null 2>&1 && echo ', lexgrog'))"
    else
        fail "man_pages_render:"
        echo "$why"
    fi
elif command -v mandoc >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    if mandoc -T lint -W warning $pages >"$tmp/out" 2>&1; then
        pass "man_pages_render ($(echo "$pages" | wc -w) pages through mandoc -T lint)"
    else
        fail "man_pages_render: mandoc -T lint:"
        head -n 20 "$tmp/out"
    fi
else
    skip "man_pages_render: neither groff nor mandoc is installed (Debian: apt-get install man-db)"
fi
summary
