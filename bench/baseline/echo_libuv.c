/* echo_libuv.c - the libuv baseline of bench/io.sh and bench-compare: a libuv echo server written as a libuv user
 * tuning for speed would: uv_tcp_t per connection with its own 64 KiB read buffer, allocated once (the uvbook's
 * malloc per read and free per write made the server page-fault all along on this VM: 16,906 minor faults for
 * ~21,000 round trips), uv_try_write of what was read, and a queued uv_write of a copy only for what the socket
 * did not take at once.
 *   usage: echo_libuv PORT   (listens on every IPv4 address; runs until killed) */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

#define BUF_SIZE 65536

/* A connection and the buffer every read of it lands in. */
struct conn {
    uv_tcp_t tcp;
    char buf[BUF_SIZE];
};

/* A write the socket did not take at once: the request and its own copy of the rest, freed together. */
struct write_req {
    uv_write_t req;
    uv_buf_t buf;
};

static void on_close(uv_handle_t *h) { free(h); /* the uv_tcp_t is the first member of struct conn */ }

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)suggested;
    struct conn *c = (struct conn *)h;
    *buf = uv_buf_init(c->buf, BUF_SIZE);
}

static void on_write(uv_write_t *req, int status) {
    struct write_req *w = (struct write_req *)req;
    if (status < 0 && !uv_is_closing((uv_handle_t *)req->handle)) uv_close((uv_handle_t *)req->handle, on_close);
    free(w);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    if (nread < 0) {
        if (!uv_is_closing((uv_handle_t *)s)) uv_close((uv_handle_t *)s, on_close); /* UV_EOF or an error */
        return;
    }
    if (nread == 0) return;
    /* a write still queued must go first: then everything is queued behind it */
    int done = uv_stream_get_write_queue_size(s) == 0 ? uv_try_write(s, &(uv_buf_t){buf->base, (size_t)nread}, 1) : 0;
    if (done == UV_EAGAIN) done = 0;
    if (done < 0) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    if (done == nread) return;
    size_t rest = (size_t)nread - (size_t)done;
    struct write_req *w = malloc(sizeof *w + rest);
    if (w == NULL) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    memcpy(w + 1, buf->base + done, rest);
    w->buf = uv_buf_init((char *)(w + 1), (unsigned)rest);
    if (uv_write(&w->req, s, &w->buf, 1, on_write) < 0) {
        free(w);
        uv_close((uv_handle_t *)s, on_close);
    }
}

static void on_connection(uv_stream_t *server, int status) {
    if (status < 0) {
        fprintf(stderr, "echo_libuv: listen: %s\n", uv_strerror(status));
        return;
    }
    struct conn *conn = malloc(sizeof *conn);
    if (conn == NULL) return;
    uv_tcp_t *c = &conn->tcp;
    (void)uv_tcp_init(server->loop, c); /* cannot fail for a loop that runs */
    if (uv_accept(server, (uv_stream_t *)c) < 0) {
        uv_close((uv_handle_t *)c, on_close);
        return;
    }
    (void)uv_tcp_nodelay(c, 1); /* as the epoll baseline and the load generator: Nagle must not be the difference */
    if (uv_read_start((uv_stream_t *)c, on_alloc, on_read) < 0) uv_close((uv_handle_t *)c, on_close);
}

int main(int argc, char **argv) {
    char *end = NULL;
    long port = argc == 2 ? strtol(argv[1], &end, 10) : -1;
    if (argc != 2 || *end != '\0' || port <= 0 || port > 65535) {
        fprintf(stderr, "usage: echo_libuv PORT\n");
        return 2;
    }
    (void)signal(SIGPIPE, SIG_IGN); /* libuv leaves it to the program; a peer gone mid-write must not kill the server */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t server;
    struct sockaddr_in addr;
    (void)uv_ip4_addr("0.0.0.0", (int)port, &addr);
    (void)uv_tcp_init(loop, &server);
    int rc = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&server, SOMAXCONN, on_connection);
    if (rc < 0) {
        fprintf(stderr, "echo_libuv: port %ld: %s\n", port, uv_strerror(rc));
        return 1;
    }
    return uv_run(loop, UV_RUN_DEFAULT);
}
