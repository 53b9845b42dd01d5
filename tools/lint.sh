#!/bin/sh
# tools/lint.sh - the static analysis behind `make lint`: clang-tidy (checks in .clang-tidy, relaxed for tests/
# and examples/ by their own .clang-tidy) over the library, the tests and the examples, then cppcheck over the
# library. Any finding fails the run (exit 1); about a minute on 2 cores.
#   CLANG_TIDY=clang-tidy-16 CPPCHECK=... LINT_JOBS=4 tools/lint.sh   other binaries, more parallel jobs
set -u
cd "$(dirname "$0")/.." || exit 2

CLANG_TIDY=${CLANG_TIDY:-clang-tidy}
CPPCHECK=${CPPCHECK:-cppcheck}
CC=${CC:-cc}
JOBS=${LINT_JOBS:-$(nproc 2>/dev/null || echo 2)}
for tool in "$CLANG_TIDY" "$CPPCHECK"; do
    command -v "$tool" >/dev/null 2>&1 || { echo "lint: $tool not found (Debian: apt-get install clang-tidy cppcheck)" >&2; exit 2; }
done

# the project's flags (Makefile CFLAGS_BASE); the optional pieces only when their headers are installed, as the
# Makefile builds them
have() { printf '#include <%s>\n' "$1" | "$CC" -E -x c - >/dev/null 2>&1; }
FLAGS="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Iinclude -Isrc"
have liburing.h && FLAGS="$FLAGS -DCORIO_HAVE_URING"
# (file names without spaces: $FILES is split on purpose below)
FILES=$(ls src/*.c tests/*.c examples/*.c)
# shellcheck disable=SC2086
have http_parser.h || FILES=$(printf '%s\n' $FILES | grep -v -e '^tests/test_http\.c$' -e '^examples/http_server\.c$')
# tests/fault.c replaces malloc & co.: it has to declare glibc's reserved __libc_* entry points and define the
# allocator with parameter names of its own, which is what two checks exist to prevent elsewhere
# shellcheck disable=SC2086
FILES=$(printf '%s\n' $FILES | grep -v -e '^tests/fault\.c$')
# the optional modules (mk/NAME.mk) with their tests and the examples that use them, when their headers are there
FLAGS="$FLAGS -I/usr/include/postgresql"
for m in pg:postgresql/libpq-fe.h curl:curl/curl.h tls:openssl/ssl.h sqlite:sqlite3.h; do
    name=${m%%:*}
    if have "${m#*:}"; then
        FILES="$FILES modules/$name.c"
        FLAGS="$FLAGS -DCORIO_HAVE_$(echo "$name" | tr a-z A-Z)"
    else
        # shellcheck disable=SC2086
        FILES=$(printf '%s\n' $FILES | grep -v -e "^tests/test_$name\.c$")
        [ "$name" = sqlite ] && FILES=$(printf '%s\n' $FILES | grep -v -e '^examples/db_demo\.c$')
    fi
done

# One clang-tidy per file, $JOBS at a time; xargs exits non-zero if any of them found something. The "N warnings
# generated" chatter (diagnostics suppressed in system headers or by NOLINT) is dropped.
tidy() {
    # shellcheck disable=SC2016
    xargs -n 1 -P "$JOBS" sh -c '
        case "$0" in tests/*) extra=-Itests ;; *) extra= ;; esac
        out=$("$CLANG_TIDY" --quiet "$0" -- $FLAGS $extra $EXTRA 2>&1)
        rc=$?
        out=$(printf "%s\n" "$out" | grep -v "^[0-9]* warnings\{0,1\}\( and [0-9]* errors\{0,1\}\)\{0,1\} generated\.$")
        [ -n "$out" ] && printf "%s\n" "$out"
        exit $rc'
}
EXTRA=
export CLANG_TIDY FLAGS EXTRA
status=0
echo "lint: clang-tidy ($($CLANG_TIDY --version | sed -n 's/.*version \([0-9.]*\).*/\1/p' | head -1)) over src/ modules/ tests/ examples/"
# shellcheck disable=SC2086
printf '%s\n' $FILES | tidy || status=1
# the portable switch is a separate build (SWITCH=ucontext): its file is empty without the macro
EXTRA=-DCORIO_SWITCH_UCONTEXT
echo src/switch_ucontext.c | tidy || status=1

# cppcheck: flow analysis of its own (null and uninitialised values, conditions always true, const-ness), with
# the POSIX library model so it knows what mmap, pipe2 and pthread_* return. Its false positives are suppressed
# inline, each with its reason (grep cppcheck-suppress src).
CPPCHECK_FLAGS="--enable=warning,style,performance,portability --error-exitcode=1 --inline-suppr --quiet \
    --std=c11 --library=posix -j $JOBS -Iinclude -Isrc -D__x86_64__ -D_GNU_SOURCE"
have liburing.h && CPPCHECK_FLAGS="$CPPCHECK_FLAGS -DCORIO_HAVE_URING"
echo "lint: $($CPPCHECK --version) over src/ modules/"
# shellcheck disable=SC2086
$CPPCHECK $CPPCHECK_FLAGS src || status=1
# shellcheck disable=SC2086
$CPPCHECK $CPPCHECK_FLAGS -I/usr/include/postgresql $(printf '%s\n' $FILES | grep '^modules/') || status=1
# shellcheck disable=SC2086
$CPPCHECK $CPPCHECK_FLAGS -DCORIO_SWITCH_UCONTEXT src/switch_ucontext.c || status=1

[ $status -eq 0 ] && echo "lint: clean" || echo "lint: FAILED (findings above)" >&2
exit $status
