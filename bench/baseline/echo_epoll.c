/* echo_epoll.c - the floor for bench/io.sh's echo comparison: a single-threaded epoll echo server written the way
 * one would by hand for speed, with nothing between the loop and the system calls. Each connection is added once,
 * edge-triggered for both directions (no epoll_ctl after that), and a read that returns less than the buffer
 * counts as having drained the socket, as nginx and libuv do, so a steady ping-pong costs one read(2) and one
 * write(2) per message plus a share of an epoll_wait: no EAGAIN read, no level-triggered re-poll. A partial write
 * keeps the rest in a per-connection copy, and that connection reads no more until it has drained, so a slow
 * reader cannot make the server buffer without bound.
 *   usage: echo_epoll PORT   (listens on every IPv4 address; runs until killed) */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF 65536      /* the read buffer, shared: a connection only owns memory while a write is pending */
#define MAX_EVENTS 256 /* per epoll_wait; more only helps when more than 256 connections are ready at once */

/* What a connection must remember between events: an edge that has not been consumed yet, and the unsent tail
 * of its last echo. */
struct conn {
    bool readable; /* an input edge came and no read has since found the socket drained */
    char *pending; /* malloc'd unsent bytes, NULL when none */
    size_t off, len;
};

static struct conn *conns; /* indexed by descriptor */
static size_t nconns;
static int ep;

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void drop(int fd) {
    free(conns[fd].pending);
    memset(&conns[fd], 0, sizeof conns[fd]);
    close(fd); /* removes it from the epoll set too: nothing else holds the descriptor */
}

/* Writes what it can of data and keeps the rest. false if fd was dropped. */
static bool send_back(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            break; /* the output edge (EPOLLOUT) tells when there is room again */
        } else {
            drop(fd);
            return false;
        }
    }
    struct conn *c = &conns[fd];
    if (len == 0) {
        free(c->pending);
        c->pending = NULL;
        return true;
    }
    char *copy = malloc(len);
    if (copy == NULL) die("malloc");
    memcpy(copy, data, len);
    free(c->pending);
    c->pending = copy;
    c->off = 0;
    c->len = len;
    return true;
}

/* Does all fd can do now: finish a pending write, then echo what there is to read. */
static void serve(int fd, char *buf) {
    struct conn *c = &conns[fd];
    if (c->pending && !send_back(fd, c->pending + c->off, c->len - c->off)) return;
    while (c->readable && c->pending == NULL) {
        ssize_t n = read(fd, buf, BUF);
        if (n > 0) {
            if (n < BUF) c->readable = false; /* a short read emptied the socket: the next edge will say more */
            if (!send_back(fd, buf, (size_t)n)) return;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            c->readable = false;
        } else {
            drop(fd); /* 0: the peer is done; or an error (a reset) */
            return;
        }
    }
}

static void on_accept(int lfd) {
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE) perror("accept4");
            return; /* EAGAIN: the backlog is empty */
        }
        if ((size_t)fd >= nconns) {
            size_t n = nconns ? nconns : 1024;
            while (n <= (size_t)fd) n *= 2;
            struct conn *grown = realloc(conns, n * sizeof *grown);
            if (grown == NULL) die("realloc");
            memset(grown + nconns, 0, (n - nconns) * sizeof *grown);
            conns = grown;
            nconns = n;
        }
        int one = 1; /* as the libuv baseline and the load generator: Nagle must not be the difference */
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        /* A client may have written before it was accepted; the first edge then came before the registration,
         * and epoll reports a ready socket on ADD, so that edge is not lost. */
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.fd = fd};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
    }
}

int main(int argc, char **argv) {
    char *end = NULL;
    long port = argc == 2 ? strtol(argv[1], &end, 10) : -1;
    if (argc != 2 || *end != '\0' || port <= 0 || port > 65535) {
        fprintf(stderr, "usage: echo_epoll PORT\n");
        return 2;
    }
    (void)signal(SIGPIPE, SIG_IGN); /* a peer gone mid-write is an EPIPE to handle, not a reason to die */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0) die("socket");
    int one = 1;
    (void)setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0) die("bind");
    if (listen(lfd, SOMAXCONN) < 0) die("listen");
    if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0) die("epoll_create1");
    struct epoll_event lev = {.events = EPOLLIN, .data.fd = lfd}; /* level-triggered: accept drains it anyway */
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0) die("epoll_ctl");

    static char buf[BUF];
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                on_accept(lfd);
                continue;
            }
            /* a hang-up or an error shows as read's 0 or -1 */
            if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) conns[fd].readable = true;
            serve(fd, buf);
        }
    }
}
