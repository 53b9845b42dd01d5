/* http_server.c - an HTTP/1.1 "hello" server on Node's http-parser: `http_server [--loops N] [PORT [IDLE_MS]]`
 * (PORT 0 or none: a free port; IDLE_MS, or the environment's HTTP_IDLE_MS, default 5000; N loops, or the
 * environment's CORIO_LOOPS, default 1: one thread each, sharing the port through SO_REUSEPORT; HTTP_WORK_US
 * adds that much CPU work to every response, for benchmarks; HTTP_DEFER_ACCEPT=S has the kernel hold a new
 * connection until its request is in, for up to about S seconds, as nginx's "listen ... deferred"). Prints
 * "listening on port N" and serves until SIGINT or SIGTERM.
 *
 * GET / (and HEAD /) answers "Hello, World!", any other path 404, another method on / 405. Connections are kept
 * alive (HTTP/1.0 only with "Connection: keep-alive"; "Connection: close" is honoured). Pipelined requests are
 * answered in order, and every response produced from one read goes out in one write. A malformed request gets
 * 400 and a close, request headers over 8 KiB get 431, and a request not complete IDLE_MS after its first byte
 * gets 408 (so a client trickling one byte at a time cannot hold the connection either); a connection idle
 * between requests for IDLE_MS is closed without a word, as nginx does, since a client may be about to reuse it.
 *
 *     $ ./http_server 8080 &
 *     $ curl http://127.0.0.1:8080/
 */
#include <corio.h>
#include <errno.h>
#include <http_parser.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define READ_SIZE 16384
#define HEADER_MAX 8192 /* request line and header bytes; nginx's large_client_header_buffers is 8 KiB */

static int64_t idle_ms = 5000;

struct conn {
    int fd;
    http_parser parser;
    int64_t deadline; /* the current request's, or the idle connection's, in corio_now() ms */
    bool in_request;  /* a request has begun and not yet ended */
    bool header_overflow;
    bool closing; /* a response said "Connection: close": parse no further */
    size_t header_bytes;
    char *out; /* responses waiting to be written */
    size_t out_len, out_cap;
    size_t url_len;
    char url[HEADER_MAX + 1]; /* the buffers last: only the fields above are cleared per connection */
    char in[READ_SIZE];
};

/* ---- responses ----------------------------------------------------------------------------------------------- */

/* The Date header, formatted once a second rather than once a response (per thread: one per loop). */
static const char *http_date(void) {
    static _Thread_local time_t last = -1;
    static _Thread_local char date[64];
    time_t now = time(NULL);
    if (now != last) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        last = now;
    }
    return date;
}

/* Appends one response to the connection's output: false only if memory ran out. */
static bool append_response(struct conn *c, int status, const char *reason, const char *extra_headers, const char *body,
                            bool send_body, bool keep_alive, bool http10) {
    size_t blen = strlen(body);
    size_t need = c->out_len + 512 + strlen(extra_headers) + blen;
    if (need > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap * 2 : 4096;
        while (cap < need) cap *= 2;
        char *p = realloc(c->out, cap);
        if (!p) return false;
        c->out = p;
        c->out_cap = cap;
    }
    const char *conn_header = !keep_alive ? "Connection: close\r\n" : http10 ? "Connection: keep-alive\r\n" : "";
    int n = snprintf(c->out + c->out_len, c->out_cap - c->out_len,
                     "HTTP/1.1 %d %s\r\nServer: corio\r\nDate: %s\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %zu\r\n%s%s\r\n%s",
                     status, reason, http_date(), blen, conn_header, extra_headers, send_body ? body : "");
    c->out_len += (size_t)n;
    return true;
}

/* HTTP_WORK_US: a handler's own work per response (a template, a query's decoding), simulated by a fixed count
 * of dependent multiplications calibrated at start-up, not by watching the clock, so that time the thread spends
 * preempted is not counted as work. Benchmarks use it to make the server, not wrk, the limit. */
static uint64_t work_iters;
static volatile uint64_t work_sink;

static uint64_t spin(uint64_t iters) {
    uint64_t x = 88172645463325252ULL;
    for (uint64_t i = 0; i < iters; i++) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return x;
}

/* The answer to a complete request. */
static void respond(struct conn *c) {
    if (work_iters) work_sink = spin(work_iters);
    http_parser *p = &c->parser;
    bool keep_alive = http_should_keep_alive(p) && !p->upgrade; /* no protocol switching here */
    bool http10 = p->http_major == 1 && p->http_minor == 0;
    bool head = p->method == HTTP_HEAD;

    /* the path of an origin-form ("/x?y") or absolute-form ("http://h/x") target */
    struct http_parser_url u;
    http_parser_url_init(&u);
    bool root = false;
    if (http_parser_parse_url(c->url, c->url_len, p->method == HTTP_CONNECT, &u) == 0 && (u.field_set & (1 << UF_PATH)))
        root = u.field_data[UF_PATH].len == 1 && c->url[u.field_data[UF_PATH].off] == '/';

    bool ok;
    if (!root)
        ok = append_response(c, 404, "Not Found", "", "Not Found\n", !head, keep_alive, http10);
    else if (p->method == HTTP_GET || head)
        ok = append_response(c, 200, "OK", "", "Hello, World!", !head, keep_alive, http10);
    else
        ok = append_response(c, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n", "Method Not Allowed\n", true,
                             keep_alive, http10);
    if (!keep_alive || !ok) c->closing = true;
}

/* ---- http-parser callbacks ------------------------------------------------------------------------------------ */

static int on_message_begin(http_parser *p) {
    struct conn *c = p->data;
    c->in_request = true;
    c->header_bytes = c->url_len = 0;
    c->deadline = corio_now() + idle_ms; /* the whole request must arrive within the timeout */
    return 0;
}

/* Counts request-line and header bytes; non-zero (a parse error) past the limit. */
static int count_header(struct conn *c, size_t len) {
    c->header_bytes += len;
    if (c->header_bytes > HEADER_MAX) {
        c->header_overflow = true;
        return 1;
    }
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len) {
    struct conn *c = p->data;
    if (count_header(c, len)) return 1;
    memcpy(c->url + c->url_len, at, len); /* fits: the URL counts towards HEADER_MAX */
    c->url_len += len;
    return 0;
}

static int on_header(http_parser *p, const char *at, size_t len) {
    (void)at;
    return count_header(p->data, len);
}

static int on_message_complete(http_parser *p) {
    struct conn *c = p->data;
    c->in_request = false;
    respond(c);
    /* answer nothing pipelined after a request that closes the connection */
    if (c->closing) http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header,
    .on_header_value = on_header,
    .on_message_complete = on_message_complete,
};

/* ---- the connection ----------------------------------------------------------------------------------------- */

/* Writes what the last read produced, in one write, bounded by the idle timeout (a client that pipelines and
 * never reads must not hold the task forever). */
static int flush(struct conn *c) {
    if (c->out_len == 0) return 0;
    corio_timeout scope;
    corio_timeout_enter(&scope, idle_ms);
    ssize_t rc = corio_write(c->fd, c->out, c->out_len);
    corio_timeout_exit(&scope);
    c->out_len = 0;
    return rc < 0 ? (int)rc : 0;
}

static void reply_error(struct conn *c, int status, const char *reason) {
    char body[64];
    snprintf(body, sizeof body, "%s\n", reason);
    if (append_response(c, status, reason, "", body, true, false, false)) flush(c);
}

static int serve(struct conn *c) {
    for (;;) {
        int64_t left = c->deadline - corio_now();
        corio_timeout scope;
        corio_timeout_enter(&scope, left > 0 ? left : 0);
        ssize_t n = corio_read(c->fd, c->in, sizeof c->in);
        corio_timeout_exit(&scope);
        if (n == -ETIMEDOUT) {
            if (c->in_request) reply_error(c, 408, "Request Timeout");
            return 0;
        }
        if (n < 0) return (int)n;
        http_parser_execute(&c->parser, &settings, c->in, (size_t)n); /* n == 0 tells it EOF */
        enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);
        if (n == 0) return flush(c);
        if (err != HPE_OK && err != HPE_PAUSED) {
            flush(c); /* the answers to the requests before the bad one come first */
            if (c->header_overflow)
                reply_error(c, 431, "Request Header Fields Too Large");
            else
                reply_error(c, 400, "Bad Request");
            return 0;
        }
        int rc = flush(c);
        if (rc < 0 || c->closing) return rc;
        if (!c->in_request) c->deadline = corio_now() + idle_ms;
    }
}

/* One connection's handler. fd stays the server's, which closes it when handle returns: nothing here closes it. */
static int handle(int fd, void *arg) {
    (void)arg;
    struct conn *c = malloc(sizeof *c);
    if (!c) return -ENOMEM;
    memset(c, 0, offsetof(struct conn, url));
    c->fd = fd;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->deadline = corio_now() + idle_ms;
    int rc = serve(c);
    free(c->out);
    free(c);
    return rc;
}

/* fuzz/fuzz_http.c compiles this file in with HTTP_SERVER_NO_MAIN and drives handle() directly */
#ifndef HTTP_SERVER_NO_MAIN

/* the clock for spin_per_us (HTTP_WORK_US, above) */
static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Iterations of spin per microsecond: the best of 5 timed runs of 20 ms' worth. */
static uint64_t spin_per_us(void) {
    uint64_t n = 1000000, best = 0;
    for (int r = 0; r < 5; r++) {
        int64_t t0 = mono_ns();
        work_sink = spin(n);
        int64_t ns = mono_ns() - t0;
        uint64_t per_us = ns > 0 ? n * 1000 / (uint64_t)ns : n;
        if (per_us > best) best = per_us;
        n = best * 20000;
    }
    return best ? best : 1;
}

/* The environment's name as a number from 0 to max (0 if unset or empty): -1, with a message, if it is not. */
static int env_number(const char *name, long long max, long long *out) {
    const char *v = getenv(name);
    char *end = NULL;
    *out = v && *v ? strtoll(v, &end, 10) : 0;
    if (*out < 0 || *out > max || (end && *end)) {
        fprintf(stderr, "http_server: %s must be 0 to %lld\n", name, max);
        return -1;
    }
    return 0;
}

static unsigned nloops = 1;
static int defer_accept;      /* HTTP_DEFER_ACCEPT: the server's defer_accept, in seconds */
static corio_chan *port_chan; /* loop 0 tells the other loops the port it got */
static corio_chan *quit_chan; /* closed by loop 0 when a signal stops it: the other loops stop too */

static int run_server(void *arg) { return corio_server_run(arg); }

/* The main task of every loop. Loop 0 takes the signals (main blocked them in every thread) and binds first. */
static int main_task(void *arg) {
    int port = *(int *)arg;
    unsigned me = nloops > 1 ? (unsigned)corio_loop_index() : 0;
    void *item;
    if (me == 0) {
        corio_signal_cancel_main(SIGINT);
        corio_signal_cancel_main(SIGTERM);
    } else {
        if (corio_chan_recv(port_chan, &item) < 0) return 0; /* loop 0 could not listen */
        port = (int)(intptr_t)item;
    }
    corio_server_opts opts = {.backlog = 4096, .max_conns = 0, .reuseport = nloops > 1, .defer_accept = defer_accept};
    corio_server *srv = corio_server_new(NULL, port, handle, NULL, &opts);
    if (!srv) {
        int rc = -errno;
        fprintf(stderr, "http_server: port %d: %s\n", port, corio_strerror(rc));
        if (me == 0 && nloops > 1) corio_chan_close(port_chan);
        return rc;
    }
    port = corio_server_port(srv);
    int rc;
    if (me == 0) {
        for (unsigned i = 1; i < nloops; i++) corio_chan_send(port_chan, (void *)(intptr_t)port);
        printf("listening on port %d\n", port);
        fflush(stdout);
        rc = corio_server_run(srv);
        if (nloops > 1) corio_chan_close(quit_chan);
    } else {
        corio_task *t = corio_spawn(run_server, srv);
        if (!t) {
            corio_server_free(srv);
            return -errno;
        }
        corio_chan_recv(quit_chan, &item); /* -EPIPE: loop 0 is stopping */
        corio_server_stop(srv);
        rc = corio_await(t);
    }
    corio_server_free(srv);
    return rc == -ECANCELED ? 0 : rc; /* a signal is the normal way out */
}

int main(int argc, char **argv) {
    const char *pos[2] = {NULL, NULL};
    int npos = 0;
    const char *loops = getenv("CORIO_LOOPS");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--loops") == 0 && i + 1 < argc)
            loops = argv[++i];
        else if (npos < 2)
            pos[npos++] = argv[i];
        else
            npos = 3;
    }
    int port = pos[0] ? atoi(pos[0]) : 0;
    const char *idle = pos[1] ? pos[1] : getenv("HTTP_IDLE_MS");
    if (idle && *idle) idle_ms = atoll(idle);
    long n = loops && *loops ? atol(loops) : 1;
    if (npos > 2 || port < 0 || port > 65535 || idle_ms <= 0 || n < 1 || n > 256) {
        fprintf(stderr, "usage: http_server [--loops N] [PORT [IDLE_MS]]\n");
        return 2;
    }
    long long work_us, defer_s;
    if (env_number("HTTP_WORK_US", 1000000, &work_us) < 0 || env_number("HTTP_DEFER_ACCEPT", 3600, &defer_s) < 0)
        return 2;
    defer_accept = (int)defer_s;
    if (work_us) work_iters = (uint64_t)work_us * spin_per_us();
    nloops = (unsigned)n;
    int rc;
    if (nloops == 1) {
        rc = corio_run(main_task, &port);
    } else {
        /* the loop threads inherit this mask, so only loop 0's signalfd sees SIGINT and SIGTERM */
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        port_chan = corio_chan_new(nloops);
        quit_chan = corio_chan_new(0);
        if (!port_chan || !quit_chan) {
            fprintf(stderr, "http_server: out of memory\n");
            return 1;
        }
        rc = corio_run_threads(nloops, main_task, &port);
        corio_chan_free(port_chan);
        corio_chan_free(quit_chan);
    }
    if (rc < 0) fprintf(stderr, "http_server: %s\n", corio_strerror(rc));
    return rc < 0;
}
#endif /* HTTP_SERVER_NO_MAIN */
