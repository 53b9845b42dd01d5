#!/bin/sh
# bare.sh - runs a command as on a fresh machine of the project's image (Debian 12 with gcc, make, clang, cmake,
# valgrind, curl and python3): `tools/bare.sh make test BUILD=build/bare`. The packages .ci/run installs beyond
# that image stay installed but are hidden from the command, in a private mount namespace: their headers are
# left out of a copy of /usr/include mounted over it (so the Makefile's feature checks fail as they would with the
# package absent), and their programs are covered by an empty file that cannot be run. CI runs the suite this
# way to prove that `make test` passes on the bare image, skipping and counting what needs a missing package.
# Needs root (unshare -m); nothing outside the namespace changes.
set -eu

# the optional -dev packages, the real servers and clients the tests start, the install test's and the ABI check's
# tools
HIDE="netcat-openbsd liburing-dev libhttp-parser-dev libpq-dev postgresql-15 libcurl4-openssl-dev nginx nginx-core
libssl-dev libsqlite3-dev pkgconf gdb abigail-tools"

if [ "${1:-}" != --inside ]; then
    if [ "$#" -eq 0 ]; then
        echo "usage: tools/bare.sh COMMAND [ARG...]" >&2
        exit 2
    fi
    if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null 2>&1; then
        echo "bare.sh: needs root and unshare (util-linux) for a private mount namespace" >&2
        exit 2
    fi
    # the copies are removed once the namespace, and so its mounts, are gone
    tmp=$(mktemp -d /tmp/corio-bare.XXXXXX)
    rc=0
    unshare -m --propagation private sh "$0" --inside "$tmp" "$@" || rc=$?
    rm -rf "$tmp"
    exit $rc
fi
tmp=$2
shift 2

cp -a /usr/include "$tmp/include"
: >"$tmp/hidden"
chmod 0644 "$tmp/hidden"
hidden=""
for pkg in $HIDE; do
    files=$(dpkg -L "$pkg" 2>/dev/null) || continue
    hidden="$hidden $pkg"
    for f in $files; do
        case "$f" in
        /usr/include/*)
            [ -d "$f" ] || rm -f "$tmp/include/${f#/usr/include/}"
            ;;
        */bin/* | */sbin/*)
            # a program (a link: its target): covered where it is, so PATH lookups and direct paths both miss it
            [ -f "$f" ] && mount --bind "$tmp/hidden" "$f"
            ;;
        esac
    done
done
# the directories those headers leave empty go too: a feature check may test for a directory
find "$tmp/include" -depth -type d -empty -delete
mount --bind "$tmp/include" /usr/include
echo "bare.sh: hidden:${hidden:- nothing (none of the packages is installed)}"
"$@"
