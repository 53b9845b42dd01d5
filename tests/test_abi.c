/* test_abi.c - the run-time side of docs/abi.md: corio_version agrees with the header, every call taking a
 * struct refuses nonzero bytes in its reserved space (a field of a newer header this library does not know), and
 * the structs the library fills leave their reserved space zeroed. */
#include <stdbool.h>

#include "test.h"

static void run_ok(corio_fn fn, void *arg) { ASSERT_RC(corio_run(fn, arg), 0); }

TEST(version_matches_header) {
    char want[32];
    (void)snprintf(want, sizeof want, "%d.%d.%d", CORIO_VERSION_MAJOR, CORIO_VERSION_MINOR, CORIO_VERSION_PATCH);
    ASSERT_STREQ(corio_version(), want);
}

static bool all_zero(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i]) return false;
    return true;
}

static int nothing(void *arg) {
    (void)arg;
    return 0;
}
static int conn_nothing(int fd, void *arg) {
    (void)fd;
    (void)arg;
    return 0;
}

static int main_refuses(void *arg) {
    (void)arg;
    corio_task_opts to = {.name = "x"};
    to.reserved[4] = 1;
    errno = 0;
    ASSERT_NULL(corio_spawn_opts(nothing, NULL, &to));
    ASSERT_EQ(errno, EINVAL);
    corio_group *g = corio_group_new();
    ASSERT_NOT_NULL(g);
    errno = 0;
    ASSERT_NULL(corio_group_spawn_opts(g, nothing, NULL, &to));
    ASSERT_EQ(errno, EINVAL);
    ASSERT_RC(corio_group_wait(g), 0);

    corio_queue_opts qo = {.capacity = 1};
    qo.reserved[0] = 1;
    errno = 0;
    ASSERT_NULL(corio_queue_new_opts(&qo));
    ASSERT_EQ(errno, EINVAL);

    corio_event *ev = corio_event_new();
    ASSERT_NOT_NULL(ev);
    corio_event_set(ev);
    corio_sel sel[1] = {{.op = CORIO_SEL_EVENT, .obj = ev}};
    sel[0].reserved[2] = 1;
    ASSERT_RC(corio_select(sel, 1, 0), -EINVAL);
    sel[0].reserved[2] = 0;
    ASSERT_RC(corio_select(sel, 1, 0), 0); /* the same case with its reserved space zero */
    ASSERT_RC(corio_event_free(ev), 0);

    corio_server_opts so = {.backlog = 5};
    so.reserved[3] = 1;
    errno = 0;
    ASSERT_NULL(corio_server_new("127.0.0.1", 0, conn_nothing, NULL, &so));
    ASSERT_EQ(errno, EINVAL);

    corio_process_opts po = {.stdout_mode = CORIO_STDIO_DEVNULL};
    po.reserved[0] = 1;
    char *argv[] = {"true", NULL};
    errno = 0;
    ASSERT_NULL(corio_process_spawn("true", argv, &po));
    ASSERT_EQ(errno, EINVAL);

    corio_work_opts wo = {.abandoned = NULL};
    wo.reserved[6] = 1;
    ASSERT_RC(corio_to_thread_opts(nothing, NULL, &wo), -EINVAL);
    wo.reserved[6] = 0;
    ASSERT_RC(corio_to_thread_opts(nothing, NULL, &wo), 0);

    static corio_local key = {0};
    key.reserved[1] = 1;
    ASSERT_RC(corio_local_set(&key, &key), -EINVAL);
    return 0;
}
TEST(nonzero_reserved_is_refused) { run_ok(main_refuses, NULL); }

static int failing(void *arg) {
    (void)arg;
    return -EIO;
}

static int main_zeroed(void *arg) {
    (void)arg;
    corio_stats st;
    memset(&st, 0xa5, sizeof st);
    ASSERT_RC(corio_stats_get(&st), 0);
    ASSERT_TRUE(all_zero(st.reserved, sizeof st.reserved));

    corio_group *g = corio_group_new();
    ASSERT_NOT_NULL(g);
    ASSERT_NOT_NULL(corio_group_spawn_opts(g, failing, NULL, &(corio_task_opts){.name = "failing"}));
    corio_group_error errs[1];
    memset(errs, 0xa5, sizeof errs);
    size_t n = 0;
    ASSERT_RC(corio_group_wait_errors(g, errs, 1, &n), -EIO);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(errs[0].status, -EIO);
    ASSERT_STREQ(errs[0].name, "failing");
    ASSERT_TRUE(all_zero(errs[0].reserved, sizeof errs[0].reserved));
    return 0;
}
TEST(filled_structs_leave_reserved_zero) { run_ok(main_zeroed, NULL); }
