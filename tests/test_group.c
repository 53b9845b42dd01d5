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
    /* Not waiting yet: the failure must cancel the siblings by itself, when it happens. */
    ASSERT_RC(corio_sleep(300), 0);
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
