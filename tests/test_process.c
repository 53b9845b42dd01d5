/* test_process.c - tests of subprocesses as corio.h specifies them: pipes to and from the child, exit statuses and
 * signals, kill, a program that does not exist, /dev/null, a wait cut short by a timeout scope or a cancel, free of a
 * running process, what the child inherits (signal dispositions and mask, environment, directory), and no
 * descriptor left behind. */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

static void run_ok(corio_fn fn, void *arg) { ASSERT_RC(corio_run(fn, arg), 0); }

/* Reads fd until EOF into buf (NUL-terminated): the length. */
static size_t read_all(int fd, char *buf, size_t max) {
    size_t got = 0;
    for (;;) {
        ASSERT_LT(got, max);
        ssize_t n = corio_read(fd, buf + got, max - 1 - got);
        ASSERT_GE(n, 0);
        if (n == 0) break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    return got;
}

/* A spawn that must fail to exec with error err. glibc reports that through posix_spawn's return value from its
 * vfork-style child, but valgrind and qemu-user (test_small) run that child as a real fork, so there the spawn
 * succeeds and the child exits with 127 instead. */
static void spawn_fails(const char *file, char *const argv[], const corio_process_opts *o, int err) {
    errno = 0;
    corio_process *p = corio_process_spawn(file, argv, o);
    if (p && test_small()) {
        int status = -1;
        ASSERT_RC(corio_process_wait(p, &status), 0);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 127);
        ASSERT_RC(corio_process_free(p), 0);
        return;
    }
    ASSERT_NULL(p);
    ASSERT_EQ(errno, err);
}

/* ---- pipes ------------------------------------------------------------------------------------------------- */

/* Feeds cat's stdin while the main task drains its stdout: more than a pipe holds, so both must run at once. */
#define CAT_BYTES (256 * 1024)
struct feeder {
    corio_process *p;
    const unsigned char *data;
};
static int feeder_fn(void *arg) {
    struct feeder *f = arg;
    ASSERT_RC(corio_write(corio_process_fd(f->p, 0), f->data, CAT_BYTES), CAT_BYTES);
    ASSERT_RC(corio_process_close_fd(f->p, 0), 0); /* cat sees EOF */
    return 0;
}
static int main_cat(void *arg) {
    (void)arg;
    int fds0 = test_open_fds();
    char *argv[] = {"cat", NULL};
    corio_process_opts o = {.stdin_mode = CORIO_STDIO_PIPE, .stdout_mode = CORIO_STDIO_PIPE};
    corio_process *p = corio_process_spawn("cat", argv, &o);
    ASSERT_NOT_NULL(p);
    ASSERT_GT(corio_process_pid(p), 0);
    ASSERT_GE(corio_process_fd(p, 0), 0);
    ASSERT_GE(corio_process_fd(p, 1), 0);
    ASSERT_RC(corio_process_fd(p, 2), -EBADF); /* inherited, not a pipe */
    ASSERT_TRUE(fcntl(corio_process_fd(p, 1), F_GETFL) & O_NONBLOCK);
    ASSERT_TRUE(fcntl(corio_process_fd(p, 1), F_GETFD) & FD_CLOEXEC);

    unsigned char *data = malloc(CAT_BYTES), *back = malloc(CAT_BYTES + 1);
    ASSERT_NOT_NULL(data);
    ASSERT_NOT_NULL(back);
    for (size_t i = 0; i < CAT_BYTES; i++) data[i] = (unsigned char)(i * 7 + (i >> 9));
    struct feeder f = {.p = p, .data = data};
    corio_task *t = corio_spawn(feeder_fn, &f);
    ASSERT_NOT_NULL(t);
    size_t got = 0;
    for (;;) {
        ssize_t n = corio_read(corio_process_fd(p, 1), back + got, CAT_BYTES + 1 - got);
        ASSERT_GE(n, 0);
        if (n == 0) break;
        got += (size_t)n;
    }
    ASSERT_RC(corio_await(t), 0);
    ASSERT_EQ(got, CAT_BYTES);
    ASSERT_TRUE(memcmp(data, back, CAT_BYTES) == 0);

    int status = -1;
    ASSERT_RC(corio_process_wait(p, &status), 0);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
    ASSERT_RC(corio_process_close_fd(p, 0), -EBADF); /* closed already */
    ASSERT_RC(corio_process_fd(p, 0), -EBADF);
    ASSERT_RC(corio_process_close_fd(p, 1), 0);
    ASSERT_RC(corio_process_free(p), 0);
    free(data);
    free(back);
    ASSERT_EQ(test_open_fds(), fds0);
    return 0;
}
TEST_TIMEOUT(cat_roundtrip, 20) { run_ok(main_cat, NULL); }

static int main_stderr(void *arg) {
    (void)arg;
    char *argv[] = {"sh", "-c", "echo out; echo err >&2; exit 0", NULL};
    corio_process_opts o = {.stdout_mode = CORIO_STDIO_PIPE, .stderr_mode = CORIO_STDIO_PIPE};
    corio_process *p = corio_process_spawn("sh", argv, &o);
    ASSERT_NOT_NULL(p);
    char buf[64];
    read_all(corio_process_fd(p, 2), buf, sizeof buf);
    ASSERT_STREQ(buf, "err\n");
    read_all(corio_process_fd(p, 1), buf, sizeof buf);
    ASSERT_STREQ(buf, "out\n");
    int status;
    ASSERT_RC(corio_process_wait(p, &status), 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ASSERT_RC(corio_process_free(p), 0);
    return 0;
}
TEST_TIMEOUT(stderr_pipe, 10) { run_ok(main_stderr, NULL); }

static int main_devnull(void *arg) {
    (void)arg;
    /* stdin from /dev/null: cat ends at once; stdout to /dev/null: nothing reaches the stderr pipe but "e" */
    char *argv[] = {"sh", "-c", "cat; echo lost; echo e >&2", NULL};
    corio_process_opts o = {
        .stdin_mode = CORIO_STDIO_DEVNULL, .stdout_mode = CORIO_STDIO_DEVNULL, .stderr_mode = CORIO_STDIO_PIPE};
    corio_process *p = corio_process_spawn("sh", argv, &o);
    ASSERT_NOT_NULL(p);
    ASSERT_RC(corio_process_fd(p, 0), -EBADF);
    ASSERT_RC(corio_process_fd(p, 1), -EBADF);
    char buf[64];
    read_all(corio_process_fd(p, 2), buf, sizeof buf);
    ASSERT_STREQ(buf, "e\n");
    int status;
    ASSERT_RC(corio_process_wait(p, &status), 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ASSERT_RC(corio_process_free(p), 0);
    return 0;
}
TEST_TIMEOUT(devnull, 10) { run_ok(main_devnull, NULL); }

/* ---- exit statuses and signals ---------------------------------------------------------------------------- */

static int main_exit_status(void *arg) {
    (void)arg;
    char *argv[] = {"sh", "-c", "exit 3", NULL};
    corio_process *p = corio_process_spawn("sh", argv, NULL);
    ASSERT_NOT_NULL(p);
    int status = -1;
    ASSERT_RC(corio_process_wait(p, &status), 0);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 3);
    /* again: the same status, at once, even for a cancelled task */
    status = -1;
    ASSERT_RC(corio_process_wait(p, &status), 0);
    ASSERT_EQ(WEXITSTATUS(status), 3);
    ASSERT_RC(corio_process_wait(p, NULL), 0);
    ASSERT_RC(corio_process_kill(p, SIGTERM), -ESRCH);
    ASSERT_RC(corio_cancel(corio_current()), 0);
    ASSERT_RC(corio_process_wait(p, &status), 0);
    ASSERT_EQ(WEXITSTATUS(status), 3);
    ASSERT_RC(corio_process_free(p), 0);
    return 0;
}
TEST_TIMEOUT(exit_status, 10) { run_ok(main_exit_status, NULL); }

static int main_kill(void *arg) {
    (void)arg;
    char *argv[] = {"sleep", "10", NULL};
    corio_process *p = corio_process_spawn("sleep", argv, NULL);
    ASSERT_NOT_NULL(p);
    ASSERT_RC(corio_sleep(20), 0);
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_process_kill(p, SIGTERM), 0);
    int status = -1;
    ASSERT_RC(corio_process_wait(p, &status), 0);
    ASSERT_LT(test_now_ms() - t0, 1000);
    ASSERT_TRUE(WIFSIGNALED(status));
    ASSERT_EQ(WTERMSIG(status), SIGTERM);
    ASSERT_RC(corio_process_kill(p, SIGTERM), -ESRCH);
    ASSERT_RC(corio_process_free(p), 0);
    return 0;
}
TEST_TIMEOUT(kill_sigterm, 10) { run_ok(main_kill, NULL); }

/* The loop ignores SIGPIPE; the child must not: `yes` writing to a closed pipe dies of SIGPIPE. */
static int main_sigpipe_default(void *arg) {
    (void)arg;
    char *argv[] = {"yes", NULL};
    corio_process_opts o = {.stdout_mode = CORIO_STDIO_PIPE, .stderr_mode = CORIO_STDIO_DEVNULL};
    corio_process *p = corio_process_spawn("yes", argv, &o);
    ASSERT_NOT_NULL(p);
    ASSERT_RC(corio_process_close_fd(p, 1), 0);
    int status = -1;
    ASSERT_RC(corio_process_wait(p, &status), 0);
    ASSERT_TRUE(WIFSIGNALED(status));
    ASSERT_EQ(WTERMSIG(status), SIGPIPE);
    ASSERT_RC(corio_process_free(p), 0);
    return 0;
}
TEST_TIMEOUT(child_gets_default_sigpipe, 10) { run_ok(main_sigpipe_default, NULL); }

/* Signals blocked or ignored in the parent are not in the child: grep reads its own /proc status. */
static int main_sigmask_clean(void *arg) {
    (void)arg;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    sigaddset(&s, SIGINT);
    ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &s, NULL), 0);
    signal(SIGUSR2, SIG_IGN);
    char *argv[] = {"grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status", NULL};
    corio_process_opts o = {.stdout_mode = CORIO_STDIO_PIPE};
    corio_process *p = corio_process_spawn("grep", argv, &o);
    ASSERT_NOT_NULL(p);
    char buf[256];
    read_all(corio_process_fd(p, 1), buf, sizeof buf);
    unsigned long long blk, ign;
    ASSERT_EQ(sscanf(buf, "SigBlk:\t%llx\nSigIgn:\t%llx", &blk, &ign), 2);
    ASSERT_EQ(blk, 0);
    /* the classic signals only: glibc's posix_spawn ignores its two internal ones (32 and 33) in the child, and
     * qemu-user moves those to other real-time numbers */
    ASSERT_EQ(ign & 0x7fffffffULL, 0);
    ASSERT_RC(corio_process_wait(p, NULL), 0);
    ASSERT_RC(corio_process_free(p), 0);
    return 0;
}
TEST_TIMEOUT(child_gets_clean_signal_state, 10) { run_ok(main_sigmask_clean, NULL); }

static int main_env_cwd(void *arg) {
    (void)arg;
    char *argv[] = {"sh", "-c", "echo \"$CORIO_X\"; pwd", NULL};
    char *envp[] = {"CORIO_X=forty-two", "PATH=/usr/bin:/bin", NULL};
    corio_process_opts o = {.stdout_mode = CORIO_STDIO_PIPE, .envp = envp, .cwd = "/"};
    corio_process *p = corio_process_spawn("sh", argv, &o);
    ASSERT_NOT_NULL(p);
    char buf[128];
    read_all(corio_process_fd(p, 1), buf, sizeof buf);
    ASSERT_STREQ(buf, "forty-two\n/\n");
    ASSERT_RC(corio_process_wait(p, NULL), 0);
    ASSERT_RC(corio_process_free(p), 0);

    /* a missing directory fails the spawn */
    o.cwd = "/corio-no-such-dir";
    spawn_fails("sh", argv, &o, ENOENT);
    return 0;
}
TEST_TIMEOUT(environment_and_directory, 10) { run_ok(main_env_cwd, NULL); }

/* ---- failures and misuse ----------------------------------------------------------------------------------- */

static int main_missing(void *arg) {
    (void)arg;
    int fds0 = test_open_fds();
    char *argv[] = {"corio-no-such-program", NULL};
    corio_process_opts o = {.stdin_mode = CORIO_STDIO_PIPE, .stdout_mode = CORIO_STDIO_PIPE};
    spawn_fails("corio-no-such-program", argv, &o, ENOENT);
    spawn_fails("/corio/no/such/program", argv, NULL, ENOENT);
    spawn_fails("/etc/passwd", argv, NULL, EACCES); /* not executable */
    errno = 0;
    ASSERT_NULL(corio_process_spawn(NULL, argv, NULL));
    ASSERT_EQ(errno, EINVAL);
    errno = 0;
    ASSERT_NULL(corio_process_spawn("sh", NULL, NULL));
    ASSERT_EQ(errno, EINVAL);
    corio_process_opts bad = {.stdout_mode = 7};
    errno = 0;
    ASSERT_NULL(corio_process_spawn("sh", argv, &bad));
    ASSERT_EQ(errno, EINVAL);
    ASSERT_EQ(test_open_fds(), fds0);

    ASSERT_RC(corio_process_wait(NULL, NULL), -EINVAL);
    ASSERT_RC(corio_process_kill(NULL, SIGTERM), -EINVAL);
    ASSERT_RC(corio_process_free(NULL), -EINVAL);
    ASSERT_RC(corio_process_fd(NULL, 0), -EINVAL);
    return 0;
}
TEST_TIMEOUT(missing_program_and_bad_arguments, 10) { run_ok(main_missing, NULL); }

/* ---- waits cut short -------------------------------------------------------------------------------------- */

static int main_wait_timeout(void *arg) {
    (void)arg;
    char *argv[] = {"sleep", "10", NULL};
    corio_process *p = corio_process_spawn("sleep", argv, NULL);
    ASSERT_NOT_NULL(p);
    corio_timeout scope;
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_timeout_enter(&scope, 50), 0);
    int status = -1;
    ASSERT_RC(corio_process_wait(p, &status), -ETIMEDOUT);
    ASSERT_RC(corio_timeout_exit(&scope), -ETIMEDOUT);
    ASSERT_LT(test_now_ms() - t0, 1000);
    ASSERT_EQ(status, -1);
    /* still running, still waitable */
    ASSERT_RC(corio_process_kill(p, 0), 0);
    ASSERT_RC(corio_process_kill(p, SIGKILL), 0);
    ASSERT_RC(corio_process_wait(p, &status), 0);
    ASSERT_TRUE(WIFSIGNALED(status));
    ASSERT_EQ(WTERMSIG(status), SIGKILL);
    ASSERT_RC(corio_process_free(p), 0);
    return 0;
}
TEST_TIMEOUT(wait_timeout_then_kill, 10) { run_ok(main_wait_timeout, NULL); }

struct waiter {
    corio_process *p;
    int rc, status;
};
static int waiter_fn(void *arg) {
    struct waiter *w = arg;
    w->rc = corio_process_wait(w->p, &w->status);
    return 0;
}
static int main_wait_cancel(void *arg) {
    (void)arg;
    char *argv[] = {"sleep", "10", NULL};
    corio_process *p = corio_process_spawn("sleep", argv, NULL);
    ASSERT_NOT_NULL(p);
    struct waiter a = {.p = p}, b = {.p = p}, c = {.p = p};
    corio_task *ta = corio_spawn(waiter_fn, &a);
    corio_task *tb = corio_spawn(waiter_fn, &b);
    corio_task *tc = corio_spawn(waiter_fn, &c);
    ASSERT_NOT_NULL(ta);
    ASSERT_NOT_NULL(tb);
    ASSERT_NOT_NULL(tc);
    ASSERT_RC(corio_sleep(20), 0);
    ASSERT_RC(corio_cancel(ta), 0);
    ASSERT_RC(corio_await(ta), 0);
    ASSERT_RC(a.rc, -ECANCELED);
    /* the others still wait, and both see the exit */
    ASSERT_RC(corio_process_kill(p, SIGTERM), 0);
    ASSERT_RC(corio_await(tb), 0);
    ASSERT_RC(corio_await(tc), 0);
    ASSERT_RC(b.rc, 0);
    ASSERT_RC(c.rc, 0);
    ASSERT_TRUE(WIFSIGNALED(b.status) && WTERMSIG(b.status) == SIGTERM);
    ASSERT_EQ(b.status, c.status);
    ASSERT_RC(corio_process_free(p), 0);
    return 0;
}
TEST_TIMEOUT(wait_cancelled_and_two_waiters, 10) { run_ok(main_wait_cancel, NULL); }

/* A child that exits while nobody waits is still reaped by a later wait (no lost edge). */
static int main_exit_while_not_waiting(void *arg) {
    (void)arg;
    char *argv[] = {"sh", "-c", "sleep 0.05; exit 9", NULL};
    corio_process *p = corio_process_spawn("sh", argv, NULL);
    ASSERT_NOT_NULL(p);
    corio_timeout scope;
    ASSERT_RC(corio_timeout_enter(&scope, 5), 0);
    ASSERT_RC(corio_process_wait(p, NULL), -ETIMEDOUT); /* registers the pidfd with the loop */
    ASSERT_RC(corio_timeout_exit(&scope), -ETIMEDOUT);
    ASSERT_RC(corio_sleep(300), 0); /* the exit edge comes and goes */
    int status = -1;
    ASSERT_RC(corio_process_wait(p, &status), 0);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 9);
    ASSERT_RC(corio_process_free(p), 0);
    return 0;
}
TEST_TIMEOUT(exit_while_not_waiting, 10) { run_ok(main_exit_while_not_waiting, NULL); }

/* ---- free and descriptors ---------------------------------------------------------------------------------- */

static int main_free_running(void *arg) {
    (void)arg;
    int fds0 = test_open_fds();
    char *argv[] = {"sleep", "10", NULL};
    corio_process_opts o = {
        .stdin_mode = CORIO_STDIO_PIPE, .stdout_mode = CORIO_STDIO_PIPE, .stderr_mode = CORIO_STDIO_PIPE};
    corio_process *p = corio_process_spawn("sleep", argv, &o);
    ASSERT_NOT_NULL(p);
    pid_t pid = corio_process_pid(p);
    ASSERT_GT(test_open_fds(), fds0);
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_process_free(p), 0);
    ASSERT_LT(test_now_ms() - t0, 1000);
    /* killed and reaped: the pid is gone, nothing is left open */
    ASSERT_EQ(kill(pid, 0), -1);
    ASSERT_EQ(errno, ESRCH);
    ASSERT_EQ(test_open_fds(), fds0);
    return 0;
}
TEST_TIMEOUT(free_kills_running_process, 10) { run_ok(main_free_running, NULL); }

static int main_no_leak(void *arg) {
    (void)arg;
    int fds0 = test_open_fds();
    for (int i = 0; i < 20; i++) {
        char *argv[] = {"sh", "-c", "cat; echo x >&2", NULL};
        corio_process_opts o = {
            .stdin_mode = CORIO_STDIO_PIPE, .stdout_mode = CORIO_STDIO_PIPE, .stderr_mode = CORIO_STDIO_PIPE};
        corio_process *p = corio_process_spawn("sh", argv, &o);
        ASSERT_NOT_NULL(p);
        ASSERT_RC(corio_write(corio_process_fd(p, 0), "abc", 3), 3);
        if (i % 2) ASSERT_RC(corio_process_close_fd(p, 0), 0);
        char buf[16];
        if (i % 2) {
            read_all(corio_process_fd(p, 1), buf, sizeof buf);
            ASSERT_STREQ(buf, "abc");
            ASSERT_RC(corio_process_wait(p, NULL), 0);
        }
        ASSERT_RC(corio_process_free(p), 0); /* odd: exited; even: still in cat, killed */
    }
    ASSERT_EQ(test_open_fds(), fds0);
    return 0;
}
TEST_TIMEOUT(no_descriptor_leaked, 20) { run_ok(main_no_leak, NULL); }

/* Spawning and freeing work outside a loop too; waiting for a running process there is -EPERM. */
TEST_TIMEOUT(outside_loop, 10) {
    char *argv[] = {"sleep", "10", NULL};
    corio_process *p = corio_process_spawn("sleep", argv, NULL);
    ASSERT_NOT_NULL(p);
    ASSERT_RC(corio_process_wait(p, NULL), -EPERM);
    ASSERT_RC(corio_process_kill(p, 0), 0);
    ASSERT_RC(corio_process_free(p), 0);
}

/* take_fd hands the stdout pipe to a stream, which then owns it: the process forgets it, so freeing both closes
 * each descriptor exactly once. */
static int main_take_fd(void *arg) {
    (void)arg;
    int fds = test_open_fds();
    char *argv[] = {"sh", "-c", "echo first; echo second", NULL};
    corio_process_opts o = {.stdout_mode = CORIO_STDIO_PIPE};
    corio_process *p = corio_process_spawn("sh", argv, &o);
    ASSERT_NOT_NULL(p);
    int fd = corio_process_take_fd(p, 1);
    ASSERT_GE(fd, 0);
    ASSERT_RC(corio_process_fd(p, 1), -EBADF);
    ASSERT_RC(corio_process_take_fd(p, 1), -EBADF);
    ASSERT_RC(corio_process_take_fd(p, 3), -EINVAL);
    ASSERT_RC(corio_process_take_fd(NULL, 1), -EINVAL);
    corio_stream *s = corio_stream_new(fd);
    ASSERT_NOT_NULL(s);
    char line[64];
    ASSERT_EQ(corio_stream_read_line(s, line, sizeof line), 6);
    ASSERT_STREQ(line, "first\n");
    ASSERT_EQ(corio_stream_read_line(s, line, sizeof line), 7);
    ASSERT_STREQ(line, "second\n");
    ASSERT_EQ(corio_stream_read_line(s, line, sizeof line), 0);
    int status = -1;
    ASSERT_RC(corio_process_wait(p, &status), 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ASSERT_RC(corio_process_free(p), 0);
    ASSERT_RC(corio_stream_free(s), 0);
    ASSERT_EQ(test_open_fds(), fds);
    return 0;
}
TEST_TIMEOUT(take_fd_into_a_stream, 10) { run_ok(main_take_fd, NULL); }
