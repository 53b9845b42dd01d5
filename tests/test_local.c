/* test_local.c - tests of task-local values (corio_local_*, Python's contextvars) as corio.h specifies them: a
 * default, per-task values, inheritance of the spawner's values at the spawn (and only at the spawn), groups'
 * children inheriting too, copy on write among many inheritors, and bad arguments. */
#include "test.h"

static void run_ok(corio_fn fn, void *arg) { ASSERT_RC(corio_run(fn, arg), 0); }

static int dflt = 7;
static corio_local request_id = {.initial = &dflt};
static corio_local user = {0};

struct seen {
    void *at_start, *after_parent_changed, *user;
};
static int child_fn(void *arg) {
    struct seen *s = arg;
    s->at_start = corio_local_get(&request_id);
    s->user = corio_local_get(&user);
    ASSERT_RC(corio_sleep(10), 0);
    s->after_parent_changed = corio_local_get(&request_id);
    int mine = 99;
    ASSERT_RC(corio_local_set(&request_id, &mine), 0); /* its own: the parent does not see it */
    ASSERT_PTR_EQ(corio_local_get(&request_id), &mine);
    ASSERT_RC(corio_local_set(&request_id, NULL), 0);
    return 0;
}

static int main_locals(void *arg) {
    (void)arg;
    ASSERT_PTR_EQ(corio_local_get(&request_id), &dflt);
    ASSERT_PTR_EQ(corio_local_get(&user), NULL);
    int a = 1, b = 2, u = 3;
    ASSERT_RC(corio_local_set(&request_id, &a), 0);
    ASSERT_RC(corio_local_set(&user, &u), 0);
    ASSERT_PTR_EQ(corio_local_get(&request_id), &a);
    struct seen s[3];
    corio_task *t[3];
    corio_task_opts named = {.name = "named child"}, compact = {.compact = 1};
    t[0] = test_spawn(child_fn, &s[0]);
    t[1] = corio_spawn_opts(child_fn, &s[1], &named);
    t[2] = corio_spawn_opts(child_fn, &s[2], &compact);
    ASSERT_NOT_NULL(t[1]);
    ASSERT_NOT_NULL(t[2]);
    ASSERT_STREQ(corio_task_name(t[1]), "named child");
    ASSERT_STREQ(corio_task_name(t[2]), "");
    ASSERT_RC(corio_yield(), 0);
    ASSERT_RC(corio_local_set(&request_id, &b), 0); /* after the spawns: the children keep what they got */
    int statuses[3];
    ASSERT_RC(corio_gather(t, 3, statuses), 0);
    for (int i = 0; i < 3; i++) {
        ASSERT_PTR_EQ(s[i].at_start, &a);
        ASSERT_PTR_EQ(s[i].after_parent_changed, &a);
        ASSERT_PTR_EQ(s[i].user, &u);
        ASSERT_RC(statuses[i], 0);
    }
    ASSERT_PTR_EQ(corio_local_get(&request_id), &b);
    /* a group's children inherit too */
    corio_group *g = corio_group_new();
    ASSERT_NOT_NULL(g);
    struct seen gs;
    ASSERT_RC(corio_group_spawn(g, child_fn, &gs), 0);
    ASSERT_RC(corio_group_wait(g), 0);
    ASSERT_PTR_EQ(gs.at_start, &b);
    /* many keys: the array grows */
    static corio_local keys[40];
    for (int i = 0; i < 40; i++) ASSERT_RC(corio_local_set(&keys[i], &statuses[i % 3]), 0);
    for (int i = 0; i < 40; i++) ASSERT_PTR_EQ(corio_local_get(&keys[i]), &statuses[i % 3]);
    ASSERT_RC(corio_local_set(NULL, &a), -EINVAL);
    ASSERT_PTR_EQ(corio_local_get(NULL), NULL);
    return 0;
}
TEST(task_locals_are_inherited_at_spawn) { run_ok(main_locals, NULL); }

/* A thousand children share their parent's values until each sets its own. */
static int cow_child(void *arg) {
    int *v = arg;
    if (corio_local_get(&user) != v) return -EINVAL;
    ASSERT_RC(corio_sleep(1), 0);
    if (*v % 2) ASSERT_RC(corio_local_set(&user, NULL), 0);
    return corio_local_get(&user) == (*v % 2 ? NULL : v) ? 0 : -EIO;
}
static int main_cow(void *arg) {
    (void)arg;
    enum { N = 1000 };
    static int v[N];
    static corio_task *t[N];
    for (int i = 0; i < N; i++) {
        v[i] = i;
        ASSERT_RC(corio_local_set(&user, &v[i]), 0);
        t[i] = test_spawn(cow_child, &v[i]);
    }
    ASSERT_RC(corio_gather(t, N, NULL), 0);
    ASSERT_PTR_EQ(corio_local_get(&user), &v[N - 1]);
    return 0;
}
TEST(task_locals_copy_on_write) { run_ok(main_cow, NULL); }

TEST(task_locals_outside_a_loop) {
    int x = 5;
    ASSERT_RC(corio_local_set(&user, &x), -EPERM);
    ASSERT_PTR_EQ(corio_local_get(&request_id), &dflt);
}
