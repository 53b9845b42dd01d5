/* test_file.c - tests of file I/O on the thread pool as corio.h specifies it: write then read back, explicit
 * offsets and -1 (the current position), stat, errors (-ENOENT, -EBADF, -EPERM), a 4 MiB round trip, the
 * close-on-exec flag, and a call in flight that completes although its task is cancelled. */
#include <fcntl.h>
#include <unistd.h>

#include "test.h"

static void run_ok(corio_fn fn, void *arg) { ASSERT_RC(corio_run(fn, arg), 0); }

/* A fresh temporary file's path; the case unlinks it. */
static void temp_path(char *buf, size_t len) {
    snprintf(buf, len, "/tmp/corio-test-file-XXXXXX");
    int fd = mkstemp(buf);
    ASSERT_GE(fd, 0);
    close(fd);
}

static int main_roundtrip(void *arg) {
    (void)arg;
    char path[64];
    temp_path(path, sizeof path);
    int fd = corio_file_open(path, O_RDWR | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_RC(corio_file_write(fd, "hello, world", 12, 0), 12);
    char buf[32] = {0};
    ASSERT_RC(corio_file_read(fd, buf, sizeof buf, 0), 12);
    ASSERT_STREQ(buf, "hello, world");

    /* explicit offsets leave the position alone; -1 uses and moves it */
    memset(buf, 0, sizeof buf);
    ASSERT_RC(corio_file_read(fd, buf, 5, 7), 5);
    ASSERT_STREQ(buf, "world");
    ASSERT_RC(corio_file_write(fd, "HELLO", 5, 0), 5);
    ASSERT_EQ(lseek(fd, 0, SEEK_CUR), 0);
    memset(buf, 0, sizeof buf);
    ASSERT_RC(corio_file_read(fd, buf, 5, -1), 5);
    ASSERT_STREQ(buf, "HELLO");
    ASSERT_EQ(lseek(fd, 0, SEEK_CUR), 5);
    ASSERT_RC(corio_file_write(fd, "!!", 2, -1), 2); /* at position 5 */
    memset(buf, 0, sizeof buf);
    ASSERT_RC(corio_file_read(fd, buf, sizeof buf, -1), 5); /* the rest: "world" */
    ASSERT_STREQ(buf, "world");
    ASSERT_RC(corio_file_read(fd, buf, sizeof buf, -1), 0); /* end of file */
    memset(buf, 0, sizeof buf);
    ASSERT_RC(corio_file_read(fd, buf, sizeof buf, 0), 12);
    ASSERT_STREQ(buf, "HELLO!!world");
    ASSERT_RC(corio_file_read(fd, buf, sizeof buf, 100), 0); /* past the end */
    ASSERT_RC(corio_file_write(fd, "", 0, 0), 0);

    struct stat st;
    ASSERT_RC(corio_file_stat(path, &st), 0);
    ASSERT_EQ(st.st_size, 12);
    ASSERT_TRUE(S_ISREG(st.st_mode));

    ASSERT_RC(corio_file_close(fd), 0);
    ASSERT_RC(corio_file_close(fd), -EBADF);
    ASSERT_EQ(unlink(path), 0);
    return 0;
}
TEST_TIMEOUT(write_read_offsets_stat, 10) { run_ok(main_roundtrip, NULL); }

static int main_errors(void *arg) {
    (void)arg;
    ASSERT_RC(corio_file_open("/tmp/corio-no-such-dir/none", O_RDONLY, 0), -ENOENT);
    struct stat st;
    ASSERT_RC(corio_file_stat("/tmp/corio-no-such-dir/none", &st), -ENOENT);
    ASSERT_RC(corio_file_open(NULL, O_RDONLY, 0), -EINVAL);
    ASSERT_RC(corio_file_stat("/tmp", NULL), -EINVAL);
    char buf[4];
    ASSERT_RC(corio_file_read(-1, buf, sizeof buf, 0), -EBADF);
    ASSERT_RC(corio_file_write(-1, buf, sizeof buf, 0), -EBADF);
    ASSERT_RC(corio_file_close(-1), -EBADF);

    /* a descriptor that is not open */
    int fd = corio_file_open("/dev/null", O_RDONLY, 0);
    ASSERT_GE(fd, 0);
    ASSERT_RC(corio_file_close(fd), 0);
    ASSERT_RC(corio_file_read(fd, buf, sizeof buf, 0), -EBADF);
    ASSERT_RC(corio_file_close(fd), -EBADF);

    /* writing to a read-only descriptor; reading a directory */
    char path[64];
    temp_path(path, sizeof path);
    fd = corio_file_open(path, O_RDONLY, 0);
    ASSERT_GE(fd, 0);
    ASSERT_RC(corio_file_write(fd, "x", 1, 0), -EBADF);
    ASSERT_RC(corio_file_close(fd), 0);
    ASSERT_EQ(unlink(path), 0);
    fd = corio_file_open("/tmp", O_RDONLY | O_DIRECTORY, 0);
    ASSERT_GE(fd, 0);
    ASSERT_RC(corio_file_read(fd, buf, sizeof buf, -1), -EISDIR);
    ASSERT_RC(corio_file_close(fd), 0);
    return 0;
}
TEST_TIMEOUT(errors, 10) { run_ok(main_errors, NULL); }

TEST_TIMEOUT(outside_task_is_eperm, 10) {
    char buf[4];
    struct stat st;
    ASSERT_RC(corio_file_open("/dev/null", O_RDONLY, 0), -EPERM);
    ASSERT_RC(corio_file_read(0, buf, sizeof buf, 0), -EPERM);
    ASSERT_RC(corio_file_write(1, buf, 0, 0), -EPERM);
    ASSERT_RC(corio_file_stat("/", &st), -EPERM);
    /* closing still works: a release must never be refused */
    int fd = open("/dev/null", O_RDONLY);
    ASSERT_GE(fd, 0);
    ASSERT_RC(corio_file_close(fd), 0);
    ASSERT_RC(corio_file_close(fd), -EBADF);
}

static int main_cloexec(void *arg) {
    (void)arg;
    int fd = corio_file_open("/dev/null", O_RDONLY, 0);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    ASSERT_RC(corio_file_close(fd), 0);
    return 0;
}
TEST_TIMEOUT(open_sets_cloexec, 10) { run_ok(main_cloexec, NULL); }

static int main_large(void *arg) {
    (void)arg;
    size_t n = 4U << 20;
    unsigned char *out = malloc(n), *in = malloc(n);
    ASSERT_NOT_NULL(out);
    ASSERT_NOT_NULL(in);
    for (size_t i = 0; i < n; i++) out[i] = (unsigned char)(i * 2654435761U >> 13);
    char path[64];
    temp_path(path, sizeof path);
    int fd = corio_file_open(path, O_RDWR | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_RC(corio_file_write(fd, out, n, -1), (ssize_t)n);
    struct stat st;
    ASSERT_RC(corio_file_stat(path, &st), 0);
    ASSERT_EQ(st.st_size, n);
    size_t got = 0;
    while (got < n) {
        ssize_t r = corio_file_read(fd, in + got, n - got, (int64_t)got);
        ASSERT_GT(r, 0);
        got += (size_t)r;
    }
    ASSERT_TRUE(memcmp(in, out, n) == 0);
    ASSERT_RC(corio_file_close(fd), 0);
    ASSERT_EQ(unlink(path), 0);
    free(in);
    free(out);
    return 0;
}
TEST_TIMEOUT(large_write_read, 20) { run_ok(main_large, NULL); }

/* A read whose buffer is on the task's stack: cancelling the task while the read is in flight must not return
 * before the worker is done with the buffer. The call returns its real result; the next suspension fails. */
struct cancel_reader {
    int fd;
    ssize_t rc;
    int next_rc;
    char byte;
};
static int cancel_reader_fn(void *arg) {
    struct cancel_reader *r = arg;
    char buf[1] = {0};
    r->rc = corio_file_read(r->fd, buf, 1, -1); /* a pipe: blocks on the pool until the byte arrives */
    r->byte = buf[0];
    r->next_rc = corio_sleep(0);
    return 0;
}
static int main_cancel_in_flight(void *arg) {
    (void)arg;
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    struct cancel_reader r = {.fd = p[0]};
    corio_task *t = corio_spawn(cancel_reader_fn, &r);
    ASSERT_NOT_NULL(t);
    ASSERT_RC(corio_sleep(30), 0);
    ASSERT_RC(corio_cancel(t), 0);
    ASSERT_RC(corio_sleep(30), 0);
    ASSERT_EQ(corio_task_done(t), 0); /* still waiting for its read */
    ASSERT_EQ(write(p[1], "z", 1), 1);
    ASSERT_RC(corio_await(t), 0);
    ASSERT_RC(r.rc, 1);
    ASSERT_EQ(r.byte, 'z');
    ASSERT_RC(r.next_rc, -ECANCELED);
    /* a task already cancelled does not start a call, but still closes */
    ASSERT_RC(corio_cancel(corio_current()), 0);
    char c;
    ASSERT_RC(corio_file_read(p[0], &c, 1, -1), -ECANCELED);
    ASSERT_RC(corio_file_close(p[0]), 0);
    ASSERT_RC(corio_file_close(p[1]), 0);
    ASSERT_EQ(fcntl(p[0], F_GETFD), -1);
    return 0;
}
TEST_TIMEOUT(call_in_flight_completes_when_cancelled, 10) { run_ok(main_cancel_in_flight, NULL); }

/* corio_file_close forgets a descriptor the loop watched, as corio_close does: a later descriptor with the same
 * number is armed afresh, so a wait on it is woken. */
struct pipe_reader {
    int fd;
    ssize_t rc;
};
static int pipe_reader_fn(void *arg) {
    struct pipe_reader *r = arg;
    char c;
    r->rc = corio_read(r->fd, &c, 1);
    return 0;
}
static int main_close_registered(void *arg) {
    (void)arg;
    int p[2], q[2];
    ASSERT_EQ(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    corio_timeout scope;
    ASSERT_RC(corio_timeout_enter(&scope, 10), 0);
    ASSERT_RC(corio_wait_readable(p[0]), -ETIMEDOUT); /* the loop now watches p[0] */
    ASSERT_RC(corio_timeout_exit(&scope), -ETIMEDOUT);
    ASSERT_RC(corio_file_close(p[0]), 0);
    ASSERT_RC(corio_close(p[1]), 0);
    ASSERT_EQ(pipe2(q, O_CLOEXEC | O_NONBLOCK), 0);
    ASSERT_EQ(q[0], p[0]); /* the lowest free numbers come back */
    struct pipe_reader r = {.fd = q[0]};
    corio_task *t = corio_spawn(pipe_reader_fn, &r);
    ASSERT_NOT_NULL(t);
    ASSERT_RC(corio_sleep(10), 0);
    ASSERT_EQ(write(q[1], "x", 1), 1);
    ASSERT_RC(corio_wait_for(t, 1000), 0);
    ASSERT_RC(r.rc, 1);
    ASSERT_RC(corio_close(q[0]), 0);
    ASSERT_RC(corio_close(q[1]), 0);
    return 0;
}
TEST_TIMEOUT(close_forgets_watched_descriptor, 10) { run_ok(main_close_registered, NULL); }
