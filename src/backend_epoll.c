/* backend_epoll.c - the epoll backend: the loop blocks here when no task is ready, until the next timer is due or
 * an event arrives. File-descriptor readiness (registered once per fd, level of edge left to the I/O layer) is
 * added on top of this by the I/O work; for now the backend is the loop's sleep. */
#include <sys/epoll.h>
#include <unistd.h>

#include "internal.h"

#define EVENTS_PER_POLL 64

int corio__backend_init(corio__backend *b) {
    b->waiters = 0;
    b->fd = epoll_create1(EPOLL_CLOEXEC);
    return b->fd < 0 ? -errno : 0;
}

void corio__backend_close(corio__backend *b) {
    if (b->fd >= 0) close(b->fd);
    b->fd = -1;
}

int corio__backend_poll(corio__loop *l, int timeout_ms) {
    struct epoll_event ev[EVENTS_PER_POLL];
    int n = epoll_wait(l->backend.fd, ev, EVENTS_PER_POLL, timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    corio__update_now(l);
    return n;
}
