#!/bin/sh
# charts.sh - draws the comparison figures of a benchmark run as PNG charts with gnuplot: `bench/charts.sh DIR
# OUT` reads DIR/results.txt (bench/run.sh: switch and spawn against Boost.Context and ucontext) and
# DIR/io_results.txt (bench/io.sh: echo against libuv and a raw epoll loop, HTTP against nginx) and writes
# OUT/core.png, OUT/echo.png and OUT/http.png for whichever of them has figures. `make bench BENCH_CHARTS=1`
# calls it with OUT=docs/img. Needs gnuplot (Debian: gnuplot-nox); exits 2 without it.
set -u
dir=${1:?usage: bench/charts.sh RESULTS_DIR OUT_DIR}
outdir=${2:?usage: bench/charts.sh RESULTS_DIR OUT_DIR}
command -v gnuplot >/dev/null 2>&1 || { echo "charts: gnuplot not found (Debian: apt-get install gnuplot-nox)" >&2; exit 2; }
mkdir -p "$outdir"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/corio-charts.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
day=$(date +%Y-%m-%d)

# best FILE NAME MODE: the best RESULT NAME in FILE (MODE min or max: several rounds may report it), or nothing
best() {
    [ -f "$1" ] || return 0
    awk -v n="$2" -v m="$3" '$1 == "RESULT" && $2 == n {
        if (v == "" || (m == "min" && $3 + 0 < v + 0) || (m == "max" && $3 + 0 > v + 0)) v = $3 }
        END { if (v != "") print v }' "$1"
}

# bars DATA PNG TITLE YLABEL LOG: a clustered bar chart of DATA (first column the group, a header row naming
# the series), values printed above the bars
bars() {
    cols=$(head -n 1 "$1" | awk '{ print NF }')
    {
        echo "set terminal pngcairo noenhanced size 900,480 font 'DejaVu Sans,11'"
        echo "set xlabel \"$(head -n 1 "$1" | awk '{ print $1 }')\""
        echo "set output '$2'"
        echo "set title \"$3\""
        echo "set ylabel \"$4\""
        echo "set style data histograms"
        echo "set style histogram clustered gap 1"
        echo "set style fill solid 0.85 border -1"
        echo "set boxwidth 0.9"
        echo "set key top left"
        echo "set grid ytics"
        echo "set yrange [0:*]"
        [ "$5" = log ] && echo "set logscale y; set yrange [1:*]"
        printf "plot '%s' using 2:xtic(1) title columnheader(2)" "$1"
        i=3
        while [ "$i" -le "$cols" ]; do
            printf ", '' using %d title columnheader(%d)" "$i" "$i"
            i=$((i + 1))
        done
        echo
    } >"$tmp/plot.gp"
    gnuplot "$tmp/plot.gp" && echo "charts: wrote $2"
}

core=$dir/results.txt
sw_c=$(best "$core" switch_corio min)
sw_b=$(best "$core" switch_boost min)
sw_u=$(best "$core" switch_ucontext min)
sp_c=$(best "$core" spawn_await min)
sp_b=$(best "$core" spawn_boost min)
if [ -n "$sw_c" ]; then
    {
        echo "benchmark corio Boost.Context ucontext"
        echo "switch ${sw_c} ${sw_b:-0} ${sw_u:-0}"
        echo "spawn+run+await ${sp_c:-0} ${sp_b:-0} 0"
    } >"$tmp/core.dat"
    bars "$tmp/core.dat" "$outdir/core.png" "Core: one-way switch and spawn+run+await ($day, lower is better)" \
        "ns per operation (log scale)" log
fi

io=$dir/io_results.txt
if [ -n "$(best "$io" echo_rps_corio_c1 max)" ] || [ -n "$(best "$io" echo_rps_corio_c100 max)" ]; then
    echo "connections corio corio-io_uring libuv epoll" >"$tmp/echo.dat"
    for c in 1 50 100 1000; do
        v=$(best "$io" "echo_rps_corio_c$c" max)
        [ -n "$v" ] || continue
        echo "$c $v $(best "$io" "echo_rps_corio_uring_c$c" max || true) $(best "$io" "echo_rps_libuv_c$c" max)" \
            "$(best "$io" "echo_rps_epoll_c$c" max)" | awk '{ for (i = NF + 1; i <= 5; i++) $i = 0; print }' \
            >>"$tmp/echo.dat"
    done
    bars "$tmp/echo.dat" "$outdir/echo.png" "Echo ping-pong, 64 B, one server core ($day, higher is better)" \
        "round trips per second" linear
fi
h=$(best "$io" http_rps_corio max)
if [ -n "$h" ]; then
    {
        echo "server corio corio-io_uring nginx"
        echo "hello $h $(best "$io" http_rps_corio_uring max) $(best "$io" http_rps_nginx max)" |
            awk '{ for (i = NF + 1; i <= 4; i++) $i = 0; print }'
    } >"$tmp/http.dat"
    bars "$tmp/http.dat" "$outdir/http.png" "HTTP hello, wrk 100 connections, one server core ($day)" \
        "requests per second" linear
fi
exit 0
