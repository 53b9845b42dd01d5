#!/bin/sh
# mutate.sh - a small mutation run: plants each bug of a list, one at a time, in a copy of the tree, builds the
# library and the tests there and runs the test cases against it; a mutation that no case catches survived.
#
# Not part of `make test`: it builds and runs the tests once per mutation (docs/reliability.md, "Mutation run",
# has the last run's figures). From the top of the tree:
#   tools/mutate.sh                          every built-in mutation (MUTATIONS below) against DEFAULT_TESTS, counting
#                                            the cases that catch each (~12 min on 2 busy cores)
#   tools/mutate.sh -q                       stop each mutation at the first case that catches it (~3 min): a gate
#   tools/mutate.sh -m 'heap-lifo lock-lifo' only the mutations named
#   tools/mutate.sh -t 'test_task test_lock' only these test binaries (-t all: every core test but the soak)
#   tools/mutate.sh -s 1000                  leave out cases that took over 1000 ms on the unmutated copy
#   tools/mutate.sh -l FILE                  the mutations in FILE instead, one a line: name, file, sed expression and
#                                            (optional) the test binaries to try first, separated by tabs
#   tools/mutate.sh -f tests/test_task.c     the work tree's copy of a file instead of the commit's (repeatable: for
#                                            tests not committed yet)
#   tools/mutate.sh -k                       keep the copy afterwards
# It exits 0 only if every mutation was applied, built and caught.
#
# The copy is `git archive HEAD` (CORIO_MUT_REV=<rev> for another commit) in $CORIO_MUT_DIR (default
# /tmp/corio-mut.<pid>): neither the work tree nor its index is touched. One build directory in the copy serves every
# mutation: make rebuilds the library objects the mutated file touches, and the tests, compiled once, are only
# relinked (with the commands make itself would run). Each case runs alone (`test_x NAME`) under a limit of 5 s plus
# four times what it took on the unmutated copy, so a mutation that hangs a case costs seconds, not the case's own
# alarm; a timeout or a crash counts as caught. Cases that fail on the unmutated copy are named and left out. The
# output ends with a Markdown table: each mutation and how many cases caught it (with -q: the first that did).
set -u

# name<TAB>file<TAB>sed expression (sed -e on that file; it must change it)<TAB>test binaries to try first (for -q)
MUTATIONS='cached-clock	src/internal.h	s/int64_t now = corio__update_now(l);/int64_t now = l->now_ns;/	test_timeout
ready-lifo	src/internal.h	/corio__make_ready(corio__loop \*l, corio_task \*t) {/,/^}/s/t->next_ready = NULL;/t->next_ready = l->ready_head; l->ready_head = t; if (!l->ready_tail) l->ready_tail = t; l->nready++; return;/	test_task
heap-lifo	src/heap.c	s/(int32_t)(a->seq - b->seq) < 0/(int32_t)(a->seq - b->seq) > 0/	test_heap test_timeout
cancel-wakes-with-0	src/sched.c	s/!t->shielded) corio__wake(l, t, -ECANCELED);/!t->shielded) corio__wake(l, t, 0);/	test_task
wait-for-no-deadline	src/task.c	s/corio__park(l, NULL, corio__deadline_after(l, ms), false)/corio__park(l, NULL, CORIO__INF, false)/	test_task
wait-for-half-deadline	src/task.c	s/corio__park(l, NULL, corio__deadline_after(l, ms), false)/corio__park(l, NULL, corio__deadline_after(l, ms \/ 2), false)/	test_task
gather-last-failure	src/gather.c	s/ts\[i\]->end_seq < first->end_seq/ts[i]->end_seq > first->end_seq/	test_gather
lock-lifo	src/sync.c	s/set_owner(lk, corio__first_waiter(&lk->waiters));/set_owner(lk, corio__list_empty(\&lk->waiters) ? NULL : corio__container_of(lk->waiters.prev, corio_task, wnode));/	test_lock
lock-no-handover	src/sync.c	s/set_owner(lk, corio__first_waiter(&lk->waiters));/corio_task *w_ = corio__first_waiter(\&lk->waiters); set_owner(lk, NULL); if (w_) corio__wake_waiter(w_, 0); return 0;/	test_lock
queue-close-getters-0	src/queue.c	s/corio__first_waiter(&q->getters))) corio__wake_waiter(t, -EPIPE)/corio__first_waiter(\&q->getters))) corio__wake_waiter(t, 0)/	test_queue
read-line-boundary	src/stream.c	s/if (len > limit) return -EMSGSIZE;/if (len >= limit) return -EMSGSIZE;/	test_stream
conn-limit	src/server.c	s/if (srv->nconns >= srv->max_conns) {/if (srv->nconns > srv->max_conns) {/	test_server
shield-not-counted	src/scope.c	s/count_shield(s, -\{0,1\}1);/count_shield(s, 0);/	test_scope
select-start-0	src/select.c	s/try_all(cases, n, pick(n))/try_all(cases, n, pick(n) * 0)/g	test_select
group-cancel-is-failure	src/group.c	s/if (t->status < 0 && !(t->status == -ECANCELED && t->cancel_req)) {/if (t->status < 0) {/	test_group
dump-cancel-marker	src/dump.c	s/(t->cancelled || t->cancel_req) && t->state/t->cancelled \&\& t->state/	test_dump
future-wait-unlabelled	src/future.c	s/corio__wait_on(self, CORIO__WAIT_FUTURE, f);/(void)0;/	test_future test_dump
detached-not-freed	src/sched.c	/} else if (t->detached) {/,/}/s/l->zombie = t;/(void)0;/	test_debug test_dump
debug-reports-main	src/loop.c	s/if (t == l->main) continue;/(void)0;/	test_debug'

# the scheduler, its timers and sync objects, dumps and debug reports, streams and the server: ~30 s a run
DEFAULT_TESTS='test_task test_timeout test_scope test_select test_group test_gather test_lock test_sem test_queue
test_event test_cond test_future test_barrier test_dump test_debug test_heap test_stream test_server'

top=$(git rev-parse --show-toplevel) || exit 2
rev=${CORIO_MUT_REV:-HEAD}
dir=${CORIO_MUT_DIR:-/tmp/corio-mut.$$}
only="" tests=$DEFAULT_TESTS slow=0 list="" overlay="" keep=0 quick=0
while getopts "qm:t:s:l:f:k" opt; do
    case $opt in
    q) quick=1 ;;
    m) only=$OPTARG ;;
    t) tests=$OPTARG ;;
    s) slow=$OPTARG ;;
    l) list=$(cat "$OPTARG") || exit 2 ;;
    f) overlay="$overlay $OPTARG" ;;
    k) keep=1 ;;
    *) sed -n '2,/^set -u/p' "$0" | sed '$d'; exit 2 ;;
    esac
done
[ -n "$list" ] && MUTATIONS=$list
if [ "$tests" = all ]; then
    tests=""
    for f in "$top"/tests/test_*.c; do
        t=$(basename "$f" .c)
        case $t in test_main | test_soak | test_pg | test_curl | test_tls | test_sqlite | test_install | test_gdb) ;;
        *) tests="$tests $t" ;; esac
    done
fi

t_start=$(date +%s)
tree=$dir/tree
B=build/mut
log=$dir/log
rm -rf "$dir"
mkdir -p "$tree" || exit 2
git -C "$top" archive "$rev" | tar -x -C "$tree" || exit 2
for f in $overlay; do cp "$top/$f" "$tree/$f" || exit 2; done
cleanup() { if [ $keep -eq 1 ]; then echo "copy kept in $dir"; else rm -rf "$dir"; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM

examples=""
case " $tests " in *" test_server "*) examples="$examples $B/examples/echo_server" ;; esac
case " $tests " in *" test_http "*) examples="$examples $B/examples/http_server" ;; esac

make_in_copy() { make -C "$tree" -j"${CORIO_MUT_JOBS:-2}" BUILD=$B "$@" </dev/null >>"$log" 2>&1; }

# Each test is compiled once, to objects, and then linked with the command make would link it with, so that a
# mutation costs a relink of the tests rather than a compile. make's own command is `CC FLAGS tests/T.c
# tests/test_main.c -o OUT LINK...`; a test whose command has another shape (none today) is left to make.
mkdir -p "$tree/$B/mutobj" "$tree/$B/tests"
relink=$dir/relink
: >"$relink"
remake=""
for t in $tests; do
    cmd=$(make -n -B -C "$tree" BUILD=$B "$B/tests/$t" 2>/dev/null | grep -e " -o $B/tests/$t " | tail -n 1)
    cflags=$(echo "$cmd" | sed -n "s# tests/$t\.c tests/test_main\.c -o $B/tests/$t .*##p")
    link=$(echo "$cmd" | sed -n "s#.* tests/$t\.c tests/test_main\.c -o $B/tests/$t ##p")
    if [ -n "$cflags" ]; then
        echo "$cflags -c tests/$t.c -o $B/mutobj/$t.o" >>"$dir/compile"
        echo "$cflags -c tests/test_main.c -o $B/mutobj/$t.main.o" >>"$dir/compile"
        echo "${cflags%% *} $B/mutobj/$t.o $B/mutobj/$t.main.o -o $B/tests/$t $link" >>"$relink"
    else
        remake="$remake $B/tests/$t"
    fi
done

# builds the copy: the library (and the examples, and any test left to make), then relinks the tests
build() {
    : >"$log"
    # shellcheck disable=SC2086 # lists of targets
    make_in_copy "$B/libcorio.a" $examples $remake || return 1
    (cd "$tree" && sh -e "$relink") >>"$log" 2>&1
}

echo "== unmutated copy of $rev: building"
: >"$log"
if ! make_in_copy "$B/libcorio.a" || ! (cd "$tree" && xargs -P "${CORIO_MUT_JOBS:-2}" -I{} sh -c {} <"$dir/compile") \
    >>"$log" 2>&1 || ! build; then
    tail -n 30 "$log"
    echo "the unmutated copy does not build"
    exit 1
fi

# one case alone, under a limit in seconds: 0 if it passed (the subshell keeps the shell's "Aborted" to itself)
run_case() {
    (
        cd "$tree" && BUILD=$B timeout -k 2 "$3" "$B/tests/$1" "$2" </dev/null >/dev/null 2>&1
        exit $?
    ) 2>/dev/null
}

# cases: "binary case limit" lines, from each binary's own run (its PASS lines give every name and time)
cases=$dir/cases
: >"$cases"
for t in $tests; do
    (cd "$tree" && BUILD=$B "$B/tests/$t" </dev/null 2>/dev/null) |
        sed -n 's/^\(PASS\|FAIL\) \([A-Za-z0-9_]*\).*/\1 \2 &/p' |
        while read -r verdict name line; do
            ms=$(echo "$line" | sed -n 's/.*(\([0-9]*\) ms)$/\1/p')
            if [ "$verdict" != PASS ]; then
                echo "   left out: $t $name fails unmutated"
            elif [ "$slow" -gt 0 ] && [ "${ms:-0}" -gt "$slow" ]; then
                echo "   left out: $t $name took $ms ms"
            else
                echo "$t $name $((5 + 4 * ${ms:-0} / 1000))" >>"$cases"
            fi
        done
done
# each case alone too: the single-case mode must pass before it can catch anything
good=$dir/good
: >"$good"
while read -r t name lim; do
    if run_case "$t" "$name" "$lim"; then
        echo "$t $name $lim" >>"$good"
    else
        echo "   left out: $t $name fails when run alone"
    fi
done <"$cases"
ncases=$(wc -l <"$good")
echo "   $ncases cases in $(echo "$tests" | wc -w) binaries, $(($(date +%s) - t_start)) s so far"

table=$dir/table
: >"$table"
echo "$MUTATIONS" | while IFS='	' read -r name file expr first; do
    [ -z "$name" ] && continue
    case "$name" in \#*) continue ;; esac
    if [ -n "$only" ] && ! echo " $only " | grep -q " $name "; then continue; fi
    t0=$(date +%s)
    cp "$tree/$file" "$dir/orig" || exit 2
    sed -e "$expr" "$dir/orig" >"$tree/$file"
    if cmp -s "$dir/orig" "$tree/$file"; then
        echo "== $name: NOT APPLIED (the expression changes nothing in $file)"
        echo "| \`$name\` | \`$file\` | not applied |" >>"$table"
        continue
    fi
    if ! build; then
        echo "== $name: does not build"
        grep -m 3 'error' "$log"
        echo "| \`$name\` | \`$file\` | does not build |" >>"$table"
        cp "$dir/orig" "$tree/$file"
        continue
    fi
    # the binaries named first, then the rest, each in its own order
    pat=$(echo "${first:-}" | sed 's/^ *//; s/ *$//; s/  */|/g')
    if [ -n "$pat" ]; then
        { grep -E "^($pat) " "$good"; grep -v -E "^($pat) " "$good"; } >"$dir/order"
    else
        cp "$good" "$dir/order"
    fi
    caught=""
    n=0
    while read -r t case_ lim; do
        if ! run_case "$t" "$case_" "$lim"; then
            caught="$caught $t:$case_"
            n=$((n + 1))
            [ $quick -eq 1 ] && break
        fi
    done <"$dir/order"
    cp "$dir/orig" "$tree/$file" # a fresh mtime: the next build redoes what this one changed
    secs=$(($(date +%s) - t0))
    if [ $n -eq 0 ]; then
        echo "== $name ($file): SURVIVED all $ncases cases ($secs s)"
        echo "| \`$name\` | \`$file\` | **survived** |" >>"$table"
    elif [ $quick -eq 1 ]; then
        echo "== $name ($file): caught by$caught ($secs s)"
        echo "| \`$name\` | \`$file\` | caught (first by \`${caught# }\`) |" >>"$table"
    else
        echo "== $name ($file): caught by $n of $ncases cases ($secs s)"
        for c in $caught; do echo "   $c"; done
        echo "| \`$name\` | \`$file\` | $n |" >>"$table"
    fi
done

echo
if [ $quick -eq 1 ]; then
    echo "| mutation | file | result |"
else
    echo "| mutation | file | cases that caught it (of $ncases) |"
fi
echo "|---|---|---|"
cat "$table"
echo
if grep -q 'survived' "$table"; then
    echo "survived: $(grep 'survived' "$table" | cut -d'`' -f2 | tr '\n' ' ')"
fi
echo "mutation run: $(($(date +%s) - t_start)) s"
! grep -q 'survived\|not applied\|does not build' "$table"
