/* test_scope.c - tests of cancel scopes (corio_scope_*) as corio.h specifies them, after Trio's test_cancel_scope
 * cases: cancellation is level-triggered per scope and caught by its exit, corio_cancel reaches the outermost scope
 * and not past a shield, a shield with a deadline bounds cleanup, a shielded task can await the child it cancelled,
 * deadlines that move while the owner waits, scopes cancelled from other tasks, and bad arguments. */
#include "test.h"

static void run_ok(corio_fn fn, void *arg) { ASSERT_RC(corio_run(fn, arg), 0); }

static int main_cancel_own_scope(void *arg) {
    (void)arg;
    corio_scope s;
    ASSERT_RC(corio_scope_enter(&s, -1, 0), 0);
    ASSERT_RC(corio_scope_cancelled(&s), 0);
    ASSERT_RC(corio_scope_cancel(&s), 0);
    ASSERT_RC(corio_scope_cancel(&s), 0); /* idempotent */
    ASSERT_RC(corio_scope_cancelled(&s), 1);
    /* level-triggered: every wait inside fails, again and again */
    for (int i = 0; i < 3; i++) {
        ASSERT_RC(corio_sleep(1000), -ECANCELED);
        ASSERT_RC(corio_yield(), -ECANCELED);
        ASSERT_RC(corio_checkpoint(), -ECANCELED);
    }
    ASSERT_RC(corio_scope_exit(&s), -ECANCELED);
    /* caught by the exit: the task goes on normally */
    ASSERT_RC(corio_sleep(1), 0);
    ASSERT_RC(corio_checkpoint(), 0);
    return 0;
}
TEST(scope_cancel_fails_waits_inside_and_exit_catches_it) { run_ok(main_cancel_own_scope, NULL); }

struct remote {
    corio_scope *s;
    int64_t after_ms;
    int64_t deadline_ms; /* for set_deadline; INT64_MIN: cancel instead */
    int rc;
};
static int remote_fn(void *arg) {
    struct remote *r = arg;
    ASSERT_RC(corio_sleep(r->after_ms), 0);
    r->rc = r->deadline_ms == INT64_MIN ? corio_scope_cancel(r->s) : corio_scope_set_deadline(r->s, r->deadline_ms);
    return 0;
}

static int main_cancel_from_other_task(void *arg) {
    (void)arg;
    corio_scope outer, inner;
    ASSERT_RC(corio_scope_enter(&outer, -1, 0), 0);
    ASSERT_RC(corio_scope_enter(&inner, -1, 0), 0);
    struct remote r = {.s = &inner, .after_ms = 20, .deadline_ms = INT64_MIN, .rc = 1};
    corio_task *t = test_spawn(remote_fn, &r);
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_sleep(10000), -ECANCELED);
    ASSERT_LT(test_now_ms() - t0, test_bound_ms(2000));
    ASSERT_RC(r.rc, 0);
    ASSERT_RC(corio_scope_exit(&inner), -ECANCELED);
    /* the outer scope was not cancelled: waits work again, and it exits cleanly */
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(corio_sleep(1), 0);
    ASSERT_RC(corio_scope_exit(&outer), 0);
    ASSERT_RC(corio_scope_cancel(&inner), -EINVAL); /* closed */
    return 0;
}
TEST(scope_cancelled_by_another_task_wakes_the_owner) { run_ok(main_cancel_from_other_task, NULL); }

/* A task that, once cancelled, cleans up inside a shield: its shielded waits complete, and the cancellation shows
 * again at its first wait after the shield. */
struct cleaner {
    int64_t cleanup_ms;
    int64_t shield_ms; /* the shield's deadline, -1 none */
    int first_rc, cleanup_rc, exit_rc, after_rc;
    int64_t cleanup_took;
};
static int cleaner_fn(void *arg) {
    struct cleaner *c = arg;
    c->first_rc = corio_sleep(10000);
    corio_scope shield;
    ASSERT_RC(corio_scope_enter(&shield, c->shield_ms, CORIO_SCOPE_SHIELD), 0);
    int64_t t0 = test_now_ms();
    c->cleanup_rc = corio_sleep(c->cleanup_ms);
    c->cleanup_took = test_now_ms() - t0;
    c->exit_rc = corio_scope_exit(&shield);
    c->after_rc = corio_yield();
    return c->first_rc;
}

static int main_shield_lets_cleanup_wait(void *arg) {
    (void)arg;
    struct cleaner c = {.cleanup_ms = 50, .shield_ms = -1};
    corio_task *t = test_spawn(cleaner_fn, &c);
    ASSERT_RC(corio_sleep(10), 0);
    ASSERT_RC(corio_cancel(t), 0);
    ASSERT_RC(corio_await(t), -ECANCELED);
    ASSERT_RC(c.first_rc, -ECANCELED);
    ASSERT_RC(c.cleanup_rc, 0);
    ASSERT_GE(c.cleanup_took, 49);
    ASSERT_RC(c.exit_rc, 0);
    ASSERT_RC(c.after_rc, -ECANCELED); /* sticky for the task */
    return 0;
}
TEST(shield_lets_a_cancelled_task_clean_up) { run_ok(main_shield_lets_cleanup_wait, NULL); }

static int main_shield_deadline_bounds_cleanup(void *arg) {
    (void)arg;
    struct cleaner c = {.cleanup_ms = 10000, .shield_ms = 40};
    corio_task *t = test_spawn(cleaner_fn, &c);
    ASSERT_RC(corio_sleep(10), 0);
    ASSERT_RC(corio_cancel(t), 0);
    ASSERT_RC(corio_await(t), -ECANCELED);
    ASSERT_RC(c.cleanup_rc, -ETIMEDOUT);
    ASSERT_GE(c.cleanup_took, 39);
    ASSERT_LT(c.cleanup_took, test_bound_ms(2000));
    ASSERT_RC(c.exit_rc, -ETIMEDOUT);
    ASSERT_RC(c.after_rc, -ECANCELED);
    return 0;
}
TEST(shield_with_deadline_bounds_cleanup) { run_ok(main_shield_deadline_bounds_cleanup, NULL); }

/* corio_cancel while the task already sits in its shield: nothing until the shield closes. The shielded wait is
 * for an event the canceller sets afterwards, so the cancel surely comes while the task is inside (a timed wait
 * could end first on a loaded machine). */
struct shielded {
    corio_event *ev;
    int rc[3];
};
static int shielded_sleeper(void *arg) {
    struct shielded *sh = arg;
    corio_scope shield;
    ASSERT_RC(corio_scope_enter(&shield, -1, CORIO_SCOPE_SHIELD), 0);
    sh->rc[0] = corio_event_wait(sh->ev);
    sh->rc[1] = corio_scope_exit(&shield);
    sh->rc[2] = corio_sleep(10000);
    return 0;
}
static int main_cancel_inside_shield(void *arg) {
    (void)arg;
    struct shielded sh = {.ev = corio_event_new(), .rc = {1, 1, 1}};
    ASSERT_NOT_NULL(sh.ev);
    corio_task *t = test_spawn(shielded_sleeper, &sh);
    ASSERT_RC(corio_sleep(10), 0);
    ASSERT_RC(corio_cancel(t), 0);
    ASSERT_RC(corio_sleep(20), 0);
    ASSERT_RC(sh.rc[0], 1); /* still waiting, shielded */
    corio_event_set(sh.ev);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(sh.rc[0], 0);
    ASSERT_RC(sh.rc[1], 0);
    ASSERT_RC(sh.rc[2], -ECANCELED);
    ASSERT_RC(corio_event_free(sh.ev), 0);
    return 0;
}
TEST(cancel_reaches_a_shielded_task_when_the_shield_closes) { run_ok(main_cancel_inside_shield, NULL); }

/* The outer deadline does not reach inside a shield; it does again once the shield is closed. */
static int main_shield_blocks_outer_deadline(void *arg) {
    (void)arg;
    corio_timeout outer;
    corio_scope shield;
    ASSERT_RC(corio_timeout_enter(&outer, 20), 0);
    ASSERT_RC(corio_scope_enter(&shield, -1, CORIO_SCOPE_SHIELD), 0);
    ASSERT_RC(corio_sleep(60), 0);
    ASSERT_RC(corio_scope_exit(&shield), 0);
    ASSERT_RC(corio_sleep(1000), -ETIMEDOUT);
    ASSERT_RC(corio_timeout_exit(&outer), -ETIMEDOUT);
    /* a scope cancelled from outside the shield: the same */
    corio_scope s;
    ASSERT_RC(corio_scope_enter(&s, -1, 0), 0);
    ASSERT_RC(corio_scope_enter(&shield, -1, CORIO_SCOPE_SHIELD), 0);
    ASSERT_RC(corio_scope_cancel(&s), 0);
    ASSERT_RC(corio_sleep(5), 0);
    ASSERT_RC(corio_scope_cancel(&shield), 0); /* the shield's own cancel applies inside it */
    ASSERT_RC(corio_sleep(5), -ECANCELED);
    ASSERT_RC(corio_scope_exit(&shield), -ECANCELED);
    ASSERT_RC(corio_sleep(5), -ECANCELED); /* s is still cancelled */
    ASSERT_RC(corio_scope_exit(&s), -ECANCELED);
    ASSERT_RC(corio_sleep(1), 0);
    return 0;
}
TEST(shield_keeps_out_outer_deadlines_and_cancels) { run_ok(main_shield_blocks_outer_deadline, NULL); }

/* The cleanup the issue asked for: a cancelled parent cancels its child and, shielded, waits for it to end before
 * freeing what the child uses. */
struct child {
    int *buf;
    int cleaned;
};
static int child_fn(void *arg) {
    struct child *c = arg;
    int rc = corio_sleep(10000);
    corio_scope shield;
    ASSERT_RC(corio_scope_enter(&shield, 1000, CORIO_SCOPE_SHIELD), 0);
    ASSERT_RC(corio_sleep(30), 0); /* cleanup that takes time and still uses buf */
    c->buf[0] = 7;
    c->cleaned = 1;
    ASSERT_RC(corio_scope_exit(&shield), 0);
    return rc;
}
static int parent_fn(void *arg) {
    int *await_rc = arg;
    struct child c = {.buf = malloc(sizeof(int))};
    ASSERT_NOT_NULL(c.buf);
    corio_task *t = test_spawn(child_fn, &c);
    int rc = corio_sleep(10000); /* cancelled here */
    corio_scope shield;
    ASSERT_RC(corio_scope_enter(&shield, -1, CORIO_SCOPE_SHIELD), 0);
    ASSERT_RC(corio_cancel(t), 0);
    *await_rc = corio_await(t); /* waits for the child's end, cancelled as the parent is */
    ASSERT_RC(corio_scope_exit(&shield), 0);
    ASSERT_EQ(c.cleaned, 1);
    free(c.buf);
    return rc;
}
static int main_shielded_await(void *arg) {
    (void)arg;
    int await_rc = 1;
    corio_task *p = test_spawn(parent_fn, &await_rc);
    ASSERT_RC(corio_sleep(10), 0);
    ASSERT_RC(corio_cancel(p), 0);
    ASSERT_RC(corio_await(p), -ECANCELED);
    ASSERT_RC(await_rc, -ECANCELED);
    return 0;
}
TEST(shielded_parent_awaits_the_child_it_cancelled) { run_ok(main_shielded_await, NULL); }

static int main_deadline_moves_while_waiting(void *arg) {
    (void)arg;
    corio_scope s;
    /* extended from 40 ms to 2 s while the owner sleeps 150 ms: the sleep completes */
    ASSERT_RC(corio_scope_enter(&s, 40, 0), 0);
    struct remote r = {.s = &s, .after_ms = 10, .deadline_ms = 2000, .rc = 1};
    corio_task *t = test_spawn(remote_fn, &r);
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_sleep(150), 0);
    ASSERT_GE(test_now_ms() - t0, 149);
    ASSERT_RC(r.rc, 0);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(corio_scope_exit(&s), 0);
    /* brought in from none to 30 ms while the owner sleeps 10 s */
    ASSERT_RC(corio_scope_enter(&s, -1, 0), 0);
    r = (struct remote){.s = &s, .after_ms = 10, .deadline_ms = 30, .rc = 1};
    t = test_spawn(remote_fn, &r);
    t0 = test_now_ms();
    ASSERT_RC(corio_sleep(10000), -ETIMEDOUT);
    ASSERT_GE(test_now_ms() - t0, 35);
    ASSERT_LT(test_now_ms() - t0, test_bound_ms(2000));
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(corio_scope_exit(&s), -ETIMEDOUT);
    /* an expired scope stays expired; removing the deadline of a live one lets waits run */
    ASSERT_RC(corio_scope_enter(&s, 0, 0), 0);
    ASSERT_RC(corio_scope_set_deadline(&s, -1), 0);
    ASSERT_RC(corio_sleep(1), -ETIMEDOUT);
    ASSERT_RC(corio_scope_exit(&s), -ETIMEDOUT);
    ASSERT_RC(corio_scope_enter(&s, 10, 0), 0);
    ASSERT_RC(corio_scope_set_deadline(&s, -1), 0);
    ASSERT_RC(corio_sleep(30), 0);
    ASSERT_RC(corio_scope_exit(&s), 0);
    return 0;
}
TEST(scope_deadline_moves_while_the_owner_waits) { run_ok(main_deadline_moves_while_waiting, NULL); }

/* Exit reports its own scope only, cancel before expiry; outer expiry is the outer exit's to report. */
static int main_exit_codes(void *arg) {
    (void)arg;
    corio_scope outer, inner;
    ASSERT_RC(corio_scope_enter(&outer, 10, 0), 0);
    ASSERT_RC(corio_scope_enter(&inner, 1000, 0), 0);
    ASSERT_RC(corio_sleep(100), -ETIMEDOUT);
    ASSERT_RC(corio_scope_exit(&inner), 0);
    ASSERT_RC(corio_scope_exit(&outer), -ETIMEDOUT);
    ASSERT_RC(corio_scope_enter(&outer, 5, 0), 0);
    ASSERT_RC(corio_sleep(20), -ETIMEDOUT);
    ASSERT_RC(corio_scope_cancel(&outer), 0);
    ASSERT_RC(corio_scope_exit(&outer), -ECANCELED);
    return 0;
}
TEST(scope_exit_reports_its_own_scope) { run_ok(main_exit_codes, NULL); }

static int compact_owner(void *arg) {
    corio_scope **where = arg;
    corio_scope s;
    ASSERT_RC(corio_scope_enter(&s, -1, 0), 0);
    *where = &s;
    int rc = corio_sleep(50);
    *where = NULL;
    ASSERT_RC(corio_scope_cancel(&s), 0); /* its own scope, while it runs */
    ASSERT_RC(corio_sleep(1), -ECANCELED);
    ASSERT_RC(corio_scope_exit(&s), -ECANCELED);
    return rc;
}
static int main_bad_arguments(void *arg) {
    (void)arg;
    corio_scope s, t;
    ASSERT_RC(corio_scope_enter(NULL, 10, 0), -EINVAL);
    ASSERT_RC(corio_scope_enter(&s, 10, 2), -EINVAL);
    ASSERT_RC(corio_scope_cancel(NULL), -EINVAL);
    ASSERT_RC(corio_scope_set_deadline(NULL, 1), -EINVAL);
    ASSERT_RC(corio_scope_cancelled(NULL), -EINVAL);
    ASSERT_RC(corio_scope_exit(NULL), -EINVAL);
    ASSERT_RC(corio_scope_enter(&s, -1, 0), 0);
    ASSERT_RC(corio_scope_enter(&s, -1, 0), -EINVAL); /* already open */
    ASSERT_RC(corio_scope_enter(&t, -1, CORIO_SCOPE_SHIELD), 0);
    ASSERT_RC(corio_scope_exit(&s), -EINVAL); /* not the innermost: nothing closed */
    ASSERT_RC(corio_scope_exit(&t), 0);
    ASSERT_RC(corio_scope_exit(&s), 0);
    ASSERT_RC(corio_scope_exit(&s), -EINVAL);
    ASSERT_RC(corio_sleep(1), 0);
    /* a compact task's scope lies on the shared stack: other tasks may not reach it */
    corio_scope *where = NULL;
    corio_task_opts o = {.compact = 1};
    corio_task *c = corio_spawn_opts(compact_owner, &where, &o);
    ASSERT_NOT_NULL(c);
    ASSERT_RC(corio_sleep(10), 0);
    if (where) { /* NULL where compact tasks are not supported (they run as ordinary ones) */
        ASSERT_RC(corio_scope_cancel(where), -EPERM);
        ASSERT_RC(corio_scope_set_deadline(where, 1), -EPERM);
    }
    ASSERT_RC(corio_await(c), 0);
    return 0;
}
TEST(scope_bad_arguments) {
    corio_scope s;
    ASSERT_RC(corio_scope_enter(&s, 10, 0), -EPERM);
    ASSERT_RC(corio_scope_exit(&s), -EPERM);
    run_ok(main_bad_arguments, NULL);
}

/* A storm: many tasks in nested scopes and shields, cancelled at random points; every task ends and every scope
 * exit matches what was done to it. */
struct stormer {
    unsigned seed;
    corio_scope *open;
    int done;
};
static int stormer_fn(void *arg) {
    struct stormer *st = arg;
    corio_scope a, b;
    ASSERT_RC(corio_scope_enter(&a, (int64_t)(st->seed % 7), 0), 0);
    st->open = &a;
    (void)corio_sleep((int64_t)(st->seed % 5));
    ASSERT_RC(corio_scope_enter(&b, (int64_t)(st->seed % 11), st->seed % 2 ? CORIO_SCOPE_SHIELD : 0), 0);
    (void)corio_sleep((int64_t)(st->seed % 3));
    int rb = corio_scope_exit(&b);
    ASSERT_TRUE(rb == 0 || rb == -ETIMEDOUT);
    st->open = NULL;
    int ra = corio_scope_exit(&a);
    ASSERT_TRUE(ra == 0 || ra == -ETIMEDOUT || ra == -ECANCELED);
    st->done = 1;
    return 0;
}
static int main_storm(void *arg) {
    (void)arg;
    enum { N = 300 };
    static struct stormer st[N];
    corio_task *t[N];
    for (int i = 0; i < N; i++) {
        st[i] = (struct stormer){.seed = (unsigned)i * 2654435761U};
        t[i] = test_spawn(stormer_fn, &st[i]);
    }
    for (int round = 0; round < 20; round++) {
        for (int i = round % 3; i < N; i += 3) {
            if (st[i].open) ASSERT_RC(corio_scope_cancel(st[i].open), 0);
            if (i % 5 == 0 && !corio_task_done(t[i])) (void)corio_cancel(t[i]);
        }
        (void)corio_sleep(1);
    }
    int statuses[N];
    ASSERT_RC(corio_gather(t, N, statuses), 0);
    for (int i = 0; i < N; i++) ASSERT_EQ(st[i].done, 1);
    return 0;
}
TEST(scope_cancellation_storm) { run_ok(main_storm, NULL); }

/* Trio's test_cancel_inheritance: cancelling a group reaches its children's groups' children at once. */
static int leaf(void *arg) {
    int *record = arg;
    if (corio_sleep(100000) == -ECANCELED) ++*record;
    return 0;
}
static int worker(void *arg) {
    corio_group *g = corio_group_new();
    ASSERT_NOT_NULL(g);
    ASSERT_RC(corio_group_spawn(g, leaf, arg), 0);
    ASSERT_RC(corio_group_spawn(g, leaf, arg), 0);
    return corio_group_wait(g);
}
static int main_inheritance(void *arg) {
    (void)arg;
    int record = 0;
    corio_group *g = corio_group_new();
    ASSERT_NOT_NULL(g);
    ASSERT_RC(corio_group_spawn(g, worker, &record), 0);
    ASSERT_RC(corio_group_spawn(g, worker, &record), 0);
    test_settle();
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_group_cancel(g), 0);
    ASSERT_RC(corio_group_wait(g), 0);
    ASSERT_LT(test_now_ms() - t0, test_bound_ms(1000));
    ASSERT_EQ(record, 4);
    return 0;
}
TEST(scope_group_cancel_reaches_grandchildren) { run_ok(main_inheritance, NULL); }

/* Trio's test_cancel_shielding and test_cancel_scope_nesting, with a shield opened rather than switched on: an
 * outer cancel is kept out, a scope inside the shield is not, and a cancel popped off with its scope is gone. */
static int main_trio_shielding(void *arg) {
    (void)arg;
    corio_scope outer, inner, innerest, shield;
    ASSERT_RC(corio_scope_enter(&outer, -1, 0), 0);
    ASSERT_RC(corio_scope_enter(&inner, -1, 0), 0);
    ASSERT_RC(corio_checkpoint(), 0);
    ASSERT_RC(corio_scope_cancel(&outer), 0);
    ASSERT_RC(corio_checkpoint(), -ECANCELED);
    ASSERT_RC(corio_scope_enter(&shield, -1, CORIO_SCOPE_SHIELD), 0);
    ASSERT_RC(corio_checkpoint(), 0);
    ASSERT_RC(corio_scope_enter(&innerest, -1, 0), 0);
    ASSERT_RC(corio_scope_cancel(&innerest), 0);
    ASSERT_RC(corio_checkpoint(), -ECANCELED);
    ASSERT_RC(corio_scope_exit(&innerest), -ECANCELED);
    ASSERT_RC(corio_checkpoint(), 0);
    ASSERT_RC(corio_scope_exit(&shield), 0);
    ASSERT_RC(corio_yield(), -ECANCELED); /* unshielded again */
    ASSERT_RC(corio_scope_exit(&inner), 0);
    ASSERT_RC(corio_scope_exit(&outer), -ECANCELED);
    ASSERT_RC(corio_yield(), 0);
    return 0;
}
TEST(scope_trio_shielding) { run_ok(main_trio_shielding, NULL); }

/* Scopes reach every wait kind: a read (both backends' paths), a channel receive, a pool job. A cancelled scope
 * ends the read with nothing lost; a shield lets a pool job's wait finish though the task is cancelled. */
#include <sys/socket.h>
#include <unistd.h>

struct reader_in_scope {
    int fd;
    corio_scope *scope;
    ssize_t first, second;
    char buf[4];
};
static int reader_in_scope_fn(void *arg) {
    struct reader_in_scope *r = arg;
    corio_scope s;
    ASSERT_RC(corio_scope_enter(&s, -1, 0), 0);
    r->scope = &s;
    r->first = corio_read(r->fd, r->buf, sizeof r->buf);
    r->scope = NULL;
    ASSERT_RC(corio_scope_exit(&s), -ECANCELED);
    r->second = corio_read(r->fd, r->buf, sizeof r->buf); /* outside it, the read waits for the bytes */
    return 0;
}
static int slow_job(void *arg) {
    (void)arg;
    usleep(50000);
    return 9;
}
static int shielded_job(void *arg) {
    int *rc = arg;
    (void)corio_sleep(10000); /* cancelled here */
    corio_scope shield;
    ASSERT_RC(corio_scope_enter(&shield, 5000, CORIO_SCOPE_SHIELD), 0);
    *rc = corio_to_thread(slow_job, NULL);
    ASSERT_RC(corio_scope_exit(&shield), 0);
    return 0;
}
static int main_wait_kinds(void *arg) {
    (void)arg;
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    struct reader_in_scope r = {.fd = sv[0], .first = 1, .second = 1};
    corio_task *t = test_spawn(reader_in_scope_fn, &r);
    test_settle();
    ASSERT_NOT_NULL(r.scope);
    ASSERT_RC(corio_scope_cancel(r.scope), 0);
    ASSERT_RC(corio_sleep(20), 0); /* on io_uring the kernel confirms the receive's cancel at a loop turn */
    ASSERT_EQ(r.first, -ECANCELED);
    ASSERT_EQ(write(sv[1], "abc", 3), 3);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_EQ(r.second, 3);
    ASSERT_EQ(memcmp(r.buf, "abc", 3), 0);
    int job_rc = 0;
    t = test_spawn(shielded_job, &job_rc);
    test_settle();
    ASSERT_RC(corio_cancel(t), 0);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_EQ(job_rc, 9);
    ASSERT_RC(corio_close(sv[0]), 0);
    close(sv[1]);
    return 0;
}
TEST(scope_reaches_reads_and_shields_pool_jobs) {
    ASSERT_RC(corio_run(main_wait_kinds, NULL), 0);
    setenv("CORIO_BACKEND", "epoll", 1);
    ASSERT_RC(corio_run(main_wait_kinds, NULL), 0);
}
