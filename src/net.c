/* net.c - sockets: name resolution (getaddrinfo on the thread pool), TCP connect / listen / accept, Unix stream
 * sockets and UDP datagrams. Every socket is non-blocking and close-on-exec from birth, every wait goes through
 * corio__fd_wait after the system call said EAGAIN, and a call that fails or is cancelled closes whatever it
 * opened, so no descriptor is ever left behind.
 *
 * The calls that never suspend (listening and binding on a numeric address, corio_local_port, corio_shutdown)
 * also work outside a task, so a program can take its port before corio_run (and drop privileges after). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

/* Unix connect retries while the listener's backlog is full: nothing becomes pollable on our side when room
 * appears, so it backs off from 1 ms to this. */
#define UNIX_RETRY_MAX_MS 64

typedef union sockaddr_any {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
    struct sockaddr_un un;
    struct sockaddr_storage ss;
} sockaddr_any;

/* ---- name resolution ------------------------------------------------------------------------------------- */

/* getaddrinfo's EAI_* codes as negative errno values; err is errno as getaddrinfo left it (for EAI_SYSTEM). */
static int eai_to_errno(int eai, int err) {
    switch (eai) {
    case 0:
        return 0;
    case EAI_NONAME:
#if defined(EAI_NODATA) && EAI_NODATA != EAI_NONAME
    case EAI_NODATA:
#endif
#if defined(EAI_ADDRFAMILY)
    case EAI_ADDRFAMILY: /* the name exists, without an address of the family asked for */
#endif
    case EAI_FAIL:
        return -ENOENT;
    case EAI_AGAIN:
        return -EAGAIN;
    case EAI_MEMORY:
        return -ENOMEM;
    case EAI_SYSTEM:
        return err > 0 ? -err : -EIO;
    default:
        return -EINVAL;
    }
}

static int gai(const char *host, const char *service, const struct addrinfo *hints, struct addrinfo **res) {
    errno = 0;
    int eai = getaddrinfo(host, service, hints, res);
    return eai_to_errno(eai, errno);
}

/* RFC 6761 section 6.4: names under .invalid never resolve, and resolver APIs should answer so themselves
 * rather than ask a DNS server (which may be unreachable and take seconds to say so). */
static bool under_invalid(const char *host) {
    size_t n = strlen(host);
    if (n && host[n - 1] == '.') n--;
    if (n == 7) return strncasecmp(host, "invalid", 7) == 0;
    return n > 8 && strncasecmp(host + n - 8, ".invalid", 8) == 0;
}

static bool all_digits(const char *s) {
    if (!*s) return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return false;
    return true;
}

/* A lookup handed to the pool. It owns copies of the strings, so a caller that is cancelled can return at once:
 * the pool then calls dns_abandoned, which frees the job and whatever the lookup found. */
typedef struct dns_job {
    struct addrinfo hints;
    struct addrinfo *res;
    const char *host, *service; /* into text[], or NULL */
    int rc;
    char text[];
} dns_job;

/* Always returns 0 and leaves the answer in the job, so that a negative result of corio_to_thread_opts can only
 * mean the job never ran or was abandoned, never "getaddrinfo failed". */
static int dns_work(void *arg) {
    dns_job *j = arg;
    j->rc = gai(j->host, j->service, &j->hints, &j->res);
#if defined(__GLIBC__)
    /* Pool threads never exit, so glibc's per-thread resolver state (its reference to the parsed resolv.conf)
     * would stay pinned by an idle thread and show as lost at exit (valgrind): release it as an exiting thread
     * does. The next lookup re-attaches the cached configuration (a stat of /etc/resolv.conf). Only an
     * initialised state may be closed: a zeroed one names descriptor 0 as its TCP socket. */
    if (_res.options & RES_INIT) {
        res_nclose(&_res);
        _res.options = 0;
    }
#endif
    return 0;
}

static void dns_abandoned(void *arg) {
    dns_job *j = arg;
    if (j->res) freeaddrinfo(j->res);
    free(j);
}

static int resolve_on_pool(corio__loop *l, corio_task *self, const char *host, const char *service,
                           const struct addrinfo *hints, struct addrinfo **res) {
    if (!self) return -EPERM;
    /* checked here too, so that the only -ECANCELED / -ETIMEDOUT corio_to_thread_opts can return below comes after
     * the job was submitted, when dns_abandoned owns it */
    int rc = corio__check(l, self);
    if (rc < 0) return rc;
    size_t hlen = host ? strlen(host) + 1 : 0, slen = service ? strlen(service) + 1 : 0;
    dns_job *j = malloc(sizeof *j + hlen + slen);
    if (!j) return -ENOMEM;
    j->hints = *hints;
    j->res = NULL;
    j->rc = -EINVAL;
    j->host = host ? memcpy(j->text, host, hlen) : NULL;
    j->service = service ? memcpy(j->text + hlen, service, slen) : NULL;
    rc = corio_to_thread_opts(dns_work, j, &(corio_work_opts){.abandoned = dns_abandoned});
    if (rc == 0) {
        rc = j->rc;
        *res = j->res;
        free(j);
        return rc;
    }
    /* -ECANCELED / -ETIMEDOUT: abandoned, the pool frees j. Anything else (-ENOMEM included: the pool waits
     * without a timer rather than abandon a submitted job) means it was never submitted. */
    if (rc != -ECANCELED && rc != -ETIMEDOUT) free(j);
    return rc;
}

/* Resolves host and service into *res: numeric addresses and ports at once (no thread, no suspension, so also
 * outside a task), names on the thread pool. */
static int resolve(corio__loop *l, corio_task *self, const char *host, const char *service, int socktype, int flags,
                   struct addrinfo **res) {
    *res = NULL;
    if (host && under_invalid(host)) return -ENOENT;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = socktype, .ai_flags = flags};
    /* a named service reads /etc/services: that is file I/O, so it goes to the pool with names */
    if (!service || all_digits(service)) {
        struct addrinfo numeric = hints;
        numeric.ai_flags |= AI_NUMERICHOST | (service ? AI_NUMERICSERV : 0);
        int rc = gai(host, service, &numeric, res);
        if (rc != -ENOENT || !host) return rc;
        *res = NULL; /* not a numeric address: a name to look up */
    }
    return resolve_on_pool(l, self, host, service, &hints, res);
}

int corio_resolve(const char *host, const char *service, int socktype, struct addrinfo **res) {
    corio__loop *l;
    corio_task *self = corio__self(&l);
    if (!self) return -EPERM;
    if (!res) return -EINVAL;
    *res = NULL;
    if ((!host && !service) || socktype < 0) return -EINVAL;
    return resolve(l, self, host, service, socktype, 0, res);
}

/* ---- creating and connecting sockets ------------------------------------------------------------------------ */

/* Request/response traffic (RPC, HTTP, databases) would wait up to 40 ms for delayed ACKs under Nagle, and the
 * streams layer already batches its writes. A failure only costs latency, so it is ignored. */
static void set_nodelay(int fd, int family) {
    if (family != AF_INET && family != AF_INET6) return;
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Closes fd after a failure, keeping the failure's code (corio_close may change errno). */
static int fail_close(int fd, int rc) {
    corio_close(fd);
    return rc;
}

/* Connects the non-blocking socket fd to sa: 0 or -errno. A Unix socket whose listener's backlog is full gets
 * EAGAIN and stays unconnected (nothing to wait on), so with retry_eagain it is tried again after a pause. */
static int connect_fd(corio__loop *l, int fd, const struct sockaddr *sa, socklen_t len, bool retry_eagain) {
    int64_t pause_ms = 1;
    for (;;) {
        if (connect(fd, sa, len) == 0) return 0;
        if (errno == EAGAIN && retry_eagain) {
            int rc = corio_sleep(pause_ms);
            if (rc < 0) return rc;
            if (pause_ms < UNIX_RETRY_MAX_MS) pause_ms *= 2;
            continue;
        }
        /* after EINTR the connection goes on in the background, as after EINPROGRESS */
        if (errno == EINPROGRESS || errno == EINTR) break;
        return -errno;
    }
    for (;;) {
        int rc = corio__fd_wait(l, fd, 1);
        if (rc < 0) return rc;
        int err = 0;
        socklen_t elen = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0) return -errno;
        if (err) return -err;
        sockaddr_any peer;
        socklen_t plen = sizeof peer;
        if (getpeername(fd, &peer.sa, &plen) == 0) return 0;
        if (errno != ENOTCONN) return -errno;
        /* an edge that came before the handshake ended: the one that ends it is still to come */
    }
}

static int connect_one(corio__loop *l, const struct addrinfo *ai) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) return -errno;
    set_nodelay(fd, ai->ai_family);
    int rc = connect_fd(l, fd, ai->ai_addr, ai->ai_addrlen, false);
    return rc < 0 ? fail_close(fd, rc) : fd;
}

int corio_tcp_connect(const char *host, int port) {
    corio__loop *l;
    corio_task *self = corio__self(&l);
    if (!self) return -EPERM;
    /* port 0 is "any port" to bind, but no destination */
    if (!host || !*host || port <= 0 || port > 65535) return -EINVAL;
    char service[8];
    (void)snprintf(service, sizeof service, "%d", port); /* fits: 0 < port <= 65535 */
    struct addrinfo *res;
    int rc = resolve(l, self, host, service, SOCK_STREAM, AI_NUMERICSERV, &res);
    if (rc < 0) return rc;
    rc = -ENOENT;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        rc = connect_one(l, ai);
        /* a refused or unreachable address leads to the next one; a cancelled or timed-out caller stops */
        if (rc >= 0 || corio__check(l, self) < 0) break;
    }
    freeaddrinfo(res);
    return rc;
}

/* ---- listening and binding ------------------------------------------------------------------------------- */

/* A socket of family and type bound to sa, listening with backlog if backlog >= 0. v6only >= 0 sets
 * IPV6_V6ONLY. The fd or -errno. */
static int bind_socket(int family, int type, const struct sockaddr *sa, socklen_t len, int backlog, int v6only,
                       bool reuseport) {
    int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    /* several loops' servers on one port: the kernel spreads the connections over them */
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) return fail_close(fd, -errno);
    /* a restarted server must get its port back while the old connections sit in TIME_WAIT */
    if (type == SOCK_STREAM && family != AF_UNIX && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        return fail_close(fd, -errno);
    if (family == AF_INET6 && v6only >= 0 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) < 0)
        return fail_close(fd, -errno);
    if (bind(fd, sa, len) < 0) return fail_close(fd, -errno);
    if (backlog >= 0 && listen(fd, backlog) < 0) return fail_close(fd, -errno);
    /* Linux copies it to every connection accepted from fd: no setsockopt per connection in corio_serve */
    if (type == SOCK_STREAM && backlog >= 0) set_nodelay(fd, family);
    return fd;
}

/* Every address: [::] taking IPv4 too (one socket serves both), or 0.0.0.0 where IPv6 is missing. */
static int bind_any(int type, int port, int backlog, bool reuseport) {
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = in6addr_any};
    int fd = bind_socket(AF_INET6, type, (const struct sockaddr *)&a6, sizeof a6, backlog, 0, reuseport);
    if (fd >= 0 || (fd != -EAFNOSUPPORT && fd != -EPROTONOSUPPORT && fd != -EADDRNOTAVAIL && fd != -ENOPROTOOPT))
        return fd;
    struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a4.sin_addr.s_addr = htonl(INADDR_ANY);
    return bind_socket(AF_INET, type, (const struct sockaddr *)&a4, sizeof a4, backlog, -1, reuseport);
}

/* tcp_listen and udp_bind: host NULL or "" for every address, else the first of its addresses that binds. */
static int bind_host(const char *host, int port, int type, int backlog, bool reuseport) {
    if (port < 0 || port > 65535) return -EINVAL;
    if (!host || !*host) return bind_any(type, port, backlog, reuseport);
    corio__loop *l;
    corio_task *self = corio__self(&l);
    char service[8];
    (void)snprintf(service, sizeof service, "%d", port); /* fits: 0 <= port <= 65535 */
    struct addrinfo *res;
    int rc = resolve(l, self, host, service, type, AI_PASSIVE | AI_NUMERICSERV, &res);
    if (rc < 0) return rc;
    rc = -ENOENT;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        rc = bind_socket(ai->ai_family, type, ai->ai_addr, ai->ai_addrlen, backlog, -1, reuseport);
        if (rc >= 0) break;
    }
    freeaddrinfo(res);
    return rc;
}

int corio_tcp_listen(const char *host, int port, int backlog) {
    return bind_host(host, port, SOCK_STREAM, backlog > 0 ? backlog : SOMAXCONN, false);
}

int corio__tcp_listen_reuseport(const char *host, int port, int backlog) {
    return bind_host(host, port, SOCK_STREAM, backlog > 0 ? backlog : SOMAXCONN, true);
}

int corio_udp_bind(const char *host, int port) { return bind_host(host, port, SOCK_DGRAM, -1, false); }

/* ---- accepting ------------------------------------------------------------------------------------------- */

/* Sockets corio made are non-blocking from birth; one from elsewhere is made so on first use, as corio_read
 * does, since a blocking accept would stall the whole loop (corio__fd_prepare: once per descriptor). */
static int nonblocking(corio__loop *l, int fd) { return corio__fd_prepare(l, fd); }

int corio_accept(int lfd, struct sockaddr_storage *peer, socklen_t *peer_len) {
    corio__loop *l;
    if (!corio__self(&l)) return -EPERM;
    if (lfd < 0) return -EBADF;
    int rc = nonblocking(l, lfd);
    if (rc < 0) return rc;
    for (;;) {
        sockaddr_any a;
        socklen_t len = sizeof a;
        int fd = accept4(lfd, &a.sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            /* accept4 filled a; clang's analyzer does not see writes through glibc's transparent-union
             * __SOCKADDR_ARG (what _GNU_SOURCE declares accept4 and getsockname with) */
            set_nodelay(fd, a.sa.sa_family); // NOLINT(clang-analyzer-core.CallAndMessage)
            if (peer) *peer = a.ss;
            if (peer_len) *peer_len = len;
            return fd;
        }
        switch (errno) {
        case EAGAIN:
#if EWOULDBLOCK != EAGAIN
        case EWOULDBLOCK:
#endif
            if ((rc = corio__fd_wait(l, lfd, 0)) < 0) return rc;
            break;
        /* the connection died in the queue, or (Linux, accept(2)) a network error pending on it: not the
         * listener's fault, take the next one. Not EOPNOTSUPP from that list: it also means "not a stream
         * socket", which would never change. Not EPERM either: a security module refusing accept would refuse
         * again at once, forever. */
        case EINTR:
        case ECONNABORTED:
        case EPROTO:
        case ENETDOWN:
        case ENOPROTOOPT:
        case EHOSTDOWN:
        case ENONET:
        case EHOSTUNREACH:
        case ENETUNREACH:
            break;
        default:
            return -errno; /* EMFILE / ENFILE included: the server layer decides */
        }
    }
}

/* ---- socket information and shutdown ------------------------------------------------------------------------ */

int corio_local_port(int fd) {
    if (fd < 0) return -EBADF;
    sockaddr_any a;
    socklen_t len = sizeof a;
    if (getsockname(fd, &a.sa, &len) < 0) return -errno;
    // NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult): getsockname filled a, as in corio_accept
    if (a.sa.sa_family == AF_INET) return ntohs(a.in.sin_port);
    if (a.sa.sa_family == AF_INET6) return ntohs(a.in6.sin6_port);
    return -EAFNOSUPPORT;
}

int corio_shutdown(int fd, int how) {
    if (fd < 0) return -EBADF;
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR) return -EINVAL;
    return shutdown(fd, how) < 0 ? -errno : 0;
}

/* ---- Unix stream sockets ----------------------------------------------------------------------------------- */

static int unix_addr(const char *path, struct sockaddr_un *un, socklen_t *len) {
    if (!path || !*path) return -EINVAL;
    size_t n = strlen(path);
    if (n >= sizeof un->sun_path) return -ENAMETOOLONG; /* with its NUL: portable, and what ls and ss print */
    memset(un, 0, sizeof *un);
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, path, n + 1);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 0;
}

int corio_unix_connect(const char *path) {
    corio__loop *l;
    if (!corio__self(&l)) return -EPERM;
    struct sockaddr_un un;
    socklen_t len;
    int rc = unix_addr(path, &un, &len);
    if (rc < 0) return rc;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    rc = connect_fd(l, fd, (const struct sockaddr *)&un, len, true);
    return rc < 0 ? fail_close(fd, rc) : fd;
}

int corio_unix_listen(const char *path, int backlog) {
    struct sockaddr_un un;
    socklen_t len;
    int rc = unix_addr(path, &un, &len);
    if (rc < 0) return rc;
    /* only a socket file is replaced: a stale one from an earlier run is the usual case, while a regular file
     * there is more likely a wrong path than something to delete (bind then says EADDRINUSE) */
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path);
    return bind_socket(AF_UNIX, SOCK_STREAM, (const struct sockaddr *)&un, len, backlog > 0 ? backlog : SOMAXCONN, -1,
                       false);
}

/* ---- datagrams ------------------------------------------------------------------------------------------- */

/* MSG_DONTWAIT makes each call non-blocking even on a descriptor that is not, so no fcntl is needed here. */

ssize_t corio_sendto(int fd, const void *buf, size_t len, const struct sockaddr *to, socklen_t to_len) {
    corio__loop *l;
    if (!corio__self(&l)) return -EPERM;
    if (fd < 0) return -EBADF;
    if ((!buf && len) || (!to && to_len)) return -EINVAL;
    for (;;) {
        ssize_t n = sendto(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL, to, to_len);
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
        int rc = corio__fd_wait(l, fd, 1);
        if (rc < 0) return rc;
    }
}

ssize_t corio_recvfrom(int fd, void *buf, size_t len, struct sockaddr_storage *from, socklen_t *from_len) {
    corio__loop *l;
    if (!corio__self(&l)) return -EPERM;
    if (fd < 0) return -EBADF;
    if (!buf && len) return -EINVAL;
    for (;;) {
        sockaddr_any a;
        socklen_t alen = sizeof a;
        ssize_t n = recvfrom(fd, buf, len, MSG_DONTWAIT, &a.sa, &alen);
        if (n >= 0) {
            if (from) *from = a.ss;
            if (from_len) *from_len = alen;
            return n;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
        int rc = corio__fd_wait(l, fd, 0);
        if (rc < 0) return rc;
    }
}
