/* fetch.c - fetches several http:// URLs at once, one task each, gathered: `fetch URL...`. For each URL, in the
 * order given, prints its status, body bytes and elapsed ms, or why it failed. Plain HTTP/1.1 over a
 * corio_stream: a Content-Length, chunked or close-delimited body. https:// is refused (no TLS yet). Exits 1
 * if any URL failed. FETCH_TIMEOUT_MS (default 30000) bounds each fetch.
 *
 *     $ ./fetch http://127.0.0.1:8080/ http://127.0.0.1:8080/missing
 *     http://127.0.0.1:8080/: 200, 13 bytes, 1 ms
 *     http://127.0.0.1:8080/missing: 404, 10 bytes, 1 ms
 */
#include <corio.h>
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LINE_MAX_BYTES 8192

struct job {
    const char *url;
    char host[256];
    int port;
    const char *path;
    const char *why; /* a failure that corio_strerror would not explain, or NULL */
    int status;      /* HTTP status */
    size_t bytes;    /* body bytes received */
    int64_t ms;
};

static int64_t timeout_ms = 30000;

/* Splits http://host[:port][/path] (host may be a [v6 address]): 0, or -EPROTONOSUPPORT / -EINVAL with j->why. */
static int parse_url(struct job *j) {
    const char *u = j->url;
    if (strncasecmp(u, "https://", 8) == 0) {
        j->why = "https:// is not supported yet (no TLS)";
        return -EPROTONOSUPPORT;
    }
    if (strncasecmp(u, "http://", 7) != 0) {
        j->why = "not an http:// URL";
        return -EINVAL;
    }
    const char *h = u + 7, *end = h + strcspn(h, "/?#"), *colon = NULL;
    const char *hs = h, *he;
    if (*h == '[') {
        hs = h + 1;
        he = memchr(hs, ']', (size_t)(end - hs));
        if (!he) goto bad;
        if (he + 1 < end) {
            if (he[1] != ':') goto bad;
            colon = he + 1;
        }
    } else {
        colon = memchr(h, ':', (size_t)(end - h));
        he = colon ? colon : end;
    }
    if (he == hs || (size_t)(he - hs) >= sizeof j->host) goto bad;
    memcpy(j->host, hs, (size_t)(he - hs));
    j->host[he - hs] = '\0';
    j->port = 80;
    if (colon) {
        char *e;
        long p = strtol(colon + 1, &e, 10);
        if (e != end || p <= 0 || p > 65535) goto bad;
        j->port = (int)p;
    }
    j->path = *end == '/' || *end == '?' ? end : "/";
    return 0;
bad:
    j->why = "malformed URL";
    return -EINVAL;
}

/* Reads and discards n body bytes (counting them): 0, or -EPIPE if the stream ends first. */
static int skip(corio_stream *s, struct job *j, size_t n) {
    char buf[8192];
    while (n > 0) {
        ssize_t got = corio_stream_read(s, buf, n < sizeof buf ? n : sizeof buf);
        if (got < 0) return (int)got;
        if (got == 0) return -EPIPE;
        j->bytes += (size_t)got;
        n -= (size_t)got;
    }
    return 0;
}

static bool blank(const char *line) { return strcmp(line, "\r\n") == 0 || strcmp(line, "\n") == 0; }

/* A chunked body: hex size lines, the chunks, then trailers up to a blank line. */
static int read_chunked(corio_stream *s, struct job *j, char *line) {
    for (;;) {
        ssize_t n = corio_stream_read_line(s, line, LINE_MAX_BYTES);
        if (n <= 0) return n == 0 ? -EPIPE : (int)n;
        char *e;
        unsigned long long size = strtoull(line, &e, 16);
        if (e == line) {
            j->why = "malformed chunk size";
            return -EPROTO;
        }
        if (size == 0) break;
        int rc = skip(s, j, (size_t)size);
        if (rc < 0) return rc;
        if ((n = corio_stream_read_line(s, line, LINE_MAX_BYTES)) <= 0) return n == 0 ? -EPIPE : (int)n;
    }
    for (;;) { /* trailers */
        ssize_t n = corio_stream_read_line(s, line, LINE_MAX_BYTES);
        if (n <= 0) return n == 0 ? -EPIPE : (int)n;
        if (blank(line)) return 0;
    }
}

static int exchange(corio_stream *s, struct job *j) {
    char req[LINE_MAX_BYTES];
    bool v6 = strchr(j->host, ':') != NULL;
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s%s%s:%d\r\nUser-Agent: corio-fetch/0.1\r\nAccept: */*\r\n"
                     "Connection: close\r\n\r\n",
                     j->path, v6 ? "[" : "", j->host, v6 ? "]" : "", j->port);
    if (n < 0 || (size_t)n >= sizeof req) {
        j->why = "URL too long";
        return -EINVAL;
    }
    ssize_t rc = corio_stream_write(s, req, (size_t)n);
    if (rc < 0 || (rc = corio_stream_drain(s)) < 0) return (int)rc;

    char *line = malloc(LINE_MAX_BYTES);
    if (!line) return -ENOMEM;
    long long length = -1;
    bool chunked = false;
    do { /* 1xx interim responses precede the real one */
        if ((rc = corio_stream_read_line(s, line, LINE_MAX_BYTES)) <= 0) goto eof;
        int major, minor;
        if (sscanf(line, "HTTP/%d.%d %3d", &major, &minor, &j->status) != 3) {
            j->why = "not an HTTP response";
            rc = -EPROTO;
            goto out;
        }
        for (;;) {
            if ((rc = corio_stream_read_line(s, line, LINE_MAX_BYTES)) <= 0) goto eof;
            if (blank(line)) break;
            char *colon = strchr(line, ':');
            if (!colon) continue;
            *colon = '\0';
            char *value = colon + 1;
            while (*value == ' ' || *value == '\t') value++;
            if (strcasecmp(line, "Content-Length") == 0)
                length = strtoll(value, NULL, 10);
            else if (strcasecmp(line, "Transfer-Encoding") == 0) {
                for (char *p = value; *p; p++) *p = (char)tolower((unsigned char)*p);
                chunked = strstr(value, "chunked") != NULL;
            }
        }
    } while (j->status >= 100 && j->status < 200);

    if (j->status == 204 || j->status == 304)
        rc = 0;
    else if (chunked)
        rc = read_chunked(s, j, line);
    else if (length >= 0)
        rc = skip(s, j, (size_t)length);
    else /* the body ends when the server closes */
        for (;;) {
            ssize_t got = corio_stream_read(s, line, LINE_MAX_BYTES);
            if (got <= 0) {
                rc = got;
                break;
            }
            j->bytes += (size_t)got;
        }
    goto out;
eof:
    if (rc == 0) rc = -EPIPE; /* closed in the middle of the head */
    if (rc == -EMSGSIZE) j->why = "a header line over 8 KiB";
out:
    free(line);
    return (int)rc;
}

static int fetch(void *arg) {
    struct job *j = arg;
    int64_t start = corio_now();
    int rc = parse_url(j);
    if (rc < 0) return rc;
    corio_timeout scope;
    corio_timeout_enter(&scope, timeout_ms);
    int fd = corio_tcp_connect(j->host, j->port);
    if (fd < 0) {
        rc = fd;
    } else {
        corio_stream *s = corio_stream_new(fd);
        if (!s) {
            rc = -errno;
            corio_close(fd);
        } else {
            rc = exchange(s, j);
            corio_stream_free(s);
        }
    }
    corio_timeout_exit(&scope);
    j->ms = corio_now() - start;
    return rc;
}

struct all {
    struct job *jobs;
    int n;
    int failed;
};

static int main_task(void *arg) {
    struct all *a = arg;
    corio_task **t = calloc((size_t)a->n, sizeof *t);
    int *statuses = calloc((size_t)a->n, sizeof *statuses);
    int *index = calloc((size_t)a->n, sizeof *index); /* which job each spawned task runs */
    int rc = -ENOMEM;
    if (!t || !statuses || !index) goto out;
    size_t spawned = 0;
    for (int i = 0; i < a->n; i++) {
        corio_task *task = corio_spawn(fetch, &a->jobs[i]);
        if (!task) {
            a->jobs[i].why = "cannot start a task";
            a->jobs[i].status = -1;
            continue;
        }
        index[spawned] = i;
        t[spawned++] = task;
    }
    rc = corio_gather(t, spawned, statuses); /* waits for every one: a failure does not cancel the others */
    for (size_t k = 0; k < spawned; k++)
        if (statuses[k] < 0) a->jobs[index[k]].status = statuses[k];
    for (int i = 0; i < a->n; i++) {
        struct job *j = &a->jobs[i];
        if (j->status > 0) {
            printf("%s: %d, %zu bytes, %lld ms\n", j->url, j->status, j->bytes, (long long)j->ms);
        } else {
            a->failed++;
            printf("%s: error: %s\n", j->url, j->why ? j->why : corio_strerror(j->status));
        }
    }
out:
    free(index);
    free(statuses);
    free(t);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: fetch URL...\n");
        return 2;
    }
    const char *to = getenv("FETCH_TIMEOUT_MS");
    if (to && atoll(to) > 0) timeout_ms = atoll(to);
    struct all a = {.jobs = calloc((size_t)argc - 1, sizeof(struct job)), .n = argc - 1};
    if (!a.jobs) return 1;
    for (int i = 0; i < a.n; i++) a.jobs[i].url = argv[i + 1];
    int rc = corio_run(main_task, &a);
    if (rc < 0) fprintf(stderr, "fetch: %s\n", corio_strerror(rc));
    free(a.jobs);
    return rc < 0 || a.failed > 0;
}
