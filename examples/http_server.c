/* http_server.c - an HTTP/1.1 "hello" server on Node's http-parser: `http_server [--loops N] [PORT [IDLE_MS]]`
 * (PORT 0 or none: a free port; IDLE_MS, or the environment's HTTP_IDLE_MS, default 5000, at most 86400000 (a
 * day); N loops, or the environment's CORIO_LOOPS, default 1, at most 256: one thread each, sharing the port through
 * SO_REUSEPORT; HTTP_WORK_US adds that much CPU work to every response, for benchmarks; HTTP_DEFER_ACCEPT=S has the
 * kernel hold a new connection until its request is in, for up to about S seconds, as nginx's "listen ...
 * deferred"). A setting out of its range exits 2 with a message. Prints "listening on port N" and serves until
 * SIGINT or SIGTERM.
 *
 * GET / (and HEAD /) answers "Hello, World!", any other path 404, another method on / 405. Connections are kept
 * alive (HTTP/1.0 only with "Connection: keep-alive"; "Connection: close" is honoured). Pipelined requests are
 * answered in order, and every response produced from one read goes out in one write. A malformed request gets
 * 400 and a close, and so does anything RFC 9112 tells a server to reject, since a proxy in front may have read the
 * same bytes as other requests (request smuggling): whitespace before a field name's colon or inside it, a
 * folded field line, a CR or LF that is not half of a CRLF, a chunk's data not followed by CRLF, an HTTP/1.1
 * request without exactly one Host (or with one that is not a host[:port]), Content-Length twice or with
 * Transfer-Encoding, Transfer-Encoding twice or in HTTP/1.0. A request of another major version gets 505, request
 * headers over 8 KiB get 431, and a request not complete IDLE_MS after its first byte gets 408 (so a client
 * trickling one byte at a time cannot hold the connection either); a connection idle between requests for IDLE_MS
 * is closed without a word, as nginx does, since a client may be about to reuse it.
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
#include <strings.h>
#include <time.h>

#define HEADER_MAX 8192 /* request line and header bytes; nginx's large_client_header_buffers is 8 KiB */
/* The response buffer's first size: a few responses. What one read of pipelined requests produces can be far more
 * (a 16 KiB read of 27-byte requests: 77 KiB of responses), so it grows; it exists only until it is written. */
#define OUT_SMALL 4096
#define URL_SMALL 64         /* the URL buffer's first size: it grows, up to HEADER_MAX, for a longer one */
#define IDLE_MAX_MS 86400000 /* a day: deadlines are corio_now() + IDLE_MS, which must not overflow */

static int64_t idle_ms = 5000;

/* A connection's state. Handlers run as compact tasks and read through a stream, so a connection waiting for its
 * next request holds this struct, the stream's and a few hundred bytes of stack: the bytes read, the URL and the
 * responses are in buffers that exist only while they hold something (nginx's way with idle keep-alive
 * connections). */
struct conn {
    int fd;
    corio_stream *s;
    http_parser parser;
    int64_t deadline; /* the current request's, or the idle connection's, in corio_now() ms */
    bool in_request;  /* a request has begun and not yet ended */
    bool closing;     /* a response said "Connection: close": parse no further */
    int refused;      /* the status a callback refused the request with (400, 431, 505), else 0 */
    size_t header_bytes;
    /* the request's fields, as the parser hands them over */
    bool headers_done; /* the fields after this are the chunked body's trailers */
    bool name_done;    /* a value has begun: the next name callback starts a new field */
    bool host_value, host_space;
    unsigned hosts, transfer_encodings;
    size_t name_len;
    char name[sizeof "transfer-encoding"]; /* the field name's first bytes: enough to tell the ones checked */
    /* the check of the framing bytes http-parser consumed (framing_ok) */
    const char *scan;    /* in the buffer being parsed: checked up to here */
    char prev;           /* the last framing byte checked */
    int want_crlf;       /* bytes of the CRLF that must follow a chunk's data still to come (2, 1, 0) */
    uint64_t chunk_left; /* data bytes of the current chunk still to come */
    char *out;           /* responses waiting to be written, or NULL */
    size_t out_len, out_cap;
    char *url; /* the request's target, or NULL */
    size_t url_len, url_cap;
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
        size_t cap = c->out_cap ? c->out_cap * 2 : OUT_SMALL;
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

/* Debian's libhttp-parser 2.9.4 acts as built lenient (HTTP_PARSER_STRICT 0): it takes a space as part of a field
 * name, folded field lines, any two bytes after a chunk's data or after the CR that ends the header section, an LF
 * inside a chunk extension, any HTTP/d.d, and Transfer-Encoding in HTTP/1.0. The callbacks and framing_ok refuse
 * those; the parser itself refuses Content-Length twice or with Transfer-Encoding, and other bytes outside a field
 * name's tchars. */

/* Fails the parse (a callback's non-zero return) with the status to answer. */
static int refuse(struct conn *c, int status) {
    c->refused = status;
    return -1;
}

static int on_message_begin(http_parser *p) {
    struct conn *c = p->data;
    c->in_request = true;
    c->header_bytes = c->url_len = 0;
    c->headers_done = false;
    c->name_done = true;
    c->hosts = c->transfer_encodings = 0;
    c->chunk_left = 0;
    c->deadline = corio_now() + idle_ms; /* the whole request must arrive within the timeout */
    return 0;
}

/* Counts request-line and header bytes; non-zero (a parse error) past the limit. */
static int count_header(struct conn *c, size_t len) {
    c->header_bytes += len;
    return c->header_bytes > HEADER_MAX ? refuse(c, 431) : 0;
}

static int on_url(http_parser *p, const char *at, size_t len) {
    struct conn *c = p->data;
    if (count_header(c, len)) return -1; /* so the URL fits in HEADER_MAX */
    if (c->url_len + len > c->url_cap) {
        size_t cap = c->url_cap ? c->url_cap : URL_SMALL;
        while (cap < c->url_len + len) cap *= 2;
        char *u = realloc(c->url, cap);
        if (!u) return refuse(c, 431);
        c->url = u;
        c->url_cap = cap;
    }
    memcpy(c->url + c->url_len, at, len);
    c->url_len += len;
    return 0;
}

/* RFC 9110 5.6.2: a field name is a token */
static bool tchar(unsigned char ch) {
    return (ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* A field name, in one piece or several (a name split between two reads). */
static int on_header_field(http_parser *p, const char *at, size_t len) {
    struct conn *c = p->data;
    if (count_header(c, len)) return -1;
    if (c->name_done) {
        c->name_done = false;
        c->name_len = 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (!tchar((unsigned char)at[i])) return refuse(c, 400);
        if (c->name_len < sizeof c->name) c->name[c->name_len] = at[i];
        c->name_len++;
    }
    return 0;
}

static bool named(const struct conn *c, const char *name) {
    return c->name_len == strlen(name) && strncasecmp(c->name, name, c->name_len) == 0;
}

/* RFC 9110 7.2: Host is uri-host [":" port], a reg-name, IPv4 address or [IP-literal]; the parser has skipped
 * the whitespace before it, not the whitespace after. */
static bool host_char(unsigned char ch) {
    return (ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') ||
           (ch && strchr("-._~%!$&'()*+,;=:[]", ch));
}

/* A field value, in one piece or several. */
static int on_header_value(http_parser *p, const char *at, size_t len) {
    struct conn *c = p->data;
    if (count_header(c, len)) return -1;
    if (!c->name_done) { /* the value's first piece: the name is whole */
        c->name_done = true;
        c->host_value = !c->headers_done && named(c, "host");
        c->host_space = false;
        c->hosts += c->host_value;
        c->transfer_encodings += !c->headers_done && named(c, "transfer-encoding");
    }
    for (size_t i = 0; c->host_value && i < len; i++) {
        bool space = at[i] == ' ' || at[i] == '\t';
        if (!space && (c->host_space || !host_char((unsigned char)at[i]))) return refuse(c, 400);
        c->host_space |= space;
    }
    return 0;
}

/* RFC 9112 2.3, 3.2 and 6.1. */
static int on_headers_complete(http_parser *p) {
    struct conn *c = p->data;
    c->headers_done = true;
    if (p->http_major != 1) return refuse(c, 505);
    if (c->hosts > 1 || (c->hosts == 0 && p->http_minor > 0)) return refuse(c, 400);
    /* a second one could name another coding last; an HTTP/1.0 hop may not have understood it at all */
    if (c->transfer_encodings > 1 || (c->transfer_encodings && p->http_minor == 0)) return refuse(c, 400);
    return 0;
}

/* Checks the bytes of the buffer from c->scan to end, which the parser has consumed and which are not body data:
 * the request line, the fields, chunk-size lines and trailers. Every CR must begin a CRLF and every LF end one
 * (RFC 9112 2.2 lets a server take a bare LF as a line end: taking none is simpler, and no client sends one), no
 * line may begin with whitespace (an obs-fold, or whitespace before the first field: 5.2, 2.2), and a chunk's data
 * must be followed by CRLF (7.1). c->prev and c->want_crlf carry the state from one read to the next. */
static bool framing_ok(struct conn *c, const char *end) {
    for (const char *s = c->scan; s < end; s++) {
        char ch = *s;
        if (c->want_crlf) {
            if (ch != (c->want_crlf == 2 ? '\r' : '\n')) return false;
            c->want_crlf--;
        } else if ((c->prev == '\r') != (ch == '\n') || (c->prev == '\n' && (ch == ' ' || ch == '\t'))) {
            return false;
        }
        c->prev = ch;
    }
    c->scan = end;
    return true;
}

static int on_chunk_header(http_parser *p) {
    struct conn *c = p->data;
    c->chunk_left = p->content_length; /* the size of the chunk whose data comes next */
    return 0;
}

/* Body data, which is not framing: framing_ok skips it (what the hello server does with a body: nothing). */
static int on_body(http_parser *p, const char *at, size_t len) {
    struct conn *c = p->data;
    if (!framing_ok(c, at)) return refuse(c, 400);
    c->scan = at + len;
    if (c->chunk_left) {
        c->chunk_left -= len;
        if (c->chunk_left == 0) c->want_crlf = 2;
    }
    return 0;
}

/* A request is complete: the parser stops here, so that serve checks its framing to its last byte before answering
 * it, and parses nothing pipelined after it should the answer close the connection. */
static int on_message_complete(http_parser *p) {
    struct conn *c = p->data;
    c->in_request = false;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_chunk_header = on_chunk_header,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- the connection ----------------------------------------------------------------------------------------- */

/* Gives the response buffer back: it is written. */
static void drop_out(struct conn *c) {
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_cap = 0;
}

/* Gives the URL buffer back: its request is answered. */
static void drop_url(struct conn *c) {
    free(c->url);
    c->url = NULL;
    c->url_len = c->url_cap = 0;
}

/* Writes what the last read produced, in one write, bounded by the idle timeout (a client that pipelines and
 * never reads must not hold the task forever). */
static int flush(struct conn *c) {
    if (c->out_len == 0) return 0;
    corio_timeout scope;
    corio_timeout_enter(&scope, idle_ms);
    ssize_t rc = corio_write(c->fd, c->out, c->out_len);
    corio_timeout_exit(&scope);
    drop_out(c);
    return rc < 0 ? (int)rc : 0;
}

static void reply_error(struct conn *c, int status) {
    const char *reason = status == 408   ? "Request Timeout"
                         : status == 431 ? "Request Header Fields Too Large"
                         : status == 505 ? "HTTP Version Not Supported"
                                         : "Bad Request";
    char body[64];
    snprintf(body, sizeof body, "%s\n", reason);
    if (append_response(c, status, reason, "", body, true, false, false)) flush(c);
}

static int serve(struct conn *c) {
    for (;;) {
        int64_t left = c->deadline - corio_now();
        corio_timeout scope;
        corio_timeout_enter(&scope, left > 0 ? left : 0);
        const void *data;
        ssize_t n = corio_stream_peek(c->s, &data);
        corio_timeout_exit(&scope);
        if (n == -ETIMEDOUT) {
            if (c->in_request) reply_error(c, 408);
            return 0;
        }
        if (n <= 0) return (int)n; /* 0: the client is done (a request it left unfinished gets no answer) */
        const char *at = data, *end = at + n;
        while (at < end && !c->closing) {
            c->scan = at;
            size_t used = http_parser_execute(&c->parser, &settings, at, (size_t)(end - at));
            enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);
            if ((err != HPE_OK && err != HPE_PAUSED) || !framing_ok(c, at + used)) {
                flush(c); /* the answers to the requests before the bad one come first */
                reply_error(c, c->refused ? c->refused : 400);
                return 0;
            }
            at += used;
            if (err == HPE_PAUSED) { /* on_message_complete: a whole request, checked */
                http_parser_pause(&c->parser, 0);
                respond(c);
                drop_url(c);
            }
        }
        /* parsed (the parser keeps what it needs of a request cut short): the stream's buffer goes back before
         * the write may wait */
        corio_stream_consume(c->s, (size_t)n);
        int rc = flush(c);
        if (rc < 0 || c->closing) return rc;
        if (!c->in_request) c->deadline = corio_now() + idle_ms;
    }
}

/* One connection's handler. fd stays the server's, which closes it when handle returns: nothing here closes it. */
static int handle(int fd, void *arg) {
    (void)arg;
    struct conn *c = calloc(1, sizeof *c);
    if (!c) return -ENOMEM;
    if (!(c->s = corio_stream_wrap(fd))) {
        free(c);
        return -ENOMEM;
    }
    c->fd = fd;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->deadline = corio_now() + idle_ms;
    int rc = serve(c);
    drop_out(c);
    drop_url(c);
    corio_stream_free(c->s);
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

/* A setting's value v as a whole number from min to max: -1, with a message naming it, if it is not one. */
static int setting(const char *name, const char *v, long long min, long long max, long long *out) {
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || end == v || *end || n < min || n > max) {
        fprintf(stderr, "http_server: %s must be %lld to %lld\n", name, min, max);
        return -1;
    }
    *out = n;
    return 0;
}

/* The environment's name as a number from 0 to max, 0 if unset or empty: -1, with a message, if it is not one. */
static int env_number(const char *name, long long max, long long *out) {
    const char *v = getenv(name);
    *out = 0;
    return v && *v ? setting(name, v, 0, max, out) : 0;
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
    /* the descriptor limit, not a count, caps the connections: running out of descriptors is handled */
    corio_server_opts opts = {.backlog = 4096,
                              .max_conns = (size_t)1 << 20,
                              .reuseport = nloops > 1,
                              .defer_accept = defer_accept,
                              .compact = 1};
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
        corio_chan_recv(quit_chan, &item); /* -EPIPE: loop 0 is stopping; -ECANCELED: the signal reached us too */
        corio_server_stop(srv);
        /* shielded from that cancellation: srv can be freed only once its runner has returned (an await that
         * failed at once left it running, and LeakSanitizer found srv lost) */
        corio_scope shield;
        corio_scope_enter(&shield, -1, CORIO_SCOPE_SHIELD);
        rc = corio_await(t);
        corio_scope_exit(&shield);
    }
    corio_server_free(srv);
    return rc == -ECANCELED ? 0 : rc; /* a signal is the normal way out */
}

int main(int argc, char **argv) {
    const char *pos[2] = {NULL, NULL};
    int npos = 0;
    const char *loops = getenv("CORIO_LOOPS"), *loops_name = "CORIO_LOOPS";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--loops") == 0 && i + 1 < argc) {
            loops = argv[++i];
            loops_name = "--loops";
        } else if (npos < 2) {
            pos[npos++] = argv[i];
        } else {
            npos = 3;
        }
    }
    if (npos > 2) {
        fprintf(stderr, "usage: http_server [--loops N] [PORT [IDLE_MS]]\n");
        return 2;
    }
    const char *idle = pos[1] ? pos[1] : getenv("HTTP_IDLE_MS");
    long long port = 0, idle_arg = idle_ms, n = 1, work_us, defer_s;
    if ((pos[0] && setting("PORT", pos[0], 0, 65535, &port) < 0) ||
        (idle && *idle && setting(pos[1] ? "IDLE_MS" : "HTTP_IDLE_MS", idle, 1, IDLE_MAX_MS, &idle_arg) < 0) ||
        (loops && *loops && setting(loops_name, loops, 1, 256, &n) < 0) ||
        env_number("HTTP_WORK_US", 1000000, &work_us) < 0 || env_number("HTTP_DEFER_ACCEPT", 3600, &defer_s) < 0)
        return 2;
    idle_ms = idle_arg;
    defer_accept = (int)defer_s;
    if (work_us) work_iters = (uint64_t)work_us * spin_per_us();
    nloops = (unsigned)n;
    int rc, port_arg = (int)port;
    if (nloops == 1) {
        rc = corio_run(main_task, &port_arg);
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
        rc = corio_run_threads(nloops, main_task, &port_arg);
        corio_chan_free(port_chan);
        corio_chan_free(quit_chan);
    }
    if (rc < 0) fprintf(stderr, "http_server: %s\n", corio_strerror(rc));
    return rc < 0;
}
#endif /* HTTP_SERVER_NO_MAIN */
