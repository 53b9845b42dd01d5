/* corio_curl.h - an HTTP(S) client for corio tasks, built on libcurl's multi-socket interface: each call
 * suspends only the calling task, so many tasks can run requests at once over one loop-wide curl multi handle.
 *
 * Errors (negative errno values; resp->error holds curl's own message when curl reported the failure):
 *   -EINVAL        NULL request/response/url, a scheme other than http:// or https://, a malformed URL
 *   -ENOENT        the host name does not resolve
 *   -ECONNREFUSED  nobody listens (other connect failures give the socket's errno, e.g. -ENETUNREACH)
 *   -ETIMEDOUT     req->timeout_ms or req->connect_timeout_ms elapsed, or the caller's timeout scope expired
 *   -ECANCELED     the calling task was cancelled (its transfer is dropped; other transfers go on)
 *   -EPROTO        TLS failures (handshake, certificate verification, unreadable CA file), a reply that is not
 *                  HTTP, a redirect to a scheme other than http/https
 *   -ELOOP         more than 10 redirects;  -ENOMEM;  -EPERM outside a task
 *   -EMSGSIZE      the body is longer than req->max_body (a Content-Length over it fails before any byte)
 *   -EIO           any other transfer failure (a connection reset mid-response, ...)
 * An HTTP error status (404, 500...) is not a failure: the call returns 0 and resp->status says it. */
#ifndef CORIO_CURL_H
#define CORIO_CURL_H

#include "corio.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CORIO_HTTP_ERROR_SIZE 256 /* libcurl's CURL_ERROR_SIZE */

/* A request; zero-initialise it and set what you need ({.url = "http://..."} is a GET). */
typedef struct corio_http_req {
    const char *method;         /* "GET", "POST", "PUT", "DELETE"...; NULL: GET, or POST when body is set */
    const char *url;            /* http:// or https:// only */
    const char *const *headers; /* NULL-terminated array of "Name: value" lines, or NULL */
    const void *body;           /* request body (copied by libcurl before the call suspends), or NULL */
    size_t body_len;            /* bytes of body */
    int64_t timeout_ms;         /* whole-transfer limit, 0 for none (the caller's timeout scope still holds) */
    int no_follow;              /* 1: return a 3xx as it is; 0: follow up to 10 redirects */
    int insecure;               /* 1: skip TLS peer and host name verification; 0: verify (the default) */
    const char *ca_file;        /* PEM file of trusted CAs instead of the system's, or NULL */
    int64_t connect_timeout_ms; /* limit on connecting (TCP and TLS handshake), 0: libcurl's 300 s; < 0: -EINVAL */
    size_t max_body;            /* longest body accepted, 0 for no limit: past it the call fails with -EMSGSIZE */
    /* The escape hatch: called with the request's libcurl easy handle (a CURL *) once corio has set its options,
     * to call curl_easy_setopt for anything else (a proxy, CURLOPT_RESOLVE, a client certificate...). Returns 0,
     * or a negative errno that fails the request. corio then sets its own callbacks, their data, CURLOPT_PRIVATE,
     * CURLOPT_ERRORBUFFER and CURLOPT_NOSIGNAL again; use the fields above for what they cover. NULL: none. */
    int (*setopt)(void *curl, void *arg);
    void *setopt_arg; /* passed to setopt */
    unsigned char reserved[32]; /* zero: room for later options (corio.h, "Conventions") */
} corio_http_req;

/* A response, filled by corio_http_request; release it with corio_http_resp_free. */
typedef struct corio_http_resp {
    int status;     /* HTTP status of the last response (after redirects), 0 if none */
    char **headers; /* the last response's header lines "Name: value" (no CRLF) */
    size_t nheaders;
    char *body; /* the body, NUL-terminated for convenience (body[body_len] == 0) */
    size_t body_len;
    char error[CORIO_HTTP_ERROR_SIZE]; /* curl's message for a failed transfer, "" otherwise */
    unsigned char reserved[32];        /* zeroed: room for later fields */
} corio_http_resp;

/* Runs req and suspends until its response has arrived in *resp (always initialised: free it with
 * corio_http_resp_free even after a failure). 0 for any HTTP status, or a negative errno listed above. */
CORIO_EXTERN int corio_http_request(const corio_http_req *req, corio_http_resp *resp);
/* A GET of url: corio_http_request with {.url = url}. */
CORIO_EXTERN int corio_http_get(const char *url, corio_http_resp *resp);
/* A POST of len bytes of body with the given Content-Type (NULL: application/octet-stream). */
CORIO_EXTERN int corio_http_post(const char *url, const char *content_type, const void *body, size_t len,
                                 corio_http_resp *resp);
/* The value of the first response header called name (case-insensitive), or NULL if there is none. */
CORIO_EXTERN const char *corio_http_resp_header(const corio_http_resp *resp, const char *name);
/* Frees what resp holds and zeroes it; NULL is ignored, and freeing twice is harmless. */
CORIO_EXTERN void corio_http_resp_free(corio_http_resp *resp);

/* A response whose body is read as it arrives, in bounded memory (at most 64 KiB waits unread: libcurl pauses
 * the transfer until the reader catches up). */
typedef struct corio_http_stream corio_http_stream;
/* Runs req and suspends until the final response's status and headers are in *resp (its body stays empty);
 * then read the body with corio_http_read. resp must outlive the stream. 0 and *stream, or a negative errno
 * as corio_http_request (*stream NULL; -EINVAL if stream is NULL). req->timeout_ms covers the reading too. */
CORIO_EXTERN int corio_http_open(const corio_http_req *req, corio_http_resp *resp, corio_http_stream **stream);
/* Reads up to len bytes of the body, waiting only while none is there: the count, 0 at its end, or a negative
 * errno as corio_http_request (message in the resp given to open); -EINVAL for a NULL s or buf or a len of 0. */
CORIO_EXTERN ssize_t corio_http_read(corio_http_stream *s, void *buf, size_t len);
/* Ends the transfer if it is still running (its connection is not reused) and frees s; NULL is ignored. Close
 * every stream before its loop ends. */
CORIO_EXTERN void corio_http_close(corio_http_stream *s);

/* Connection limits of this loop's client, which every task's requests share (a connection a request has
 * finished with is kept alive for the next, from any task): at most per_host connections to one host and port,
 * and total in all (0: no limit, the default); requests past a limit wait for a connection (lowering a limit
 * closes none already open). 0, -EINVAL for a negative limit, -EPERM outside a task, -ENOMEM. */
CORIO_EXTERN int corio_http_set_limits(int per_host, int total);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_CURL_H */
