/* tls.c - the TLS module (include/corio_tls.h): OpenSSL over a non-blocking socket, driven by corio's public fd
 * waits. Every OpenSSL call runs to SSL_ERROR_WANT_READ / WANT_WRITE and the task then waits for that direction,
 * whichever operation asked: a write may need to read (a TLS 1.2 renegotiation, a TLS 1.3 key update) and a read
 * may need to write (the answer to one). OpenSSL's socket BIO does the system calls itself, so this file needs
 * nothing from corio but corio_wait_readable / corio_wait_writable, corio_tcp_connect and corio_close.
 *
 * OpenSSL's error queue belongs to the thread, which all the tasks of a loop share: it is cleared before each
 * call and read right after it, before anything can suspend, so one task never sees another's errors.
 *
 * Reads go through a buffer for read_line / read_until / read_exactly, laid out as in src/stream.c:
 *
 *     rbuf                rstart              rend                rcap
 *     |   consumed        |   buffered         |   free            |
 *
 * 16 KiB at first (one TLS record's worth of plaintext), grown only by a read_line / read_until that needs more
 * room for its delimiter, never past the max that call was given. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "corio_tls.h"

#define RBUF_INIT ((size_t)16 * 1024)
#define ERR_LEN 256

struct corio_tls_ctx {
    SSL_CTX *ssl;
    bool server;
    bool verify;
};

enum { ST_NEW, ST_OPEN, ST_BROKEN };

struct corio_tls {
    SSL *ssl;
    int fd;
    dev_t dev; /* fd's file when the connection took it: corio_tls_free closes fd only if it is still that one */
    ino_t ino;
    int state;
    int broken_rc; /* what every call returns once state is ST_BROKEN */
    bool server;   /* from the context: which handshake this connection may run */
    bool verify;
    bool reading; /* a task is inside a read (or the handshake) */
    bool writing; /* a task is inside a write, shutdown (or the handshake) */
    bool eof;     /* close_notify received: sticky */
    bool shut;    /* our close_notify sent */
    char *rbuf;
    size_t rstart, rend, rcap;
    char *subject; /* corio_tls_peer_subject's answer, made once */
    char err[ERR_LEN];
};

/* the reason the last context or connect_host call of this thread failed (corio_tls_error(NULL)) */
static _Thread_local char last_err[ERR_LEN];

/* ---- errors ------------------------------------------------------------------------------------------------- */

/* Copies OpenSSL's reason for the first queued error into buf ("no start line"), falling back to the whole
 * "error:..." string when it has no reason text, and empties the queue. 0 if the queue was empty. */
static unsigned long take_ssl_error(char *buf, size_t len) {
    unsigned long code = ERR_get_error();
    if (code) {
        const char *reason = ERR_reason_error_string(code);
        if (reason)
            (void)snprintf(buf, len, "%s", reason);
        else
            ERR_error_string_n(code, buf, len);
    }
    ERR_clear_error();
    return code;
}

/* Records a failure of a context call in last_err: errno set to err, NULL returned. */
static void *ctx_fail(SSL_CTX *ssl, int err, const char *what) {
    char reason[ERR_LEN] = "";
    if (!take_ssl_error(reason, sizeof reason)) (void)snprintf(reason, sizeof reason, "%s", strerror(err));
    (void)snprintf(last_err, sizeof last_err, "%s: %s", what, reason);
    SSL_CTX_free(ssl);
    errno = err;
    return NULL;
}

/* True if the n bytes at p are all zero: a struct's reserved space, where a nonzero byte is an option of a newer
 * header this module does not know (corio.h, "Conventions"). */
static bool zeroed(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i]) return false;
    return true;
}

/* errno for a file OpenSSL is about to read: 0 if it is readable, so a later failure means "not PEM". */
static int file_errno(const char *path) { return access(path, R_OK) == 0 ? 0 : errno; }

/* The negative errno for an OpenSSL call that returned r and SSL_get_error e, with sys_errno the errno right
 * after the call; sets t->err. Never 0: callers handle SSL_ERROR_ZERO_RETURN themselves. */
static int map_error(corio_tls *t, int r, int e, int sys_errno) {
    (void)r;
    char reason[ERR_LEN] = "";
    unsigned long code = take_ssl_error(reason, sizeof reason);
    if (e == SSL_ERROR_SYSCALL && !code) {
        /* OpenSSL 3 reports a bare EOF as SSL_ERROR_SSL (below); this is a socket error, or an EOF from 1.1 */
        int err = sys_errno ? sys_errno : ECONNRESET;
        (void)snprintf(t->err, sizeof t->err, "%s", sys_errno ? strerror(sys_errno) : "unexpected eof while reading");
        return -err;
    }
    if (e == SSL_ERROR_ZERO_RETURN) { /* close_notify where the caller cannot take an EOF (handshake, write) */
        (void)snprintf(t->err, sizeof t->err, "the peer closed the connection");
        return -ECONNRESET;
    }
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
    if (ERR_GET_LIB(code) == ERR_LIB_SSL && ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        (void)snprintf(t->err, sizeof t->err, "%s", reason);
        return -ECONNRESET;
    }
#endif
    if (ERR_GET_LIB(code) == ERR_LIB_SSL && ERR_GET_REASON(code) == SSL_R_PROTOCOL_IS_SHUTDOWN) {
        (void)snprintf(t->err, sizeof t->err, "%s", reason);
        return -EPIPE;
    }
    if (!code && sys_errno == ENOMEM) {
        (void)snprintf(t->err, sizeof t->err, "out of memory");
        return -ENOMEM;
    }
    long vr = SSL_get_verify_result(t->ssl);
    if (ERR_GET_LIB(code) == ERR_LIB_SSL && ERR_GET_REASON(code) == SSL_R_CERTIFICATE_VERIFY_FAILED && vr != X509_V_OK)
        (void)snprintf(t->err, sizeof t->err, "%s: %s", reason, X509_verify_cert_error_string(vr));
    else
        (void)snprintf(t->err, sizeof t->err, "%s", reason[0] ? reason : "TLS failure");
    return -EPROTO;
}

static int break_conn(corio_tls *t, int rc) {
    t->state = ST_BROKEN;
    t->broken_rc = rc;
    return rc;
}

/* Waits for what OpenSSL asked for: 0, or -errno (-ECANCELED, -ETIMEDOUT, -EBADF). */
static int wait_for(corio_tls *t, int e) {
    int rc = e == SSL_ERROR_WANT_READ ? corio_wait_readable(t->fd) : corio_wait_writable(t->fd);
    if (rc < 0 && rc != -ECANCELED && rc != -ETIMEDOUT) (void)snprintf(t->err, sizeof t->err, "%s", corio_strerror(rc));
    return rc;
}

static bool wants_io(int e) { return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE; }

/* ---- contexts ----------------------------------------------------------------------------------------------- */

static corio_tls_ctx *wrap_ctx(SSL_CTX *ssl, bool server, bool verify) {
    corio_tls_ctx *c = malloc(sizeof *c);
    if (!c) return ctx_fail(ssl, ENOMEM, "context");
    c->ssl = ssl;
    c->server = server;
    c->verify = verify;
    return c;
}

/* Loads the certificate chain and its key into ssl: 0, or errno (with last_err set, ssl freed). */
static int load_cert(SSL_CTX *ssl, const char *cert_file, const char *key_file) {
    if (!key_file) key_file = cert_file;
    int err = file_errno(cert_file);
    const char *bad = cert_file;
    if (!err && SSL_CTX_use_certificate_chain_file(ssl, cert_file) != 1) err = EINVAL;
    if (!err && (err = file_errno(key_file))) bad = key_file;
    if (!err &&
        (SSL_CTX_use_PrivateKey_file(ssl, key_file, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ssl) != 1)) {
        err = EINVAL;
        bad = key_file;
    }
    if (err) ctx_fail(ssl, err, bad);
    return err;
}

static SSL_CTX *new_ssl_ctx(const SSL_METHOD *method) {
    ERR_clear_error();
    SSL_CTX *ssl = SSL_CTX_new(method);
    if (!ssl) return ctx_fail(NULL, ENOMEM, "SSL_CTX_new");
    SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION);
    /* a write that waited is retried with the same bytes but, for safety, OpenSSL need not insist on the address */
    SSL_CTX_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return ssl;
}

corio_tls_ctx *corio_tls_ctx_client(const corio_tls_opts *opts) {
    corio_tls_opts none = {0};
    const corio_tls_opts *o = opts ? opts : &none;
    if (!zeroed(o->reserved, sizeof o->reserved)) {
        (void)snprintf(last_err, sizeof last_err, "corio_tls_opts: reserved space not zero (a newer header?)");
        errno = EINVAL;
        return NULL;
    }
    SSL_CTX *ssl = new_ssl_ctx(TLS_client_method());
    if (!ssl) return NULL;
    int err;
    if (o->ca_file && (err = file_errno(o->ca_file))) return ctx_fail(ssl, err, o->ca_file);
    if (o->ca_dir && (err = file_errno(o->ca_dir))) return ctx_fail(ssl, err, o->ca_dir);
    if (o->ca_file || o->ca_dir) {
        if (SSL_CTX_load_verify_locations(ssl, o->ca_file, o->ca_dir) != 1)
            return ctx_fail(ssl, EINVAL, o->ca_file ? o->ca_file : o->ca_dir);
    } else if (!o->no_verify && SSL_CTX_set_default_verify_paths(ssl) != 1) {
        return ctx_fail(ssl, EINVAL, "the system CA store");
    }
    if (o->cert_file && load_cert(ssl, o->cert_file, o->key_file)) return NULL;
    if (!o->cert_file && o->key_file) return ctx_fail(ssl, EINVAL, "key_file without cert_file");
    SSL_CTX_set_verify(ssl, o->no_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    return wrap_ctx(ssl, false, !o->no_verify);
}

corio_tls_ctx *corio_tls_ctx_server(const char *cert_file, const char *key_file) {
    if (!cert_file) {
        (void)snprintf(last_err, sizeof last_err, "no certificate file");
        errno = EINVAL;
        return NULL;
    }
    SSL_CTX *ssl = new_ssl_ctx(TLS_server_method());
    if (!ssl) return NULL;
    if (load_cert(ssl, cert_file, key_file)) return NULL;
    return wrap_ctx(ssl, true, false);
}

void corio_tls_ctx_free(corio_tls_ctx *ctx) {
    if (!ctx) return;
    SSL_CTX_free(ctx->ssl);
    free(ctx);
}

/* ---- connections -------------------------------------------------------------------------------------------- */

corio_tls *corio_tls_new(corio_tls_ctx *ctx, int fd) {
    if (!ctx || fd < 0) {
        errno = EINVAL;
        return NULL;
    }
    corio_tls *t = calloc(1, sizeof *t);
    if (!t) goto nomem;
    ERR_clear_error();
    t->ssl = SSL_new(ctx->ssl);
    t->rbuf = malloc(RBUF_INIT);
    if (!t->ssl || !t->rbuf || SSL_set_fd(t->ssl, fd) != 1) goto nomem;
    t->rcap = RBUF_INIT;
    t->fd = fd;
    struct stat st;
    if (fstat(fd, &st) == 0) {
        t->dev = st.st_dev;
        t->ino = st.st_ino;
    }
    t->server = ctx->server;
    t->verify = ctx->verify;
    /* OpenSSL's socket BIO reads and writes the descriptor itself and must get EAGAIN, never block */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && !(fl & O_NONBLOCK)) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    return t;
nomem:
    ERR_clear_error();
    if (t) {
        SSL_free(t->ssl); /* SSL_set_fd's socket BIO does not close fd (BIO_NOCLOSE) */
        free(t->rbuf);
        free(t);
    }
    errno = ENOMEM;
    return NULL;
}

static int handshake(corio_tls *t) {
    if (t->state == ST_BROKEN) return t->broken_rc;
    if (t->state == ST_OPEN) return 0;
    if (t->reading || t->writing) return -EBUSY;
    t->reading = t->writing = true;
    int rc;
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_do_handshake(t->ssl);
        int sys_errno = errno;
        if (r == 1) {
            t->state = ST_OPEN;
            rc = 0;
            break;
        }
        int e = SSL_get_error(t->ssl, r);
        if (wants_io(e)) {
            if ((rc = wait_for(t, e)) < 0) break;
            continue;
        }
        rc = map_error(t, r, e, sys_errno);
        break;
    }
    t->reading = t->writing = false;
    return rc < 0 ? break_conn(t, rc) : 0;
}

int corio_tls_connect(corio_tls *t, const char *server_name) {
    if (!t) return -EINVAL;
    if (t->server || (t->state == ST_NEW && !server_name && t->verify)) {
        (void)snprintf(t->err, sizeof t->err,
                       t->server ? "a server context cannot connect" : "no server name to verify");
        return -EINVAL;
    }
    if (t->state == ST_NEW && server_name && !SSL_is_init_finished(t->ssl) && !t->reading) {
        unsigned char addr[16];
        bool ip = inet_pton(AF_INET, server_name, addr) == 1 || inet_pton(AF_INET6, server_name, addr) == 1;
        ERR_clear_error();
        int ok;
        if (ip) /* RFC 6066: no SNI for an address; the certificate must list it as an IP entry */
            ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), server_name);
        else
            ok = SSL_set_tlsext_host_name(t->ssl, server_name) == 1 && SSL_set1_host(t->ssl, server_name) == 1;
        if (!ok) {
            take_ssl_error(t->err, sizeof t->err);
            return -EINVAL;
        }
        SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    }
    SSL_set_connect_state(t->ssl);
    return handshake(t);
}

int corio_tls_accept(corio_tls *t) {
    if (!t) return -EINVAL;
    if (!t->server) {
        (void)snprintf(t->err, sizeof t->err, "a client context cannot accept");
        return -EINVAL;
    }
    SSL_set_accept_state(t->ssl);
    return handshake(t);
}

corio_tls *corio_tls_connect_host(corio_tls_ctx *ctx, const char *host, int port) {
    if (!ctx || !host) {
        (void)snprintf(last_err, sizeof last_err, "no context or host");
        errno = EINVAL;
        return NULL;
    }
    int fd = corio_tcp_connect(host, port);
    if (fd < 0) {
        (void)snprintf(last_err, sizeof last_err, "connect to %s:%d: %s", host, port, corio_strerror(fd));
        errno = -fd;
        return NULL;
    }
    corio_tls *t = corio_tls_new(ctx, fd);
    if (!t) {
        int err = errno;
        corio_close(fd);
        (void)snprintf(last_err, sizeof last_err, "%s", strerror(err));
        errno = err;
        return NULL;
    }
    int rc = corio_tls_connect(t, host);
    if (rc < 0) {
        (void)snprintf(last_err, sizeof last_err, "%s", t->err[0] ? t->err : corio_strerror(rc));
        corio_tls_free(t);
        errno = -rc;
        return NULL;
    }
    return t;
}

/* ---- reading ------------------------------------------------------------------------------------------------ */

/* Checks that t may start a read now: 0, or the error to return. */
static int read_check(corio_tls *t) {
    if (t->state == ST_BROKEN) return t->broken_rc;
    if (t->state != ST_OPEN) return -ENOTCONN;
    if (t->reading) return -EBUSY;
    return 0;
}

/* One SSL_read into buf: the count, 0 at close_notify, or -errno. A wait that is cancelled or times out leaves
 * the connection as it was (OpenSSL resumes a read from its own buffers); other failures break it. */
static ssize_t ssl_read(corio_tls *t, void *buf, size_t len) {
    if (t->eof) return 0;
    t->reading = true;
    ssize_t ret;
    for (;;) {
        size_t got = 0;
        ERR_clear_error();
        errno = 0;
        int r = SSL_read_ex(t->ssl, buf, len, &got);
        int sys_errno = errno;
        if (r == 1) {
            ret = (ssize_t)got;
            break;
        }
        int e = SSL_get_error(t->ssl, r);
        if (e == SSL_ERROR_ZERO_RETURN) {
            ERR_clear_error();
            t->eof = true;
            ret = 0;
            break;
        }
        if (wants_io(e)) {
            int rc = wait_for(t, e);
            if (rc == -ECANCELED || rc == -ETIMEDOUT) {
                ret = rc;
                break;
            }
            if (rc < 0) {
                ret = break_conn(t, rc);
                break;
            }
            continue;
        }
        ret = break_conn(t, map_error(t, r, e, sys_errno));
        break;
    }
    t->reading = false;
    return ret;
}

static size_t buffered(const corio_tls *t) { return t->rend - t->rstart; }

static void consume(corio_tls *t, size_t n) {
    t->rstart += n;
    if (t->rstart == t->rend) t->rstart = t->rend = 0;
}

/* Room for at least one more byte after rend, the buffer not growing past want (> what is buffered). */
static int make_room(corio_tls *t, size_t want) {
    if (t->rend < t->rcap) return 0;
    if (t->rstart > 0) {
        memmove(t->rbuf, t->rbuf + t->rstart, buffered(t));
        t->rend -= t->rstart;
        t->rstart = 0;
        return 0;
    }
    size_t cap = t->rcap * 2 < want ? t->rcap * 2 : want;
    if (cap <= t->rcap) return -EMSGSIZE;
    char *b = realloc(t->rbuf, cap);
    if (!b) return -ENOMEM;
    t->rbuf = b;
    t->rcap = cap;
    return 0;
}

/* Reads what arrives next into the free end of the buffer: the count, 0 at EOF, or -errno. */
static ssize_t fill(corio_tls *t, size_t want) {
    int rc = make_room(t, want);
    if (rc < 0) return rc;
    ssize_t n = ssl_read(t, t->rbuf + t->rend, t->rcap - t->rend);
    if (n > 0) t->rend += (size_t)n;
    return n;
}

ssize_t corio_tls_read(corio_tls *t, void *buf, size_t len) {
    if (!t || (!buf && len)) return -EINVAL;
    int rc = read_check(t);
    if (rc < 0) return rc;
    if (len == 0) return 0;
    if (buffered(t) == 0) {
        if (len >= t->rcap) return ssl_read(t, buf, len); /* large reads skip the copy */
        ssize_t n = fill(t, t->rcap);
        if (n <= 0) return n;
    }
    size_t n = buffered(t) < len ? buffered(t) : len;
    memcpy(buf, t->rbuf + t->rstart, n);
    consume(t, n);
    return (ssize_t)n;
}

int corio_tls_read_exactly(corio_tls *t, void *buf, size_t len) {
    if (!t || (!buf && len)) return -EINVAL;
    int rc = read_check(t);
    if (rc < 0) return rc;
    if (len == 0) return 0;
    /* short reads gather in the buffer, so a cancelled call loses nothing; only a read larger than the buffer
     * goes straight to the caller's memory (and then a failure loses what was read) */
    if (len <= t->rcap) {
        while (buffered(t) < len) {
            ssize_t n = fill(t, t->rcap);
            if (n < 0) return (int)n;
            if (n == 0) {
                t->rstart = t->rend = 0;
                return -EPIPE;
            }
        }
        memcpy(buf, t->rbuf + t->rstart, len);
        consume(t, len);
        return 0;
    }
    size_t got = buffered(t);
    memcpy(buf, t->rbuf + t->rstart, got);
    consume(t, got);
    while (got < len) {
        ssize_t n = ssl_read(t, (char *)buf + got, len - got);
        if (n < 0) return (int)n;
        if (n == 0) return -EPIPE;
        got += (size_t)n;
    }
    return 0;
}

/* Where delim starts in the buffered bytes at or after offset from, or -1. */
static ssize_t find(const corio_tls *t, size_t from, const void *delim, size_t dlen) {
    const char *base = t->rbuf + t->rstart;
    size_t n = buffered(t);
    if (from >= n) return -1;
    const char *p =
        dlen == 1 ? memchr(base + from, *(const char *)delim, n - from) : memmem(base + from, n - from, delim, dlen);
    return p ? p - base : -1;
}

/* read_line and read_until: the bytes up to and including the delimiter, if they fit in limit. At EOF a partial
 * record is returned if partial_ok, else -EPIPE. Only new bytes are scanned for the delimiter. */
static ssize_t read_until(corio_tls *t, const void *delim, size_t dlen, char *buf, size_t limit, bool partial_ok) {
    size_t from = 0;
    for (;;) {
        ssize_t at = find(t, from, delim, dlen);
        if (at >= 0) {
            size_t len = (size_t)at + dlen;
            if (len > limit) {
                consume(t, len); /* the record is lost, but the connection is at the next one */
                return -EMSGSIZE;
            }
            memcpy(buf, t->rbuf + t->rstart, len);
            consume(t, len);
            return (ssize_t)len;
        }
        size_t n = buffered(t);
        if (n >= limit) {
            consume(t, n);
            return -EMSGSIZE;
        }
        from = n >= dlen - 1 ? n - (dlen - 1) : 0;
        ssize_t got = fill(t, limit);
        if (got < 0) return got;
        if (got == 0) {
            n = buffered(t);
            if (n == 0) return 0;
            if (!partial_ok) {
                consume(t, n);
                return -EPIPE;
            }
            memcpy(buf, t->rbuf + t->rstart, n);
            consume(t, n);
            return (ssize_t)n;
        }
    }
}

ssize_t corio_tls_read_line(corio_tls *t, char *buf, size_t max) {
    if (!t || !buf || max < 2) return -EINVAL;
    int rc = read_check(t);
    ssize_t n = rc < 0 ? rc : read_until(t, "\n", 1, buf, max - 1, true);
    buf[n > 0 ? n : 0] = '\0';
    return n;
}

ssize_t corio_tls_read_until(corio_tls *t, const void *delim, size_t dlen, void *buf, size_t max) {
    if (!t || !delim || dlen == 0 || !buf || max == 0) return -EINVAL;
    int rc = read_check(t);
    if (rc < 0) return rc;
    return read_until(t, delim, dlen, buf, max, false);
}

/* ---- writing and closing ------------------------------------------------------------------------------------ */

static int write_check(corio_tls *t) {
    if (t->state == ST_BROKEN) return t->broken_rc;
    if (t->state != ST_OPEN) return -ENOTCONN;
    if (t->writing) return -EBUSY;
    if (t->shut) return -EPIPE;
    return 0;
}

ssize_t corio_tls_write(corio_tls *t, const void *buf, size_t len) {
    if (!t || (!buf && len) || len > (size_t)SSIZE_MAX) return -EINVAL;
    int rc = write_check(t);
    if (rc < 0) return rc;
    if (len == 0) return 0;
    t->writing = true;
    for (;;) {
        size_t done = 0;
        ERR_clear_error();
        errno = 0;
        /* without SSL_MODE_ENABLE_PARTIAL_WRITE it succeeds only once all len bytes are out; until then it must be
         * called again with the same arguments, which is why a failed wait breaks the connection */
        int r = SSL_write_ex(t->ssl, buf, len, &done);
        int sys_errno = errno;
        if (r == 1) break;
        int e = SSL_get_error(t->ssl, r);
        if (wants_io(e)) {
            if ((rc = wait_for(t, e)) < 0) break;
            continue;
        }
        rc = map_error(t, r, e, sys_errno);
        break;
    }
    t->writing = false;
    return rc < 0 ? break_conn(t, rc) : (ssize_t)len;
}

int corio_tls_shutdown(corio_tls *t) {
    if (!t) return -EINVAL;
    if (t->state == ST_OPEN && t->shut && !t->writing) return 0;
    int rc = write_check(t);
    if (rc < 0) return rc;
    t->writing = true;
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_shutdown(t->ssl);
        int sys_errno = errno;
        if (r >= 0) { /* 0: ours is sent, the peer's not yet seen; 1: both */
            ERR_clear_error();
            t->shut = true;
            rc = 0;
            break;
        }
        int e = SSL_get_error(t->ssl, r);
        if (wants_io(e)) {
            if ((rc = wait_for(t, e)) < 0) break;
            continue;
        }
        rc = map_error(t, r, e, sys_errno);
        break;
    }
    t->writing = false;
    return rc < 0 ? break_conn(t, rc) : 0;
}

int corio_tls_free(corio_tls *t) {
    if (!t) return -EINVAL;
    SSL_free(t->ssl);
    ERR_clear_error();
    /* a caller that closed fd itself (corio_close) may have the number reused by now: never close another file */
    struct stat st;
    if (fstat(t->fd, &st) == 0 && st.st_dev == t->dev && st.st_ino == t->ino) corio_close(t->fd);
    free(t->rbuf);
    free(t->subject);
    free(t);
    return 0;
}

/* ---- information -------------------------------------------------------------------------------------------- */

int corio_tls_fd(const corio_tls *t) { return t ? t->fd : -EINVAL; }

const char *corio_tls_error(const corio_tls *t) { return t ? t->err : last_err; }

const char *corio_tls_peer_subject(corio_tls *t) {
    if (!t) {
        errno = EINVAL;
        return NULL;
    }
    if (t->subject) return t->subject;
    if (t->state != ST_OPEN) {
        errno = ENOTCONN;
        return NULL;
    }
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    X509 *cert = SSL_get1_peer_certificate(t->ssl); /* a new reference */
#else
    X509 *cert = SSL_get_peer_certificate(t->ssl);
#endif
    if (!cert) {
        errno = ENOENT;
        return NULL;
    }
    BIO *mem = BIO_new(BIO_s_mem());
    char *text = NULL;
    if (mem && X509_NAME_print_ex(mem, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
        char *data;
        long n = BIO_get_mem_data(mem, &data);
        if (n >= 0 && (text = malloc((size_t)n + 1))) {
            memcpy(text, data, (size_t)n);
            text[n] = '\0';
        }
    }
    BIO_free(mem);
    X509_free(cert);
    ERR_clear_error();
    if (!text) {
        errno = ENOMEM;
        return NULL;
    }
    return t->subject = text;
}

const char *corio_tls_version(const corio_tls *t) {
    if (!t || t->state != ST_OPEN) return NULL;
    return SSL_get_version(t->ssl);
}
