/* test_group.c - tests of task groups (corio_group_*) as corio.h specifies them: success, the first failure
 * cancelling the siblings the moment it happens, refusing new tasks once stopping, group_cancel, a cancelled
 * waiter, argument checks, and tasks that spawn into their own group. */
#include "test.h"

static void run_ok(corio_fn fn, void *arg) { ASSERT_RC(corio_run(fn, arg), 0); }

/* A task that sleeps ms (none at all if ms < 0), records what the sleep returned and when it ended; ends with
 * status unless the sleep failed, or with 0 regardless when swallow is set (a task that cleans up quietly). */
struct job {
    int64_t ms;
    int status;
    int swallow;
    int ran, ended;
    int rc;
    int64_t end_ms;
};
static int job_fn(void *arg) {
    struct job *j = arg;
    j->ran = 1;
    j->rc = j->ms >= 0 ? corio_sleep(j->ms) : 0;
    j->ended = 1;
    j->end_ms = test_now_ms();
    if (j->swallow) return 0;
    return j->rc < 0 ? j->rc : j->status;
}

static size_t live_tasks(void) {
    corio_stats st;
    ASSERT_RC(corio_stats_get(&st), 0);
    return st.tasks;
}

static int main_all_succeed(void *arg) {
    (void)arg;
    corio_group *g = corio_group_new();
    ASSERT_NOT_NULL(g);
    struct job j[5];
    for (int i = 0; i < 5; i++) {
        j[i] = (struct job){.ms = 5 * i};
        ASSERT_RC(corio_group_spawn(g, job_fn, &j[i]), 0);
    }
    ASSERT_EQ(live_tasks(), 6);
    ASSERT_RC(corio_group_wait(g), 0);
    for (int i = 0; i < 5; i++) {
        ASSERT_EQ(j[i].ended, 1);
        ASSERT_RC(j[i].rc, 0);
    }
    ASSERT_EQ(live_tasks(), 1);
    return 0;
}
TEST(group_all_succeed) { run_ok(main_all_succeed, NULL); }

static int main_failure_cancels(void *arg) {
    (void)arg;
    corio_group *g = corio_group_new();
    ASSERT_NOT_NULL(g);
    struct job sib[3] = {{.ms = 10000}, {.ms = 10000}, {.ms = 10000}};
    struct job bad = {.ms = 20, .status = -EIO};
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_group_spawn(g, job_fn, &sib[0]), 0);
    ASSERT_RC(corio_group_spawn(g, job_fn, &bad), 0);
    ASSERT_RC(corio_group_spawn(g, job_fn, &sib[1]), 0);
    ASSERT_RC(corio_group_spawn(g, job_fn, &sib[2]), 0);
    /* Not waiting yet: the failure must cancel the siblings and the body by itself, when it happens. */
    ASSERT_RC(corio_sleep(1500), -ECANCELED);
    ASSERT_LT(test_now_ms() - t0, 250);
    ASSERT_RC(corio_sleep(1), -ECANCELED); /* level-triggered until corio_group_wait closes the body */
    ASSERT_EQ(bad.ended, 1);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(sib[i].ended, 1);
        ASSERT_RC(sib[i].rc, -ECANCELED);
        ASSERT_LT(sib[i].end_ms - t0, 250);
    }
    /* The group is stopping: it refuses new tasks. */
    struct job late = {.ms = -1};
    ASSERT_RC(corio_group_spawn(g, job_fn, &late), -ECANCELED);
    ASSERT_RC(corio_group_wait(g), -EIO);
    ASSERT_EQ(late.ran, 0);
    ASSERT_LT(test_now_ms() - t0, 1000);
    ASSERT_EQ(live_tasks(), 1);
    return 0;
}
TEST(group_failure_cancels_siblings_when_it_happens) { run_ok(main_failure_cancels, NULL); }

static int main_failure_while_waiting(void *arg) {
    (void)arg;
    corio_group *g = corio_group_new();
    ASSERT_NOT_NULL(g);
    /* The failing task fails at once, before its later siblings ever started. */
    struct job j[4] = {{.ms = 10000}, {.ms = -1, .status = -EPIPE}, {.ms = 10000}, {.ms = 10000, .swallow = 1}};
    for (int i = 0; i < 4; i++) ASSERT_RC(corio_group_spawn(g, job_fn, &j[i]), 0);
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_group_wait(g), -EPIPE);
    ASSERT_LT(test_now_ms() - t0, 1000);
    ASSERT_RC(j[0].rc, -ECANCELED);
    ASSERT_RC(j[2].rc, -ECANCELED);
    ASSERT_RC(j[3].rc, -ECANCELED);
    ASSERT_EQ(live_tasks(), 1);
    return 0;
}
TEST(group_wait_returns_first_failure) { run_ok(main_failure_while_waiting, NULL); }

static int main_group_cancel(void *arg) {
    (void)arg;
    corio_group *g = corio_group_new();
    ASSERT_NOT_NULL(g);
    /* Two started and asleep, one not yet started when the cancel comes; all clean up and return 0. */
    struct job j[3] = {{.ms = 10000, .swallow = 1}, {.ms = 10000, .swallow = 1}, {.ms = 10000, .swallow = 1}};
    ASSERT_RC(corio_group_spawn(g, job_fn, &j[0]), 0);
    ASSERT_RC(corio_group_spawn(g, job_fn, &j[1]), 0);
    ASSERT_RC(corio_yield(), 0);
    ASSERT_RC(corio_group_spawn(g, job_fn, &j[2]), 0);
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_group_cancel(g), 0);
    ASSERT_RC(corio_group_cancel(g), 0);
    struct job late = {.ms = -1};
    ASSERT_RC(corio_group_spawn(g, job_fn, &late), -ECANCELED);
    ASSERT_RC(corio_group_wait(g), 0);
    ASSERT_LT(test_now_ms() - t0, 1000);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(j[i].ended, 1);
        ASSERT_RC(j[i].rc, -ECANCELED);
    }
    ASSERT_EQ(late.ran, 0);
    ASSERT_EQ(live_tasks(), 1);
    ASSERT_RC(corio_group_cancel(NULL), -EINVAL);
    return 0;
}
TEST(group_cancel) { run_ok(main_group_cancel, NULL); }

struct waiter {
    struct job j[3];
    int rc;
};
static int waiter_fn(void *arg) {
    struct waiter *w = arg;
    corio_group *g = corio_group_new();
    ASSERT_NOT_NULL(g);
    for (int i = 0; i < 3; i++) ASSERT_RC(corio_group_spawn(g, job_fn, &w->j[i]), 0);
    w->rc = corio_group_wait(g);
    return w->rc;
}
static int main_waiter_cancelled(void *arg) {
    (void)arg;
    struct waiter w = {.j = {{.ms = 10000}, {.ms = 10000}, {.ms = 10000, .swallow = 1}}, .rc = 1};
    corio_task *t = corio_spawn(waiter_fn, &w);
    ASSERT_NOT_NULL(t);
    ASSERT_RC(corio_sleep(10), 0);
    for (int i = 0; i < 3; i++) ASSERT_EQ(w.j[i].ran, 1);
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_cancel(t), 0);
    ASSERT_RC(corio_await(t), -ECANCELED);
    ASSERT_LT(test_now_ms() - t0, 1000);
    ASSERT_RC(w.rc, -ECANCELED);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(w.j[i].ended, 1);
        ASSERT_RC(w.j[i].rc, -ECANCELED);
    }
    ASSERT_EQ(live_tasks(), 1);
    return 0;
}
TEST(group_wait_cancelled_caller_cancels_children) { run_ok(main_waiter_cancelled, NULL); }

static int main_null_args(void *arg) {
    (void)arg;
    struct job j = {.ms = -1};
    ASSERT_RC(corio_group_spawn(NULL, job_fn, &j), -EINVAL);
    ASSERT_RC(corio_group_wait(NULL), -EINVAL);
    ASSERT_RC(corio_group_cancel(NULL), -EINVAL);
    corio_group *g = corio_group_new();
    ASSERT_NOT_NULL(g);
    ASSERT_RC(corio_group_spawn(g, NULL, &j), -EINVAL);
    /* The refused spawn left the group usable. */
    ASSERT_RC(corio_group_spawn(g, job_fn, &j), 0);
    ASSERT_RC(corio_group_wait(g), 0);
    ASSERT_EQ(j.ended, 1);
    return 0;
}
TEST(group_null_arguments) { run_ok(main_null_args, NULL); }

static int main_empty(void *arg) {
    (void)arg;
    corio_group *g = corio_group_new();
    ASSERT_NOT_NULL(g);
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_group_wait(g), 0);
    ASSERT_LT(test_now_ms() - t0, 500);
    ASSERT_EQ(live_tasks(), 1);
    return 0;
}
TEST(group_empty_wait) { run_ok(main_empty, NULL); }

/* Each node of a tree sleeps a little (so the waiter is already waiting) and then spawns its children into the
 * same group; the group's wait must cover tasks added while it waits. */
struct tree {
    corio_group *g;
    int count;
    int fail_at; /* the node number that fails, or -1 */
    int cancelled;
};
struct node {
    struct tree *tree;
    int depth;
};
static int node_fn(void *arg) {
    struct node self = *(struct node *)arg;
    free(arg);
    struct tree *tr = self.tree;
    int me = tr->count++;
    int rc = corio_sleep(1);
    if (rc == -ECANCELED) {
        tr->cancelled++;
        return rc;
    }
    ASSERT_RC(rc, 0);
    if (me == tr->fail_at) return -EIO;
    if (self.depth == 0) return 0;
    for (int i = 0; i < 3; i++) {
        struct node *c = malloc(sizeof *c);
        ASSERT_NOT_NULL(c);
        *c = (struct node){tr, self.depth - 1};
        rc = corio_group_spawn(tr->g, node_fn, c);
        if (rc < 0) {
            free(c);
            return rc;
        }
    }
    return 0;
}
static void spawn_root(struct tree *tr, int depth) {
    struct node *root = malloc(sizeof *root);
    ASSERT_NOT_NULL(root);
    *root = (struct node){tr, depth};
    ASSERT_RC(corio_group_spawn(tr->g, node_fn, root), 0);
}
static int main_spawn_into_own_group(void *arg) {
    (void)arg;
    struct tree tr = {.g = corio_group_new(), .fail_at = -1};
    ASSERT_NOT_NULL(tr.g);
    spawn_root(&tr, 4);
    ASSERT_RC(corio_group_wait(tr.g), 0);
    ASSERT_EQ(tr.count, 1 + 3 + 9 + 27 + 81);
    ASSERT_EQ(tr.cancelled, 0);
    ASSERT_EQ(live_tasks(), 1);

    /* A failure deep in the tree stops the whole group: the nodes asleep are cancelled, later spawns refused. */
    struct tree tf = {.g = corio_group_new(), .fail_at = 20};
    ASSERT_NOT_NULL(tf.g);
    spawn_root(&tf, 4);
    ASSERT_RC(corio_group_wait(tf.g), -EIO);
    ASSERT_LT(tf.count, 1 + 3 + 9 + 27 + 81);
    ASSERT_EQ(live_tasks(), 1);
    return 0;
}
TEST(group_children_spawn_into_same_group) { run_ok(main_spawn_into_own_group, NULL); }

/* A group main never waited for: at the end of corio_run its tasks are cancelled, waited for and freed. */
static struct job abandoned[3] = {{.ms = 10000}, {.ms = 10000}, {.ms = 10000, .swallow = 1}};
static int main_abandon(void *arg) {
    (void)arg;
    corio_group *g = corio_group_new();
    ASSERT_NOT_NULL(g);
    for (int i = 0; i < 3; i++) ASSERT_RC(corio_group_spawn(g, job_fn, &abandoned[i]), 0);
    ASSERT_RC(corio_yield(), 0);
    return 0;
}
TEST(group_never_waited_is_cleaned_up_by_run) {
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_run(main_abandon, NULL), 0);
    ASSERT_LT(test_now_ms() - t0, 1000);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(abandoned[i].ended, 1);
        ASSERT_RC(abandoned[i].rc, -ECANCELED);
    }
}

static int spawn_one_and_wait(void *arg) {
    corio_group *g = arg;
    struct job j = {.ms = 1, .status = -EIO};
    ASSERT_RC(corio_group_spawn(g, job_fn, &j), 0);
    ASSERT_RC(corio_group_wait(g), -EIO);
    ASSERT_EQ(j.ended, 1);
    return 0;
}
TEST(group_outside_loop) {
    /* A group can be made anywhere, but tasks only run inside a loop. */
    corio_group *g = corio_group_new();
    ASSERT_NOT_NULL(g);
    struct job j = {.ms = -1};
    ASSERT_RC(corio_group_spawn(g, job_fn, &j), -EPERM);
    ASSERT_RC(corio_group_spawn(NULL, job_fn, &j), -EINVAL);
    ASSERT_EQ(j.ran, 0);
    /* The refused spawn left g empty and usable: a loop can still use it and free it. */
    ASSERT_RC(corio_run(spawn_one_and_wait, g), 0);
}

/* corio.h: a group with no task can be waited for (which frees it) anywhere, so an unused group made outside a
 * loop is not leaked; a group with tasks needs a task to wait (checked inside a loop by the other cases). */
TEST(group_wait_outside_task_frees_an_empty_group) {
    corio_group *g = corio_group_new();
    ASSERT_NOT_NULL(g);
    ASSERT_RC(corio_group_wait(g), 0);
    ASSERT_RC(corio_group_wait(NULL), -EINVAL);
}

/* Nursery semantics (Trio's test_nursery_*, asyncio's test_taskgroup_*) ----------------------------------------- */

/* A failure inside a nested group of the same task reaches the outer body at once; a failure of the outer group's
 * child cancels the owner while it waits on the inner group, and so the inner group's children. */
static int main_nested_propagation(void *arg) {
    (void)arg;
    corio_group *outer = corio_group_new();
    ASSERT_NOT_NULL(outer);
    struct job bad = {.ms = 30, .status = -EIO};
    ASSERT_RC(corio_group_spawn(outer, job_fn, &bad), 0);
    corio_group *inner = corio_group_new();
    ASSERT_NOT_NULL(inner);
    struct job slow[2] = {{.ms = 1500}, {.ms = 1500}};
    for (int i = 0; i < 2; i++) ASSERT_RC(corio_group_spawn(inner, job_fn, &slow[i]), 0);
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_group_wait(inner), -ECANCELED); /* the owner was cancelled by the outer group's failure */
    ASSERT_LT(test_now_ms() - t0, 1000);
    for (int i = 0; i < 2; i++) ASSERT_RC(slow[i].rc, -ECANCELED);
    ASSERT_RC(corio_group_wait(outer), -EIO);
    ASSERT_LT(test_now_ms() - t0, 1000);
    return 0;
}
TEST(group_failure_reaches_the_owner_through_a_nested_group) { run_ok(main_nested_propagation, NULL); }

/* Cancelling one child on purpose is not a failure: the others finish, the group succeeds (asyncio). */
static int main_cancel_one_child(void *arg) {
    (void)arg;
    corio_group *g = corio_group_new();
    ASSERT_NOT_NULL(g);
    struct job victim = {.ms = 10000}, other = {.ms = 40, .status = 0};
    corio_task *v = corio_group_spawn_opts(g, job_fn, &victim, NULL);
    ASSERT_NOT_NULL(v);
    corio_task_opts o = {.name = "other"};
    corio_task *w = corio_group_spawn_opts(g, job_fn, &other, &o);
    ASSERT_NOT_NULL(w);
    ASSERT_STREQ(corio_task_name(w), "other");
    ASSERT_RC(corio_sleep(10), 0);
    ASSERT_RC(corio_task_done(v), 0);
    ASSERT_RC(corio_cancel(v), 0);
    ASSERT_RC(corio_sleep(10), 0); /* the body is not cancelled */
    ASSERT_RC(corio_task_done(v), 1); /* ended, and its handle still valid until the wait */
    ASSERT_RC(corio_cancel(v), -ESRCH);
    ASSERT_RC(corio_await(v), -EINVAL); /* not awaitable */
    ASSERT_RC(corio_group_wait(g), 0);
    ASSERT_RC(victim.rc, -ECANCELED);
    ASSERT_EQ(other.ended, 1);
    ASSERT_RC(other.rc, 0);
    ASSERT_EQ(live_tasks(), 1);
    return 0;
}
TEST(group_child_cancelled_on_purpose_is_not_a_failure) { run_ok(main_cancel_one_child, NULL); }

/* Every failure is kept, in the order the children ended, with their names. */
static int named_fail(void *arg) {
    struct job *j = arg;
    (void)corio_sleep(j->ms);
    return j->status;
}
static int main_all_errors(void *arg) {
    (void)arg;
    corio_group *g = corio_group_new();
    ASSERT_NOT_NULL(g);
    /* the failing ones swallow the cancellation their siblings' failure brings: they all fail on their own */
    struct job a = {.ms = 0, .status = -EIO}, b = {.ms = 5, .status = -EPIPE}, c = {.ms = 10, .status = 0};
    corio_task_opts oa = {.name = "alpha"}, ob = {.name = "beta"};
    ASSERT_NOT_NULL(corio_group_spawn_opts(g, named_fail, &a, &oa));
    ASSERT_NOT_NULL(corio_group_spawn_opts(g, named_fail, &b, &ob));
    ASSERT_RC(corio_group_spawn(g, named_fail, &c), 0);
    corio_group_error errs[1];
    size_t n = 0;
    ASSERT_RC(corio_group_wait_errors(g, errs, 1, &n), -EIO);
    ASSERT_EQ(n, 2); /* more than fit */
    ASSERT_RC(errs[0].status, -EIO);
    ASSERT_STREQ(errs[0].name, "alpha");
    g = corio_group_new();
    ASSERT_NOT_NULL(g);
    a.ms = 0;
    b.ms = 5;
    ASSERT_NOT_NULL(corio_group_spawn_opts(g, named_fail, &a, &oa));
    ASSERT_NOT_NULL(corio_group_spawn_opts(g, named_fail, &b, &ob));
    corio_group_error all[4];
    ASSERT_RC(corio_group_wait_errors(g, all, 4, &n), -EIO);
    ASSERT_EQ(n, 2);
    ASSERT_RC(all[1].status, -EPIPE);
    ASSERT_STREQ(all[1].name, "beta");
    g = corio_group_new();
    ASSERT_NOT_NULL(g);
    ASSERT_RC(corio_group_wait_errors(g, NULL, 1, &n), -EINVAL);
    ASSERT_RC(corio_group_wait_errors(g, NULL, 0, &n), 0);
    ASSERT_EQ(n, 0);
    return 0;
}
TEST(group_wait_errors_keeps_every_failure) { run_ok(main_all_errors, NULL); }

/* A bounded group: at most limit children at once; a spawn beyond it waits for room. */
struct counted {
    int *running, *peak;
};
static int counted_fn(void *arg) {
    struct counted *c = arg;
    if (++*c->running > *c->peak) *c->peak = *c->running;
    (void)corio_sleep(5);
    --*c->running;
    return 0;
}
static int main_limit(void *arg) {
    (void)arg;
    int running = 0, peak = 0;
    struct counted c = {&running, &peak};
    corio_group *g = corio_group_new();
    ASSERT_NOT_NULL(g);
    ASSERT_RC(corio_group_set_limit(g, 3), 0);
    for (int i = 0; i < 20; i++) ASSERT_RC(corio_group_spawn(g, counted_fn, &c), 0);
    ASSERT_RC(corio_group_wait(g), 0);
    ASSERT_EQ(peak, 3);
    ASSERT_RC(corio_group_set_limit(NULL, 1), -EINVAL);
    /* a spawner waiting for room is cancelled with the group */
    g = corio_group_new();
    ASSERT_NOT_NULL(g);
    ASSERT_RC(corio_group_set_limit(g, 1), 0);
    struct job slow = {.ms = 10000};
    ASSERT_RC(corio_group_spawn(g, job_fn, &slow), 0);
    corio_timeout to;
    ASSERT_RC(corio_timeout_enter(&to, 20), 0);
    ASSERT_RC(corio_group_spawn(g, job_fn, &slow), -ETIMEDOUT);
    ASSERT_RC(corio_timeout_exit(&to), -ETIMEDOUT);
    ASSERT_RC(corio_group_cancel(g), 0);
    ASSERT_RC(corio_group_wait(g), 0);
    return 0;
}
TEST(group_limit_caps_children_running_at_once) { run_ok(main_limit, NULL); }

/* Another task may wait for a group (closing its maker's body); a group made in a task that ended too. */
static int make_group(void *arg) {
    corio_group **g = arg;
    *g = corio_group_new();
    ASSERT_NOT_NULL(*g);
    static struct job j = {.ms = 5};
    ASSERT_RC(corio_group_spawn(*g, job_fn, &j), 0);
    return 0;
}
static int other_waiter(void *arg) { return corio_group_wait(arg); }
static int main_wrong_waiter(void *arg) {
    (void)arg;
    corio_group *g = corio_group_new();
    ASSERT_NOT_NULL(g);
    struct job j = {.ms = 5};
    ASSERT_RC(corio_group_spawn(g, job_fn, &j), 0);
    corio_task *t = test_spawn(other_waiter, g);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(corio_sleep(1), 0); /* the body is closed: a later failure would not reach this task */
    corio_group *h = NULL;
    t = test_spawn(make_group, &h);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(corio_group_wait(h), 0);
    return 0;
}
TEST(group_wait_by_another_task_closes_the_makers_body) { run_ok(main_wrong_waiter, NULL); }

/* asyncio's test_taskgroup_15: the owner is cancelled while a child is about to crash; it cleans up (shielded,
 * since corio's cancellation is sticky) past the crash; the child's error wins over the cancellation. */
struct tg15 {
    int rc, cleanup_rc;
};
static int crash_soon(void *arg) {
    (void)arg;
    int rc = corio_sleep(300);
    return rc < 0 ? rc : -EDOM;
}
static int tg15_runner(void *arg) {
    struct tg15 *r = arg;
    corio_group *g = corio_group_new();
    ASSERT_NOT_NULL(g);
    ASSERT_RC(corio_group_spawn(g, crash_soon, NULL), 0);
    int rc = corio_sleep(10000);
    corio_scope cleanup;
    ASSERT_RC(corio_scope_enter(&cleanup, 2000, CORIO_SCOPE_SHIELD), 0);
    r->cleanup_rc = corio_sleep(500); /* the crash comes at 300 ms, inside the shield */
    ASSERT_RC(corio_scope_exit(&cleanup), 0);
    r->rc = corio_group_wait(g);
    return rc;
}
static int main_tg15(void *arg) {
    (void)arg;
    struct tg15 r = {1, 1};
    corio_task *t = test_spawn(tg15_runner, &r);
    ASSERT_RC(corio_sleep(100), 0);
    ASSERT_RC(corio_task_done(t), 0);
    ASSERT_RC(corio_cancel(t), 0);
    ASSERT_RC(corio_await(t), -ECANCELED);
    ASSERT_RC(r.cleanup_rc, 0);
    ASSERT_RC(r.rc, -EDOM);
    return 0;
}
TEST(group_child_error_wins_over_the_owners_cancellation) { run_ok(main_tg15, NULL); }

/* asyncio's test_taskgroup_17: cancelled in the body with no failure, the group's wait says -ECANCELED. */
static int tg17_runner(void *arg) {
    int *num = arg;
    corio_group *g = corio_group_new();
    ASSERT_NOT_NULL(g);
    struct job j = {.ms = 10000};
    ASSERT_RC(corio_group_spawn(g, job_fn, &j), 0);
    if (corio_sleep(10000) == -ECANCELED) *num += 10;
    int rc = corio_group_wait(g);
    ASSERT_RC(j.rc, -ECANCELED); /* its child was cancelled with it */
    return rc;
}
static int main_tg17(void *arg) {
    (void)arg;
    int num = 0;
    corio_task *t = test_spawn(tg17_runner, &num);
    ASSERT_RC(corio_sleep(50), 0);
    ASSERT_RC(corio_cancel(t), 0);
    ASSERT_RC(corio_await(t), -ECANCELED);
    ASSERT_EQ(num, 10);
    return 0;
}
TEST(group_owner_cancelled_in_the_body) { run_ok(main_tg17, NULL); }

/* asyncio's test_taskgroup_14, the C way: the inner group's failure comes back from its wait at once; the body
 * failing, the owner cancels the outer group before waiting for it (asyncio does that when the body raises). */
static int crash_after(void *arg) {
    int ms = (int)(intptr_t)arg;
    int rc = corio_sleep(ms);
    return rc < 0 ? rc : -ERANGE;
}
static int main_tg14(void *arg) {
    (void)arg;
    int64_t t0 = test_now_ms();
    corio_group *g1 = corio_group_new(), *g2;
    ASSERT_NOT_NULL(g1);
    ASSERT_RC(corio_group_spawn(g1, crash_after, (void *)(intptr_t)10000), 0);
    ASSERT_NOT_NULL(g2 = corio_group_new());
    ASSERT_RC(corio_group_spawn(g2, crash_after, (void *)(intptr_t)50), 0);
    int rc = corio_group_wait(g2);
    ASSERT_RC(rc, -ERANGE);
    ASSERT_RC(corio_group_cancel(g1), 0);
    ASSERT_RC(corio_group_wait(g1), 0); /* its child was cancelled, not failed */
    ASSERT_LT(test_now_ms() - t0, test_bound_ms(2000));
    return 0;
}
TEST(group_nested_inner_failure_then_outer_cancelled) { run_ok(main_tg14, NULL); }
