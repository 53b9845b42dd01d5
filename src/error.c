/* error.c - corio_strerror and corio_err_name, from one table so the names and sentences cannot drift apart
 * (libuv generates both from its UV_ERRNO_MAP the same way). */
#include <string.h>

#include "internal.h"

#define CORIO_ERRORS(X)                                                                                                \
    X(EPERM, "operation not permitted here (not inside a corio task or loop)")                                         \
    X(ENOENT, "no such file or directory")                                                                             \
    X(ESRCH, "no such task (it has already ended)")                                                                    \
    X(EINTR, "interrupted system call")                                                                                \
    X(EIO, "input/output error")                                                                                       \
    X(EBADF, "bad file descriptor")                                                                                    \
    X(EAGAIN, "resource temporarily unavailable")                                                                      \
    X(ENOMEM, "out of memory")                                                                                         \
    X(EACCES, "permission denied")                                                                                     \
    X(EBUSY, "resource busy")                                                                                          \
    X(EEXIST, "file exists")                                                                                           \
    X(EINVAL, "invalid argument")                                                                                      \
    X(EMFILE, "too many open files")                                                                                   \
    X(ENOSPC, "no space left on device")                                                                               \
    X(EPIPE, "closed (broken pipe)")                                                                                   \
    X(ERANGE, "result out of range")                                                                                   \
    X(EDEADLK, "would deadlock (a task waiting on itself)")                                                            \
    X(ENAMETOOLONG, "name too long")                                                                                   \
    X(ENOSYS, "function not implemented")                                                                              \
    X(EMSGSIZE, "message too long")                                                                                    \
    X(EPROTO, "protocol error")                                                                                        \
    X(EADDRINUSE, "address already in use")                                                                            \
    X(EADDRNOTAVAIL, "address not available")                                                                          \
    X(ENETUNREACH, "network is unreachable")                                                                           \
    X(ECONNABORTED, "connection aborted")                                                                              \
    X(ECONNRESET, "connection reset by peer")                                                                          \
    X(ENOTCONN, "socket is not connected")                                                                             \
    X(ETIMEDOUT, "timed out")                                                                                          \
    X(ECONNREFUSED, "connection refused")                                                                              \
    X(EHOSTUNREACH, "host is unreachable")                                                                             \
    X(EALREADY, "operation already in progress")                                                                       \
    X(EINPROGRESS, "operation in progress")                                                                            \
    X(ECANCELED, "operation canceled")                                                                                 \
    X(EDOM, "argument out of domain")                                                                                  \
    X(EOVERFLOW, "value too large (released more times than acquired)")                                                \
    X(ENFILE, "too many open files in the system")                                                                     \
    X(ESHUTDOWN, "the loop has shut down")                                                                             \
    X(ENOBUFS, "no buffer space available")                                                                            \
    X(EOPNOTSUPP, "operation not supported")                                                                           \
    X(ENOTSOCK, "not a socket")                                                                                        \
    X(E2BIG, "argument list too long")                                                                                 \
    X(ELOOP, "too many levels of symbolic links")                                                                      \
    X(EROFS, "read-only file system")                                                                                  \
    X(ENOTDIR, "not a directory")                                                                                      \
    X(EISDIR, "is a directory")                                                                                        \
    X(ESPIPE, "illegal seek")                                                                                          \
    X(ENXIO, "no such device or address")                                                                              \
    X(ECHILD, "no child processes")                                                                                    \
    X(EAFNOSUPPORT, "address family not supported")                                                                    \
    X(ENETDOWN, "network is down")                                                                                     \
    X(EHOSTDOWN, "host is down")                                                                                       \
    X(EFAULT, "bad address")

static const struct {
    int code;
    const char *name;
    const char *text;
} errors[] = {
#define X(code, text) {code, #code, text},
    CORIO_ERRORS(X)
#undef X
};

static int find(int rc) {
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++)
        if (rc == -errors[i].code) return (int)i;
    return -1;
}

const char *corio_strerror(int rc) {
    if (rc >= 0) return "success";
    int i = find(rc);
    if (i >= 0) return errors[i].text;
    return "unknown error";
}

const char *corio_err_name(int rc) {
    if (rc >= 0) return "OK";
    int i = find(rc);
    return i >= 0 ? errors[i].name : "UNKNOWN";
}
