#!/bin/sh
# run.sh - runs every benchmark and its baselines in one go and prints each figure as a ratio against a baseline
# measured in this same run (the machines are noisy, so only ratios compare across runs). Called by `make bench`
# with BUILD (the build directory holding bench/) and CC. It builds the baselines itself, since they need g++ and
# Boost.Context (Debian: libboost-context-dev), which the library does not. Pinned to CPU 1 when taskset exists.
# The switch and spawn programs run in BENCH_ROUNDS (default 3) alternating rounds and the lowest figure of each
# counts: noise from a neighbour then has to hit every round of one program to skew a ratio. BENCH_FULL=1 runs
# bench_tasks with 1,000,000 tasks sleeping 10 s. bench_stream writes one way on each backend: 64-byte messages to
# one connection, the same broadcast to 1,000 connections, and 1 GiB in 64 KiB writes.
# Then bench/io.sh compares the echo and HTTP servers with libuv,
# a raw epoll loop and nginx (~95 s; BENCH_IO=0 skips it). BENCH_CHARTS=1 draws the figures into docs/img/
# (bench/charts.sh). Exits non-zero if any program fails or cannot be built.
set -u

: "${BUILD:?set BUILD to the build directory, e.g. BUILD=build/x86_64-gcc-asm}"
CC=${CC:-cc}
CXX=${CXX:-g++}
BENCH_FULL=${BENCH_FULL:-0}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
dir=$(dirname "$0")
out="$BUILD/bench"
results="$out/results.txt"
mkdir -p "$out"
: >"$results"
failed=""

# Baselines get the library's optimisation level, so the comparison is between switches, not between flags.
CFLAGS_BENCH="-O2 -g -Wall -Wextra -Werror -I$dir"

pin=""
if command -v taskset >/dev/null 2>&1 && taskset -c 1 true 2>/dev/null; then
    pin="taskset -c 1"
else
    echo "# taskset missing or CPU 1 unavailable: running unpinned, expect more noise"
fi
# A hung library must fail the run, not stall it; 1,000,000 tasks sleeping 10 s take well under 10 minutes.
limit=""
command -v timeout >/dev/null 2>&1 && limit="timeout 600"

echo "== building baselines into $out"
if ! $CC -std=c11 -D_GNU_SOURCE $CFLAGS_BENCH "$dir/baseline/switch_ucontext.c" -o "$out/switch_ucontext"; then
    failed="$failed build:switch_ucontext"
fi
have_boost=0
if ! command -v "$CXX" >/dev/null 2>&1; then
    echo "# SKIPPING the Boost baselines: no C++ compiler ($CXX) (Debian: apt-get install g++)"
elif ! printf '#include <boost/context/detail/fcontext.hpp>\n' | "$CXX" -x c++ -fsyntax-only - 2>/dev/null; then
    echo "# SKIPPING the Boost baselines: boost/context/detail/fcontext.hpp not found" \
        "(Debian: apt-get install libboost-context-dev)"
else
    have_boost=1
    for b in switch_boost spawn_boost; do
        if ! "$CXX" -std=c++11 $CFLAGS_BENCH "$dir/baseline/$b.cpp" -o "$out/$b" -lboost_context; then
            failed="$failed build:$b"
            have_boost=0
        fi
    done
fi

# run NAME ARGS...: runs $out/NAME, shows its output, keeps its RESULT lines; a failure is remembered, not fatal,
# so one broken program does not hide the figures of the others.
run() {
    name=$1
    shift
    echo "== $name $*"
    if [ ! -x "$out/$name" ]; then
        echo "# $out/$name was not built"
        failed="$failed $name"
        return
    fi
    $pin $limit "$out/$name" "$@" >"$out/$name.log" 2>&1
    rc=$?
    cat "$out/$name.log"
    grep '^RESULT ' "$out/$name.log" >>"$results"
    if [ $rc -ne 0 ]; then
        echo "# $name FAILED (exit $rc)"
        failed="$failed $name"
    fi
}

round=1
while [ "$round" -le "$BENCH_ROUNDS" ]; do
    echo "==== round $round of $BENCH_ROUNDS"
    run bench_switch
    [ $have_boost -eq 1 ] && run switch_boost
    run switch_ucontext 1000000 # swapcontext costs ~50x more per switch; the ns figure does not depend on the count
    run bench_spawn
    [ $have_boost -eq 1 ] && run spawn_boost
    round=$((round + 1))
done
echo "===="
run bench_gather 10000 1
# the one-way stream of small writes on both backends (issue 18: io_uring's writes must not fall behind epoll's)
for be in epoll uring; do
    export CORIO_BACKEND=$be
    run bench_stream 200000 64
    run bench_stream --broadcast 200 1000
    run bench_stream --bulk 1024 65536
done
unset CORIO_BACKEND
if [ "$BENCH_FULL" = 1 ]; then
    run bench_tasks 1000000 10
else
    run bench_tasks 100000 1
fi
[ "${BENCH_IO:-1}" = 1 ] && { BUILD="$BUILD" CC="$CC" "$dir/io.sh" || failed="$failed io"; } # echo/HTTP vs libuv, epoll, nginx: ~95 s; BENCH_IO=0 skips

# value NAME: the lowest figure reported as RESULT NAME (over the rounds), empty if none was.
value() {
    awk -v n="$1" '$1 == "RESULT" && $2 == n && (v == "" || $3 + 0 < v + 0) { v = $3 } END { print v }' "$results"
}
# ratio LABEL A B NOTE: prints A / B, or why it cannot.
ratio() {
    if [ -n "$2" ] && [ -n "$3" ]; then
        awk -v l="$1" -v a="$2" -v b="$3" -v note="$4" \
            'BEGIN { printf "%-36s %8.3f   (%s / %s)  %s\n", l, a / b, a, b, note }'
    else
        printf '%-36s %8s   %s\n' "$1" "n/a" "(a figure is missing)"
    fi
}

echo "== results (the lowest of $BENCH_ROUNDS rounds for switch and spawn)"
# each name once, in the order first reported
awk '$1 == "RESULT" && !($2 in seen) { seen[$2] = 1; print $2 }' "$results" | while read -r name; do
    grep "^RESULT $name " "$results" | head -n 1 | awk -v v="$(value "$name")" '{ print $1, $2, v, $4 }'
done
echo "== ratios (lower is better for corio)"
ratio "switch_corio / switch_boost" "$(value switch_corio)" "$(value switch_boost)" "design goal: <= 1.2"
ratio "switch_corio / switch_ucontext" "$(value switch_corio)" "$(value switch_ucontext)" ""
ratio "spawn_await / goal of 100 ns" "$(value spawn_await)" 100 "goal: <= 1"
ratio "spawn_await / spawn_boost" "$(value spawn_await)" "$(value spawn_boost)" "bare fcontext create+run"
ratio "spawn_gather_batch / spawn_await" "$(value spawn_gather_batch)" "$(value spawn_await)" ""
ratio "gather_wall / ideal 1 s" "$(value gather_wall)" 1 "10000 tasks sleeping 1 s"
# writes/s: higher is better, so the goal reads >= 1 here (the lowest figure of one run is the only one)
ratio "stream_writes uring / epoll" "$(value stream_writes_uring)" "$(value stream_writes_epoll)" \
    "64 B writes, goal: >= 1"
ratio "broadcast_writes uring / epoll" "$(value broadcast_writes_uring)" "$(value broadcast_writes_epoll)" \
    "64 B to 1,000 connections"
ratio "bulk uring / epoll" "$(value bulk_uring)" "$(value bulk_epoll)" "MiB/s in 64 KiB writes"

if [ "$BENCH_FULL" = 1 ]; then
    ratio "tasks_wall / ideal 10 s" "$(value tasks_wall)" 10 "1000000 tasks sleeping 10 s"
else
    ratio "tasks_wall / ideal 1 s" "$(value tasks_wall)" 1 "100000 tasks sleeping 1 s"
fi
ratio "tasks_rss_per_task / 4096 B page" "$(value tasks_rss_per_task)" 4096 "design: at least one page each"

# BENCH_CHARTS=1: the figures of this run as PNG charts in docs/img/ (bench/charts.sh, gnuplot)
if [ "${BENCH_CHARTS:-0}" = 1 ]; then
    "$dir/charts.sh" "$out" "$dir/../docs/img" || failed="$failed charts"
fi

if [ -n "$failed" ]; then
    echo "FAILED:$failed"
    exit 1
fi
echo "all benchmarks passed their checks"
