#!/bin/sh
# charts.sh - draws the comparison figures of a benchmark run as PNG charts with gnuplot, so the docs can show them.
#   bench/charts.sh DIR OUT             bench/run.sh's run (`make bench BENCH_CHARTS=1`): DIR/results.txt (switch
#                                       and spawn against Boost.Context and ucontext) and DIR/io_results.txt (echo
#                                       against libuv and a raw epoll loop, HTTP against nginx) become OUT/core.png,
#                                       OUT/echo.png and OUT/http.png, for whichever of them has figures
#   bench/charts.sh --compare DIR OUT   bench/compare.sh's run (`make bench-charts`, or `make bench-compare
#                                       CMP_CHARTS=1`): DIR/results.txt and DIR/meta.txt become OUT/compare-switch.png,
#                                       compare-spawn.png, compare-rss.png, compare-gather.png, compare-echo.png,
#                                       compare-echo1000.png, compare-http.png, compare-http-cpu.png and
#                                       compare-churn-cpu.png, a bar per peer, corio's in blue
# The compare- prefix keeps the two sets apart in docs/img, whose names the docs link to. A chart whose figures are
# all missing is not drawn. Needs gnuplot (Debian: gnuplot-nox); exits 2 without it.
set -u
mode=bench
if [ "${1:-}" = --compare ]; then
    mode=compare
    shift
fi
dir=${1:?usage: bench/charts.sh [--compare] RESULTS_DIR OUT_DIR}
outdir=${2:?usage: bench/charts.sh [--compare] RESULTS_DIR OUT_DIR}
command -v gnuplot >/dev/null 2>&1 || { echo "charts: gnuplot not found (Debian: apt-get install gnuplot-nox)" >&2; exit 2; }
mkdir -p "$outdir"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/corio-charts.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# best FILE NAME MODE: the best RESULT NAME in FILE (MODE min or max: several rounds may report it), or nothing
best() {
    [ -f "$1" ] || return 0
    awk -v n="$2" -v m="$3" '$1 == "RESULT" && $2 == n {
        if (v == "" || (m == "min" && $3 + 0 < v + 0) || (m == "max" && $3 + 0 > v + 0)) v = $3 }
        END { if (v != "") print v }' "$1"
}

if [ $mode = compare ]; then
    [ -f "$dir/results.txt" ] || { echo "charts: no $dir/results.txt: run make bench-compare first" >&2; exit 1; }
    meta() { awk -v k="$1" '$1 == k { print $2 }' "$dir/meta.txt" 2>/dev/null; }
    # the date of the measurements, not of the drawing: make bench-charts may redraw an old run
    day=$(meta date)
    [ -n "$day" ] || day=$(date -r "$dir/results.txt" +%Y-%m-%d)
    quick=""
    [ "$(meta quick)" = 1 ] && quick=", QUICK mode"
    CORIO_RGB=2783409 # 0x2a78b1
    PEER_RGB=10132122 # 0x9a9a9a
    drawn=0

    # human VALUE UNIT: a short label for a bar (3 significant digits; k/M for counts, KiB/MiB for bytes B)
    human() {
        awk -v v="$1" -v u="$2" 'BEGIN {
            if (u == "ns" && v >= 1000) { v /= 1000; u = "us" }
            if (u == "us" && v >= 1000) { v /= 1000; u = "ms" }
            k = 1000; split("k M G", pre, " ")
            if (u ~ /s$/) k = 1e30 # a time changes its unit, it never gets a k
            if (u == "B") { k = 1024; split("KiB MiB GiB", pre, " ") }
            i = 0
            while (v >= k * 0.9995 && i < 3) { v /= k; i++ }
            f = "%.2f"; if (v >= 10) f = "%.1f"; if (v >= 100) f = "%.0f"
            num = sprintf(f, v)
            suffix = u
            if (i > 0) suffix = (u == "B") ? pre[i] : pre[i] u
            if (suffix == "") print num; else print num " " suffix }'
    }

    # peer_bars DATA PNG TITLE YLABEL UNIT: one bar per line of DATA ("label value"; corio's labels start with
    # "corio"), each value printed above its bar; a log scale when the values span more than 20x, or the small
    # ones would be invisible.
    peer_bars() {
        [ -s "$1" ] || return 0
        while read -r l v; do
            c=$PEER_RGB
            case $l in corio*) c=$CORIO_RGB ;; esac
            echo "$l $v $c \"$(human "$v" "$5")\""
        done <"$1" >"$1.dat"
        {
            echo "set terminal pngcairo noenhanced size 980,480 font 'DejaVu Sans,11'"
            echo "set output '$2'"
            echo "set title \"$3\""
            echo "set ylabel \"$4\""
            echo "set style fill solid 0.9 border -1"
            echo "set boxwidth 0.65"
            echo "set grid ytics"
            echo "set xtics nomirror"
            echo "set ytics nomirror"
            echo "set xrange [-0.6:$(wc -l <"$1") - 0.4]"
            echo "unset key"
            awk 'NR == 1 || $2 < lo { lo = $2 } NR == 1 || $2 > hi { hi = $2 } END {
                if (lo > 0 && hi / lo > 20) printf "set logscale y\nset yrange [%g:%g]\nset format y \"%%.0s%%c\"\n",
                    lo / 2, hi * 3
                else printf "set yrange [0:%g]\n", hi * 1.15 }' "$1"
            echo "plot '$1.dat' using 0:2:3:xtic(1) with boxes lc rgb variable, \\"
            echo "     '' using 0:2:4 with labels offset 0,0.8 font ',10'"
        } >"$tmp/plot.gp"
        if gnuplot "$tmp/plot.gp"; then
            echo "charts: wrote $2"
            drawn=$((drawn + 1))
        else
            echo "charts: gnuplot failed on $2" >&2
        fi
    }

    # name PEER [PREFIX]: how a peer is called on the charts (corio's servers: by backend)
    name() {
        case $1 in
        boost) echo Boost.Context ;;
        go) echo Go ;;
        node) echo Node.js ;;
        epoll) echo raw-epoll ;;
        corio-uring) echo corio-io_uring ;;
        corio) case $2 in echo* | http* | churn*) echo corio-epoll ;; *) echo corio ;; esac ;;
        *) echo "$1" ;;
        esac
    }
    # rows FILE PREFIX MODE PEER...: "name value" in FILE for every PEER whose RESULT PREFIX<PEER> was measured
    rows() {
        f=$1
        prefix=$2
        m=$3
        shift 3
        : >"$f"
        for p; do
            v=$(best "$dir/results.txt" "$prefix$p" "$m")
            [ -n "$v" ] && echo "$(name "$p" "$prefix") $v" >>"$f"
        done
        return 0
    }

    rows "$tmp/switch" switch_ min corio boost
    peer_bars "$tmp/switch" "$outdir/compare-switch.png" \
        "One-way context switch ($day$quick; lower is better)" "ns per switch" ns
    rows "$tmp/spawn" spawn_ min corio boost go node asyncio uvloop
    peer_bars "$tmp/spawn" "$outdir/compare-spawn.png" \
        "Spawn + run + await an empty task, one at a time ($day$quick; lower is better)" "ns per task (log scale)" ns
    n=$(meta tasks)
    rows "$tmp/rss.abs" tasks_rss_ min corio corio-compact boost go node asyncio uvloop
    awk -v n="${n:-1}" '{ printf "%s %.0f\n", $1, $2 / n }' "$tmp/rss.abs" >"$tmp/rss"
    peer_bars "$tmp/rss" "$outdir/compare-rss.png" \
        "${n:-N} tasks asleep at once: peak RSS / N ($day$quick; lower is better)" "bytes per task" B
    rows "$tmp/gather" gather_ min corio corio-compact go node asyncio uvloop
    peer_bars "$tmp/gather" "$outdir/compare-gather.png" \
        "Spawn and gather $(meta gather) tasks sleeping 1 s: wall time ($day$quick; lower is better)" seconds s
    rows "$tmp/echo" echo_ max corio corio-uring libuv epoll go node asyncio uvloop
    peer_bars "$tmp/echo" "$outdir/compare-echo.png" \
        "Echo ping-pong, 64 B, $(meta conns) connections, one server core ($day$quick; higher is better)" \
        "round trips per second" ""
    rows "$tmp/echo1000" echo1000_ max corio-uring corio libuv epoll
    peer_bars "$tmp/echo1000" "$outdir/compare-echo1000.png" \
        "Echo ping-pong, 64 B, $(meta conns_high) connections, one server core ($day$quick; higher is better)" \
        "round trips per second" ""
    rows "$tmp/http" http_ max corio corio-uring nginx go node asyncio uvloop
    peer_bars "$tmp/http" "$outdir/compare-http.png" \
        "HTTP hello, wrk 100 connections, one server core ($day$quick; higher is better)" "requests per second" ""
    rows "$tmp/httpcpu" http_eff_ max corio corio-uring nginx go node asyncio uvloop
    peer_bars "$tmp/httpcpu" "$outdir/compare-http-cpu.png" \
        "HTTP hello under wrk: requests per second of server CPU ($day$quick; higher is better)" \
        "requests per server CPU-second" ""
    rows "$tmp/churncpu" churn_eff_ max corio corio-uring nginx go node asyncio uvloop
    peer_bars "$tmp/churncpu" "$outdir/compare-churn-cpu.png" \
        "A connection per request (wrk, Connection: close), per server CPU-second ($day$quick; higher is better)" \
        "connections per server CPU-second" ""
    [ $drawn -gt 0 ] || echo "charts: no figures to draw in $dir/results.txt"
    exit 0
fi

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
