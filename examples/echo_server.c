/* echo_server.c - a TCP echo server, one task per connection: `echo_server [PORT]` (0 or none: a free port).
 * Prints "listening on port N", then serves until SIGINT or SIGTERM, which cancel the main task: the server
 * stops accepting, cancels the connections still open, waits for them and exits 0.
 *
 *     $ ./echo_server 7000 &
 *     $ echo hello | nc -N 127.0.0.1 7000
 */
#include <corio.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

/* One connection. It runs as a compact task (the server's option below), so while it waits for the client it
 * keeps a few hundred bytes of stack, not a task stack of its own: its bytes live in a stream, whose buffer exists
 * only while it holds some, never in an array on the stack. fd stays the server's, which closes it when echo
 * returns: the stream borrows it. */
static int echo(int fd, void *arg) {
    (void)arg;
    corio_stream *s = corio_stream_wrap(fd);
    if (!s) return -ENOMEM;
    const void *data;
    ssize_t n;
    while ((n = corio_stream_peek(s, &data)) > 0) { /* 0: the client has finished */
        ssize_t w = corio_write(fd, data, (size_t)n);
        if (w < 0) {
            n = w;
            break;
        }
        corio_stream_consume(s, (size_t)n);
    }
    corio_stream_free(s);
    return (int)n;
}

static int main_task(void *arg) {
    int port = *(int *)arg;
    corio_signal_cancel_main(SIGINT);
    corio_signal_cancel_main(SIGTERM);
    /* the descriptor limit, not a count, caps the connections: running out of descriptors is handled */
    corio_server_opts opts = {.max_conns = (size_t)1 << 20, .compact = 1};
    corio_server *srv = corio_server_new(NULL, port, echo, NULL, &opts);
    if (!srv) {
        fprintf(stderr, "echo_server: port %d: %s\n", port, corio_strerror(-errno));
        return -errno;
    }
    printf("listening on port %d\n", corio_server_port(srv));
    fflush(stdout);
    int rc = corio_server_run(srv);
    corio_server_free(srv);
    return rc == -ECANCELED ? 0 : rc; /* a signal is the normal way out */
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 0;
    int rc = corio_run(main_task, &port);
    if (rc < 0) fprintf(stderr, "echo_server: %s\n", corio_strerror(rc));
    return rc < 0;
}
