#!/bin/sh
# install_test.sh - checks `make install` and `make uninstall` of the build in $1 (a BUILD directory): installs
# into a temporary PREFIX, builds tests/install/hello.c out of tree with pkg-config (shared, then fully static
# with --static) and with the CMake package (corio::corio, corio::corio_static), runs each, checks the SONAME,
# the modules' .pc files, that both ways hand the consumer -fstack-clash-protection (and that tests/install/
# big_frame.c built so aborts naming its task), the man pages, a DESTDIR install, and that uninstall leaves no
# file behind.
# Prints "ok: ..." per step; exits 0 when all pass. Run from the repository root (tests/test_install.c does).
#   usage: sh tests/install_test.sh build/<config>
set -u
BUILD=${1:?usage: install_test.sh BUILD_DIR}
CC=${CC:-cc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/corio-install.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
log=$tmp/log

fail() {
    echo "install_test: FAIL: $*"
    [ -s "$log" ] && sed 's/^/    /' "$log" | tail -n 40
    exit 1
}
ok() { echo "install_test: ok: $*"; }
# make as a fresh top-level run: a jobserver inherited from the `make test` around us may be gone
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s --no-print-directory BUILD="$BUILD" "$@" >"$log" 2>&1; }
# no file nor link left under $1
empty_tree() { [ -z "$(find "$1" \( -type f -o -type l \) 2>/dev/null)" ]; }
# The flag corio hands its users where the compiler has it (the Makefile asks the same question): stack probes, so
# a task's frame larger than its stack and guard faults in the guard instead of landing in the neighbour's stack.
clash=-fstack-clash-protection
$CC $clash -Werror -x c -c /dev/null -o /dev/null >/dev/null 2>&1 || clash=
# big_frame.c built the consumer's way ($2) must end in SIGABRT with corio's report naming its task
big_frame_aborts() {
    LD_LIBRARY_PATH="$prefix/lib" "$1" >"$tmp/out" 2>"$log"
    rc=$?
    [ "$rc" -eq 134 ] && grep -q '^corio: task "big-frame" overflowed its 640 KiB stack' "$log" ||
        fail "big_frame ($2) exited $rc, wanted SIGABRT and corio's report; it printed: $(cat "$tmp/out")"
}

# the version is the header's; the SONAME (libcorio.so.N) is the one the Makefile gave the build (docs/abi.md)
version=$(sed -n 's/^#define CORIO_VERSION_[A-Z]* \([0-9]*\).*/\1/p' include/corio.h | paste -sd.)
soname_of() { readelf -d "$1" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p'; }
soname=$(soname_of "$BUILD/libcorio.so")
case "$soname" in libcorio.so.[0-9]*) ;; *) fail "$BUILD/libcorio.so has the SONAME '$soname'" ;; esac
sover=${soname#libcorio.so.}
real=libcorio.so.$version

mk install PREFIX="$prefix" || fail "make install PREFIX=$prefix"
for f in include/corio.h lib/libcorio.a "lib/$real" "lib/$soname" lib/libcorio.so \
    lib/pkgconfig/corio.pc lib/cmake/corio/corioConfig.cmake lib/cmake/corio/corioConfigVersion.cmake; do
    [ -e "$prefix/$f" ] || fail "make install did not install $f"
done
ok "make install PREFIX=$prefix"

got=$(soname_of "$prefix/lib/$real")
[ "$got" = "$soname" ] || fail "SONAME of $real is '$got', want $soname"
[ "$(readlink "$prefix/lib/$soname")" = "$real" ] || fail "$soname does not point to $real"
[ "$(readlink -f "$prefix/lib/libcorio.so")" = "$(readlink -f "$prefix/lib/$real")" ] ||
    fail "libcorio.so does not lead to $real"
ok "$real, SONAME $soname, and its links"

# the man pages (made by tools/mangen.py: not without python3); man resolves a .so link page to its target
if command -v python3 >/dev/null 2>&1; then
    for f in share/man/man7/corio.7 share/man/man3/corio_spawn.3 share/man/man3/corio_sel.3; do
        [ -e "$prefix/$f" ] || fail "make install did not install $f"
    done
    if command -v man >/dev/null 2>&1; then
        MANWIDTH=80 man -M "$prefix/share/man" 3 corio_sel >"$tmp/out" 2>"$log" &&
            grep -q '^ *corio_select - ' "$tmp/out" || fail "man -M PREFIX/share/man 3 corio_sel: $(head -c 300 "$tmp/out")"
        MANWIDTH=80 man -M "$prefix/share/man" 7 corio >"$tmp/out" 2>"$log" && grep -q '^SYNOPSIS' "$tmp/out" ||
            fail "man -M PREFIX/share/man 7 corio"
    fi
    ok "man pages: man 3 corio_sel (a link to corio_select) and man 7 corio"
fi

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
[ "$(pkg-config --modversion corio 2>"$log")" = "$version" ] || fail "pkg-config --modversion corio"
# shellcheck disable=SC2046 # word splitting of pkg-config's output is the point
$CC -o "$tmp/hello_pc" tests/install/hello.c $(pkg-config --cflags --libs corio) >"$log" 2>&1 ||
    fail "cc hello.c \$(pkg-config --cflags --libs corio)"
LD_LIBRARY_PATH="$prefix/lib" "$tmp/hello_pc" >"$tmp/out" 2>"$log" || fail "hello (pkg-config, shared) failed"
grep -qx "hello from corio $version (header $version)" "$tmp/out" || fail "hello (pkg-config) printed: $(cat "$tmp/out")"
readelf -d "$tmp/hello_pc" | grep -q "NEEDED.*\\[$soname\\]" || fail "hello_pc does not need $soname"
ok "pkg-config build against libcorio.so runs"

if [ -n "$clash" ]; then
    case " $(pkg-config --cflags corio) " in *" $clash "*) ;; *) fail "pkg-config --cflags corio lacks $clash" ;; esac
    # shellcheck disable=SC2046
    $CC -o "$tmp/big_frame_pc" tests/install/big_frame.c $(pkg-config --cflags --libs corio) >"$log" 2>&1 ||
        fail "cc big_frame.c \$(pkg-config --cflags --libs corio)"
    big_frame_aborts "$tmp/big_frame_pc" pkg-config
    ok "pkg-config --cflags corio has $clash; big_frame built with it aborts naming its task"
else
    ok "$CC has no -fstack-clash-protection: not checked"
fi

# shellcheck disable=SC2046
$CC -static -o "$tmp/hello_static" tests/install/hello.c $(pkg-config --static --cflags --libs corio) >"$log" 2>&1 ||
    fail "cc -static hello.c \$(pkg-config --static --cflags --libs corio)"
"$tmp/hello_static" >"$tmp/out" 2>"$log" || fail "hello (pkg-config --static) failed"
grep -q '^hello from corio' "$tmp/out" || fail "hello (static) printed: $(cat "$tmp/out")"
readelf -d "$tmp/hello_static" 2>/dev/null | grep -q NEEDED && fail "hello_static has dynamic dependencies"
ok "pkg-config --static build runs"

for pc in "$prefix"/lib/pkgconfig/corio-*.pc; do
    [ -e "$pc" ] || continue
    m=$(basename "$pc" .pc)
    name=${m#corio-}
    libs=$(pkg-config --static --libs "$m" 2>"$log") || fail "pkg-config --static --libs $m"
    case " $libs " in *" -lcorio_$name "*"-lcorio "*) ;; *) fail "pkg-config --static --libs $m: $libs" ;; esac
    if [ -n "$clash" ]; then
        case " $(pkg-config --cflags "$m") " in *" $clash "*) ;; *) fail "pkg-config --cflags $m lacks $clash" ;; esac
    fi
    [ -e "$prefix/include/corio_$name.h" ] && [ -e "$prefix/lib/libcorio_$name.a" ] &&
        [ -e "$prefix/lib/libcorio_$name.so.$sover" ] && [ -e "$prefix/lib/libcorio_$name.so.$version" ] ||
        fail "module $name: header or libraries missing"
    ok "module $name: $m.pc ($libs)"
done

# corio_pg.h hands out PGresult pointers the caller must PQclear: a program calling libpq itself links with
# pkg-config --libs corio-pg alone (its libpq is public, not Requires.private)
if [ -e "$prefix/lib/pkgconfig/corio-pg.pc" ]; then
    # shellcheck disable=SC2046
    $CC -o "$tmp/pg_user" tests/install/pg_user.c $(pkg-config --cflags --libs corio-pg) >"$log" 2>&1 ||
        fail "cc pg_user.c \$(pkg-config --cflags --libs corio-pg): $(head -c 300 "$log")"
    LD_LIBRARY_PATH="$prefix/lib" "$tmp/pg_user" >"$tmp/out" 2>"$log" || fail "pg_user failed: $(cat "$log")"
    ok "a program calling libpq links with pkg-config --libs corio-pg alone"
fi

cmake -S tests/install -B "$tmp/cmake" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$CC" -DCORIO_WANT="${version%.*}" \
    -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >"$log" 2>&1 || fail "cmake configure of tests/install"
cmake --build "$tmp/cmake" >"$log" 2>&1 || fail "cmake --build"
"$tmp/cmake/hello" >"$tmp/out" 2>"$log" || fail "hello (CMake, corio::corio) failed"
grep -qx "hello from corio $version (header $version)" "$tmp/out" || fail "hello (CMake) printed: $(cat "$tmp/out")"
readelf -d "$tmp/cmake/hello" | grep -q "NEEDED.*\\[$soname\\]" || fail "CMake hello does not need $soname"
"$tmp/cmake/hello_static" >"$tmp/out" 2>"$log" || fail "hello_static (CMake, corio::corio_static) failed"
readelf -d "$tmp/cmake/hello_static" | grep -q 'NEEDED.*libcorio' && fail "CMake hello_static needs libcorio.so"
ok "CMake find_package(corio): corio::corio and corio::corio_static build and run"

if [ -n "$clash" ]; then
    # every target's compile command (corio::corio, corio::corio_static, each module's) carries the flag
    commands=$(grep -c '"command"' "$tmp/cmake/compile_commands.json")
    with=$(grep '"command"' "$tmp/cmake/compile_commands.json" | grep -c -- "$clash")
    [ "$commands" -gt 0 ] && [ "$with" = "$commands" ] ||
        fail "$with of $commands CMake compile commands have $clash: $(cat "$tmp/cmake/compile_commands.json")"
    big_frame_aborts "$tmp/cmake/big_frame" CMake
    ok "CMake targets hand $clash to all $commands compile commands; big_frame built with it aborts naming its task"
fi

mk uninstall PREFIX="$prefix" || fail "make uninstall PREFIX=$prefix"
empty_tree "$prefix" || fail "files left after make uninstall: $(find "$prefix" \( -type f -o -type l \))"
ok "make uninstall left no file"

mk install DESTDIR="$tmp/stage" PREFIX=/opt/corio || fail "make install DESTDIR=$tmp/stage"
[ -e "$tmp/stage/opt/corio/lib/$soname" ] || fail "DESTDIR install: no $tmp/stage/opt/corio/lib/$soname"
grep -q '^prefix=/opt/corio$' "$tmp/stage/opt/corio/lib/pkgconfig/corio.pc" || fail "DESTDIR leaked into corio.pc"
mk uninstall DESTDIR="$tmp/stage" PREFIX=/opt/corio || fail "make uninstall DESTDIR=$tmp/stage"
empty_tree "$tmp/stage" || fail "files left after a DESTDIR uninstall"
ok "DESTDIR install and uninstall"
echo "install_test: all passed"
