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

/* One connection. fd is the server's, which closes it when echo returns (a handler that prefers a buffered stream
 * borrows fd with corio_stream_wrap, or hands it over with corio_stream_new and frees the stream). */
static int echo(int fd, void *arg) {
    (void)arg;
    char buf[16384];
    for (;;) {
        ssize_t n = corio_read(fd, buf, sizeof buf);
        if (n <= 0) return (int)n; /* 0: the client has finished */
        ssize_t w = corio_write(fd, buf, (size_t)n);
        if (w < 0) return (int)w;
    }
}

static int main_task(void *arg) {
    int port = *(int *)arg;
    corio_signal_cancel_main(SIGINT);
    corio_signal_cancel_main(SIGTERM);
    corio_server *srv = corio_server_new(NULL, port, echo, NULL, NULL);
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
