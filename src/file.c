/* file.c - regular-file I/O on the thread pool (asyncio's to_thread for files, libuv's uv_fs_*): a disk read
 * cannot be waited for with epoll, so each call runs the blocking system call on a pool thread while its task is
 * suspended.
 *
 * Every call runs through corio__to_thread_shielded: once submitted it completes and returns its real result
 * even if the caller is cancelled meanwhile, because the worker writes into the caller's buffer, which may live on
 * the caller's stack. A call made by a task that is already cancelled (or past its timeout scope) is not started
 * at all, as with any suspension — except close, which always closes so cleanup code leaks no descriptor. */
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* One request, on the caller's stack: the worker reads the arguments and stores the result. */
typedef struct file_req {
    const char *path;
    int flags;
    mode_t mode;
    int fd;
    void *buf;
    size_t len;
    int64_t offset;
    struct stat *st;
    ssize_t result;
} file_req;

/* 0 if the caller may start a pool call now, else -EPERM, -ECANCELED or -ETIMEDOUT. */
static int may_start(void) {
    corio__loop *l;
    corio_task *self = corio__self(&l);
    if (!self) return -EPERM;
    return corio__check(l, self);
}

/* Runs fn on the pool and hands back the result it stored in r. */
static ssize_t submit(corio_work_fn fn, file_req *r) {
    int rc = may_start();
    if (rc < 0) return rc;
    if ((rc = corio__to_thread_shielded(fn, r)) < 0) return rc;
    return r->result;
}

static int do_open(void *arg) {
    file_req *r = arg;
    int fd;
    do fd = open(r->path, r->flags, r->mode);
    while (fd < 0 && errno == EINTR);
    r->result = fd < 0 ? -errno : fd;
    return 0;
}

int corio_file_open(const char *path, int flags, mode_t mode) {
    if (!path) return -EINVAL;
    /* corio's descriptors are close-on-exec: a subprocess spawned meanwhile must not inherit the file */
    file_req r = {.path = path, .flags = flags | O_CLOEXEC, .mode = mode};
    return (int)submit(do_open, &r);
}

static int do_read(void *arg) {
    file_req *r = arg;
    ssize_t n;
    do n = r->offset < 0 ? read(r->fd, r->buf, r->len) : pread(r->fd, r->buf, r->len, (off_t)r->offset);
    while (n < 0 && errno == EINTR);
    r->result = n < 0 ? -errno : n;
    return 0;
}

ssize_t corio_file_read(int fd, void *buf, size_t len, int64_t offset) {
    if (fd < 0) return -EBADF;
    if ((!buf && len) || offset < -1) return -EINVAL;
    /* the count must fit the ssize_t result; read(2) itself stops at about 2 GiB per call */
    if (len > SSIZE_MAX) len = SSIZE_MAX;
    file_req r = {.fd = fd, .buf = buf, .len = len, .offset = offset};
    return submit(do_read, &r);
}

/* The whole buffer in one pool job: a short write (a full disk, a signal) is retried there, not by a round trip
 * through the loop for each piece. */
static int do_write(void *arg) {
    file_req *r = arg;
    size_t done = 0;
    while (done < r->len) {
        const char *p = (const char *)r->buf + done;
        size_t left = r->len - done;
        ssize_t n = r->offset < 0 ? write(r->fd, p, left) : pwrite(r->fd, p, left, (off_t)(r->offset + (int64_t)done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            r->result = -errno;
            return 0;
        }
        if (n == 0) { /* no progress and no error: stop rather than spin */
            r->result = -EIO;
            return 0;
        }
        done += (size_t)n;
    }
    r->result = (ssize_t)done;
    return 0;
}

ssize_t corio_file_write(int fd, const void *buf, size_t len, int64_t offset) {
    if (fd < 0) return -EBADF;
    if ((!buf && len) || offset < -1 || len > SSIZE_MAX) return -EINVAL;
    file_req r = {.fd = fd, .buf = (void *)buf, .len = len, .offset = offset};
    return submit(do_write, &r);
}

static int do_close(void *arg) {
    file_req *r = arg;
    /* Linux releases the descriptor even when close reports EINTR: never retry */
    r->result = close(r->fd) < 0 && errno != EINTR ? -errno : 0;
    return 0;
}

int corio_file_close(int fd) {
    if (fd < 0) return -EBADF;
    corio__loop *l;
    corio_task *self = corio__self(&l);
    file_req r = {.fd = fd};
    if (l) corio__fd_forget(l, fd); /* as corio_close: the number may be reused by a later descriptor */
    /* a cancelled task or code outside a task still gets its descriptor closed, here in this thread */
    if (!self || corio__check(l, self) < 0) {
        do_close(&r);
        return (int)r.result;
    }
    if (corio__to_thread_shielded(do_close, &r) < 0) do_close(&r); /* no pool: close here rather than leak */
    return (int)r.result;
}

static int do_stat(void *arg) {
    file_req *r = arg;
    r->result = stat(r->path, r->st) < 0 ? -errno : 0;
    return 0;
}

int corio_file_stat(const char *path, struct stat *st) {
    if (!path || !st) return -EINVAL;
    file_req r = {.path = path, .st = st};
    return (int)submit(do_stat, &r);
}
