#!/bin/sh
# io.sh - corio's network servers against their peers, measured in one run and printed as ratios: the echo server
# (examples/echo_server) against a libuv and a raw-epoll echo server (bench/baseline/) under bench_echo_load's
# ping-pong at 1, 100 and 1000 connections, and the HTTP "hello" server (examples/http_server) against nginx under
# wrk. corio's servers run twice, on the epoll and on the io_uring backend. Each server is pinned alone to CPU 0
# and its load to CPU 1, so one core serves and one loads. One round takes ~95 s, the one- and two-loop HTTP runs
# more. Called by bench/run.sh (unless BENCH_IO=0), or alone:
#   BUILD=build/x86_64-gcc-asm bench/io.sh    (after `make`; it builds the baselines itself)
# Knobs: IO_SECONDS (measured seconds per run, default 5), IO_CONNS ("1 100 1000"), IO_MSG (message bytes, 64),
# IO_ROUNDS (default 1; with more, each server's best round counts), IO_LOAD_BACKEND (the echo load's corio
# backend: uring where built, else epoll), IO_QUIET_WAIT (seconds to wait before each
# run for other work on the machine to stop, default 0: only warn), IO_LOOPS_WORK (the CPU work per response, in
# µs, of the HTTP runs on one loop and on two: "0 50"; empty skips them). Peers whose package is missing (libuv1-dev,
# nginx or nginx-light, wrk, curl) are skipped with a message; exits non-zero when a run fails its checks.
set -u

dir=$(dirname "$0")
BUILD=${BUILD:-build/$(uname -m)-gcc-asm}
CC=${CC:-cc}
IO_SECONDS=${IO_SECONDS:-5}
IO_CONNS=${IO_CONNS:-1 100 1000}
IO_MSG=${IO_MSG:-64}
IO_ROUNDS=${IO_ROUNDS:-1}
IO_QUIET_WAIT=${IO_QUIET_WAIT:-0}
IO_LOOPS_WORK=${IO_LOOPS_WORK-0 50}
out="$BUILD/bench"
results="$out/io_results.txt"
mkdir -p "$out"
: >"$results"
failed=""
tmp=$(mktemp -d "${TMPDIR:-/tmp}/corio-io.XXXXXX") || exit 1
server_pid=""

# Every server dies with the script, however it ends.
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

pin_server=""
pin_load=""
if command -v taskset >/dev/null 2>&1 && taskset -c 0,1 true 2>/dev/null; then
    pin_server="taskset -c 0"
    pin_load="taskset -c 1"
else
    echo "# taskset missing or CPUs 0-1 unavailable: running unpinned, server and load share the cores"
fi
limit=""
command -v timeout >/dev/null 2>&1 && limit="timeout $((IO_SECONDS + 60))"
# 1000 connections need 1000 descriptors on each side; servers inherit the raised limit.
# shellcheck disable=SC3045 # dash and bash both have ulimit -S and -H
ulimit -S -n "$(ulimit -H -n)" 2>/dev/null
hz=$(getconf CLK_TCK 2>/dev/null || echo 100)

echo "== building the I/O baselines into $out"
have_libuv=0
if ! printf '#include <uv.h>\n' | $CC -E -x c - >/dev/null 2>&1; then
    echo "# SKIPPING the libuv echo baseline: uv.h not found (Debian: apt-get install libuv1-dev)"
elif $CC -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror "$dir/baseline/echo_libuv.c" -o "$out/echo_libuv" -luv
then
    have_libuv=1
else
    failed="$failed build:echo_libuv"
fi
have_epoll=0
if $CC -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror "$dir/baseline/echo_epoll.c" -o "$out/echo_epoll"; then
    have_epoll=1
else
    failed="$failed build:echo_epoll"
fi
have_nginx=0
nginx=$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; })
if [ -z "$nginx" ]; then
    echo "# SKIPPING nginx: not installed (Debian: apt-get install nginx-light)"
else
    have_nginx=1
fi
have_wrk=0
if command -v wrk >/dev/null 2>&1; then
    have_wrk=1
else
    echo "# SKIPPING the HTTP comparison: wrk not installed (Debian: apt-get install wrk)"
fi
echo_server="$BUILD/examples/echo_server"
http_server="$BUILD/examples/http_server"
load="$out/bench_echo_load"
for p in "$load" "$echo_server"; do
    [ -x "$p" ] || { echo "# $p was not built (run make first)"; failed="$failed missing:$(basename "$p")"; }
done
if [ ! -x "$http_server" ]; then # optional: the Makefile builds it only with libhttp-parser-dev
    echo "# SKIPPING corio's HTTP server: $http_server was not built (Debian: apt-get install libhttp-parser-dev)"
fi
backends="epoll"
load_backend=epoll
if nm "$BUILD/libcorio.a" 2>/dev/null | grep -q corio__uring_ops; then
    backends="epoll uring"
    load_backend=uring
else
    echo "# corio was built without io_uring (liburing-dev): one series, epoll"
fi
load_backend=${IO_LOAD_BACKEND:-$load_backend}

# ---- helpers ------------------------------------------------------------------------------------------------

# listening PORT: true when something listens on TCP port PORT (state 0A in /proc/net/tcp or tcp6).
listening() {
    hex=$(printf '%04X' "$1")
    awk -v h="$hex" 'NR > 1 { split($2, a, ":"); if (a[2] == h && $4 == "0A") f = 1 } END { exit !f }' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
# A port nobody uses, below the ephemeral range the load's own connections take their ports from.
next_port=$((20000 + $$ % 5000 * 2))
free_port() {
    while awk -v h="$(printf '%04X' $next_port)" 'NR > 1 { split($2, a, ":"); if (a[2] == h) f = 1 } END { exit !f }' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null; do
        next_port=$((next_port + 1))
    done
    port=$next_port
    next_port=$((next_port + 1))
}
# alive: true while the server runs (kill -0 alone would also accept the zombie of one that crashed).
alive() {
    [ -r "/proc/$server_pid/stat" ] && awk '{ exit $3 == "Z" }' "/proc/$server_pid/stat"
}
# start NAME CMD...: starts a server on CPU 0 with its output in $out/io_NAME.log, @PORT@ in CMD replaced by a free
# port (left in $port); waits until it listens; false (and the reason) if it does not within 5 s.
start() {
    name=$1
    shift
    free_port
    for a; do
        shift
        [ "$a" = @PORT@ ] && a=$port
        set -- "$@" "$a"
    done
    [ "$name" = nginx ] && write_nginx_conf
    $pin_server "$@" >"$out/io_$name.log" 2>&1 &
    server_pid=$!
    i=0
    while ! listening "$port"; do
        if ! alive || [ $i -ge 100 ]; then
            echo "# $name did not start listening on port $port:"
            sed 's/^/#   /' "$out/io_$name.log" | tail -n 5
            stop
            return 1
        fi
        sleep 0.05
        i=$((i + 1))
    done
}
# stop: ends the server; false if it had died on its own (a crash under load is a failure). A server that
# wrote more than a few lines meanwhile was measured printing them (a debug build, a warning per connection).
stop() {
    was_alive=0
    alive && was_alive=1
    kill "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
    server_pid=""
    lines=$(wc -l <"$out/io_$name.log")
    if [ "$lines" -gt 5 ]; then
        echo "# WARNING: the server wrote $lines lines while measured (see $out/io_$name.log):"
        head -n 3 "$out/io_$name.log" | sed 's/^/#   /'
    fi
    [ $was_alive -eq 1 ]
}
# uring_check LABEL: corio falls back to epoll quietly when the kernel refuses io_uring, and a "uring" figure
# would then be an epoll one: such a server holds no io_uring descriptor. False (and why) in that case.
uring_check() {
    case $1 in *uring*) ;; *) return 0 ;; esac
    for f in /proc/"$server_pid"/fd/*; do
        case $(readlink "$f" 2>/dev/null) in *io_uring*) return 0 ;; esac
    done
    echo "# $1: the server runs without an io_uring instance (the kernel refused it?): not measured"
    return 1
}
# cpu_ticks: CPU time used so far by the server and its children (nginx's worker), in clock ticks.
cpu_ticks() {
    cat /proc/[0-9]*/stat 2>/dev/null |
        awk -v p="$server_pid" '$1 == p || $4 == p { t += $14 + $15 } END { print t + 0 }'
}
# busy_check: while no server runs, samples /proc/stat for 0.3 s; if something else keeps the CPUs over 10 % busy
# (a compiler, a test suite), waits for a quiet moment up to IO_QUIET_WAIT seconds, then warns that this run's
# figures are noise.
busy_check() {
    waited=0
    while :; do
        a=$(awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
        sleep 0.3
        b=$(awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
        busy=$(echo "$a $b" |
            awk '{ busy = $3 - $1; all = busy + $4 - $2; printf "%.0f", (all > 0 ? 100 * busy / all : 0) }')
        [ "$busy" -le 10 ] && return
        [ "$waited" -ge "$IO_QUIET_WAIT" ] && break
        sleep 1
        waited=$((waited + 1))
    done
    echo "# WARNING: the machine was $busy % busy with other work just before this run: expect noise"
}
# record NAME VALUE UNIT: one RESULT line, shown and kept.
record() {
    echo "RESULT $1 $2 $3"
    echo "RESULT $1 $2 $3" >>"$results"
}
# measure LABEL NAME CMD...: one echo server under one load ($load_cmd, evaluated once the server runs) whose
# output parse_echo turns into RESULT lines named for LABEL.
measure() {
    label=$1
    name=$2
    shift 2
    if [ -n "$pin_server" ]; then echo "== $label: $name on CPU 0"; else echo "== $label: $name, unpinned"; fi
    busy_check
    if ! start "$name" "$@" || ! uring_check "$label"; then
        [ -n "$server_pid" ] && stop
        failed="$failed $label"
        return
    fi
    eval "$limit $pin_load $load_cmd" >"$out/io_load.log" 2>&1
    rc=$?
    sed 's/^/   /' "$out/io_load.log" | grep -v '^   RESULT ' | tail -n 12
    if ! stop; then
        echo "# $label FAILED: the server died under load:"
        sed 's/^/#   /' "$out/io_$name.log" | tail -n 5
        failed="$failed $label"
        return
    fi
    if [ $rc -ne 0 ]; then
        echo "# $label FAILED (load exit $rc)"
        failed="$failed $label"
        return
    fi
    parse_echo "$out/io_load.log" "$label" || failed="$failed $label"
}

# ---- echo ---------------------------------------------------------------------------------------------------

# The server's CPU share over the window turns into its cost per round trip (CPU us): when the load generator
# is the bottleneck (near 100 % client CPU), rates converge and the cost is what still separates the servers.
parse_echo() {
    ok=1
    for m in rps p50 p99 server_cpu; do
        v=$(awk -v n="echo_$m" '$1 == "RESULT" && $2 == n { print $3 }' "$1")
        u=$(awk -v n="echo_$m" '$1 == "RESULT" && $2 == n { print $4 }' "$1")
        if [ -z "$v" ]; then
            echo "# $2: no echo_$m figure"
            ok=0
        else
            record "echo_${m}_$2" "$v" "$u"
        fi
    done
    [ $ok -eq 1 ] || return 1
    record "echo_cost_$2" "$(awk '$2 == "echo_rps" { r = $3 } $2 == "echo_server_cpu" { c = $3 }
        END { printf "%.3f", c * 10000 / r }' "$1")" us
}

# Rounds alternate the servers at each connection count, so noise from a neighbour spreads over all of them.
round=1
while [ "$round" -le "$IO_ROUNDS" ]; do
    [ "$IO_ROUNDS" -gt 1 ] && echo "==== round $round of $IO_ROUNDS"
    for conns in $IO_CONNS; do
        # the load runs on the same backend for every server (IO_LOAD_BACKEND: io_uring where corio has it, whose
        # batched native I/O lets one core load any server here; on epoll the load was the limit at 1,000)
        load_cmd="env CORIO_BACKEND=$load_backend BENCH_SERVER_PID=\$server_pid \"$load\" 127.0.0.1 \$port $conns"
        load_cmd="$load_cmd $IO_SECONDS $IO_MSG"
        if [ -x "$load" ] && [ -x "$echo_server" ]; then
            for b in $backends; do
                suffix=""
                [ "$b" = uring ] && suffix="_uring"
                measure "corio${suffix}_c$conns" echo_server env CORIO_BACKEND="$b" "$echo_server" @PORT@
            done
        fi
        [ -x "$load" ] && [ $have_libuv -eq 1 ] && measure "libuv_c$conns" echo_libuv "$out/echo_libuv" @PORT@
        [ -x "$load" ] && [ $have_epoll -eq 1 ] && measure "epoll_c$conns" echo_epoll "$out/echo_epoll" @PORT@
    done
    round=$((round + 1))
done

# ---- HTTP ---------------------------------------------------------------------------------------------------

# nginx as the current user, everything it writes in $tmp, one worker, no access log, keep-alive without a
# request limit (wrk's connections then live for the whole run, as they do against corio).
write_nginx_conf() {
    user=""
    [ "$(id -u)" -eq 0 ] && user="user $(id -un) $(id -gn);"
    temps="client_body_temp_path $tmp/client_body;"
    for t in proxy fastcgi uwsgi scgi; do # modules a build can leave out, and then their directives with them
        if ! "$nginx" -V 2>&1 | grep -q "without-http_${t}_module"; then
            temps="$temps ${t}_temp_path $tmp/$t;"
        fi
    done
    cat >"$tmp/nginx.conf" <<EOF
$user
worker_processes 1;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    $temps
    keepalive_requests 100000000;
    server {
        listen 127.0.0.1:$port;
        location / {
            default_type text/plain;
            return 200 "Hello, World!";
        }
    }
}
EOF
}

# wrk's figures: Requests/sec, and the 50 % and 99 % latencies of --latency converted to us. A response that is
# not 2xx or a socket error fails the run: the server was then not doing the same work.
parse_wrk() {
    rps=$(awk '$1 == "Requests/sec:" { print $2 }' "$1")
    if [ -z "$rps" ]; then
        echo "# $2: wrk printed no Requests/sec"
        return 1
    fi
    if grep -q -e 'Non-2xx' -e 'Socket errors' "$1"; then
        echo "# $2 FAILED: wrk saw errors:"
        grep -e 'Non-2xx' -e 'Socket errors' "$1" | sed 's/^/#   /'
        return 1
    fi
    record "http_rps_$2" "$rps" rps
    record "http_server_cpu_$2" "$server_cpu" %
    record "http_cost_$2" "$(awk -v c="$server_cpu" -v r="$rps" 'BEGIN { printf "%.3f", c * 10000 / r }')" us
    for q in 50 99; do
        v=$(awk -v q="$q%" '$1 == q {
                v = $2 + 0; u = $2; sub(/^[0-9.]+/, "", u)
                if (u == "ms") v *= 1000; else if (u == "s") v *= 1000000; else if (u == "m") v *= 60000000
                printf "%.1f", v }' "$1")
        [ -n "$v" ] && record "http_p${q}_$2" "$v" us
    done
    return 0
}

# check_hello: the server at $port must answer GET / with exactly "Hello, World!", or the figures compare
# different work. Skipped (with a note) without curl.
check_hello() {
    command -v curl >/dev/null 2>&1 || { echo "# curl missing: response body not checked"; return 0; }
    body=$(curl -s --max-time 3 "http://127.0.0.1:$port/")
    [ "$body" = "Hello, World!" ] && return 0
    echo "# the server on port $port answered GET / with \"$body\", not \"Hello, World!\""
    return 1
}

# measure_http LABEL NAME CMD...: like measure, with the body checked before the load.
measure_http() {
    label=$1
    name=$2
    shift 2
    echo "== $label: $name on CPU 0"
    busy_check
    if ! start "$name" "$@" || ! uring_check "$label"; then
        [ -n "$server_pid" ] && stop
        failed="$failed $label"
        return
    fi
    if ! check_hello; then
        stop
        failed="$failed $label"
        return
    fi
    c0=$(cpu_ticks)
    t0=$(date +%s.%N)
    $limit $pin_load wrk -t1 -c100 -d"${IO_SECONDS}s" --latency "http://127.0.0.1:$port/" >"$out/io_load.log" 2>&1
    rc=$?
    t1=$(date +%s.%N)
    c1=$(cpu_ticks)
    grep -e 'Requests/sec' -e '    50%' -e '    99%' -e 'requests in' "$out/io_load.log" | sed 's/^ */   /'
    if ! stop; then
        echo "# $label FAILED: the server died under load:"
        sed 's/^/#   /' "$out/io_$name.log" | tail -n 5
        failed="$failed $label"
        return
    fi
    # wrk has no warm-up, so the whole run is the window: the server's share of its core over it
    server_cpu=$(awk -v c="$((c1 - c0))" -v hz="$hz" -v a="$t0" -v b="$t1" \
        'BEGIN { printf "%.3f", 100 * c / hz / (b - a) }')
    if [ $rc -ne 0 ]; then
        echo "# $label FAILED (wrk exit $rc)"
        failed="$failed $label"
        return
    fi
    parse_wrk "$out/io_load.log" "$label" || failed="$failed $label"
}

if [ $have_wrk -eq 1 ]; then
    round=1
    while [ "$round" -le "$IO_ROUNDS" ]; do
        [ "$IO_ROUNDS" -gt 1 ] && echo "==== HTTP round $round of $IO_ROUNDS"
        if [ -x "$http_server" ]; then
            for b in $backends; do
                suffix=""
                [ "$b" = uring ] && suffix="_uring"
                measure_http "corio$suffix" http_server env CORIO_BACKEND="$b" "$http_server" @PORT@
            done
        fi
        [ $have_nginx -eq 1 ] && measure_http nginx nginx "$nginx" -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/error.log"
        round=$((round + 1))
    done
fi

# HTTP on one loop and on two (SO_REUSEPORT): the same wrk against http_server --loops 1, pinned to CPU 0 with wrk
# on CPU 1, and --loops 2, all unpinned (the two loops need both cores, which wrk then shares). HTTP_WORK_US gives
# every response that much CPU work: with none, wrk (~10 µs of CPU per request here) and not the server (~6.5 µs)
# is the limit, and a second loop has nothing to add.
if [ $have_wrk -eq 1 ] && [ -x "$http_server" ] && [ -n "$IO_LOOPS_WORK" ]; then
    for w in $IO_LOOPS_WORK; do
        measure_http "loops1_work$w" http_server env HTTP_WORK_US="$w" "$http_server" @PORT@
        pinned_server=$pin_server pinned_load=$pin_load
        pin_server="" pin_load=""
        measure_http "loops2_work$w" http_server env HTTP_WORK_US="$w" "$http_server" --loops 2 @PORT@
        pin_server=$pinned_server pin_load=$pinned_load
    done
fi

# ---- summary ------------------------------------------------------------------------------------------------

# value NAME: NAME's figure from the round in which its server had the highest throughput, so the figures of
# a server (rate, latency, CPU, cost) always come from one run and a slowed round counts for none of them.
value() {
    awk -v n="$1" 'BEGIN { r = n; sub(/_(rps|p50|p99|server_cpu|cost)_/, "_rps_", r) }
        $1 == "RESULT" && $2 == n { v[++cnt] = $3 }
        $1 == "RESULT" && $2 == r { rc++; if (best == "" || $3 + 0 > best + 0) { best = $3; bi = rc } }
        END { if (bi && (bi in v)) print v[bi]; else if (cnt) print v[1] }' "$results"
}
# ratio LABEL A B NOTE: prints A / B, or why it cannot.
ratio() {
    if [ -n "$2" ] && [ -n "$3" ]; then
        awk -v l="$1" -v a="$2" -v b="$3" -v note="$4" \
            'BEGIN { printf "%-40s %8.3f   (%s / %s)  %s\n", l, a / b, a, b, note }'
    else
        printf '%-40s %8s   %s\n' "$1" "n/a" "(a figure is missing)"
    fi
}

if [ "$IO_ROUNDS" -gt 1 ]; then
    echo "== I/O results (each server's round with the highest throughput, of $IO_ROUNDS)"
else
    echo "== I/O results"
fi
awk '$1 == "RESULT" && !($2 in seen) { seen[$2] = 1; print $2, $4 }' "$results" | while read -r name unit; do
    echo "RESULT $name $(value "$name") $unit"
done
# The corio series, as the suffix of their labels ("-" for none: the epoll backend).
suffixes="-"
[ "$backends" = "epoll uring" ] && suffixes="- _uring"
echo "== I/O ratios: throughput (higher is better for corio; the design goal is >= 1 against libuv, near epoll)"
for s in $suffixes; do
    [ "$s" = - ] && s=""
    for conns in $IO_CONNS; do
        for peer in libuv epoll; do
            ratio "echo_rps corio$s/$peer c$conns" "$(value "echo_rps_corio${s}_c$conns")" \
                "$(value "echo_rps_${peer}_c$conns")" ""
        done
    done
    ratio "http_rps corio$s/nginx" "$(value "http_rps_corio$s")" "$(value http_rps_nginx)" "wrk -t1 -c100"
done
for w in $IO_LOOPS_WORK; do
    ratio "http_rps 2 loops/1 loop, work ${w}us" "$(value "http_rps_loops2_work$w")" "$(value "http_rps_loops1_work$w")" \
        "goal >= 1.5 (wrk shares the 2 cores)"
done
echo "== I/O ratios: server CPU per round trip or request (lower is better for corio)"
for s in $suffixes; do
    [ "$s" = - ] && s=""
    for conns in $IO_CONNS; do
        for peer in libuv epoll; do
            ratio "echo_cost corio$s/$peer c$conns" "$(value "echo_cost_corio${s}_c$conns")" \
                "$(value "echo_cost_${peer}_c$conns")" ""
        done
    done
    ratio "http_cost corio$s/nginx" "$(value "http_cost_corio$s")" "$(value http_cost_nginx)" ""
done
echo "== I/O ratios: p99 latency (lower is better for corio)"
for s in $suffixes; do
    [ "$s" = - ] && s=""
    for conns in $IO_CONNS; do
        ratio "echo_p99 corio$s/libuv c$conns" "$(value "echo_p99_corio${s}_c$conns")" \
            "$(value "echo_p99_libuv_c$conns")" ""
    done
    ratio "http_p99 corio$s/nginx" "$(value "http_p99_corio$s")" "$(value http_p99_nginx)" ""
done

if [ -n "$failed" ]; then
    echo "I/O FAILED:$failed"
    exit 1
fi
echo "all I/O benchmarks passed their checks"
