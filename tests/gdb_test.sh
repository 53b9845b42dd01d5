#!/bin/sh
# gdb_test.sh - checks tools/corio-gdb.py: runs the gdb_target case of the test binary $1 (tests/test_gdb.c)
# under gdb in batch mode, stopped in gdb_stop_here with tasks "alpha" (in corio_sleep) and "beta" (in
# corio_event_wait) suspended, and checks that `corio tasks` lists them, that `corio bt` shows the functions
# they are suspended in, and that the registers are back afterwards (a plain bt still shows gdb_stop_here).
#   usage: sh tests/gdb_test.sh build/<config>/tests/test_gdb
set -u
BIN=${1:?usage: gdb_test.sh TEST_GDB_BINARY}
out=$(mktemp "${TMPDIR:-/tmp}/corio-gdb.XXXXXX") || exit 1
trap 'rm -f "$out"' EXIT

fail() {
    echo "gdb_test: FAIL: $*"
    sed 's/^/    /' "$out" | tail -n 60
    exit 1
}

timeout 90 gdb -nx -q --batch -ex 'set pagination off' -ex 'set debuginfod enabled off' \
    -ex 'source tools/corio-gdb.py' -ex 'break gdb_stop_here' -ex run \
    -ex 'echo ==tasks\n' -ex 'corio tasks' \
    -ex 'echo ==bt-alpha\n' -ex 'corio bt alpha' \
    -ex 'echo ==bt-beta\n' -ex 'corio bt 3' \
    -ex 'echo ==bt-main\n' -ex 'corio bt main' \
    -ex 'echo ==bt-after\n' -ex 'bt' \
    -ex 'echo ==continue\n' -ex 'delete' -ex 'continue' \
    --args "$BIN" gdb_target >"$out" 2>&1

section() { sed -n "/^==$1\$/,/^==/p" "$out"; }
section tasks | grep -q '"main" running' || fail "corio tasks: no running main"
section tasks | grep -q '"alpha" waiting on sleep' || fail "corio tasks: alpha not waiting on sleep"
section tasks | grep -q '"beta" waiting on event 0x' || fail "corio tasks: beta not waiting on an event"
section bt-alpha | grep -q 'alpha_body' || fail "corio bt alpha: no alpha_body"
section bt-alpha | grep -q 'corio_sleep' || fail "corio bt alpha: no corio_sleep"
section bt-beta | grep -q 'beta_body' || fail "corio bt 3 (beta): no beta_body"
# (a compiler may turn corio_event_wait's final call into a jump: then corio__park stands where it was)
section bt-beta | grep -q -e 'corio_event_wait' -e 'corio__park' || fail "corio bt 3 (beta): no corio_event_wait"
section bt-main | grep -q 'not suspended' || fail "corio bt main: the running task was not refused"
section bt-after | grep -q 'gdb_stop_here' || fail "bt after corio bt: registers not restored"
grep -q 'PASS gdb_target\|exited normally' "$out" || fail "the program did not finish after continue"
echo "gdb_test: all passed"
