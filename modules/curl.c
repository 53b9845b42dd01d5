/* curl.c - the HTTP(S) client module: libcurl's multi-socket interface driven by a corio task.
 *
 * One curl multi handle per loop, made on the first request. Its sockets go into a private level-triggered epoll
 * set, and curl's timer is a timerfd in the same set, so the loop watches a single descriptor: one driver task
 * waits for it to be readable and feeds each ready socket (and an expired timer) to curl_multi_socket_action.
 * A request adds its easy handle and parks on its own event; the driver sets the event when curl reports the
 * transfer done. Why a private epoll set rather than corio_wait_readable per socket: curl closes its sockets
 * with close(2) (the threaded resolver's socketpair even bypasses CURLOPT_CLOSESOCKETFUNCTION) and may report
 * CURL_POLL_REMOVE after the close, when the number can already belong to a new socket; corio's fd registry
 * must see every watched descriptor closed by corio_close, while the kernel drops a closed descriptor from an
 * epoll set by itself. The timerfd lets a request that shortens curl's timer wake the parked driver.
 *
 * A stream (corio_http_open) keeps at most STREAM_BUFFER bytes unread: past that its write callback pauses the
 * transfer (libcurl then holds the write back and stops reading the socket) and corio_http_read resumes it, so a
 * body of any size passes through a bounded buffer. Every task's requests share the multi handle, hence its
 * cache of kept-alive connections and its connection limits.
 *
 * Lifetime: the driver stays parked (no cost) while the loop lives, so sequential requests reuse curl's kept-
 * alive connections; it is detached, and the loop's final cancellation ends it. The last of the driver and the
 * requests still in flight to leave frees the multi handle and the descriptors. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "corio_curl.h"

/* One request. Its caller's task and the driver both use it, so it lives on the heap (a compact task's stack moves
 * while it waits); the headers, body and curl's message collect here and are moved into the caller's
 * corio_http_resp by the caller's own task. A stream is the same object, kept until corio_http_close. */
struct corio_http_stream {
    CURL *easy;
    struct client *c;
    corio_event *wake;     /* set when the transfer finishes, and for a stream when headers or body bytes arrive */
    corio_http_resp *resp; /* a stream's, for the message of a failed read */
    struct curl_slist *hdrs;
    char **headers; /* the last response's header lines */
    size_t nheaders;
    char *body; /* the body; a stream's unread bytes are body[body_off, body_len) */
    size_t body_off, body_len, body_cap;
    size_t max_body, received;
    CURLcode result;
    bool finished;
    bool stream;
    bool ready;    /* a stream's final headers are in: later header lines (trailers) are ignored */
    bool paused;   /* on_body paused the transfer: the reader resumes it */
    bool follow;   /* redirects are followed */
    bool location; /* the current response has a Location header */
    bool too_big;  /* the body passed max_body */
    bool in_multi; /* added to the multi handle (removed when it finishes or is dropped) */
    bool alloc_failed;
    char error[CURL_ERROR_SIZE];
    struct corio_http_stream *prev, *next;
};
typedef struct corio_http_stream xfer;

/* A stream buffers at most this much unread: 4 of libcurl's 16 KiB writes, so one pause lets a reader drain a
 * few writes at a time. */
#define STREAM_BUFFER ((size_t)64 << 10)

/* The loop's client: the multi handle, its epoll set and timer. */
struct client {
    CURLM *multi;
    int epfd, tfd;
    bool driver_alive;
    size_t nreq; /* requests between their start and their return */
    xfer *xfers; /* transfers in the multi handle, not finished */
};

static _Thread_local struct client *cur_client;

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;
/* curl_global_init is not thread-safe in 7.88 (it initialises OpenSSL): once per process, never undone, since
 * another thread's loop may still use curl. */
static void global_init(void) { global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static void client_free(struct client *c) {
    if (c->multi) curl_multi_cleanup(c->multi); /* may still call on_socket: the descriptors stay open till here */
    if (c->epfd >= 0) corio_close(c->epfd);
    if (c->tfd >= 0) close(c->tfd);
    if (cur_client == c) cur_client = NULL;
    free(c);
}

static void finish(struct client *c, xfer *x, CURLcode result) {
    x->result = result;
    x->finished = true;
    if (x->prev)
        x->prev->next = x->next;
    else
        c->xfers = x->next;
    if (x->next) x->next->prev = x->prev;
    x->prev = x->next = NULL;
    corio_event_set(x->wake);
}

static void collect_done(struct client *c) {
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL *easy = msg->easy_handle;
        CURLcode result = msg->data.result;
        xfer *x = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(c->multi, easy); /* invalidates msg */
        if (x) finish(c, x, result);
    }
}

static int driver(void *arg) {
    struct client *c = arg;
    struct epoll_event ev[64];
    for (;;) {
        if (corio_wait_readable(c->epfd) < 0) break; /* -ECANCELED: the loop is ending */
        int n = epoll_wait(c->epfd, ev, 64, 0);
        if (n < 0 && errno != EINTR) break;
        bool timer = false;
        for (int i = 0; i < n; i++) {
            if (ev[i].data.fd == c->tfd) {
                uint64_t ticks;
                ssize_t r = read(c->tfd, &ticks, sizeof ticks); /* re-arms it; EAGAIN if already read */
                (void)r;
                timer = true;
                continue;
            }
            int flags = 0;
            if (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) flags |= CURL_CSELECT_IN;
            if (ev[i].events & EPOLLOUT) flags |= CURL_CSELECT_OUT;
            if (ev[i].events & EPOLLERR) flags |= CURL_CSELECT_ERR;
            int running;
            curl_multi_socket_action(c->multi, ev[i].data.fd, flags, &running);
        }
        if (timer) {
            int running;
            curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        collect_done(c);
    }
    /* No driver from now on: fail whatever is still in flight (its tasks are being cancelled too). */
    c->driver_alive = false;
    while (c->xfers) {
        curl_multi_remove_handle(c->multi, c->xfers->easy);
        finish(c, c->xfers, CURLE_ABORTED_BY_CALLBACK);
    }
    if (c->nreq == 0) client_free(c);
    return 0;
}

/* CURLMOPT_SOCKETFUNCTION: mirror curl's interest in s into the epoll set. */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp) {
    (void)easy;
    (void)socketp;
    struct client *c = userp;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(c->epfd, EPOLL_CTL_DEL, s, NULL); /* fails harmlessly if curl closed s first */
        return 0;
    }
    struct epoll_event ev = {.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0),
                             .data.fd = s};
    if (epoll_ctl(c->epfd, EPOLL_CTL_MOD, s, &ev) == 0) return 0;
    /* ENOENT: new, or the number of a socket curl has closed (the kernel dropped that one from the set) */
    if (errno == ENOENT && epoll_ctl(c->epfd, EPOLL_CTL_ADD, s, &ev) == 0) return 0;
    return -1;
}

/* CURLMOPT_TIMERFUNCTION: curl wants socket_action(CURL_SOCKET_TIMEOUT) in ms (0: at once, -1: never). */
static int on_timer(CURLM *multi, long ms, void *userp) {
    (void)multi;
    struct client *c = userp;
    struct itimerspec its = {0};
    if (ms == 0)
        its.it_value.tv_nsec = 1; /* an all-zero value would disarm it */
    else if (ms > 0) {
        its.it_value.tv_sec = ms / 1000;
        its.it_value.tv_nsec = (ms % 1000) * 1000000L;
    }
    return timerfd_settime(c->tfd, 0, &its, NULL) == 0 ? 0 : -1;
}

/* This loop's client, made (with its driver task) on first use: NULL and *rc on failure. */
static struct client *get_client(int *rc) {
    if (cur_client) {
        if (!cur_client->driver_alive) {
            *rc = -ECANCELED; /* the loop is ending */
            return NULL;
        }
        return cur_client;
    }
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        *rc = -ENOMEM;
        return NULL;
    }
    struct client *c = calloc(1, sizeof *c);
    if (!c) {
        *rc = -ENOMEM;
        return NULL;
    }
    c->tfd = -1;
    c->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (c->epfd < 0) goto fail_errno;
    c->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (c->tfd < 0) goto fail_errno;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = c->tfd};
    if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->tfd, &ev) < 0) goto fail_errno;
    c->multi = curl_multi_init();
    if (!c->multi) {
        *rc = -ENOMEM;
        goto fail;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    corio_task *t = corio_spawn_opts(driver, c, &(corio_task_opts){.name = "corio_curl driver"});
    if (!t) {
        *rc = -errno;
        goto fail;
    }
    corio_detach(t);
    c->driver_alive = true;
    cur_client = c;
    return c;
fail_errno:
    *rc = -errno;
fail:
    client_free(c);
    return NULL;
}

/* CURLOPT_WRITEFUNCTION: a piece of the final response's body. */
static size_t on_body(char *data, size_t size, size_t n, void *arg) {
    xfer *x = arg;
    size_t len = size * n, unread = x->body_len - x->body_off;
    if (x->stream && unread && unread + len > STREAM_BUFFER) {
        x->paused = true; /* libcurl keeps these bytes, and stops reading the socket, until corio_http_read */
        return CURL_WRITEFUNC_PAUSE;
    }
    if (x->max_body && len > x->max_body - x->received) { /* a chunked or close-delimited body, or a lying length */
        x->too_big = true;
        return 0; /* CURLE_WRITE_ERROR */
    }
    if (x->body_off && x->body_len + len + 1 > x->body_cap) { /* a stream: make room before growing */
        memmove(x->body, x->body + x->body_off, unread);
        x->body_off = 0;
        x->body_len = unread;
    }
    if (x->body_len + len + 1 > x->body_cap) {
        size_t cap = x->body_cap ? x->body_cap : 4096;
        while (cap < x->body_len + len + 1) cap *= 2;
        char *b = realloc(x->body, cap);
        if (!b) {
            x->alloc_failed = true;
            return 0;
        }
        x->body = b;
        x->body_cap = cap;
    }
    memcpy(x->body + x->body_len, data, len);
    x->body_len += len;
    x->body[x->body_len] = '\0';
    x->received += len;
    if (x->stream) {
        x->ready = true; /* should the final headers have gone unrecognised */
        corio_event_set(x->wake);
    }
    return len;
}

static void free_lines(char **lines, size_t n) {
    for (size_t i = 0; i < n; i++) free(lines[i]);
    free(lines);
}

/* Called once per header line of every response, redirects and 1xx included: keep the last response's. A stream
 * stops at the end of the final response's headers, which its opener is then handed. */
static size_t on_header(char *data, size_t size, size_t n, void *arg) {
    xfer *x = arg;
    size_t len = size * n;
    if (x->ready) return len; /* trailers: the opener may already hold the header lines */
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        free_lines(x->headers, x->nheaders);
        x->headers = NULL;
        x->nheaders = 0;
        x->location = false;
        return len; /* the status line: the status itself comes from CURLINFO_RESPONSE_CODE */
    }
    size_t l = len;
    while (l > 0 && (data[l - 1] == '\n' || data[l - 1] == '\r')) l--;
    if (l == 0) { /* the end of one response's headers: libcurl follows a 3xx with a Location, answers a 1xx */
        long code = 0;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
        if (x->stream && code >= 200 && !(x->follow && code >= 300 && code < 400 && x->location)) {
            x->ready = true;
            corio_event_set(x->wake);
        }
        return len;
    }
    if (l > 9 && strncasecmp(data, "Location:", 9) == 0) x->location = true;
    char **h = realloc(x->headers, (x->nheaders + 1) * sizeof *h);
    if (!h) goto nomem;
    x->headers = h;
    char *line = malloc(l + 1);
    if (!line) goto nomem;
    memcpy(line, data, l);
    line[l] = '\0';
    x->headers[x->nheaders++] = line;
    return len;
nomem:
    x->alloc_failed = true;
    return 0;
}

/* CURLOPT_SOCKOPTFUNCTION: libcurl does not promise close-on-exec sockets; a child spawned meanwhile (corio's
 * subprocesses, another thread's fork) must not keep them, nor a stale copy of them in our epoll set. */
static int on_sockopt(void *arg, curl_socket_t s, curlsocktype purpose) {
    (void)arg;
    (void)purpose;
    int fl = fcntl(s, F_GETFD);
    if (fl >= 0) fcntl(s, F_SETFD, fl | FD_CLOEXEC);
    return CURL_SOCKOPT_OK;
}

static int map_error(CURL *easy, CURLcode rc) {
    long os_errno = 0;
    switch (rc) {
    case CURLE_OK:
        return 0;
    case CURLE_URL_MALFORMAT:
    case CURLE_BAD_FUNCTION_ARGUMENT:
        return -EINVAL;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return -ENOENT;
    case CURLE_COULDNT_CONNECT:
        curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno);
        return os_errno > 0 ? -(int)os_errno : -ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_UNSUPPORTED_PROTOCOL: /* the scheme was checked: the server redirected elsewhere, or spoke HTTP/0.9 */
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING:
        return -EPROTO;
    case CURLE_TOO_MANY_REDIRECTS:
        return -ELOOP;
    case CURLE_OUT_OF_MEMORY:
        return -ENOMEM;
    case CURLE_ABORTED_BY_CALLBACK:
        return -ECANCELED;
    default:
        return -EIO;
    }
}

/* HTTP method names are tokens (RFC 9110): no space or control character can sneak into the request line. */
static bool valid_method(const char *m) {
    if (!*m) return false;
    for (; *m; m++)
        if (!((*m >= 'A' && *m <= 'Z') || (*m >= 'a' && *m <= 'z') || (*m >= '0' && *m <= '9') ||
              strchr("!#$%&'*+-.^_`|~", *m)))
            return false;
    return true;
}

/* True if the n bytes at p are all zero: a struct's reserved space, where a nonzero byte is an option of a newer
 * header this module does not know (corio.h, "Conventions"). */
static bool zeroed(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i]) return false;
    return true;
}

static int bad(corio_http_resp *resp, const char *why) {
    (void)snprintf(resp->error, sizeof resp->error, "%s", why);
    return -EINVAL;
}

/* Sets the options of one request: 0, -EINVAL (bad method or header), -ENOMEM, or what req->setopt returned. */
static int setup(CURL *e, const corio_http_req *req, xfer *x, corio_http_resp *resp) {
    const char *m = req->method;
    if (m && !valid_method(m)) return bad(resp, "invalid HTTP method");
    bool has_expect = false;
    for (const char *const *h = req->headers; h && *h; h++) {
        if (strpbrk(*h, "\r\n") || !strchr(*h, ':')) return bad(resp, "header lines are \"Name: value\", one line");
        if (strncasecmp(*h, "Expect:", 7) == 0) has_expect = true;
        struct curl_slist *n = curl_slist_append(x->hdrs, *h);
        if (!n) return -ENOMEM;
        x->hdrs = n;
    }
    if (req->body && !has_expect) { /* curl would wait up to 1 s for a "100 Continue" before a large body */
        struct curl_slist *n = curl_slist_append(x->hdrs, "Expect:");
        if (!n) return -ENOMEM;
        x->hdrs = n;
    }
    x->follow = !req->no_follow;
    x->max_body = req->max_body;
    CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                                                  \
    do {                                                                                                               \
        if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val);                                                        \
    } while (0)
    SET(CURLOPT_URL, req->url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, x->follow ? 1L : 0L);
    SET(CURLOPT_MAXREDIRS, 10L);
    SET(CURLOPT_SSL_VERIFYPEER, req->insecure ? 0L : 1L);
    SET(CURLOPT_SSL_VERIFYHOST, req->insecure ? 0L : 2L);
    if (req->ca_file) SET(CURLOPT_CAINFO, req->ca_file);
    if (req->timeout_ms > 0) SET(CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
    if (req->connect_timeout_ms > 0) SET(CURLOPT_CONNECTTIMEOUT_MS, (long)req->connect_timeout_ms);
    /* libcurl refuses a Content-Length over the limit before any byte; on_body counts the other bodies */
    if (req->max_body)
        SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)(req->max_body < INT64_MAX ? req->max_body : INT64_MAX));
    SET(CURLOPT_SOCKOPTFUNCTION, on_sockopt);
    if (x->hdrs) SET(CURLOPT_HTTPHEADER, x->hdrs);
    if (m && strcmp(m, "HEAD") == 0)
        SET(CURLOPT_NOBODY, 1L);
    else if (req->body || (m && strcmp(m, "POST") == 0)) {
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body ? req->body_len : 0));
        SET(CURLOPT_COPYPOSTFIELDS, req->body ? (const char *)req->body : "");
    }
    if (m && strcmp(m, "GET") != 0 && strcmp(m, "POST") != 0 && strcmp(m, "HEAD") != 0) SET(CURLOPT_CUSTOMREQUEST, m);
    if (rc == CURLE_OK && req->setopt) {
        int urc = req->setopt(e, req->setopt_arg);
        if (urc != 0) {
            urc = urc < 0 ? urc : -EINVAL;
            (void)snprintf(resp->error, sizeof resp->error, "req->setopt failed: %s", corio_strerror(urc));
            return urc;
        }
    }
    /* what the module stands on, whatever setopt did */
    SET(CURLOPT_PRIVATE, (void *)x);
    SET(CURLOPT_ERRORBUFFER, x->error);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, (void *)x);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, (void *)x);
#undef SET
    if (rc == CURLE_OUT_OF_MEMORY) return -ENOMEM;
    if (rc != CURLE_OK) return bad(resp, curl_easy_strerror(rc));
    return 0;
}

/* Takes x out of the multi handle if it is still running there. */
static void drop(xfer *x) {
    if (x->finished) return;
    curl_multi_remove_handle(x->c->multi, x->easy);
    if (x->prev)
        x->prev->next = x->next;
    else if (x->c->xfers == x)
        x->c->xfers = x->next;
    if (x->next) x->next->prev = x->prev;
    x->prev = x->next = NULL;
    x->finished = true;
    x->result = CURLE_ABORTED_BY_CALLBACK;
}

static void xfer_free(xfer *x) {
    struct client *c = x->c;
    if (x->easy) {
        if (x->in_multi) drop(x);
        curl_easy_cleanup(x->easy);
    }
    curl_slist_free_all(x->hdrs);
    corio_event_free(x->wake);
    free_lines(x->headers, x->nheaders);
    free(x->body);
    free(x);
    if (--c->nreq == 0 && !c->driver_alive) client_free(c);
}

/* The outcome of a finished transfer: 0 or a negative errno, with its message in resp->error. */
static int outcome(xfer *x, corio_http_resp *resp) {
    int rc;
    if (x->alloc_failed) {
        rc = -ENOMEM;
        (void)snprintf(resp->error, sizeof resp->error, "%s", corio_strerror(rc));
    } else if (x->too_big || x->result == CURLE_FILESIZE_EXCEEDED) {
        rc = -EMSGSIZE;
        (void)snprintf(resp->error, sizeof resp->error, "the body is longer than max_body (%zu bytes)", x->max_body);
    } else {
        rc = map_error(x->easy, x->result);
        if (rc < 0)
            (void)snprintf(resp->error, sizeof resp->error, "%s",
                           x->error[0] ? x->error : curl_easy_strerror(x->result));
    }
    return rc;
}

/* A failed call leaves only the message in resp. */
static int fail(corio_http_resp *resp, int rc) {
    char msg[CORIO_HTTP_ERROR_SIZE];
    memcpy(msg, resp->error, sizeof msg);
    corio_http_resp_free(resp);
    memcpy(resp->error, msg, sizeof msg);
    return rc;
}

/* Checks req, makes its transfer and starts it: the transfer, or NULL and a negative errno in *rc (resp then
 * says why). */
static xfer *start(const corio_http_req *req, corio_http_resp *resp, bool stream, int *rc) {
    if (!req || !req->url) {
        *rc = bad(resp, "no request or no URL");
        return NULL;
    }
    if (!zeroed(req->reserved, sizeof req->reserved)) {
        *rc = bad(resp, "reserved space not zero (a newer header?)");
        return NULL;
    }
    if (strncasecmp(req->url, "http://", 7) != 0 && strncasecmp(req->url, "https://", 8) != 0) {
        *rc = bad(resp, "only http:// and https:// URLs are supported");
        return NULL;
    }
    if (req->body_len && !req->body) {
        *rc = bad(resp, "body_len without a body");
        return NULL;
    }
    if (req->connect_timeout_ms < 0) {
        *rc = bad(resp, "connect_timeout_ms is negative");
        return NULL;
    }
    if (!corio_current()) {
        *rc = -EPERM;
        return NULL;
    }
    if ((*rc = corio_checkpoint()) < 0) return NULL;
    struct client *c = get_client(rc);
    if (!c) return NULL;
    xfer *x = calloc(1, sizeof *x);
    if (!x) {
        *rc = -ENOMEM;
        return NULL;
    }
    x->c = c;
    x->stream = stream;
    c->nreq++;
    x->wake = corio_event_new();
    x->easy = curl_easy_init();
    if (!x->wake || !x->easy) {
        *rc = -ENOMEM;
        goto fail;
    }
    if ((*rc = setup(x->easy, req, x, resp)) < 0) goto fail;
    if (curl_multi_add_handle(c->multi, x->easy) != CURLM_OK) {
        *rc = -ENOMEM;
        goto fail;
    }
    x->in_multi = true;
    x->next = c->xfers;
    if (x->next) x->next->prev = x;
    c->xfers = x;
    return x; /* curl has set its timer to 0 ms: the timerfd wakes the driver, which starts the transfer */
fail:
    xfer_free(x);
    return NULL;
}

/* Moves the final response's status and header lines from the transfer to resp. */
static void hand_over_head(xfer *x, corio_http_resp *resp) {
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    resp->status = (int)status;
    resp->headers = x->headers;
    resp->nheaders = x->nheaders;
    x->headers = NULL;
    x->nheaders = 0;
}

int corio_http_request(const corio_http_req *req, corio_http_resp *resp) {
    if (!resp) return -EINVAL;
    memset(resp, 0, sizeof *resp);
    int rc;
    xfer *x = start(req, resp, false, &rc);
    if (!x) return fail(resp, rc);
    while (!x->finished && (rc = corio_event_wait(x->wake)) == 0) corio_event_clear(x->wake);
    if (rc < 0) /* cancelled or timed out: this transfer alone is dropped */
        (void)snprintf(resp->error, sizeof resp->error, "%s", corio_strerror(rc));
    else if ((rc = outcome(x, resp)) == 0) {
        hand_over_head(x, resp);
        resp->body = x->body;
        resp->body_len = x->body_len;
        x->body = NULL;
    }
    xfer_free(x);
    return rc < 0 ? fail(resp, rc) : 0;
}

int corio_http_open(const corio_http_req *req, corio_http_resp *resp, corio_http_stream **stream) {
    if (!resp) return -EINVAL;
    memset(resp, 0, sizeof *resp);
    if (!stream) return bad(resp, "no stream pointer");
    *stream = NULL;
    int rc = 0;
    xfer *x = start(req, resp, true, &rc);
    if (!x) return fail(resp, rc);
    while (!x->ready && !x->finished) {
        corio_event_clear(x->wake);
        if ((rc = corio_event_wait(x->wake)) < 0) break;
    }
    if (rc < 0)
        (void)snprintf(resp->error, sizeof resp->error, "%s", corio_strerror(rc));
    else if (!x->ready || x->alloc_failed || (x->finished && !x->received))
        rc = outcome(x, resp); /* a failure before any body byte (a Content-Length over max_body...) fails here */
    if (rc < 0) {
        xfer_free(x);
        return fail(resp, rc);
    }
    x->ready = true; /* a transfer that finished without a body: its last headers are the final ones */
    hand_over_head(x, resp);
    x->resp = resp;
    *stream = x;
    return 0;
}

ssize_t corio_http_read(corio_http_stream *x, void *buf, size_t len) {
    if (!x || !buf || !len) return -EINVAL;
    for (;;) {
        size_t unread = x->body_len - x->body_off;
        if (unread) {
            size_t n = unread < len ? unread : len;
            memcpy(buf, x->body + x->body_off, n);
            x->body_off += n;
            if (x->body_off == x->body_len) x->body_off = x->body_len = 0;
            /* resume once all is read: as fast as resuming at half (measured), and fewer pauses, each of which
             * has libcurl copy the write it holds back */
            if (x->paused && !x->finished && x->body_len == x->body_off) {
                x->paused = false;
                CURLcode rc = curl_easy_pause(x->easy, CURLPAUSE_CONT); /* may call on_body at once */
                if (rc != CURLE_OK && !x->finished) {
                    drop(x);
                    x->result = rc;
                }
            }
            return (ssize_t)n;
        }
        if (x->finished) return outcome(x, x->resp);
        corio_event_clear(x->wake);
        int rc = corio_event_wait(x->wake);
        if (rc < 0) return rc; /* the transfer goes on: a later read carries on with it */
    }
}

void corio_http_close(corio_http_stream *s) {
    if (s) xfer_free(s);
}

int corio_http_set_limits(int per_host, int total) {
    if (per_host < 0 || total < 0) return -EINVAL;
    if (!corio_current()) return -EPERM;
    int rc = -ENOMEM;
    struct client *c = get_client(&rc);
    if (!c) return rc;
    if (curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)per_host) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)total) != CURLM_OK)
        return -ENOMEM;
    return 0;
}

int corio_http_get(const char *url, corio_http_resp *resp) {
    return corio_http_request(&(corio_http_req){.url = url}, resp);
}

int corio_http_post(const char *url, const char *content_type, const void *body, size_t len, corio_http_resp *resp) {
    char ct[256];
    int n = snprintf(ct, sizeof ct, "Content-Type: %s", content_type ? content_type : "application/octet-stream");
    if (n < 0 || (size_t)n >= sizeof ct) {
        if (resp) memset(resp, 0, sizeof *resp);
        return resp ? bad(resp, "content type too long") : -EINVAL;
    }
    const char *hdrs[] = {ct, NULL};
    static const char empty[1];
    return corio_http_request(
        &(corio_http_req){
            .method = "POST", .url = url, .headers = hdrs, .body = body ? body : (len ? NULL : empty), .body_len = len},
        resp);
}

const char *corio_http_resp_header(const corio_http_resp *resp, const char *name) {
    if (!resp || !name) return NULL;
    size_t nl = strlen(name);
    for (size_t i = 0; i < resp->nheaders; i++) {
        const char *h = resp->headers[i];
        if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
            h += nl + 1;
            while (*h == ' ' || *h == '\t') h++;
            return h;
        }
    }
    return NULL;
}

void corio_http_resp_free(corio_http_resp *resp) {
    if (!resp) return;
    free_lines(resp->headers, resp->nheaders);
    free(resp->body);
    memset(resp, 0, sizeof *resp);
}
