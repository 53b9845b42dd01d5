#!/bin/sh
# compare.sh - corio against the runtimes people would otherwise use, every shape measured on every peer in one run
# and printed as ratios corio/peer with the design goals: `make bench-compare` (mk/compare.mk). The peers are small
# programs in bench/compare/ (peer.go, peer.js, peer.py on asyncio and uvloop, tasks_boost.cpp) plus the baselines of
# bench/run.sh and bench/io.sh (Boost.Context, libuv, a raw epoll loop, nginx). Shapes (CMP_SHAPES):
#   switch  one-way context switch: bench_switch vs Boost.Context jump_fcontext
#   spawn   spawn + run + await an empty task, one at a time (ns): Boost pooled fcontext, goroutine, async function,
#           asyncio/uvloop create_task
#   tasks   CMP_TASKS tasks sleeping CMP_SECONDS at once: peak RSS of the process (kernel's ru_maxrss, by
#           bench/compare/peak_rss) and wall; corio both with default stacks and --compact
#   gather  10,000 tasks sleeping 1 s, gathered (wall s)
#   echo    64-byte ping-pong at CMP_CONNS connections (bench_echo_load), server alone on CPU 0, load on CPU 1
#   echo1000  the same at CMP_CONNS_HIGH connections, corio on io_uring and on epoll against libuv and raw epoll
#   http    "Hello, World!" under wrk -t1 -c100 after 1 s of warm-up, server alone on CPU 0 (GOMAXPROCS=1, nginx
#           one worker), wrk on CPU 1
#   churn   the same with a new connection per request (wrk -t1 -cCMP_CONNS, "Connection: close"): connections per
#           second, and per second of the server's CPU (the figure that tells servers apart when wrk sets the rate);
#           then corio and nginx again with the kernel holding each connection until its request is in
#           (HTTP_DEFER_ACCEPT=60, nginx's "listen ... deferred": TCP_DEFER_ACCEPT, which the other peers lack)
#   skynet  the 1M-leaf task tree on 1 loop and on 2 (bench_skynet, default and --compact, unpinned): corio
#           against itself, the goal being what a second core buys; and Go's classic skynet on 1 and 2 cores
#   stream  one task writing CMP_STREAM 64-byte messages one way over loopback TCP, another reading
#           (bench_stream), corio on io_uring and on epoll against libuv (bench/compare/stream_libuv.c: a uv_write
#           per message, and uv_try_write first as "libuv-try")
#   broadcast  one task writing each of CMP_BROADCAST 64-byte messages to 1,000 connections, a reader per
#           connection (bench_stream --broadcast, stream_libuv --broadcast)
#   bulk    CMP_BULK MiB one way in 64 KiB writes (bench_stream --bulk, stream_libuv --bulk)
#   idle    CMP_IDLE connections held idle by bench_idle on CPU 1 (from 127.0.0.2... when one address pair's ports
#           do not suffice), the server alone on CPU 0: the server's VmRSS per idle connection (after one request
#           each), its VmRSS after they closed against before, the time to connect and answer them all once, and
#           the time to answer one request on each ("the wave"). corio's echo and HTTP examples on both backends
#           (commands in idle_echo / idle_http below, or CMP_IDLE_ECHO / CMP_IDLE_HTTP) against libuv's echo, the
#           raw epoll echo and Go's echo, nginx (one worker) and Go's net/http
# Knobs (environment): CMP_QUICK=1 small sizes, ~2 min in all; CMP_SPAWN (1000000; Python gets a tenth),
# CMP_TASKS (1000000), CMP_SECONDS (10, the tasks' sleep), CMP_GATHER (10000), CMP_IO_SECONDS (5, each server's
# load window), CMP_CONNS (50), CMP_CONNS_HIGH (1000), CMP_LOAD_BACKEND (the echo load's corio backend: uring
# where built, else epoll), CMP_ROUNDS (1; with more, the servers run that many rounds
# and each one's best counts), CMP_PEERS (default all: corio boost go node asyncio uvloop libuv epoll nginx),
# CMP_SHAPES (default all: switch spawn tasks gather echo echo1000 http churn skynet stream broadcast bulk idle),
# CMP_STREAM (200000 messages), CMP_BROADCAST (1000 messages, each to 1,000 connections), CMP_BULK (1024 MiB),
# CMP_IDLE (10000 connections; 100000 works where the hard RLIMIT_NOFILE can be raised, as root, to twice that),
# CMP_IDLE_SETTLE (2000: ms of rest before each memory reading), CMP_IDLE_ECHO and CMP_IDLE_HTTP (corio's idle
# servers, words, the port appended), CMP_SETTLE (20: seconds of rest after
# the builds, before the first timing; none with CMP_QUICK=1), PYTHON (the python3 that has uvloop;
# /usr/bin/python3 when present), CMP_CHARTS=1 draws the PNG charts into docs/img/compare-*.png (bench/charts.sh
# --compare; `make bench-charts` redraws them from the last run's data without measuring). Results:
# $BUILD/bench/compare/results.txt (RESULT lines), summary.txt (the table), meta.txt (date and knobs). A missing
# peer (package not installed) is skipped with a message; exits non-zero if a program that is present fails.
# It installs nothing; the peers' Debian packages: g++ libboost-context-dev golang-go nodejs python3-uvloop
# libuv1-dev nginx-light (or nginx) wrk curl, and gnuplot-nox for the charts. Tokio is not compared: it is not
# packaged for Debian.
set -u

: "${BUILD:?set BUILD to the build directory, e.g. BUILD=build/x86_64-gcc-asm}"
CC=${CC:-cc}
CXX=${CXX:-g++}
dir=$(dirname "$0")
out="$BUILD/bench/compare"
mkdir -p "$out"
out_abs=$(cd "$out" && pwd)
results="$out/results.txt"
: >"$results"

CMP_QUICK=${CMP_QUICK:-0}
if [ "$CMP_QUICK" = 1 ]; then
    q_spawn=100000 q_tasks=20000 q_seconds=1 q_io=1 q_switch=2000000
    q_stream=50000 q_broadcast=100 q_bulk=128 q_idle=1000 q_idle_settle=500
else
    q_spawn=1000000 q_tasks=1000000 q_seconds=10 q_io=5 q_switch=10000000
    q_stream=200000 q_broadcast=1000 q_bulk=1024 q_idle=10000 q_idle_settle=2000
fi
CMP_SPAWN=${CMP_SPAWN:-$q_spawn}
CMP_TASKS=${CMP_TASKS:-$q_tasks}
CMP_SECONDS=${CMP_SECONDS:-$q_seconds}
CMP_GATHER=${CMP_GATHER:-10000}
CMP_IO_SECONDS=${CMP_IO_SECONDS:-$q_io}
CMP_CONNS=${CMP_CONNS:-50}
CMP_CONNS_HIGH=${CMP_CONNS_HIGH:-1000}
CMP_SWITCH=${CMP_SWITCH:-$q_switch}
CMP_ROUNDS=${CMP_ROUNDS:-1}
CMP_STREAM=${CMP_STREAM:-$q_stream}
CMP_BROADCAST=${CMP_BROADCAST:-$q_broadcast}
CMP_BULK=${CMP_BULK:-$q_bulk}
CMP_IDLE=${CMP_IDLE:-$q_idle}
CMP_IDLE_SETTLE=${CMP_IDLE_SETTLE:-$q_idle_settle}
CMP_PEERS=${CMP_PEERS:-corio boost go node asyncio uvloop libuv epoll nginx}
CMP_SHAPES=${CMP_SHAPES:-switch spawn tasks gather echo echo1000 http churn skynet stream broadcast bulk idle}
CMP_CHARTS=${CMP_CHARTS:-0}
for knob in CMP_SPAWN CMP_TASKS CMP_SECONDS CMP_GATHER CMP_IO_SECONDS CMP_CONNS CMP_CONNS_HIGH CMP_SWITCH CMP_ROUNDS \
    CMP_STREAM CMP_BROADCAST CMP_BULK CMP_IDLE CMP_IDLE_SETTLE; do
    case $(eval echo "\$$knob") in
    '' | *[!0-9]* | 0)
        echo "compare.sh: $knob must be a positive integer, got \"$(eval echo "\$$knob")\"" >&2
        exit 2
        ;;
    esac
done
if [ -z "${PYTHON:-}" ]; then
    PYTHON=python3
    [ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3 # Debian's python3-uvloop lives in Debian's python
fi
py_spawn=$((CMP_SPAWN / 10))
[ "$py_spawn" -ge 1000 ] || py_spawn=1000

failed=""
tmp=$(mktemp -d "${TMPDIR:-/tmp}/corio-cmp.XXXXXX") || exit 1
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

pin_cpu=""
pin_server=""
pin_load=""
if command -v taskset >/dev/null 2>&1 && taskset -c 0,1 true 2>/dev/null; then
    pin_cpu="taskset -c 1"
    pin_server="taskset -c 0"
    pin_load="taskset -c 1"
else
    echo "# taskset missing or CPUs 0-1 unavailable: running unpinned, expect more noise"
fi
hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
limit=""
command -v timeout >/dev/null 2>&1 && limit="timeout 900"
# shellcheck disable=SC3045 # dash and bash both have ulimit -S and -H
ulimit -S -n "$(ulimit -H -n)" 2>/dev/null

want_peer() { case " $CMP_PEERS " in *" $1 "*) return 0 ;; esac; return 1; }
want_shape() { case " $CMP_SHAPES " in *" $1 "*) return 0 ;; esac; return 1; }
skip() { echo "# SKIPPING $1"; }

# The idle shape needs a descriptor per connection in the client and in the server, which inherit the limit from
# here; the hard limit can be raised by root only, up to fs.nr_open.
have_idle_fds=1
if want_shape idle; then
    need=$((CMP_IDLE + 256))
    # shellcheck disable=SC3045
    if [ "$(ulimit -H -n)" != unlimited ] && [ "$(ulimit -H -n)" -lt "$need" ]; then
        ulimit -H -n "$need" 2>/dev/null && ulimit -S -n "$need" 2>/dev/null
    fi
    # shellcheck disable=SC3045
    if [ "$(ulimit -S -n)" != unlimited ] && [ "$(ulimit -S -n)" -lt "$need" ]; then
        skip "the idle shape: $CMP_IDLE connections need $need descriptors and ulimit -n stops at $(ulimit -H -n) \
(raising the hard limit needs CAP_SYS_RESOURCE; or lower CMP_IDLE)"
        have_idle_fds=0
    fi
fi

{
    echo "date $(date +%Y-%m-%d)"
    echo "quick $CMP_QUICK"
    echo "spawn $CMP_SPAWN"
    echo "tasks $CMP_TASKS"
    echo "seconds $CMP_SECONDS"
    echo "gather $CMP_GATHER"
    echo "io_seconds $CMP_IO_SECONDS"
    echo "conns $CMP_CONNS"
    echo "conns_high $CMP_CONNS_HIGH"
    echo "stream $CMP_STREAM"
    echo "broadcast $CMP_BROADCAST"
    echo "bulk $CMP_BULK"
    echo "idle $CMP_IDLE"
} >"$out/meta.txt"

# ---- building and checking the peers ------------------------------------------------------------------------

echo "== building the peers into $out"
have_corio=0
if want_peer corio; then
    if [ -x "$BUILD/bench/bench_spawn" ]; then
        have_corio=1
    else
        echo "# corio's benchmarks are not built in $BUILD/bench (run make first)"
        failed="$failed missing:corio"
    fi
fi
if ! $CC -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror "$dir/compare/peak_rss.c" -o "$out/peak_rss"; then
    failed="$failed build:peak_rss"
fi
have_boost=0
if ! want_peer boost; then
    :
elif ! command -v "$CXX" >/dev/null 2>&1; then
    skip "Boost.Context: no C++ compiler ($CXX) (Debian: apt-get install g++)"
elif ! printf '#include <boost/context/detail/fcontext.hpp>\n' | "$CXX" -x c++ -fsyntax-only - 2>/dev/null; then
    skip "Boost.Context: boost/context/detail/fcontext.hpp not found (Debian: apt-get install libboost-context-dev)"
else
    have_boost=1
    for b in baseline/switch_boost baseline/spawn_boost compare/tasks_boost; do
        if ! "$CXX" -std=c++11 -O2 -g -Wall -Wextra -Werror -I"$dir" "$dir/$b.cpp" -o "$out/${b#*/}" -lboost_context
        then
            failed="$failed build:${b#*/}"
            have_boost=0
        fi
    done
fi
have_go=0
if ! want_peer go; then
    :
elif ! command -v go >/dev/null 2>&1; then
    skip "Go: go not found (Debian: apt-get install golang-go)"
elif (cd "$dir/compare" && GO111MODULE=off go build -o "$out_abs/peer_go" peer.go); then
    have_go=1
else
    failed="$failed build:peer_go"
fi
have_node=0
if want_peer node; then
    if command -v node >/dev/null 2>&1; then
        have_node=1
        echo "# node $(node --version)"
    else
        skip "Node.js: node not found (Debian: apt-get install nodejs)"
    fi
fi
have_asyncio=0
have_uvloop=0
if want_peer asyncio || want_peer uvloop; then
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        skip "asyncio and uvloop: $PYTHON not found (Debian: apt-get install python3)"
    else
        want_peer asyncio && have_asyncio=1
        echo "# $("$PYTHON" --version 2>&1) ($PYTHON)"
        if ! want_peer uvloop; then
            :
        elif "$PYTHON" -c 'import uvloop' 2>/dev/null; then
            have_uvloop=1
        else
            skip "uvloop: $PYTHON cannot import uvloop (Debian: apt-get install python3-uvloop; or set PYTHON)"
        fi
    fi
fi
have_libuv=0
if ! want_peer libuv; then
    :
elif ! printf '#include <uv.h>\n' | $CC -E -x c - >/dev/null 2>&1; then
    skip "the libuv echo server: uv.h not found (Debian: apt-get install libuv1-dev)"
elif $CC -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror "$dir/baseline/echo_libuv.c" -o "$out/echo_libuv" -luv
then
    have_libuv=1
else
    failed="$failed build:echo_libuv"
fi
have_stream_libuv=0
if [ $have_libuv -eq 1 ]; then
    if $CC -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror "$dir/compare/stream_libuv.c" -o "$out/stream_libuv" -luv
    then
        have_stream_libuv=1
    else
        failed="$failed build:stream_libuv"
    fi
fi
have_epoll=0
if want_peer epoll; then
    if $CC -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror "$dir/baseline/echo_epoll.c" -o "$out/echo_epoll"; then
        have_epoll=1
    else
        failed="$failed build:echo_epoll"
    fi
fi
have_nginx=0
nginx=""
if want_peer nginx; then
    nginx=$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; })
    if [ -n "$nginx" ]; then
        have_nginx=1
    else
        skip "nginx: not installed (Debian: apt-get install nginx-light)"
    fi
fi
have_wrk=0
if command -v wrk >/dev/null 2>&1; then
    have_wrk=1
elif want_shape http || want_shape churn; then
    skip "the HTTP and churn shapes: wrk not installed (Debian: apt-get install wrk)"
fi
have_http_server=0
if [ $have_corio -eq 1 ] && { want_shape http || want_shape churn || want_shape idle; }; then
    if [ -x "$BUILD/examples/http_server" ]; then
        have_http_server=1
    else
        skip "corio's HTTP server: not built (Debian: apt-get install libhttp-parser-dev)"
    fi
fi
have_uring=0
if [ $have_corio -eq 1 ] && { want_shape echo || want_shape echo1000 || want_shape http || want_shape churn ||
    want_shape stream || want_shape broadcast || want_shape bulk || want_shape idle; }; then
    if nm "$BUILD/libcorio.a" 2>/dev/null | grep -q corio__uring_ops; then
        have_uring=1
    else
        skip "corio on io_uring: corio was built without it (Debian: apt-get install liburing-dev)"
    fi
fi
# The echo load: corio's bench_echo_load on io_uring where corio has it, since there its receives and sends go to
# the kernel in one system call per turn and one core drives more than any server here serves (on epoll the load
# was the limit: 100 % of its core at 1,000 connections, 90-100k round trips/s).
load_backend=${CMP_LOAD_BACKEND:-$([ $have_uring -eq 1 ] && echo uring || echo epoll)}
echo "# skipped for good: Tokio (Rust) is not packaged for Debian and cannot be fetched offline"

# ---- running programs ---------------------------------------------------------------------------------------

# record NAME VALUE UNIT: one RESULT line, shown and kept.
record() {
    echo "RESULT $1 $2 $3"
    echo "RESULT $1 $2 $3" >>"$results"
}
# run LOG SED CMD...: runs CMD on CPU 1 with its output in $out/LOG.log, shows it, keeps its RESULT lines renamed
# by the sed expression SED (corio's programs name their figures for bench/run.sh); a failure is remembered. With
# rss_as set, CMD runs under peak_rss, which adds `RESULT $rss_as <peak bytes> bytes`.
rss_as=""
run() {
    log=$1
    rename=$2
    shift 2
    [ -n "$rss_as" ] && set -- "$out/peak_rss" "$rss_as" "$@"
    echo "== $log: $*"
    # shellcheck disable=SC2086 # the pinning and time-limit prefixes are words, or nothing
    $pin_cpu $limit "$@" >"$out/$log.log" 2>&1
    rc=$?
    grep -v '^RESULT ' "$out/$log.log" | tail -n 6
    grep '^RESULT ' "$out/$log.log" | sed "${rename:-p;d}" | while read -r _ n v u; do record "$n" "$v" "$u"; done
    if [ $rc -ne 0 ]; then
        echo "# $log FAILED (exit $rc)"
        failed="$failed $log"
    fi
}

# Right after the peers' builds (go, g++) this VM ran bench_switch 10-30 % slower for half a minute (9.5-11.5 ns
# against 8.6-8.8 ns, three runs each way, 2026-12-06): let it settle before the first timing.
[ "$CMP_QUICK" = 1 ] || sleep "${CMP_SETTLE:-20}"

if want_shape switch; then
    [ $have_corio -eq 1 ] && run switch_corio "" "$BUILD/bench/bench_switch" "$CMP_SWITCH"
    [ $have_boost -eq 1 ] && run switch_boost "" "$out/switch_boost" "$CMP_SWITCH"
fi

if want_shape spawn; then
    [ $have_corio -eq 1 ] && run spawn_corio 's/^RESULT spawn_await /RESULT spawn_corio /p;d' \
        "$BUILD/bench/bench_spawn" "$CMP_SPAWN"
    [ $have_boost -eq 1 ] && run spawn_boost "" "$out/spawn_boost" "$CMP_SPAWN"
    [ $have_go -eq 1 ] && run spawn_go "" env GOMAXPROCS=1 "$out/peer_go" spawn "$CMP_SPAWN"
    [ $have_node -eq 1 ] && run spawn_node "" node "$dir/compare/peer.js" spawn "$CMP_SPAWN"
    [ $have_asyncio -eq 1 ] && run spawn_asyncio "" "$PYTHON" "$dir/compare/peer.py" spawn "$py_spawn"
    [ $have_uvloop -eq 1 ] && run spawn_uvloop "" "$PYTHON" "$dir/compare/peer.py" --uvloop spawn "$py_spawn"
fi

# sleepers SHAPE N SECS: N tasks sleeping SECS on every peer; SHAPE tasks also records each one's peak RSS.
sleepers() {
    shape=$1
    n=$2
    secs=$3
    wall=tasks_wall
    if [ "$shape" = gather ]; then
        wall=gather
    fi
    for peer in corio corio-compact boost go node asyncio uvloop; do
        p=$peer
        [ "$p" = corio-compact ] && p=corio
        [ "$(eval echo "\$have_$p")" = 1 ] || continue
        rss_as=""
        [ "$shape" = tasks ] && rss_as="tasks_rss_$peer"
        case $peer in
        corio)
            if [ "$shape" = tasks ]; then
                run "${shape}_$peer" "s/^RESULT tasks_wall /RESULT tasks_wall_corio /p;/^RESULT tasks_rss_corio /p;d" \
                    "$BUILD/bench/bench_tasks" "$n" "$secs"
            else
                run "${shape}_$peer" 's/^RESULT gather_wall /RESULT gather_corio /p;d' \
                    "$BUILD/bench/bench_gather" "$n" "$secs"
            fi
            ;;
        corio-compact)
            if [ "$shape" = tasks ]; then
                run "${shape}_$peer" \
                    "s/^RESULT tasks_wall /RESULT tasks_wall_corio-compact /p;/^RESULT tasks_rss_corio-compact /p;d" \
                    "$BUILD/bench/bench_tasks" "$n" "$secs" --compact
            else
                run "${shape}_$peer" 's/^RESULT gather_wall /RESULT gather_corio-compact /p;d' \
                    "$BUILD/bench/bench_gather" "$n" "$secs" --compact
            fi
            ;;
        boost) # parked contexts, no timers: the floor for memory, not a comparable wall time
            [ "$shape" = tasks ] && run "${shape}_$peer" "" "$out/tasks_boost" "$n"
            ;;
        go) run "${shape}_$peer" "" env GOMAXPROCS=1 "$out/peer_go" sleep "$wall" "$n" "$secs" ;;
        node) run "${shape}_$peer" "" node "$dir/compare/peer.js" sleep "$wall" "$n" "$secs" ;;
        asyncio) run "${shape}_$peer" "" "$PYTHON" "$dir/compare/peer.py" sleep "$wall" "$n" "$secs" ;;
        uvloop) run "${shape}_$peer" "" "$PYTHON" "$dir/compare/peer.py" --uvloop sleep "$wall" "$n" "$secs" ;;
        esac
    done
    rss_as=""
}
want_shape tasks && sleepers tasks "$CMP_TASKS" "$CMP_SECONDS"
want_shape gather && sleepers gather "$CMP_GATHER" 1

# two loops need both cores: not pinned
if want_shape skynet && [ $have_corio -eq 1 ]; then
    pinned=$pin_cpu
    pin_cpu=""
    run skynet_corio "" "$BUILD/bench/bench_skynet"
    run skynet_corio-compact 's/^RESULT skynet_/RESULT skynet-compact_/p;d' "$BUILD/bench/bench_skynet" --compact
    if [ $have_go -eq 1 ]; then
        # the classic tree on Go's scheduler, which balances goroutines over the cores itself
        run skynet_go1 's/^RESULT skynet_go /RESULT skynet_go-1 /p;d' env GOMAXPROCS=1 "$out/peer_go" skynet 1000000
        run skynet_go2 's/^RESULT skynet_go /RESULT skynet_go-2 /p;d' env GOMAXPROCS=2 "$out/peer_go" skynet 1000000
    fi
    pin_cpu=$pinned
fi

# ---- servers ------------------------------------------------------------------------------------------------

# listening PORT: true when something listens on 127.0.0.1 or any address at TCP port PORT (state 0A).
listening() {
    awk -v h="$(printf ':%04X' "$1")" 'FNR > 1 && substr($2, length($2) - 4) == h && $4 == "0A" { f = 1 }
        END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
# a port nobody holds, in no state at all, below the ephemeral range the loads take theirs from
port=$((21000 + $$ % 4000 * 2))
next_port() {
    port=$((port + 1))
    while awk -v h="$(printf ':%04X' "$port")" 'FNR > 1 && substr($2, length($2) - 4) == h { f = 1 }
        END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null; do
        port=$((port + 1))
    done
}
alive() { [ -r "/proc/$server_pid/stat" ] && awk '{ exit $3 == "Z" }' "/proc/$server_pid/stat"; }
# on_uring: true when the server holds an io_uring instance; corio falls back to epoll quietly when the kernel
# refuses io_uring, and its figure would then be labelled wrongly.
on_uring() {
    for f in /proc/"$server_pid"/fd/*; do
        case $(readlink "$f" 2>/dev/null) in *io_uring*) return 0 ;; esac
    done
    return 1
}
# start LABEL CMD...: the server alone on CPU 0 (@PORT@ in CMD becomes a free port), output in $out/LABEL.log;
# false, with the reason, if it does not listen within 10 s (an interpreter takes a while to start).
start() {
    label=$1
    shift
    next_port
    for a; do
        shift
        [ "$a" = @PORT@ ] && a=$port
        set -- "$@" "$a"
    done
    case $label in
    http_nginx | churn_nginx) nginx_conf "$port" ;;
    churn_nginx-defer) nginx_conf "$port" " deferred" ;;
    idle_http_nginx) nginx_conf "$port" "" idle ;;
    esac
    $pin_server "$@" >"$out/$label.log" 2>&1 &
    server_pid=$!
    i=0
    while ! listening "$port"; do
        if ! alive || [ $i -ge 200 ]; then
            echo "# $label did not listen on port $port:"
            tail -n 5 "$out/$label.log" | sed 's/^/#   /'
            stop
            return 1
        fi
        sleep 0.05
        i=$((i + 1))
    done
}
# stop: ends the server; false if it had died on its own.
stop() {
    was_alive=0
    alive && was_alive=1
    kill "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
    server_pid=""
    [ $was_alive -eq 1 ]
}
# server_ticks: CPU time used so far by the server and its children (nginx's worker), in clock ticks.
server_ticks() {
    cat /proc/[0-9]*/stat 2>/dev/null |
        awk -v p="$server_pid" '$1 == p || $4 == p { t += $14 + $15 } END { print t + 0 }'
}
# load_core: "busy total" ticks of the load's core (CPU 1) so far, from /proc/stat.
load_core() {
    awk '$1 == "cpu1" { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat
}
# load_wrk WRK_OPTION...: wrk on CPU 1 against the server under test, as $shape wants it: 100 connections kept
# alive (http), or a new connection per request (churn: "Connection: close", which the server honours by closing).
load_wrk() {
    if [ "$shape" = churn ]; then
        # shellcheck disable=SC2086 # prefixes: words, or nothing
        $limit $pin_load wrk -t1 -c"$CMP_CONNS" -H "Connection: close" "$@" "http://127.0.0.1:$port/"
    else
        # shellcheck disable=SC2086
        $limit $pin_load wrk -t1 -c100 "$@" "http://127.0.0.1:$port/"
    fi
}
# serve SHAPE PEER CMD...: measures one server under the load of SHAPE (echo, echo1000, http or churn).
serve() {
    shape=$1
    peer=$2
    shift 2
    label="${shape}_$peer"
    echo "== $label: $* (CPU 0)"
    if ! start "$label" "$@"; then
        failed="$failed $label"
        return
    fi
    if [ "$peer" = corio-uring ] && ! on_uring; then
        echo "# $label: the server runs without an io_uring instance (the kernel refused it?): not measured"
        stop
        return
    fi
    l0=$(load_core)
    if [ "$shape" = echo ] || [ "$shape" = echo1000 ]; then
        conns=$CMP_CONNS
        [ "$shape" = echo1000 ] && conns=$CMP_CONNS_HIGH
        # shellcheck disable=SC2086 # prefixes: words, or nothing
        $limit $pin_load env CORIO_BACKEND="$load_backend" BENCH_SERVER_PID="$server_pid" "$BUILD/bench/bench_echo_load" \
            127.0.0.1 "$port" "$conns" "$CMP_IO_SECONDS" 64 >"$out/load.log" 2>&1
        rc=$?
        l1=$(load_core)
    else
        body=""
        command -v curl >/dev/null 2>&1 && body=$(curl -s --max-time 5 "http://127.0.0.1:$port/")
        if command -v curl >/dev/null 2>&1 && [ "$body" != "Hello, World!" ]; then
            echo "# $label FAILED: GET / answered \"$body\", not \"Hello, World!\""
            stop
            failed="$failed $label"
            return
        fi
        # a warm-up first, as bench_echo_load has: a JIT (Node's V8) is then measured compiled, like the others
        load_wrk -d1s >/dev/null 2>&1
        c0=$(server_ticks)
        l0=$(load_core)
        t0=$(date +%s.%N)
        load_wrk -d"${CMP_IO_SECONDS}s" --latency >"$out/load.log" 2>&1
        rc=$?
        t1=$(date +%s.%N)
        c1=$(server_ticks)
        l1=$(load_core)
        # the server's share of its core over the window (bench_echo_load reports it itself)
        c=$(awk -v c="$((c1 - c0))" -v hz="$hz" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", 100 * c / hz / (b - a) }')
        if grep -q -e 'Non-2xx' -e 'Socket errors' "$out/load.log"; then
            grep -e 'Non-2xx' -e 'Socket errors' "$out/load.log" | sed 's/^/#   /'
            rc=1
        fi
    fi
    # how busy the load's core was (warm-up included for the echo load): near 100 %, the load sets the rate
    lc=$(echo "$l0 $l1" | awk '{ if ($4 > $2) printf "%.1f", 100 * ($3 - $1) / ($4 - $2) }')
    grep -v '^RESULT ' "$out/load.log" | grep -v '^ *[0-9.]*% ' | tail -n 4 | sed 's/^/   /'
    if ! stop; then
        echo "# $label FAILED: the server died under load:"
        tail -n 5 "$out/$label.log" | sed 's/^/#   /'
        failed="$failed $label"
        return
    fi
    if [ $rc -ne 0 ]; then
        echo "# $label FAILED (load exit $rc)"
        failed="$failed $label"
        return
    fi
    if [ "$shape" = echo ] || [ "$shape" = echo1000 ]; then
        v=$(awk '$1 == "RESULT" && $2 == "echo_rps" { print $3 }' "$out/load.log")
        c=$(awk '$1 == "RESULT" && $2 == "echo_server_cpu" { print $3 }' "$out/load.log")
        p=$(awk '$1 == "RESULT" && $2 == "echo_p99" { print $3 }' "$out/load.log")
    else
        v=$(awk '$1 == "Requests/sec:" { print $2 }' "$out/load.log")
        p=$(awk '$1 == "99%" { v = $2 + 0; u = $2; sub(/^[0-9.]+/, "", u)
            if (u == "ms") v *= 1000; else if (u == "s") v *= 1000000; printf "%.1f", v }' "$out/load.log")
    fi
    if [ -z "$v" ]; then
        echo "# $label FAILED: the load printed no rate"
        failed="$failed $label"
        return
    fi
    record "$label" "$v" rps
    [ -n "$p" ] && record "${shape}_p99_$peer" "$p" us
    [ -n "$c" ] && record "${shape}_cpu_$peer" "$c" %
    if { [ "$shape" = http ] || [ "$shape" = churn ]; } && [ -n "$c" ] && awk -v c="$c" 'BEGIN { exit !(c > 0) }'; then
        record "${shape}_eff_$peer" "$(awk -v v="$v" -v c="$c" 'BEGIN { printf "%.0f", v * 100 / c }')" rps/cpu
    fi
    [ -n "$lc" ] && record "${shape}_load_$peer" "$lc" %
}

# nginx_conf PORT [LISTEN_OPTIONS [idle]]: nginx as the current user, all its files in $tmp, one worker, no access
# log, unlimited keep-alive requests; with idle, room for CMP_IDLE connections kept alive for an hour (nginx closes
# idle keep-alive connections while fewer than a sixteenth of its worker_connections are free).
nginx_conf() {
    conns=4096
    files=4096
    keepalive=""
    if [ "${3-}" = idle ]; then
        conns=$((CMP_IDLE + CMP_IDLE / 8 + 256))
        files=$((CMP_IDLE + 256))
        keepalive="keepalive_timeout 3600s;"
    fi
    user=""
    [ "$(id -u)" -eq 0 ] && user="user $(id -un) $(id -gn);"
    temps="client_body_temp_path $tmp/client_body;"
    for t in proxy fastcgi uwsgi scgi; do # a build without the module rejects its directive
        "$nginx" -V 2>&1 | grep -q "without-http_${t}_module" || temps="$temps ${t}_temp_path $tmp/$t;"
    done
    cat >"$tmp/nginx.conf" <<EOF
$user
worker_processes 1;
worker_rlimit_nofile $files;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/error.log warn;
events { worker_connections $conns; }
http {
    access_log off;
    $temps
    keepalive_requests 100000000;
    $keepalive
    server {
        listen 127.0.0.1:$1${2-};
        location / {
            default_type text/plain;
            return 200 "Hello, World!";
        }
    }
}
EOF
}

# servers SHAPE: every server of SHAPE once, in turn
servers() {
    if [ "$1" = echo1000 ]; then
        [ $have_uring -eq 1 ] && serve echo1000 corio-uring env CORIO_BACKEND=uring \
            "$BUILD/examples/echo_server" @PORT@
        serve echo1000 corio env CORIO_BACKEND=epoll "$BUILD/examples/echo_server" @PORT@
        [ $have_libuv -eq 1 ] && serve echo1000 libuv "$out/echo_libuv" @PORT@
        [ $have_epoll -eq 1 ] && serve echo1000 epoll "$out/echo_epoll" @PORT@
        return 0
    fi
    if [ "$1" = echo ]; then
        serve echo corio env CORIO_BACKEND=epoll "$BUILD/examples/echo_server" @PORT@
        [ $have_uring -eq 1 ] && serve echo corio-uring env CORIO_BACKEND=uring "$BUILD/examples/echo_server" @PORT@
        [ $have_libuv -eq 1 ] && serve echo libuv "$out/echo_libuv" @PORT@
        [ $have_epoll -eq 1 ] && serve echo epoll "$out/echo_epoll" @PORT@
    else
        [ $have_http_server -eq 1 ] && serve "$1" corio env CORIO_BACKEND=epoll "$BUILD/examples/http_server" @PORT@
        [ $have_http_server -eq 1 ] && [ $have_uring -eq 1 ] &&
            serve "$1" corio-uring env CORIO_BACKEND=uring "$BUILD/examples/http_server" @PORT@
        [ $have_nginx -eq 1 ] && serve "$1" nginx "$nginx" -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/error.log"
    fi
    if [ "$1" = churn ]; then
        [ $have_http_server -eq 1 ] && serve churn corio-defer env CORIO_BACKEND=epoll HTTP_DEFER_ACCEPT=60 \
            "$BUILD/examples/http_server" @PORT@
        [ $have_http_server -eq 1 ] && [ $have_uring -eq 1 ] && serve churn corio-uring-defer env \
            CORIO_BACKEND=uring HTTP_DEFER_ACCEPT=60 "$BUILD/examples/http_server" @PORT@
        [ $have_nginx -eq 1 ] && serve churn nginx-defer "$nginx" -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/error.log"
    fi
    mode=$1 # the peers serve churn with their HTTP server, which honours "Connection: close"
    [ "$mode" = churn ] && mode=http
    [ $have_go -eq 1 ] && serve "$1" go env GOMAXPROCS=1 "$out/peer_go" "$mode" @PORT@
    [ $have_node -eq 1 ] && serve "$1" node node "$dir/compare/peer.js" "$mode" @PORT@
    [ $have_asyncio -eq 1 ] && serve "$1" asyncio "$PYTHON" "$dir/compare/peer.py" "$mode" @PORT@
    [ $have_uvloop -eq 1 ] && serve "$1" uvloop "$PYTHON" "$dir/compare/peer.py" --uvloop "$mode" @PORT@
    return 0
}

# The corio servers of the idle shape, in one place: words, the port appended. The HTTP example closes a
# connection idle for HTTP_IDLE_MS (5 s by default), longer than the shape holds them.
idle_echo=${CMP_IDLE_ECHO:-$BUILD/examples/echo_server}
idle_http=${CMP_IDLE_HTTP:-env HTTP_IDLE_MS=3600000 $BUILD/examples/http_server}
# bench_idle's own bound: the settles, and accepting at 200 connections a second (corio's echo server accepted
# ~3,000 a second on this VM, first touching each handler's stack)
idle_timeout=$((60 + CMP_IDLE / 200))

# idle PROTO PEER CMD...: CMP_IDLE connections held idle against one server by bench_idle (on CPU 1), which reads
# the server's memory; its figures are kept as idle_<figure>_PROTO_PEER.
idle() {
    proto=$1
    peer=$2
    shift 2
    label="idle_${proto}_$peer"
    echo "== $label: $* (CPU 0), $CMP_IDLE connections"
    if ! start "$label" "$@"; then
        failed="$failed $label"
        return
    fi
    if [ "$peer" = corio-uring ] && ! on_uring; then
        echo "# $label: the server runs without an io_uring instance (the kernel refused it?): not measured"
        stop
        return
    fi
    pid=$server_pid
    if [ "$peer" = nginx ]; then # the worker holds the connections; the master only watches it
        pid=""
        i=0
        while [ -z "$pid" ] && [ $i -lt 100 ]; do
            pid=$(awk '{ print $1 }' "/proc/$server_pid/task/$server_pid/children" 2>/dev/null)
            [ -n "$pid" ] || sleep 0.05
            i=$((i + 1))
        done
        if [ -z "$pid" ]; then
            echo "# $label FAILED: nginx started no worker"
            stop
            failed="$failed $label"
            return
        fi
    fi
    # shellcheck disable=SC2086 # prefixes: words, or nothing
    $limit $pin_load "$BUILD/bench/bench_idle" --proto "$proto" --pid "$pid" --settle "$CMP_IDLE_SETTLE" \
        --timeout "$idle_timeout" 127.0.0.1 "$port" "$CMP_IDLE" >"$out/load.log" 2>&1
    rc=$?
    grep -v '^RESULT ' "$out/load.log" | sed 's/^/   /'
    if ! stop; then
        echo "# $label FAILED: the server died:"
        tail -n 5 "$out/$label.log" | sed 's/^/#   /'
        failed="$failed $label"
        return
    fi
    if [ $rc -ne 0 ]; then
        echo "# $label FAILED (bench_idle exit $rc)"
        failed="$failed $label"
        return
    fi
    grep '^RESULT idle_' "$out/load.log" | while read -r _ n v u; do
        case $u in B | bytes) v=$(printf '%.0f' "$v") ;; esac
        record "${n}_${proto}_$peer" "$v" "$u"
    done
}

# idles: every server of the idle shape once, in turn
idles() {
    if [ $have_corio -eq 1 ]; then
        # shellcheck disable=SC2086 # the commands are words
        [ $have_uring -eq 1 ] && idle echo corio-uring env CORIO_BACKEND=uring $idle_echo @PORT@
        # shellcheck disable=SC2086
        idle echo corio env CORIO_BACKEND=epoll $idle_echo @PORT@
    fi
    [ $have_libuv -eq 1 ] && idle echo libuv "$out/echo_libuv" @PORT@
    [ $have_epoll -eq 1 ] && idle echo epoll "$out/echo_epoll" @PORT@
    [ $have_go -eq 1 ] && idle echo go env GOMAXPROCS=1 "$out/peer_go" echo @PORT@
    if [ $have_http_server -eq 1 ]; then
        # shellcheck disable=SC2086
        [ $have_uring -eq 1 ] && idle http corio-uring env CORIO_BACKEND=uring $idle_http @PORT@
        # shellcheck disable=SC2086
        idle http corio env CORIO_BACKEND=epoll $idle_http @PORT@
    fi
    [ $have_nginx -eq 1 ] && idle http nginx "$nginx" -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/error.log"
    [ $have_go -eq 1 ] && idle http go env GOMAXPROCS=1 "$out/peer_go" http @PORT@
    return 0
}

# streams SHAPE: bench_stream's SHAPE (stream, broadcast or bulk) on both backends and stream_libuv's, one process
# each on CPU 1, kept as SHAPE_PEER.
streams() {
    case $1 in
    stream) key=stream_writes flag="" args="$CMP_STREAM 64" ;;
    broadcast) key=broadcast_writes flag=--broadcast args="$CMP_BROADCAST 1000" ;;
    *) key=bulk flag=--bulk args="$CMP_BULK 65536" ;;
    esac
    if [ $have_corio -eq 1 ]; then
        # shellcheck disable=SC2086 # flag and args are words, or nothing
        [ $have_uring -eq 1 ] && run "${1}_corio-uring" "s/^RESULT ${key}_uring /RESULT ${1}_corio-uring /p;d" \
            env CORIO_BACKEND=uring "$BUILD/bench/bench_stream" $flag $args
        # shellcheck disable=SC2086
        run "${1}_corio" "s/^RESULT ${key}_epoll /RESULT ${1}_corio /p;d" \
            env CORIO_BACKEND=epoll "$BUILD/bench/bench_stream" $flag $args
    fi
    if [ $have_stream_libuv -eq 1 ]; then
        # shellcheck disable=SC2086
        run "${1}_libuv" "s/^RESULT ${key}_libuv /RESULT ${1}_libuv /p;d" "$out/stream_libuv" $flag $args
        # shellcheck disable=SC2086
        run "${1}_libuv-try" "s/^RESULT ${key}_libuv-try /RESULT ${1}_libuv-try /p;d" \
            "$out/stream_libuv" --try $flag $args
    fi
}

# Rounds alternate the servers, so a neighbour's burst of work spreads over all of them; each server's best round
# counts.
round=1
while [ "$round" -le "$CMP_ROUNDS" ]; do
    [ "$CMP_ROUNDS" -gt 1 ] && echo "==== server round $round of $CMP_ROUNDS"
    for shape in echo echo1000; do
        if want_shape $shape && [ $have_corio -eq 1 ]; then
            servers $shape
        elif want_shape $shape && [ "$round" -eq 1 ]; then
            skip "the $shape shape: it needs corio's bench_echo_load as the load"
        fi
    done
    want_shape http && [ $have_wrk -eq 1 ] && servers http
    want_shape churn && [ $have_wrk -eq 1 ] && servers churn
    for shape in stream broadcast bulk; do
        want_shape $shape && streams $shape
    done
    if want_shape idle && [ $have_idle_fds -eq 1 ]; then
        if [ -x "$BUILD/bench/bench_idle" ]; then
            idles
        elif [ "$round" -eq 1 ]; then
            echo "# $BUILD/bench/bench_idle was not built (run make first)"
            failed="$failed missing:bench_idle"
        fi
    fi
    round=$((round + 1))
done

# ---- summary ------------------------------------------------------------------------------------------------

# value NAME: NAME's best figure over the rounds (the highest rate, the lowest time or size), or nothing.
value() {
    m=min
    case $1 in *_p99_* | *_cpu_*) ;; echo* | http_* | churn_* | stream_* | broadcast_* | bulk_*) m=max ;; esac
    awk -v n="$1" -v m="$m" '$1 == "RESULT" && $2 == n {
        if (v == "" || (m == "min" && $3 + 0 < v + 0) || (m == "max" && $3 + 0 > v + 0)) v = $3 }
        END { print v }' "$results"
}
# mib BYTES: BYTES in MiB, one decimal, or nothing for nothing
mib() { [ -n "$1" ] && awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
row_fmt='%-33s %-14s %12s %12s %8s  %s\n'
# line SHAPE PEER CORIO PEER_VALUE BETTER GOAL: one row, ratio CORIO / PEER_VALUE; BETTER is lower or higher,
# GOAL the ratio the issue asks for ("" when there is none).
line() {
    if [ -z "$3" ] || [ -z "$4" ]; then
        g=""
        [ -n "$6" ] && g="goal $([ "$5" = lower ] && echo '<=' || echo '>=') $6: no figure"
        # shellcheck disable=SC2059 # the format is ours
        printf "$row_fmt" "$1" "$2" "${3:-n/a}" "${4:-n/a}" n/a "$g"
        return
    fi
    awk -v s="$1" -v p="$2" -v a="$3" -v b="$4" -v better="$5" -v goal="$6" -v f="$row_fmt" 'BEGIN {
        if (b + 0 == 0) { printf f, s, p, a, b, "n/a", ""; exit }
        r = a / b; v = ""
        if (goal != "") {
            met = (better == "lower") ? r <= goal : r >= goal
            v = sprintf("goal %s %s: %s", better == "lower" ? "<=" : ">=", goal, met ? "met" : "NOT MET")
        }
        printf f, s, p, a, b, sprintf("%.3f", r), v }'
}
# ratio A B: A / B to three places, or nothing if either is missing
ratio() {
    [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'
}
# absolute SHAPE VALUE LIMIT: a goal on corio's own figure rather than a ratio (issue 6 part 1), VALUE <= LIMIT
absolute() {
    awk -v s="$1" -v a="$2" -v l="$3" -v f="$row_fmt" 'BEGIN {
        v = (a == "") ? "no figure" : (a + 0 <= l + 0) ? "met" : "NOT MET"
        printf f, s, "(absolute)", (a == "" ? "n/a" : a), l, "-", "goal <= " l ": " v }'
}

# loads SHAPE: a line saying how busy the load's core was under each server of SHAPE
loads() {
    busy=""
    for peer in corio corio-uring libuv epoll nginx go node asyncio uvloop; do
        v=$(value "${1}_load_$peer")
        [ -n "$v" ] && busy="$busy $peer $v %,"
    done
    [ -z "$busy" ] || echo "# $1: the load's core (CPU 1) was busy under$busy (near 100 %, the load sets the rate)" |
        sed 's/,$//'
}

{
    note=""
    [ "$CMP_QUICK" = 1 ] && note=" (QUICK mode: small sizes, not the sizes the goals are set for)"
    echo "== corio / peer, $(date +%Y-%m-%d), $CMP_TASKS tasks sleeping $CMP_SECONDS s," \
        "$CMP_CONNS and $CMP_CONNS_HIGH echo connections, $CMP_IDLE idle ones$note"
    # shellcheck disable=SC2059
    printf "$row_fmt" shape peer corio peer ratio "goal"
    if want_shape switch; then
        line "switch ns (lower)" boost "$(value switch_corio)" "$(value switch_boost)" lower 1.0
    fi
    if want_shape spawn; then
        c=$(value spawn_corio)
        for peer in boost go node asyncio uvloop; do
            case $peer in boost) g=1.0 ;; go) g=0.1 ;; asyncio) g=0.01 ;; *) g="" ;; esac
            want_peer $peer && line "spawn ns (lower)" "$peer" "$c" "$(value "spawn_$peer")" lower "$g"
        done
    fi
    if want_shape tasks; then
        # default stacks: no more than fibers on pooled stacks; compact: below every peer, a tenth of Go, 0.3 of Node
        c=$(mib "$(value tasks_rss_corio)")
        for peer in boost go node asyncio uvloop; do
            g=""
            [ $peer = boost ] && g=1.0
            want_peer $peer || continue
            line "tasks RSS MiB, default" "$peer" "$c" "$(mib "$(value "tasks_rss_$peer")")" lower "$g"
        done
        c=$(mib "$(value tasks_rss_corio-compact)")
        for peer in boost go node asyncio uvloop; do
            case $peer in go) g=0.1 ;; node) g=0.3 ;; *) g=1.0 ;; esac
            want_peer $peer || continue
            line "tasks RSS MiB, compact" "$peer" "$c" "$(mib "$(value "tasks_rss_$peer")")" lower "$g"
        done
        for cv in corio corio-compact; do
            c=$(value "tasks_wall_$cv")
            k=default
            [ $cv = corio-compact ] && k=compact
            for peer in go node asyncio uvloop; do
                want_peer $peer && line "tasks wall s, $k" "$peer" "$c" "$(value "tasks_wall_$peer")" lower ""
            done
        done
        if want_peer corio; then
            # the goals of issue 6 part 1 are set for 1,000,000 tasks sleeping 10 s
            absolute "tasks RSS MiB, compact" "$(mib "$(value tasks_rss_corio-compact)")" 256
            absolute "tasks wall s, compact" "$(value tasks_wall_corio-compact)" 12
            r=$(value tasks_rss_corio)
            absolute "tasks B per task, default" "$([ -n "$r" ] && awk -v r="$r" -v n="$CMP_TASKS" \
                'BEGIN { printf "%.0f", r / n }')" 4608
        fi
    fi
    if want_shape gather; then
        c=$(value gather_corio)
        fastest=""
        fp=""
        for peer in go node asyncio uvloop; do
            want_peer $peer || continue
            v=$(value "gather_$peer")
            line "gather wall s (lower)" "$peer" "$c" "$v" lower ""
            if [ -n "$v" ] && { [ -z "$fastest" ] || awk -v a="$v" -v b="$fastest" 'BEGIN { exit !(a < b) }'; }; then
                fastest=$v
                fp=$peer
            fi
        done
        line "gather vs fastest" "${fp:-none}" "$c" "$fastest" lower 1.0
        c=$(value gather_corio-compact)
        [ -n "$c" ] && line "gather vs fastest, compact" "${fp:-none}" "$c" "$fastest" lower 1.0
    fi
    if want_shape skynet; then
        line "skynet 2 loops / 1 loop" "corio" "$(value skynet_2loops)" "$(value skynet_1loop)" lower 0.6
        line "skynet 2 loops / 1 loop" "compact" "$(value skynet-compact_2loops)" "$(value skynet-compact_1loop)" \
            lower 0.6
        if want_peer go; then
            # the same tree on one core; then what a second core buys each (corio: the 100 jobs on 2 loops against
            # 1, Go: GOMAXPROCS=2 against 1, its scheduler spreading the tree itself)
            line "skynet tree s, 1 core" "go" "$(value skynet_tree)" "$(value skynet_go-1)" lower ""
            line "skynet 2 cores / 1 core" "go" "$(ratio "$(value skynet_2loops)" "$(value skynet_1loop)")" \
                "$(ratio "$(value skynet_go-2)" "$(value skynet_go-1)")" lower ""
        fi
    fi
    if want_shape echo; then
        # the goals are for corio as built: io_uring is its default backend where liburing was there
        def=corio
        [ -n "$(value echo_corio-uring)" ] && def=corio-uring
        for cv in corio-uring corio; do
            c=$(value "echo_$cv")
            [ -n "$c" ] || continue
            b=io_uring
            [ $cv = corio ] && b=epoll
            for peer in libuv epoll go node asyncio uvloop; do
                g=""
                [ $cv = $def ] && case $peer in libuv) g=1.0 ;; epoll) g=0.95 ;; esac
                [ $cv = $def ] || [ -n "$g" ] || [ $peer = libuv ] || [ $peer = epoll ] || continue
                want_peer $peer && line "echo c$CMP_CONNS rps, $b" "$peer" "$c" "$(value "echo_$peer")" higher "$g"
            done
        done
        loads echo
    fi
    if want_shape echo1000; then
        for cv in corio-uring corio; do
            c=$(value "echo1000_$cv")
            for peer in libuv epoll; do
                g=""
                [ $cv = corio-uring ] && [ $peer = libuv ] && g=1.3
                b=io_uring
                [ $cv = corio ] && b=epoll
                want_peer $peer || continue
                line "echo c$CMP_CONNS_HIGH rps, $b" "$peer" "$c" "$(value "echo1000_$peer")" higher "$g"
            done
        done
        loads echo1000
    fi
    if want_shape http; then
        c=$(value http_corio)
        for peer in nginx go node asyncio uvloop; do
            g=""
            [ $peer = nginx ] && g=1.2
            want_peer $peer && line "http rps, epoll" "$peer" "$c" "$(value "http_$peer")" higher "$g"
        done
        if want_peer nginx; then
            line "http rps, io_uring" nginx "$(value http_corio-uring)" "$(value http_nginx)" higher 1.2
            # requests per second of the server's CPU: what each server costs, whoever sets the rate
            line "http req per server CPU-s" nginx "$(value http_eff_corio)" "$(value http_eff_nginx)" higher ""
            line "http req per CPU-s, io_uring" nginx "$(value http_eff_corio-uring)" "$(value http_eff_nginx)" \
                higher ""
        fi
        loads http
    fi
    if want_shape churn; then
        # a connection per request: accept, close and the TCP handshakes dominate; no goal in the issue
        for cv in corio corio-uring; do
            b=io_uring
            [ $cv = corio ] && b=epoll
            c=$(value "churn_$cv")
            for peer in nginx go node asyncio uvloop; do
                want_peer $peer && line "churn conn/s, $b" "$peer" "$c" "$(value "churn_$peer")" higher ""
            done
        done
        if want_peer nginx; then
            line "churn conn per CPU-s, epoll" nginx "$(value churn_eff_corio)" "$(value churn_eff_nginx)" higher ""
            line "churn conn per CPU-s, uring" nginx "$(value churn_eff_corio-uring)" "$(value churn_eff_nginx)" \
                higher ""
            # both deferred (TCP_DEFER_ACCEPT): against nginx given the same, the only peer that offers it
            line "churn defer conn/s, epoll" nginx "$(value churn_corio-defer)" "$(value churn_nginx-defer)" higher ""
            line "churn defer conn/s, uring" nginx "$(value churn_corio-uring-defer)" \
                "$(value churn_nginx-defer)" higher ""
            line "churn defer per CPU-s, epoll" nginx "$(value churn_eff_corio-defer)" \
                "$(value churn_eff_nginx-defer)" higher ""
            line "churn defer per CPU-s, uring" nginx "$(value churn_eff_corio-uring-defer)" \
                "$(value churn_eff_nginx-defer)" higher ""
        fi
        loads churn
    fi
    for sh in stream broadcast bulk; do
        # issue 18: the stream on io_uring >= 1.0x epoll and >= 1.0x libuv (uv_write per message), the broadcast
        # >= 1.0x libuv; no goal for bulk
        want_shape $sh || continue
        u=writes/s
        [ $sh = bulk ] && u=MiB/s
        c=$(value "${sh}_corio-uring")
        e=$(value "${sh}_corio")
        ge=""
        gl=""
        [ $sh = stream ] && ge=1.0
        [ $sh = bulk ] || gl=1.0
        line "$sh $u, io_uring" corio-epoll "$c" "$e" higher "$ge"
        if want_peer libuv; then
            line "$sh $u, io_uring" libuv "$c" "$(value "${sh}_libuv")" higher "$gl"
            line "$sh $u, io_uring" libuv-try "$c" "$(value "${sh}_libuv-try")" higher ""
            line "$sh $u, epoll" libuv "$e" "$(value "${sh}_libuv")" higher ""
            line "$sh $u, epoll" libuv-try "$e" "$(value "${sh}_libuv-try")" higher ""
        fi
    done
    if want_shape idle; then
        # issue 18: <= 512 B per idle connection for both examples, below nginx's; RSS after the close within 10 %
        # of the RSS before
        for proto in echo http; do
            peers="libuv epoll go"
            [ $proto = http ] && peers="nginx go"
            for cv in corio-uring corio; do
                b=io_uring
                [ $cv = corio ] && b=epoll
                c=$(value "idle_per_conn_${proto}_$cv")
                absolute "idle $proto B/conn, $b" "$c" 512
                absolute "idle $proto after/before, $b" "$(value "idle_after_ratio_${proto}_$cv")" 1.10
                for peer in $peers; do
                    g=""
                    [ "$peer" = nginx ] && g=1.0
                    want_peer "$peer" && line "idle $proto B/conn, $b" "$peer" "$c" \
                        "$(value "idle_per_conn_${proto}_$peer")" lower "$g"
                done
            done
            for fig in after_ratio accept wave; do
                case $fig in after_ratio) what=after/before ;; *) what="$fig s" ;; esac
                for cv in corio-uring corio; do
                    b=io_uring
                    [ $cv = corio ] && b=epoll
                    [ $fig = after_ratio ] && [ $cv = corio ] && continue # the absolute rows above have it
                    for peer in $peers; do
                        want_peer "$peer" && line "idle $proto $what, $b" "$peer" \
                            "$(value "idle_${fig}_${proto}_$cv")" "$(value "idle_${fig}_${proto}_$peer")" lower ""
                    done
                done
            done
        done
    fi
} >"$out/summary.txt"
echo
cat "$out/summary.txt"
echo "# data: $results, $out/summary.txt"

if [ "$CMP_CHARTS" = 1 ]; then
    "$dir/charts.sh" --compare "$out" "$dir/../docs/img" || failed="$failed charts"
fi

if [ -n "$failed" ]; then
    echo "FAILED:$failed"
    exit 1
fi
echo "all comparisons ran"
