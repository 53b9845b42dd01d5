/* corio_curl.h - an HTTP(S) client for corio tasks, built on libcurl's multi-socket interface: each call
 * suspends only the calling task, so many tasks can run requests at once over one loop-wide curl multi handle.
 *
 * Errors (negative errno values; resp->error holds curl's own message when curl reported the failure):
 *   -EINVAL        NULL request/response/url, a scheme other than http:// or https://, a malformed URL
 *   -ENOENT        the host name does not resolve
 *   -ECONNREFUSED  nobody listens (other connect failures give the socket's errno, e.g. -ENETUNREACH)
 *   -ETIMEDOUT     req->timeout_ms elapsed, or the caller's timeout scope expired
 *   -ECANCELED     the calling task was cancelled (its transfer is dropped; other transfers go on)
 *   -EPROTO        TLS failures (handshake, certificate verification, unreadable CA file), a reply that is not
 *                  HTTP, a redirect to a scheme other than http/https
 *   -ELOOP         more than 10 redirects;  -ENOMEM;  -EPERM outside a task
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
    unsigned char reserved[64]; /* zero: room for later options (corio.h, "Conventions") */
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

#ifdef __cplusplus
}
#endif
#endif /* CORIO_CURL_H */
