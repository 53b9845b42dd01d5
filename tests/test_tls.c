/* test_tls.c - tests of the TLS module (include/corio_tls.h): a corio client against `openssl s_server` (verified
 * with the test CA, rejected without it, with a wrong host name or a self-signed certificate, a client
 * certificate asked for), a corio server against `openssl s_client`, corio to corio in one loop (100 concurrent
 * connections, 1 MiB each way at once, line and delimiter reads), peers that vanish mid-read, timeouts and
 * cancellation in the handshake, read and write, and bad arguments.
 * A CA, certificates and keys are made once per test binary with the openssl command in a temporary directory;
 * the openssl peers are child processes that die with the test (PR_SET_PDEATHSIG) and are killed at its end. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "corio_tls.h"
#include "test.h"

static void run_ok(corio_fn fn, void *arg) { ASSERT_RC(corio_run(fn, arg), 0); }

/* ---- certificates, made once per binary --------------------------------------------------------------------- */

static char dir[64];
static pid_t dir_owner;

static const char *path(const char *name) {
    static char buf[8][128];
    static int next;
    char *p = buf[next++ % 8];
    (void)snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

static void remove_dir(void) {
    if (getpid() != dir_owner || !dir[0]) return;
    char cmd[128];
    (void)snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "test_tls: could not remove %s\n", dir);
}

/* ca.pem signs server.pem (CN=localhost, DNS:localhost, IP:127.0.0.1) and client.pem; self.pem is a self-signed
 * localhost certificate; bad.pem is not PEM. EC P-256 keys: fast to make and to use, even under valgrind. */
__attribute__((constructor)) static void make_certs(void) {
    (void)snprintf(dir, sizeof dir, "/tmp/corio-tls-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(2);
    }
    dir_owner = getpid();
    atexit(remove_dir);
    char cmd[2048];
    (void)snprintf(
        cmd, sizeof cmd,
        "cd '%s' && K='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes' && {"
        " openssl req -x509 $K -keyout ca.key -out ca.pem -days 30 -subj '/CN=corio test CA' &&"
        " echo 'subjectAltName=DNS:localhost,IP:127.0.0.1' >server.ext &&"
        " openssl req $K -keyout server.key -out server.csr -subj '/CN=localhost/O=corio' &&"
        " openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30"
        " -extfile server.ext -out server.pem &&"
        " openssl req $K -keyout client.key -out client.csr -subj '/CN=corio client' &&"
        " openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -out client.pem &&"
        " openssl req -x509 $K -keyout self.key -out self.pem -days 30 -subj /CN=localhost"
        " -addext subjectAltName=DNS:localhost,IP:127.0.0.1 &&"
        " echo 'not a certificate' >bad.pem; } >gen.log 2>&1 || { cat gen.log >&2; exit 1; }",
        dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "test_tls: making certificates with the openssl command failed (is it installed?)\n");
        exit(2);
    }
}

/* ---- openssl child processes -------------------------------------------------------------------------------- */

struct child {
    pid_t pid;
    int in, out; /* our ends of its stdin / stdout pipes, or -1 */
    char log[128];
};

enum { PIPE_IN = 1, PIPE_OUT = 2 };

/* Starts argv with stdin on a pipe if pipes has PIPE_IN (else /dev/null), stdout on a pipe if it has PIPE_OUT
 * (else the log file), stderr in the log file. Called outside any loop, from the test's main thread: the child
 * dies with it. */
static void child_start(struct child *c, char *const argv[], int pipes) {
    static int seq;
    (void)snprintf(c->log, sizeof c->log, "%s/child%d.%d.log", dir, (int)getpid(), seq++);
    int in[2] = {-1, -1}, out[2] = {-1, -1};
    if (pipes & PIPE_IN) ASSERT_EQ(pipe2(in, O_CLOEXEC), 0);
    if (pipes & PIPE_OUT) ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
    pid_t parent = getpid();
    c->pid = fork();
    ASSERT_GE(c->pid, 0);
    if (c->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(1);
        int log = open(c->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int null = open("/dev/null", O_RDONLY);
        dup2(pipes & PIPE_IN ? in[0] : null, 0);
        dup2(pipes & PIPE_OUT ? out[1] : log, 1);
        dup2(log, 2);
        signal(SIGPIPE, SIG_DFL);
        execvp(argv[0], argv);
        _exit(127);
    }
    c->in = in[1];
    c->out = out[0];
    if (pipes & PIPE_IN) close(in[0]);
    if (pipes & PIPE_OUT) close(out[1]);
}

static void child_stop(struct child *c) {
    if (c->in >= 0) close(c->in);
    if (c->out >= 0) close(c->out);
    c->in = c->out = -1;
    kill(c->pid, SIGKILL);
    while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR) {
    }
}

static void dump_log(const struct child *c) {
    char cmd[192];
    (void)snprintf(cmd, sizeof cmd, "cat '%s' >&2", c->log);
    if (system(cmd) != 0) fprintf(stderr, "(no log)\n");
}

/* True once the child's log has a line starting with prefix (then *value gets the number after it, if asked). */
static bool log_has(const struct child *c, const char *prefix, int *value) {
    FILE *f = fopen(c->log, "r");
    char line[512];
    bool found = false;
    while (!found && f && fgets(line, sizeof line, f))
        if (strncmp(line, prefix, strlen(prefix)) == 0) {
            found = true;
            if (value) *value = atoi(line + strlen(prefix));
        }
    if (f) fclose(f);
    return found;
}

/* `openssl s_server -rev` (answers each line reversed) on a free port of 127.0.0.1: its port, read from the
 * "ACCEPT 127.0.0.1:PORT" line it logs. extra: more options (NULL-terminated), or NULL. With "-interactive" first
 * in extra, no -rev: its stdin is a pipe (c->in) whose lines it sends, and the commands "K" (TLS 1.3 key update,
 * asking for the client's) and "r" (TLS 1.2 renegotiation) act on the connection. */
static int s_server_start(struct child *c, const char *cert, const char *key, const char *const *extra) {
    bool interactive = extra && strcmp(extra[0], "-interactive") == 0;
    /* stdbuf -oL: s_server's own messages go through stdio, which would hold them back from the log */
    char *argv[24] = {"stdbuf", "-oL", "openssl", "s_server", "-accept", "127.0.0.1:0"};
    int n = 6;
    const char *files[] = {"-cert", path(cert), "-key", path(key)};
    for (int i = 0; i < 4; i++) argv[n++] = (char *)files[i];
    if (interactive)
        extra++;
    else
        argv[n++] = "-rev";
    for (; extra && *extra; extra++) argv[n++] = (char *)*extra;
    argv[n] = NULL;
    child_start(c, argv, interactive ? PIPE_IN : 0);
    int64_t deadline = test_now_ms() + 30000;
    while (test_now_ms() < deadline) {
        int port = 0;
        if (log_has(c, "ACCEPT 127.0.0.1:", &port) && port > 0) return port;
        if (waitpid(c->pid, NULL, WNOHANG) == c->pid) break;
        usleep(10000);
    }
    dump_log(c);
    TEST_FAIL_("openssl s_server did not start");
}

/* ---- contexts and connected pairs --------------------------------------------------------------------------- */

static corio_tls_ctx *client_ctx(void) {
    corio_tls_ctx *c = corio_tls_ctx_client(&(corio_tls_opts){.ca_file = path("ca.pem")});
    if (!c) TEST_FAIL_("client context: %s", corio_tls_error(NULL));
    return c;
}

static corio_tls_ctx *server_ctx(void) {
    corio_tls_ctx *c = corio_tls_ctx_server(path("server.pem"), path("server.key"));
    if (!c) TEST_FAIL_("server context: %s", corio_tls_error(NULL));
    return c;
}

struct acceptor {
    int lfd;
    corio_tls_ctx *ctx;
    corio_tls *t;
    int rc;
};
static int accept_fn(void *arg) {
    struct acceptor *a = arg;
    int fd = corio_accept(a->lfd, NULL, NULL);
    if (fd < 0) return a->rc = fd;
    a->t = corio_tls_new(a->ctx, fd);
    if (!a->t) {
        corio_close(fd);
        return a->rc = -errno;
    }
    return a->rc = corio_tls_accept(a->t);
}

/* A corio client and a corio server connected over 127.0.0.1, both handshakes done (from inside a task). */
static void tls_pair(corio_tls_ctx *cctx, corio_tls_ctx *sctx, corio_tls **client, corio_tls **server) {
    int lfd = corio_tcp_listen("127.0.0.1", 0, 16);
    ASSERT_GE(lfd, 0);
    struct acceptor a = {.lfd = lfd, .ctx = sctx};
    corio_task *at = test_spawn(accept_fn, &a);
    *client = corio_tls_connect_host(cctx, "localhost", corio_local_port(lfd));
    if (!*client) TEST_FAIL_("connect: %s: %s", corio_err_name(-errno), corio_tls_error(NULL));
    ASSERT_RC(corio_await(at), 0);
    ASSERT_NOT_NULL(a.t);
    *server = a.t;
    corio_close(lfd);
}

/* ---- a corio client against openssl s_server ---------------------------------------------------------------- */

static int port_arg;

static int main_client_verified(void *arg) {
    (void)arg;
    corio_tls_ctx *ctx = client_ctx();
    const char *names[] = {"localhost", "127.0.0.1"}; /* a DNS entry and an IP entry of the certificate */
    for (int i = 0; i < 2; i++) {
        corio_tls *t = corio_tls_connect_host(ctx, names[i], port_arg);
        if (!t) TEST_FAIL_("%s: %s: %s", names[i], corio_err_name(-errno), corio_tls_error(NULL));
        ASSERT_STREQ(corio_tls_peer_subject(t), "O=corio,CN=localhost");
        ASSERT_STREQ(corio_tls_version(t), "TLSv1.3");
        ASSERT_EQ(corio_tls_write(t, "hello world\n", 12), 12);
        char line[64];
        ASSERT_EQ(corio_tls_read_line(t, line, sizeof line), 12);
        ASSERT_STREQ(line, "dlrow olleh\n");
        ASSERT_EQ(corio_tls_write(t, "abc\n", 4), 4);
        ASSERT_EQ(corio_tls_read_line(t, line, sizeof line), 4);
        ASSERT_STREQ(line, "cba\n");
        ASSERT_STREQ(corio_tls_error(t), "");
        ASSERT_RC(corio_tls_shutdown(t), 0);
        ASSERT_RC(corio_tls_shutdown(t), 0); /* once sent, it stays sent */
        ASSERT_RC(corio_tls_write(t, "x", 1), -EPIPE);
        ASSERT_RC(corio_tls_free(t), 0);
    }
    corio_tls_ctx_free(ctx);
    return 0;
}

TEST(client_against_openssl_server) {
    struct child c = {0};
    port_arg = s_server_start(&c, "server.pem", "server.key", NULL);
    int rc = corio_run(main_client_verified, NULL);
    if (rc != 0) dump_log(&c);
    child_stop(&c);
    ASSERT_RC(rc, 0);
}

/* connect_host must fail with -EPROTO and a reason containing want */
static void expect_rejected(corio_tls_ctx *ctx, const char *host, const char *want) {
    errno = 0;
    corio_tls *t = corio_tls_connect_host(ctx, host, port_arg);
    if (t) TEST_FAIL_("connected to %s although it should not verify", host);
    ASSERT_RC(-errno, -EPROTO);
    if (!strstr(corio_tls_error(NULL), want)) TEST_FAIL_("error \"%s\" lacks \"%s\"", corio_tls_error(NULL), want);
}

static int main_client_rejects(void *arg) {
    const char *which = arg;
    if (strcmp(which, "system") == 0) { /* the test CA is not in the system store */
        corio_tls_ctx *ctx = corio_tls_ctx_client(NULL);
        ASSERT_NOT_NULL(ctx);
        expect_rejected(ctx, "localhost", "certificate verify failed: unable to get local issuer certificate");
        corio_tls_ctx_free(ctx);
        /* the same without verification works: no_verify accepts any certificate and name */
        ctx = corio_tls_ctx_client(&(corio_tls_opts){.no_verify = 1});
        ASSERT_NOT_NULL(ctx);
        corio_tls *t = corio_tls_connect_host(ctx, "127.0.0.1", port_arg);
        ASSERT_NOT_NULL(t);
        ASSERT_RC(corio_tls_connect(t, "other.example"), 0); /* already connected: nothing to do */
        corio_tls_free(t);
        corio_tls_ctx_free(ctx);
        return 0;
    }
    corio_tls_ctx *ctx = client_ctx();
    if (strcmp(which, "self") == 0) {
        expect_rejected(ctx, "localhost", "certificate verify failed: self-signed certificate");
    } else { /* the right CA, a name the certificate does not list: checked on a caller-made connection */
        const char *names[] = {"www.example.com", "127.0.0.2"}; /* an IP literal is matched against IP entries */
        const char *why[] = {"certificate verify failed: hostname mismatch",
                             "certificate verify failed: IP address mismatch"};
        for (int i = 0; i < 2; i++) {
            int fd = corio_tcp_connect("127.0.0.1", port_arg);
            ASSERT_GE(fd, 0);
            corio_tls *t = corio_tls_new(ctx, fd);
            ASSERT_NOT_NULL(t);
            ASSERT_RC(corio_tls_connect(t, names[i]), -EPROTO);
            ASSERT_STREQ(corio_tls_error(t), why[i]);
            ASSERT_RC(corio_tls_read(t, (char[4]){0}, 4), -EPROTO); /* broken for good */
            ASSERT_RC(corio_tls_connect(t, "localhost"), -EPROTO);
            corio_tls_free(t);
        }
    }
    corio_tls_ctx_free(ctx);
    return 0;
}

static void client_rejects(const char *cert, const char *key, const char *which) {
    struct child c = {0};
    port_arg = s_server_start(&c, cert, key, NULL);
    int rc = corio_run(main_client_rejects, (void *)which);
    child_stop(&c);
    ASSERT_RC(rc, 0);
}

TEST(client_rejects_unknown_ca) { client_rejects("server.pem", "server.key", "system"); }
TEST(client_rejects_self_signed) { client_rejects("self.pem", "self.key", "self"); }
TEST(client_rejects_wrong_host_name) { client_rejects("server.pem", "server.key", "name"); }

/* s_server -Verify 1 insists on a client certificate signed by the CA */
static int main_client_cert(void *arg) {
    (void)arg;
    corio_tls_ctx *ctx = corio_tls_ctx_client(
        &(corio_tls_opts){.ca_file = path("ca.pem"), .cert_file = path("client.pem"), .key_file = path("client.key")});
    if (!ctx) TEST_FAIL_("%s", corio_tls_error(NULL));
    corio_tls *t = corio_tls_connect_host(ctx, "localhost", port_arg);
    if (!t) TEST_FAIL_("%s", corio_tls_error(NULL));
    char line[64];
    ASSERT_EQ(corio_tls_write(t, "mtls\n", 5), 5);
    ASSERT_EQ(corio_tls_read_line(t, line, sizeof line), 5);
    ASSERT_STREQ(line, "sltm\n");
    corio_tls_free(t);
    corio_tls_ctx_free(ctx);

    /* without one: TLS 1.3 finishes the client's handshake first, so the refusal arrives as an alert on a read */
    ctx = client_ctx();
    t = corio_tls_connect_host(ctx, "localhost", port_arg);
    int rc = t ? 0 : -errno;
    if (t) {
        rc = (int)corio_tls_write(t, "x\n", 2);
        if (rc >= 0) rc = (int)corio_tls_read_line(t, line, sizeof line);
    }
    ASSERT_RC(rc, -EPROTO);
    const char *why = corio_tls_error(t);
    if (!strstr(why, "certificate required")) TEST_FAIL_("unexpected reason \"%s\"", why);
    corio_tls_free(t);
    corio_tls_ctx_free(ctx);
    return 0;
}

TEST(client_certificate) {
    struct child c = {0};
    const char *extra[] = {"-Verify", "1", "-CAfile", path("ca.pem"), NULL};
    port_arg = s_server_start(&c, "server.pem", "server.key", extra);
    int rc = corio_run(main_client_cert, NULL);
    if (rc != 0) dump_log(&c);
    child_stop(&c);
    ASSERT_RC(rc, 0);
}

/* The server changes keys mid-connection (TLS 1.3 KeyUpdate asking for ours, or a TLS 1.2 renegotiation): the
 * client's reads and writes must carry out the exchange, reading during a write and writing during a read. */
static struct child kserver;

/* How many lines of the child's log start with prefix. */
static int log_count(const struct child *c, const char *prefix) {
    FILE *f = fopen(c->log, "r");
    char line[512];
    int n = 0;
    while (f && fgets(line, sizeof line, f)) n += strncmp(line, prefix, strlen(prefix)) == 0;
    if (f) fclose(f);
    return n;
}

/* Suspends until the child's log has at least n lines starting with prefix (s_server writes its log itself). */
static void await_log(const struct child *c, const char *prefix, int n) {
    int64_t deadline = test_now_ms() + 20000;
    while (log_count(c, prefix) < n) {
        if (test_now_ms() > deadline) {
            dump_log(c);
            TEST_FAIL_("s_server never printed \"%s\" %d times", prefix, n);
        }
        ASSERT_RC(corio_sleep(10), 0);
    }
}

static int main_rekey(void *arg) {
    const char *cmd = arg;
    corio_tls_ctx *ctx = client_ctx();
    corio_tls *t = corio_tls_connect_host(ctx, "localhost", port_arg);
    if (!t) TEST_FAIL_("%s", corio_tls_error(NULL));
    ASSERT_STREQ(corio_tls_version(t), strcmp(cmd, "K\n") == 0 ? "TLSv1.3" : "TLSv1.2");
    /* s_server takes a line of its stdin as a command only when it reads it alone, and only once its side of the
     * handshake is done: so one step at a time, each confirmed in its log */
    ASSERT_EQ(corio_tls_write(t, "hello\n", 6), 6);
    await_log(&kserver, "hello", 1);
    char line[64];
    for (int round = 0; round < 3; round++) {
        ASSERT_EQ(corio_write(kserver.in, cmd, strlen(cmd)), (ssize_t)strlen(cmd));
        await_log(&kserver, "SSL_do_handshake -> 1", round + 1); /* the server did change keys */
        ASSERT_EQ(corio_write(kserver.in, "from server\n", 12), 12);
        ASSERT_EQ(corio_tls_read_line(t, line, sizeof line), 12);
        ASSERT_STREQ(line, "from server\n");
        (void)snprintf(line, sizeof line, "from client %d\n", round);
        ASSERT_EQ(corio_tls_write(t, line, strlen(line)), (ssize_t)strlen(line));
        line[strlen(line) - 1] = '\0';
        await_log(&kserver, line, 1);
    }
    ASSERT_STREQ(corio_tls_error(t), "");
    corio_tls_free(t);
    corio_tls_ctx_free(ctx);
    return 0;
}

static void rekey(const char *cmd, const char *proto) {
    const char *extra[] = {"-interactive", proto, NULL};
    port_arg = s_server_start(&kserver, "server.pem", "server.key", extra);
    int rc = corio_run(main_rekey, (void *)cmd);
    if (rc != 0) dump_log(&kserver);
    child_stop(&kserver);
    ASSERT_RC(rc, 0);
}

TEST(tls13_key_update) { rekey("K\n", "-tls1_3"); }
TEST(tls12_renegotiation) { rekey("r\n", "-tls1_2"); }

/* ---- a corio server against openssl s_client ---------------------------------------------------------------- */

struct echo_srv {
    int lfd;
    corio_tls_ctx *ctx;
    int lines;
    int rc;
    char subject[128];
};

/* Serves one connection: echoes lines until close_notify. */
static int echo_lines_fn(void *arg) {
    struct echo_srv *e = arg;
    int fd = corio_accept(e->lfd, NULL, NULL);
    if (fd < 0) return e->rc = fd;
    corio_tls *t = corio_tls_new(e->ctx, fd);
    ASSERT_NOT_NULL(t);
    int rc = corio_tls_accept(t);
    if (rc < 0) fprintf(stderr, "accept: %s\n", corio_tls_error(t));
    errno = 0;
    ASSERT_NULL(corio_tls_peer_subject(t)); /* s_client sent no certificate */
    if (rc == 0) ASSERT_EQ(errno, ENOENT);
    char line[256];
    while (rc == 0) {
        ssize_t n = corio_tls_read_line(t, line, sizeof line);
        if (n <= 0) {
            rc = (int)n;
            break;
        }
        e->lines++;
        ssize_t w = corio_tls_write(t, line, (size_t)n);
        if (w < 0) rc = (int)w;
    }
    if (rc < 0) fprintf(stderr, "echo: %s (%s)\n", corio_err_name(rc), corio_tls_error(t));
    corio_tls_free(t);
    return e->rc = rc;
}

static struct child sclient;

static int main_server(void *arg) {
    struct echo_srv *e = arg;
    corio_task *srv = test_spawn(echo_lines_fn, e);
    const char *msg = "first line\nsecond line\n";
    ASSERT_EQ(corio_write(sclient.in, msg, strlen(msg)), (ssize_t)strlen(msg));
    char got[128] = {0};
    size_t have = 0;
    while (have < strlen(msg)) {
        ssize_t n = corio_read(sclient.out, got + have, sizeof got - 1 - have);
        if (n <= 0) {
            dump_log(&sclient);
            TEST_FAIL_("s_client ended after \"%s\": %zd", got, n);
        }
        have += (size_t)n;
    }
    ASSERT_STREQ(got, msg);
    ASSERT_RC(corio_close(sclient.in), 0); /* -no_ign_eof: s_client then sends close_notify and quits */
    sclient.in = -1;
    ASSERT_RC(corio_await(srv), 0); /* the server read a clean EOF */
    ASSERT_EQ(e->lines, 2);
    return 0;
}

TEST(server_against_openssl_client) {
    struct echo_srv e = {.ctx = server_ctx()};
    e.lfd = corio_tcp_listen("127.0.0.1", 0, 16);
    ASSERT_GE(e.lfd, 0);
    char addr[32];
    (void)snprintf(addr, sizeof addr, "127.0.0.1:%d", corio_local_port(e.lfd));
    char *argv[] = {"openssl",
                    "s_client",
                    "-connect",
                    addr,
                    "-servername",
                    "localhost",
                    "-CAfile",
                    (char *)path("ca.pem"),
                    "-verify_return_error",
                    "-quiet",
                    "-no_ign_eof",
                    NULL};
    child_start(&sclient, argv, PIPE_IN | PIPE_OUT);
    int rc = corio_run(main_server, &e);
    if (rc != 0) dump_log(&sclient);
    child_stop(&sclient);
    corio_close(e.lfd);
    corio_tls_ctx_free(e.ctx);
    ASSERT_RC(rc, 0);
}

/* ---- corio to corio ----------------------------------------------------------------------------------------- */

#define MSG_LEN 4096

struct many {
    int lfd, port, n;
    corio_tls_ctx *cctx, *sctx;
    int clients_ok;
};

static void fill_pattern(unsigned char *b, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) b[i] = (unsigned char)(seed * 31 + i * 7 + (i >> 8));
}

/* a server handler: echo MSG_LEN bytes, then expect close_notify and answer it */
static int many_handler(void *arg) {
    corio_tls *t = arg;
    unsigned char buf[MSG_LEN];
    int rc = corio_tls_accept(t);
    if (rc == 0) rc = corio_tls_read_exactly(t, buf, sizeof buf);
    if (rc == 0) rc = (int)corio_tls_write(t, buf, sizeof buf);
    if (rc >= 0) rc = (int)corio_tls_read(t, buf, 1);
    if (rc == 0) rc = corio_tls_shutdown(t);
    if (rc < 0) fprintf(stderr, "handler: %s (%s)\n", corio_err_name(rc), corio_tls_error(t));
    corio_tls_free(t);
    return rc;
}

static int many_server(void *arg) {
    struct many *m = arg;
    corio_group *g = corio_group_new();
    ASSERT_NOT_NULL(g);
    for (int i = 0; i < m->n; i++) {
        int fd = corio_accept(m->lfd, NULL, NULL);
        if (fd < 0) return fd;
        corio_tls *t = corio_tls_new(m->sctx, fd);
        ASSERT_NOT_NULL(t);
        ASSERT_RC(corio_group_spawn(g, many_handler, t), 0);
    }
    return corio_group_wait(g);
}

struct many_client {
    struct many *m;
    unsigned seed;
};
static int many_client_fn(void *arg) {
    struct many_client *c = arg;
    corio_tls *t = corio_tls_connect_host(c->m->cctx, "localhost", c->m->port);
    if (!t) {
        fprintf(stderr, "client: %s\n", corio_tls_error(NULL));
        return -errno;
    }
    unsigned char out[MSG_LEN], in[MSG_LEN];
    fill_pattern(out, sizeof out, c->seed);
    int rc = (int)corio_tls_write(t, out, sizeof out);
    if (rc >= 0) rc = corio_tls_read_exactly(t, in, sizeof in);
    if (rc == 0 && memcmp(in, out, sizeof in) != 0) rc = -EIO;
    if (rc == 0) rc = corio_tls_shutdown(t);
    if (rc == 0) rc = (int)corio_tls_read(t, in, 1); /* the server's close_notify */
    if (rc < 0) fprintf(stderr, "client: %s (%s)\n", corio_err_name(rc), corio_tls_error(t));
    corio_tls_free(t);
    if (rc == 0) c->m->clients_ok++;
    return rc;
}

static int main_many(void *arg) {
    int n = (int)(intptr_t)arg;
    struct many m = {.cctx = client_ctx(), .sctx = server_ctx(), .n = n};
    m.lfd = corio_tcp_listen("127.0.0.1", 0, 1024);
    ASSERT_GE(m.lfd, 0);
    m.port = corio_local_port(m.lfd);
    corio_task *srv = test_spawn(many_server, &m);
    struct many_client *cl = calloc((size_t)n, sizeof *cl);
    corio_task **ts = calloc((size_t)n, sizeof *ts);
    for (int i = 0; i < n; i++) {
        cl[i] = (struct many_client){&m, (unsigned)i};
        ts[i] = test_spawn(many_client_fn, &cl[i]);
    }
    ASSERT_RC(corio_gather(ts, (size_t)n, NULL), 0);
    ASSERT_RC(corio_await(srv), 0);
    ASSERT_EQ(m.clients_ok, n);
    free(cl);
    free(ts);
    corio_close(m.lfd);
    corio_tls_ctx_free(m.cctx);
    corio_tls_ctx_free(m.sctx);
    return 0;
}

TEST_TIMEOUT(many_concurrent_connections, 240) {
    int n = test_small() ? 20 : 100;
    int64_t t0 = test_now_ms();
    run_ok(main_many, (void *)(intptr_t)n);
    printf("%d TLS connections (handshake, 4 KiB each way, close_notify both ways) in %lld ms\n", n,
           (long long)(test_now_ms() - t0));
}

/* 1 MiB each way at the same time: each side's reader and writer are separate tasks on one connection */
#define BIG ((size_t)1 << 20)

struct half {
    corio_tls *t;
    unsigned seed;
    int rc;
};
static int big_writer(void *arg) {
    struct half *h = arg;
    unsigned char *b = malloc(BIG);
    fill_pattern(b, BIG, h->seed);
    size_t off = 0;
    h->rc = 0;
    while (off < BIG && h->rc >= 0) { /* uneven pieces, some larger than a TLS record */
        size_t n = (off / 1000) % 3 == 0 ? 50000 : 777;
        if (n > BIG - off) n = BIG - off;
        ssize_t w = corio_tls_write(h->t, b + off, n);
        if (w < 0) h->rc = (int)w;
        off += n;
    }
    free(b);
    return h->rc;
}
static int big_reader(void *arg) {
    struct half *h = arg;
    unsigned char *want = malloc(BIG), *got = malloc(BIG);
    fill_pattern(want, BIG, h->seed);
    size_t off = 0;
    h->rc = 0;
    while (off < BIG) {
        ssize_t n = corio_tls_read(h->t, got + off, BIG - off < 3000 ? BIG - off : 3000);
        if (n <= 0) {
            h->rc = n < 0 ? (int)n : -EPIPE;
            break;
        }
        off += (size_t)n;
    }
    if (h->rc == 0 && memcmp(want, got, BIG) != 0) h->rc = -EIO;
    free(want);
    free(got);
    return h->rc;
}

static int main_big(void *arg) {
    (void)arg;
    corio_tls_ctx *cctx = client_ctx(), *sctx = server_ctx();
    corio_tls *c, *s;
    tls_pair(cctx, sctx, &c, &s);
    struct half h[4] = {{c, 1, 0}, {s, 1, 0}, {s, 2, 0}, {c, 2, 0}};
    corio_task *ts[4] = {test_spawn(big_writer, &h[0]), test_spawn(big_reader, &h[1]), test_spawn(big_writer, &h[2]),
                         test_spawn(big_reader, &h[3])};
    ASSERT_RC(corio_gather(ts, 4, NULL), 0);
    /* a second reader while one reads is refused */
    struct half r = {c, 3, 0};
    corio_task *rt = test_spawn(big_reader, &r);
    test_settle();
    char x;
    ASSERT_RC(corio_tls_read(c, &x, 1), -EBUSY);
    ASSERT_RC(corio_tls_shutdown(s), 0);
    ASSERT_RC(corio_await(rt), -EPIPE);     /* close_notify before the MiB: read returned 0 */
    ASSERT_EQ(corio_tls_read(c, &x, 1), 0); /* EOF stays */
    corio_tls_free(c);
    corio_tls_free(s);
    corio_tls_ctx_free(cctx);
    corio_tls_ctx_free(sctx);
    return 0;
}

TEST_TIMEOUT(megabyte_both_ways_at_once, 180) { run_ok(main_big, NULL); }

static int write_str(corio_tls *t, const char *s) {
    ssize_t n = corio_tls_write(t, s, strlen(s));
    return n < 0 ? (int)n : 0;
}

static int main_buffered(void *arg) {
    (void)arg;
    corio_tls_ctx *cctx = client_ctx(), *sctx = server_ctx();
    corio_tls *c, *s;
    tls_pair(cctx, sctx, &c, &s);
    ASSERT_RC(write_str(s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n0123456789line\n"), 0);
    char long_line[300];
    memset(long_line, 'z', sizeof long_line - 2);
    long_line[sizeof long_line - 2] = '\n';
    long_line[sizeof long_line - 1] = '\0';
    ASSERT_RC(write_str(s, long_line), 0);
    ASSERT_RC(write_str(s, "after\nno delimiter"), 0);
    ASSERT_RC(corio_tls_shutdown(s), 0);

    char buf[128];
    ASSERT_EQ(corio_tls_read_until(c, "\r\n\r\n", 4, buf, sizeof buf), 27);
    ASSERT_EQ(memcmp(buf, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27), 0);
    ASSERT_RC(corio_tls_read_exactly(c, buf, 10), 0);
    ASSERT_EQ(memcmp(buf, "0123456789", 10), 0);
    ASSERT_EQ(corio_tls_read_line(c, buf, sizeof buf), 5);
    ASSERT_STREQ(buf, "line\n");
    ASSERT_RC(corio_tls_read_line(c, buf, sizeof buf), -EMSGSIZE); /* 299 bytes: dropped */
    ASSERT_EQ(corio_tls_read_line(c, buf, sizeof buf), 6);
    ASSERT_STREQ(buf, "after\n");
    ASSERT_RC(corio_tls_read_until(c, "\n", 1, buf, sizeof buf), -EPIPE); /* EOF before the delimiter */
    ASSERT_EQ(corio_tls_read_line(c, buf, sizeof buf), 0);
    ASSERT_RC(corio_tls_read_exactly(c, buf, 1), -EPIPE);
    corio_tls_free(c);
    corio_tls_free(s);
    corio_tls_ctx_free(cctx);
    corio_tls_ctx_free(sctx);
    return 0;
}

TEST(read_line_until_exactly) { run_ok(main_buffered, NULL); }

/* ---- peers that vanish, timeouts, cancellation -------------------------------------------------------------- */

static int main_abrupt(void *arg) {
    bool reset = arg != NULL;
    corio_tls_ctx *cctx = client_ctx(), *sctx = server_ctx();
    corio_tls *c, *s;
    tls_pair(cctx, sctx, &c, &s);
    ASSERT_RC(write_str(c, "partial"), 0);
    char buf[64];
    ASSERT_EQ(corio_tls_read(s, buf, sizeof buf), 7);
    if (reset) { /* close with SO_LINGER 0: an RST */
        struct linger lg = {1, 0};
        ASSERT_EQ(setsockopt(corio_tls_fd(c), SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
        corio_tls_free(c);
    } else { /* a FIN without close_notify: what a truncation attack looks like */
        ASSERT_EQ(shutdown(corio_tls_fd(c), SHUT_RDWR), 0);
    }
    ASSERT_RC(corio_tls_read(s, buf, sizeof buf), -ECONNRESET);
    if (!reset) ASSERT_STREQ(corio_tls_error(s), "unexpected eof while reading");
    ASSERT_RC(corio_tls_read(s, buf, sizeof buf), -ECONNRESET);
    if (!reset) corio_tls_free(c);
    corio_tls_free(s);
    corio_tls_ctx_free(cctx);
    corio_tls_ctx_free(sctx);
    return 0;
}

TEST(peer_closes_without_close_notify) { run_ok(main_abrupt, NULL); }
TEST(peer_resets_mid_read) { run_ok(main_abrupt, (void *)1); }

/* a listener that never accepts: the kernel completes the TCP handshake, nobody ever answers the TLS one */
static int silent_connect(void *arg) {
    corio_tls_ctx *ctx = arg;
    int lfd = corio_tcp_listen("127.0.0.1", 0, 16);
    int fd = corio_tcp_connect("127.0.0.1", corio_local_port(lfd));
    ASSERT_GE(fd, 0);
    corio_tls *t = corio_tls_new(ctx, fd);
    int rc = corio_tls_connect(t, "localhost");
    ASSERT_RC(corio_tls_write(t, "x", 1), rc); /* broken with the same error */
    corio_tls_free(t);
    corio_close(lfd);
    return rc;
}

static int main_handshake_timeout(void *arg) {
    (void)arg;
    corio_tls_ctx *ctx = client_ctx();
    corio_timeout to;
    int64_t t0 = test_now_ms();
    ASSERT_RC(corio_timeout_enter(&to, 100), 0);
    ASSERT_RC(silent_connect(ctx), -ETIMEDOUT);
    ASSERT_RC(corio_timeout_exit(&to), -ETIMEDOUT);
    ASSERT_GE(test_now_ms() - t0, 90);

    corio_task *t = test_spawn(silent_connect, ctx);
    ASSERT_RC(corio_sleep(50), 0);
    ASSERT_RC(corio_cancel(t), 0);
    ASSERT_RC(corio_await(t), -ECANCELED);
    corio_tls_ctx_free(ctx);
    return 0;
}

TEST(handshake_timeout_and_cancel) { run_ok(main_handshake_timeout, NULL); }

static int main_io_timeouts(void *arg) {
    (void)arg;
    corio_tls_ctx *cctx = client_ctx(), *sctx = server_ctx();
    corio_tls *c, *s;
    tls_pair(cctx, sctx, &c, &s);
    char buf[64];
    /* a read that times out loses nothing: the connection goes on */
    corio_timeout to;
    ASSERT_RC(corio_timeout_enter(&to, 50), 0);
    ASSERT_RC(corio_tls_read(c, buf, sizeof buf), -ETIMEDOUT);
    ASSERT_RC(corio_tls_read_line(c, buf, sizeof buf), -ETIMEDOUT);
    ASSERT_RC(corio_timeout_exit(&to), -ETIMEDOUT);
    ASSERT_RC(write_str(s, "still here\n"), 0);
    ASSERT_EQ(corio_tls_read_line(c, buf, sizeof buf), 11);
    ASSERT_STREQ(buf, "still here\n");

    /* a write to a peer that does not read fills the socket buffers and times out: the connection is broken */
    size_t len = (size_t)32 << 20;
    char *big = calloc(1, len);
    ASSERT_RC(corio_timeout_enter(&to, 200), 0);
    ASSERT_RC(corio_tls_write(c, big, len), -ETIMEDOUT);
    ASSERT_RC(corio_timeout_exit(&to), -ETIMEDOUT);
    ASSERT_RC(corio_tls_write(c, "x", 1), -ETIMEDOUT);
    ASSERT_RC(corio_tls_read(c, buf, 1), -ETIMEDOUT);
    ASSERT_RC(corio_tls_shutdown(c), -ETIMEDOUT);
    free(big);
    corio_tls_free(c);
    corio_tls_free(s);
    corio_tls_ctx_free(cctx);
    corio_tls_ctx_free(sctx);
    return 0;
}

TEST(read_and_write_timeouts) { run_ok(main_io_timeouts, NULL); }

/* a peer that does not speak TLS at all */
static int plain_peer(void *arg) {
    int lfd = *(int *)arg;
    int fd = corio_accept(lfd, NULL, NULL);
    if (fd < 0) return fd;
    const char *r = "HTTP/1.0 400 Bad Request\r\n\r\n";
    corio_write(fd, r, strlen(r));
    corio_sleep(100);
    return corio_close(fd);
}

static int main_not_tls(void *arg) {
    (void)arg;
    corio_tls_ctx *ctx = client_ctx();
    int lfd = corio_tcp_listen("127.0.0.1", 0, 4);
    corio_task *p = test_spawn(plain_peer, &lfd);
    errno = 0;
    ASSERT_NULL(corio_tls_connect_host(ctx, "localhost", corio_local_port(lfd)));
    ASSERT_EQ(errno, EPROTO);
    ASSERT_STREQ(corio_tls_error(NULL), "wrong version number");
    ASSERT_RC(corio_await(p), 0);
    /* and a port nobody listens on */
    int port = corio_local_port(lfd);
    corio_close(lfd);
    errno = 0;
    ASSERT_NULL(corio_tls_connect_host(ctx, "127.0.0.1", port));
    ASSERT_EQ(errno, ECONNREFUSED);
    ASSERT_TRUE(strstr(corio_tls_error(NULL), "refused") != NULL);
    corio_tls_ctx_free(ctx);
    return 0;
}

TEST(peer_not_speaking_tls) { run_ok(main_not_tls, NULL); }

/* ---- bad arguments ------------------------------------------------------------------------------------------ */

static void expect_ctx_fails(corio_tls_ctx *ctx, int err) {
    int got = errno;
    if (ctx) TEST_FAIL_("a context was made");
    ASSERT_RC(-got, -err);
    ASSERT_TRUE(corio_tls_error(NULL)[0] != '\0');
}

static int main_bad(void *arg) {
    (void)arg;
    corio_tls_ctx *cctx = client_ctx(), *sctx = server_ctx();
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    corio_tls *t = corio_tls_new(sctx, sv[0]);
    ASSERT_NOT_NULL(t);
    char buf[8];
    ASSERT_RC(corio_tls_read(t, buf, sizeof buf), -ENOTCONN);
    ASSERT_RC(corio_tls_read_line(t, buf, sizeof buf), -ENOTCONN);
    ASSERT_RC(corio_tls_write(t, "x", 1), -ENOTCONN);
    ASSERT_RC(corio_tls_shutdown(t), -ENOTCONN);
    ASSERT_RC(corio_tls_connect(t, "localhost"), -EINVAL); /* a server context */
    errno = 0;
    ASSERT_NULL(corio_tls_peer_subject(t));
    ASSERT_EQ(errno, ENOTCONN);
    ASSERT_NULL(corio_tls_version(t));
    ASSERT_RC(corio_tls_read(t, NULL, 1), -EINVAL);
    ASSERT_RC(corio_tls_read_line(t, buf, 1), -EINVAL);
    ASSERT_RC(corio_tls_read_until(t, "", 0, buf, sizeof buf), -EINVAL);
    ASSERT_RC(corio_tls_write(t, NULL, 1), -EINVAL);
    /* the peer hangs up during the handshake */
    close(sv[1]);
    ASSERT_RC(corio_tls_accept(t), -ECONNRESET);
    corio_tls_free(t);

    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    t = corio_tls_new(cctx, sv[0]);
    ASSERT_RC(corio_tls_accept(t), -EINVAL);
    ASSERT_RC(corio_tls_connect(t, NULL), -EINVAL); /* verification needs a name */
    ASSERT_STREQ(corio_tls_error(t), "no server name to verify");
    corio_tls_free(t);
    close(sv[1]);

    errno = 0;
    ASSERT_NULL(corio_tls_connect_host(NULL, "localhost", 443));
    ASSERT_EQ(errno, EINVAL);
    ASSERT_NULL(corio_tls_connect_host(cctx, "localhost", 70000));
    ASSERT_EQ(errno, EINVAL);
    ASSERT_NULL(corio_tls_connect_host(cctx, "nowhere.invalid", 443));
    ASSERT_EQ(errno, ENOENT);
    corio_tls_ctx_free(cctx);
    corio_tls_ctx_free(sctx);
    return 0;
}

TEST(bad_arguments) {
    errno = 0;
    /* an option of a newer header, in what is reserved space here (docs/abi.md) */
    expect_ctx_fails(corio_tls_ctx_client(&(corio_tls_opts){.reserved = {[2] = 1}}), EINVAL);
    expect_ctx_fails(corio_tls_ctx_client(&(corio_tls_opts){.ca_file = "/nonexistent/ca.pem"}), ENOENT);
    expect_ctx_fails(corio_tls_ctx_client(&(corio_tls_opts){.ca_dir = "/nonexistent"}), ENOENT);
    expect_ctx_fails(corio_tls_ctx_client(&(corio_tls_opts){.ca_file = path("bad.pem")}), EINVAL);
    expect_ctx_fails(corio_tls_ctx_client(&(corio_tls_opts){.key_file = path("client.key")}), EINVAL);
    expect_ctx_fails(
        corio_tls_ctx_client(&(corio_tls_opts){.cert_file = path("client.pem"), .key_file = path("server.key")}),
        EINVAL);
    expect_ctx_fails(corio_tls_ctx_server(NULL, NULL), EINVAL);
    expect_ctx_fails(corio_tls_ctx_server("/nonexistent.pem", NULL), ENOENT);
    expect_ctx_fails(corio_tls_ctx_server(path("server.pem"), "/nonexistent.key"), ENOENT);
    expect_ctx_fails(corio_tls_ctx_server(path("bad.pem"), path("server.key")), EINVAL);
    expect_ctx_fails(corio_tls_ctx_server(path("server.pem"), path("client.key")), EINVAL); /* not its key */
    expect_ctx_fails(corio_tls_ctx_server(path("server.pem"), NULL), EINVAL);               /* no key in the file */
    corio_tls_ctx_free(NULL);

    errno = 0;
    ASSERT_NULL(corio_tls_new(NULL, 0));
    ASSERT_EQ(errno, EINVAL);
    corio_tls_ctx *ctx = corio_tls_ctx_client(NULL);
    ASSERT_NOT_NULL(ctx);
    ASSERT_NULL(corio_tls_new(ctx, -1));
    ASSERT_EQ(errno, EINVAL);
    /* outside a task the handshake cannot wait */
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    corio_tls *t = corio_tls_new(ctx, sv[0]);
    ASSERT_RC(corio_tls_connect(t, "localhost"), -EPERM);
    corio_tls_free(t);
    close(sv[1]);
    corio_tls_ctx_free(ctx);

    ASSERT_RC(corio_tls_free(NULL), -EINVAL);
    ASSERT_RC(corio_tls_read(NULL, NULL, 0), -EINVAL);
    ASSERT_RC(corio_tls_read_exactly(NULL, NULL, 0), -EINVAL);
    ASSERT_RC(corio_tls_read_line(NULL, (char[4]){0}, 4), -EINVAL);
    ASSERT_RC(corio_tls_write(NULL, "x", 1), -EINVAL);
    ASSERT_RC(corio_tls_shutdown(NULL), -EINVAL);
    ASSERT_RC(corio_tls_connect(NULL, "x"), -EINVAL);
    ASSERT_RC(corio_tls_accept(NULL), -EINVAL);
    ASSERT_RC(corio_tls_fd(NULL), -EINVAL);
    ASSERT_NULL(corio_tls_version(NULL));
    ASSERT_NULL(corio_tls_peer_subject(NULL));
    ASSERT_NOT_NULL(corio_tls_error(NULL));
    run_ok(main_bad, NULL);
}
