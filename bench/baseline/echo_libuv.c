/* echo_libuv.c - the libuv baseline of bench/io.sh: the classic libuv echo server (the uvbook's and libuv's own
 * test/echo-server.c shape): uv_tcp_t per connection, uv_read_start with a malloc'd buffer per read, uv_write of
 * what was read and a free in the write callback. uv_write tries the write at once when nothing is queued, so a
 * ping-pong costs what libuv charges per callback, not an extra loop turn.
 *   usage: echo_libuv PORT   (listens on every IPv4 address; runs until killed) */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <uv.h>

/* One write in flight: the request and the buffer it sends, freed together when the write is done. */
struct write_req {
    uv_write_t req;
    uv_buf_t buf;
};

static void on_close(uv_handle_t *h) { free(h); }

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)h;
    buf->base = malloc(suggested); /* libuv suggests 64 KiB */
    buf->len = buf->base ? suggested : 0;
}

static void on_write(uv_write_t *req, int status) {
    struct write_req *w = (struct write_req *)req;
    if (status < 0 && !uv_is_closing((uv_handle_t *)req->handle)) uv_close((uv_handle_t *)req->handle, on_close);
    free(w->buf.base);
    free(w);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    if (nread > 0) {
        struct write_req *w = malloc(sizeof *w);
        if (w == NULL) {
            free(buf->base);
            uv_close((uv_handle_t *)s, on_close);
            return;
        }
        w->buf = uv_buf_init(buf->base, (unsigned)nread);
        if (uv_write(&w->req, s, &w->buf, 1, on_write) < 0) {
            free(w->buf.base);
            free(w);
            uv_close((uv_handle_t *)s, on_close);
        }
        return;
    }
    free(buf->base);
    if (nread < 0 && !uv_is_closing((uv_handle_t *)s)) uv_close((uv_handle_t *)s, on_close); /* UV_EOF or error */
}

static void on_connection(uv_stream_t *server, int status) {
    if (status < 0) {
        fprintf(stderr, "echo_libuv: listen: %s\n", uv_strerror(status));
        return;
    }
    uv_tcp_t *c = malloc(sizeof *c);
    if (c == NULL) return;
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
