/* corio_tls.h - TLS for corio tasks (asyncio's ssl= streams), built on OpenSSL: a context holds the
 * certificates and settings, a connection wraps a connected socket and suspends only the calling task while the
 * handshake, reads and writes wait for the socket.
 *
 * Errors (negative errno values; corio_tls_error(t) holds OpenSSL's reason, e.g.
 * "certificate verify failed: self-signed certificate"):
 *   -EPROTO        any TLS failure: certificate or host name verification, a handshake the peer refused (an alert),
 *                  a corrupt record
 *   -ECONNRESET    the peer reset the connection, or closed it without a close_notify (a truncation)
 *   -EPIPE         writing after corio_tls_shutdown, or to a peer that has gone away
 *   -ENOTCONN      reading or writing before the handshake succeeded
 *   -EBUSY         a second task reading (or writing) while one already does
 *   -ECANCELED, -ETIMEDOUT  the caller was cancelled or its timeout scope expired (see below)
 *   -EINVAL, -ENOMEM, -EPERM outside a task
 *
 * Lifetime and cancellation:
 *  1. A connection owns its descriptor from corio_tls_new on: corio_tls_free closes it with corio_close (unless
 *     it no longer is the same file: a caller that closed it first never gets another task's descriptor closed).
 *  2. One task may read while another writes (full duplex); two readers or two writers at once get -EBUSY.
 *  3. A handshake or a write that fails for any reason (cancellation and timeouts included) leaves the connection
 *     broken: every later call but corio_tls_free returns that same error, since the peer may have seen half a
 *     record. A read that is cancelled or times out loses nothing and can be retried.
 *  4. A context can be freed while connections made from it live (OpenSSL counts references) and can be shared by
 *     the loops of several threads.
 * SIGPIPE: corio_run ignores it, so writing to a closed peer returns -EPIPE instead of killing the process. */
#ifndef CORIO_TLS_H
#define CORIO_TLS_H

#include "corio.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- contexts ---------------------------------------------------------------------------------------------- */

/* Certificates, keys and settings shared by many connections (Python's ssl.SSLContext). */
typedef struct corio_tls_ctx corio_tls_ctx;

/* Client settings; zero-initialise and set what you need ({0} verifies against the system's CA store). */
typedef struct corio_tls_opts {
    const char *ca_file;   /* PEM file of trusted CAs, or NULL */
    const char *ca_dir;    /* directory of hashed CA certificates (openssl rehash), or NULL; both NULL: system */
    const char *cert_file; /* client certificate chain (PEM) to present when asked, or NULL */
    const char *key_file;  /* its private key (PEM); NULL: read from cert_file */
    int no_verify;         /* 1: accept any certificate and host name (tests only); 0: verify (the default) */
    /* zero: room for later options (corio.h, "Conventions") */
    unsigned char reserved[28];
} corio_tls_opts;

/* A client context (TLS 1.2 or later, verifying the peer unless opts->no_verify; opts may be NULL). NULL and errno:
 * ENOENT / EACCES (a file cannot be read), EINVAL (not PEM, or the key does not match the certificate), ENOMEM. */
CORIO_EXTERN corio_tls_ctx *corio_tls_ctx_client(const corio_tls_opts *opts);
/* A server context presenting the PEM certificate chain in cert_file with key_file (NULL: the key is in
 * cert_file). NULL and errno as corio_tls_ctx_client (EINVAL also for a NULL cert_file). */
CORIO_EXTERN corio_tls_ctx *corio_tls_ctx_server(const char *cert_file, const char *key_file);
/* Drops the caller's reference to ctx (connections keep their own). NULL is ignored. */
CORIO_EXTERN void corio_tls_ctx_free(corio_tls_ctx *ctx);

/* ---- connections ------------------------------------------------------------------------------------------- */

/* One TLS connection over a connected socket. */
typedef struct corio_tls corio_tls;

/* A connection over the connected socket fd, which it owns from now on (made non-blocking); no I/O yet. NULL and
 * errno EINVAL (NULL ctx, fd < 0; fd is then still the caller's) or ENOMEM. Never suspends. */
CORIO_EXTERN corio_tls *corio_tls_new(corio_tls_ctx *ctx, int fd);
/* Runs the client handshake, sending server_name as SNI and checking the certificate against it (a host name, or
 * an IP address literal matched against the certificate's IP entries). 0 or -errno (-EPROTO when verification
 * fails; -EINVAL for a server context or a NULL server_name with verification on). */
CORIO_EXTERN int corio_tls_connect(corio_tls *t, const char *server_name);
/* Runs the server handshake. 0 or -errno (-EPROTO, -ECONNRESET...; -EINVAL for a client context). */
CORIO_EXTERN int corio_tls_accept(corio_tls *t);
/* corio_tcp_connect + corio_tls_new + corio_tls_connect(host): a ready connection, or NULL and errno (the errors
 * of those calls); corio_tls_error(NULL) then tells why. */
CORIO_EXTERN corio_tls *corio_tls_connect_host(corio_tls_ctx *ctx, const char *host, int port);

/* ---- reading, writing, closing ----------------------------------------------------------------------------- */

/* Reads what is buffered or, if nothing is, what arrives next (up to len): the count, 0 once the peer has sent
 * close_notify, or -errno (-ECONNRESET if it closed without one). */
CORIO_EXTERN ssize_t corio_tls_read(corio_tls *t, void *buf, size_t len);
/* Reads exactly len bytes: 0, -EPIPE if the peer closed first (the bytes read are lost), or -errno. */
CORIO_EXTERN int corio_tls_read_exactly(corio_tls *t, void *buf, size_t len);
/* Reads up to and including the first '\n' and NUL-terminates it, as corio_stream_read_line: the length, 0 at
 * EOF, -EMSGSIZE if the line does not fit in max - 1 bytes (it is dropped), or -errno. */
CORIO_EXTERN ssize_t corio_tls_read_line(corio_tls *t, char *buf, size_t max);
/* Reads up to and including the dlen-byte delimiter, as corio_stream_read_until: the length, 0 at EOF with nothing
 * read, -EPIPE at EOF before the delimiter, -EMSGSIZE, -EINVAL (dlen 0), or -errno. */
CORIO_EXTERN ssize_t corio_tls_read_until(corio_tls *t, const void *delim, size_t dlen, void *buf, size_t max);
/* Encrypts and sends all len bytes, suspending while the socket is full: len, or -errno (-EPIPE, -ECONNRESET...;
 * then the connection is broken). */
CORIO_EXTERN ssize_t corio_tls_write(corio_tls *t, const void *buf, size_t len);
/* Sends close_notify (the peer then reads EOF) without waiting for the peer's; later writes fail with -EPIPE,
 * reads go on. 0 or -errno. */
CORIO_EXTERN int corio_tls_shutdown(corio_tls *t);
/* Frees t and corio_close()s its descriptor, without a close_notify (corio_tls_shutdown first for a clean
 * close). No other task may be using t. 0, or -EINVAL if t is NULL. */
CORIO_EXTERN int corio_tls_free(corio_tls *t);

/* ---- information ------------------------------------------------------------------------------------------- */

/* The connection's descriptor, or -EINVAL. */
CORIO_EXTERN int corio_tls_fd(const corio_tls *t);
/* OpenSSL's reason for t's last failure ("" if none); for t NULL, the reason the last corio_tls_ctx_* or
 * corio_tls_connect_host call of this thread failed. Never NULL; valid until the next call on t. */
CORIO_EXTERN const char *corio_tls_error(const corio_tls *t);
/* The peer certificate's subject in RFC 2253 form ("CN=localhost,O=example"), valid until corio_tls_free. NULL and
 * errno: ENOTCONN before the handshake, ENOENT if the peer sent no certificate, EINVAL, ENOMEM. */
CORIO_EXTERN const char *corio_tls_peer_subject(corio_tls *t);
/* The negotiated protocol ("TLSv1.3", "TLSv1.2"), or NULL before the handshake or if t is NULL. */
CORIO_EXTERN const char *corio_tls_version(const corio_tls *t);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_TLS_H */
