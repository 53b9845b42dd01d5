#!/bin/sh
# pg_server.sh - a throwaway PostgreSQL server for tests/test_pg.c: `sh pg_server.sh PORT` makes a cluster in a
# fresh temporary directory (superuser "corio", password "secret": scram-sha-256 over TCP, trust on the Unix
# socket), starts it on 127.0.0.1:PORT, prints "ready" once it accepts connections (or "failed" and its log),
# then runs until its standard input reaches end of file - the test binary holds the other end, so however the
# test ends (exit, abort, SIGKILL) the server is stopped and the directory removed. postgres refuses to run as
# root: as root it runs as the "postgres" user, with SIGQUIT as its parent-death signal in case this script is
# killed outright.
port=$1
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bin/postgres" ] || bin=$(dirname "$(command -v postgres 2>/dev/null || echo /nonexistent/x)")
if [ -z "$port" ] || [ ! -x "$bin/postgres" ]; then
    echo "failed: usage: pg_server.sh PORT (and a PostgreSQL server installed)"
    exit 1
fi
dir=$(mktemp -d /tmp/corio-pg.XXXXXX) || exit 1
pid=
cleanup() {
    if [ -n "$pid" ]; then
        kill -QUIT "$pid" 2>/dev/null # immediate shutdown: the data is thrown away anyway
        for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM PIPE

run_as=
if [ "$(id -u)" = 0 ]; then
    chown postgres "$dir" || exit 1
    run_as="setpriv --reuid=postgres --regid=postgres --init-groups --pdeathsig=QUIT"
else
    run_as="setpriv --pdeathsig=QUIT"
fi
echo secret >"$dir/pw"
chmod 644 "$dir/pw"
if ! $run_as "$bin/initdb" -D "$dir/data" -U corio --pwfile="$dir/pw" --auth-local=trust \
    --auth-host=scram-sha-256 --no-locale -E UTF8 -N >"$dir/initdb.log" 2>&1; then
    echo "failed: initdb"
    cat "$dir/initdb.log"
    exit 1
fi
$run_as "$bin/postgres" -D "$dir/data" -p "$port" -k "$dir" -c listen_addresses=127.0.0.1 -c fsync=off \
    -c max_connections=150 -c shared_buffers=16MB >"$dir/server.log" 2>&1 </dev/null &
pid=$!
i=0
until "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -t 1; do
    i=$((i + 1))
    if [ $i -gt 300 ] || ! kill -0 "$pid" 2>/dev/null; then
        echo "failed: the server did not start"
        cat "$dir/server.log"
        exit 1
    fi
    sleep 0.1
done
echo ready
# until the test binary goes away
cat >/dev/null
