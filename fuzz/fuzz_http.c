/* fuzz_http.c - libFuzzer target for the request path of examples/http_server.c (compiled in here with
 * HTTP_SERVER_NO_MAIN): arbitrary request bytes, in fuzzed chunks, go over a socketpair to the server's connection
 * handler; everything it answers is collected and checked to be a sequence of well-formed HTTP/1.1 responses,
 * nothing after one that closes the connection (400, 408, 431 and 505 always do), and the handler must return
 * within a bound (no hang).
 *
 * Input encoding (reads past the end give 0 bytes):
 *   flags      bit 0: the client keeps its side open at the end (the handler must then end by its idle timeout)
 *              instead of half-closing; bit 1: the client waits after each chunk until the handler has read it
 *   nchunks    (& 63) then nchunks chunk bytes, used in a cycle: 0 = just yield, else b bytes
 *   payload    the rest: the request bytes
 * fuzz/fuzz_http.dict gives libFuzzer the HTTP tokens. */
#define HTTP_SERVER_NO_MAIN
#include "../examples/http_server.c"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"

#define MAX_CHUNKS 63
#define OUT_MAX ((size_t)4 << 20)
#define FUZZ_IDLE_MS 20        /* the server's idle / request timeout here: short, so keep-open inputs stay cheap */
#define HANDLER_LIMIT_MS 10000 /* far above any legitimate run: past it the handler hangs */

struct script {
    bool keep_open, handshake;
    uint8_t chunks[MAX_CHUNKS];
    size_t nchunks;
    const uint8_t *req;
    size_t req_len;
    int cfd, sfd; /* client and server ends */
    bool server_done;
    char *out; /* what the server answered */
    size_t out_len;
};

static int server_fn(void *arg) {
    struct script *s = arg;
    int rc = handle(s->sfd, NULL);
    s->server_done = true;
    corio_close(s->sfd); /* as corio_server does after a handler returns */
    return rc;
}

static int client_writer_fn(void *arg) {
    struct script *s = arg;
    bool any = false;
    for (size_t i = 0; i < s->nchunks; i++) any |= s->chunks[i] != 0;
    size_t done = 0, ci = 0;
    while (done < s->req_len && !s->server_done) {
        size_t n = s->req_len - done;
        if (any) {
            uint8_t b = s->chunks[ci++ % s->nchunks];
            if (b == 0) {
                corio_yield();
                continue;
            }
            if (b < n) n = b;
        }
        if (corio_write(s->cfd, s->req + done, n) < 0) break; /* the server closed: fine */
        done += n;
        int queued = 0;
        while (s->handshake && !s->server_done && ioctl(s->sfd, FIONREAD, &queued) == 0 && queued > 0) corio_yield();
    }
    if (!s->keep_open) shutdown(s->cfd, SHUT_WR);
    return 0;
}

static int client_reader_fn(void *arg) {
    struct script *s = arg;
    size_t cap = 4096;
    s->out = malloc(cap);
    FUZZ_CHECK(s->out, "out of memory");
    for (;;) {
        if (s->out_len == cap) {
            FUZZ_CHECK(cap < OUT_MAX, "the server answered over %zu bytes", OUT_MAX);
            cap *= 2;
            s->out = realloc(s->out, cap);
            FUZZ_CHECK(s->out, "out of memory");
        }
        ssize_t n = corio_read(s->cfd, s->out + s->out_len, cap - s->out_len);
        if (n == 0 || n == -ECONNRESET) break;
        FUZZ_CHECK(n > 0, "client read: %s", corio_err_name((int)n));
        s->out_len += (size_t)n;
    }
    return 0;
}

static bool starts(const char *p, const char *end, const char *prefix) {
    size_t n = strlen(prefix);
    return (size_t)(end - p) >= n && memcmp(p, prefix, n) == 0;
}

/* The answer must be whole responses: a status line with a known status, headers with Content-Length, the
 * body (or none, for a HEAD's 200 / 404), and nothing after a response saying "Connection: close". */
static void check_responses(const struct script *s) {
    const char *p = s->out, *end = s->out + s->out_len;
    while (p < end) {
        FUZZ_CHECK(starts(p, end, "HTTP/1.1 "), "not a status line at offset %zd", p - s->out);
        const char *hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        FUZZ_CHECK(hend, "a response's headers never end (offset %zd)", p - s->out);
        int status = 0;
        FUZZ_CHECK(sscanf(p + 9, "%3d", &status) == 1, "no status code");
        FUZZ_CHECK(status == 200 || status == 400 || status == 404 || status == 405 || status == 408 || status == 431 ||
                       status == 505,
                   "unexpected status %d", status);
        const char *cl = memmem(p, (size_t)(hend - p), "\r\nContent-Length: ", 18);
        FUZZ_CHECK(cl, "no Content-Length in a %d response", status);
        size_t blen = strtoul(cl + 18, NULL, 10);
        bool closes = memmem(p, (size_t)(hend + 2 - p), "\r\nConnection: close\r\n", 21) != NULL;
        p = hend + 4;
        bool bodiless = (status == 200 || status == 404) && (p == end || starts(p, end, "HTTP/1.1 "));
        if (!bodiless) {
            FUZZ_CHECK((size_t)(end - p) >= blen, "a %d response's body is cut short", status);
            p += blen;
        }
        if (status == 400 || status == 408 || status == 431 || status == 505)
            FUZZ_CHECK(closes, "a %d that keeps the connection", status);
        if (closes) FUZZ_CHECK(p == end, "%zd bytes after a response that closes", end - p);
    }
}

static int main_fn(void *arg) {
    struct script *s = arg;
    corio_stats before;
    FUZZ_CHECK(corio_stats_get(&before) == 0, "stats");
    int sv[2];
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0, "socketpair: %s",
               strerror(errno));
    s->cfd = sv[0];
    s->sfd = sv[1];
    corio_task *srv = corio_spawn(server_fn, s);
    corio_task *w = corio_spawn(client_writer_fn, s);
    corio_task *r = corio_spawn(client_reader_fn, s);
    FUZZ_CHECK(srv && w && r, "spawn failed");
    int rc = corio_wait_for(srv, HANDLER_LIMIT_MS);
    FUZZ_CHECK(rc != -ETIMEDOUT, "the handler still runs after %d ms", HANDLER_LIMIT_MS);
    FUZZ_CHECK(rc == 0 || rc == -EPIPE || rc == -ECONNRESET, "handler: %s", corio_err_name(rc));
    rc = corio_await(w);
    FUZZ_CHECK(rc == 0, "client writer: %d", rc);
    rc = corio_await(r);
    FUZZ_CHECK(rc == 0, "client reader: %d", rc);
    corio_close(s->cfd);
    check_responses(s);
    corio_stats after;
    FUZZ_CHECK(corio_stats_get(&after) == 0 && after.tasks == before.tasks, "tasks %zu, before %zu", after.tasks,
               before.tasks);
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    idle_ms = FUZZ_IDLE_MS;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_in in = {data, size};
    struct script s = {0};
    uint8_t flags = fuzz_byte(&in);
    s.keep_open = flags & 1;
    s.handshake = flags & 2;
    s.nchunks = fuzz_byte(&in) & 63;
    for (size_t i = 0; i < s.nchunks; i++) s.chunks[i] = fuzz_byte(&in);
    s.req = in.p;
    s.req_len = in.left;
    int rc = corio_run(main_fn, &s);
    FUZZ_CHECK(rc == 0, "corio_run: %d", rc);
    free(s.out);
    return 0;
}
