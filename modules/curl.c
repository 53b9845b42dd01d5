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

/* One request in flight, on its caller's stack. */
struct xfer {
    CURL *easy;
    corio_event *done;
    corio_http_resp *resp;
    size_t body_cap;
    CURLcode result;
    bool finished;
    int alloc_failed; /* a header or body could not be stored: the transfer is aborted with -ENOMEM */
    struct xfer *prev, *next;
};

/* The loop's client: the multi handle, its epoll set and timer. */
struct client {
    CURLM *multi;
    int epfd, tfd;
    bool driver_alive;
    size_t nreq;        /* requests between their start and their return */
    struct xfer *xfers; /* transfers in the multi handle, not finished */
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

static void finish(struct client *c, struct xfer *x, CURLcode result) {
    x->result = result;
    x->finished = true;
    if (x->prev)
        x->prev->next = x->next;
    else
        c->xfers = x->next;
    if (x->next) x->next->prev = x->prev;
    x->prev = x->next = NULL;
    corio_event_set(x->done);
}

static void collect_done(struct client *c) {
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL *easy = msg->easy_handle;
        CURLcode result = msg->data.result;
        struct xfer *x = NULL;
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

static size_t on_body(char *data, size_t size, size_t n, void *arg) {
    struct xfer *x = arg;
    corio_http_resp *r = x->resp;
    size_t len = size * n;
    if (r->body_len + len + 1 > x->body_cap) {
        size_t cap = x->body_cap ? x->body_cap : 4096;
        while (cap < r->body_len + len + 1) cap *= 2;
        char *b = realloc(r->body, cap);
        if (!b) {
            x->alloc_failed = 1;
            return 0; /* CURLE_WRITE_ERROR */
        }
        r->body = b;
        x->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return len;
}

static void free_headers(corio_http_resp *r) {
    for (size_t i = 0; i < r->nheaders; i++) free(r->headers[i]);
    free(r->headers);
    r->headers = NULL;
    r->nheaders = 0;
}

/* Called once per header line of every response, redirects and 1xx included: keep the last response's. */
static size_t on_header(char *data, size_t size, size_t n, void *arg) {
    struct xfer *x = arg;
    corio_http_resp *r = x->resp;
    size_t len = size * n;
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        free_headers(r);
        return len; /* the status line: the status itself comes from CURLINFO_RESPONSE_CODE */
    }
    size_t l = len;
    while (l > 0 && (data[l - 1] == '\n' || data[l - 1] == '\r')) l--;
    if (l == 0) return len;
    char **h = realloc(r->headers, (r->nheaders + 1) * sizeof *h);
    if (!h) goto nomem;
    r->headers = h;
    char *line = malloc(l + 1);
    if (!line) goto nomem;
    memcpy(line, data, l);
    line[l] = '\0';
    r->headers[r->nheaders++] = line;
    return len;
nomem:
    x->alloc_failed = 1;
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

/* Sets the options of one request: 0, -EINVAL (bad method or header), -ENOMEM. */
static int setup(CURL *e, const corio_http_req *req, struct xfer *x, struct curl_slist **hdrs) {
    corio_http_resp *resp = x->resp;
    const char *m = req->method;
    if (m && !valid_method(m)) return bad(resp, "invalid HTTP method");
    bool has_expect = false;
    for (const char *const *h = req->headers; h && *h; h++) {
        if (strpbrk(*h, "\r\n") || !strchr(*h, ':')) return bad(resp, "header lines are \"Name: value\", one line");
        if (strncasecmp(*h, "Expect:", 7) == 0) has_expect = true;
        struct curl_slist *n = curl_slist_append(*hdrs, *h);
        if (!n) return -ENOMEM;
        *hdrs = n;
    }
    if (req->body && !has_expect) { /* curl would wait up to 1 s for a "100 Continue" before a large body */
        struct curl_slist *n = curl_slist_append(*hdrs, "Expect:");
        if (!n) return -ENOMEM;
        *hdrs = n;
    }
    CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                                                  \
    do {                                                                                                               \
        if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val);                                                        \
    } while (0)
    SET(CURLOPT_URL, req->url);
    SET(CURLOPT_PRIVATE, (void *)x);
    SET(CURLOPT_ERRORBUFFER, resp->error);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, req->no_follow ? 0L : 1L);
    SET(CURLOPT_MAXREDIRS, 10L);
    SET(CURLOPT_SSL_VERIFYPEER, req->insecure ? 0L : 1L);
    SET(CURLOPT_SSL_VERIFYHOST, req->insecure ? 0L : 2L);
    if (req->ca_file) SET(CURLOPT_CAINFO, req->ca_file);
    if (req->timeout_ms > 0) SET(CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, (void *)x);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, (void *)x);
    SET(CURLOPT_SOCKOPTFUNCTION, on_sockopt);
    if (*hdrs) SET(CURLOPT_HTTPHEADER, *hdrs);
    if (m && strcmp(m, "HEAD") == 0)
        SET(CURLOPT_NOBODY, 1L);
    else if (req->body || (m && strcmp(m, "POST") == 0)) {
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body ? req->body_len : 0));
        SET(CURLOPT_COPYPOSTFIELDS, req->body ? (const char *)req->body : "");
    }
    if (m && strcmp(m, "GET") != 0 && strcmp(m, "POST") != 0 && strcmp(m, "HEAD") != 0) SET(CURLOPT_CUSTOMREQUEST, m);
#undef SET
    if (rc == CURLE_OUT_OF_MEMORY) return -ENOMEM;
    if (rc != CURLE_OK) return bad(resp, curl_easy_strerror(rc));
    return 0;
}

int corio_http_request(const corio_http_req *req, corio_http_resp *resp) {
    if (!resp) return -EINVAL;
    memset(resp, 0, sizeof *resp);
    if (!req || !req->url) return bad(resp, "no request or no URL");
    if (!zeroed(req->reserved, sizeof req->reserved)) return bad(resp, "reserved space not zero (a newer header?)");
    if (strncasecmp(req->url, "http://", 7) != 0 && strncasecmp(req->url, "https://", 8) != 0)
        return bad(resp, "only http:// and https:// URLs are supported");
    if (req->body_len && !req->body) return bad(resp, "body_len without a body");
    if (!corio_current()) return -EPERM;
    int rc = corio_checkpoint();
    if (rc < 0) return rc;
    struct client *c = get_client(&rc);
    if (!c) return rc;

    struct xfer x = {.resp = resp};
    struct curl_slist *hdrs = NULL;
    c->nreq++;
    x.done = corio_event_new();
    x.easy = curl_easy_init();
    if (!x.done || !x.easy) {
        rc = -ENOMEM;
        goto out;
    }
    if ((rc = setup(x.easy, req, &x, &hdrs)) < 0) goto out;
    if (curl_multi_add_handle(c->multi, x.easy) != CURLM_OK) {
        rc = -ENOMEM;
        goto out;
    }
    x.next = c->xfers;
    if (x.next) x.next->prev = &x;
    c->xfers = &x;
    /* curl has set its timer to 0 ms: the timerfd wakes the driver, which starts the transfer */
    rc = corio_event_wait(x.done);
    if (!x.finished) { /* cancelled or timed out: drop this transfer alone */
        curl_multi_remove_handle(c->multi, x.easy);
        if (x.prev)
            x.prev->next = x.next;
        else
            c->xfers = x.next;
        if (x.next) x.next->prev = x.prev;
        if (rc == 0) rc = -EIO;
        (void)snprintf(resp->error, sizeof resp->error, "%s", corio_strerror(rc));
    } else if (x.alloc_failed) {
        rc = -ENOMEM;
    } else {
        rc = map_error(x.easy, x.result);
        long status = 0;
        curl_easy_getinfo(x.easy, CURLINFO_RESPONSE_CODE, &status);
        resp->status = (int)status;
        if (rc < 0 && !resp->error[0])
            (void)snprintf(resp->error, sizeof resp->error, "%s", curl_easy_strerror(x.result));
    }
out:
    if (x.easy) curl_easy_cleanup(x.easy);
    curl_slist_free_all(hdrs);
    corio_event_free(x.done);
    if (rc < 0) { /* no partial response: a failed call leaves only the message */
        char msg[CORIO_HTTP_ERROR_SIZE];
        memcpy(msg, resp->error, sizeof msg);
        corio_http_resp_free(resp);
        memcpy(resp->error, msg, sizeof msg);
    }
    if (--c->nreq == 0 && !c->driver_alive) client_free(c);
    return rc;
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
    free_headers(resp);
    free(resp->body);
    memset(resp, 0, sizeof *resp);
}
