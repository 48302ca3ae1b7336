/* SPDX-License-Identifier: MIT */
/*
 * The HTTP/1.1 server every API route is served by: TCP and unix-socket listeners, keep-alive
 * connections, Content-Length and chunked request bodies, fixed and chunked (streamed)
 * responses, and the hand-off of upgraded connections (WebSocket, Docker's hijack) to their
 * owner. One event loop; no threads.
 *
 * Lifetime: the server owns each connection and the request being served on it. A handler is
 * called once per complete request and must end it with exactly one of http_respond*(),
 * http_stream_end() (after http_stream_begin()) or http_hijack(). It may do so later, from any
 * loop callback; if the client goes away first the request's on_abort callback runs and the
 * request is freed right after it, so an asynchronous handler must set on_abort and forget the
 * request there.
 *
 * Limits (header bytes, body bytes, connections, idle/request/write timeouts) are enforced here
 * and answered with 431, 413, 503 and 408; a broken or slow client costs bounded memory and
 * never stalls another.
 */
#ifndef SP_HTTP_H
#define SP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../base/buf.h"
#include "../base/err.h"
#include "../os/loop.h"

struct http_server;
struct http_conn;

struct http_limits {
    size_t max_header_bytes;
    size_t max_body_bytes;
    unsigned max_connections;
    uint64_t idle_timeout_ms;
    uint64_t request_timeout_ms;
    uint64_t write_timeout_ms;
};

struct http_hijack_owner;

struct http_header {
    char *name; /* as sent */
    char *value;
};

struct http_request {
    const char *method; /* "GET", … (static string) */
    char *target;       /* the request target as sent: path and query */
    char *path;         /* target up to '?' (not percent-decoded) */
    char *query;        /* after '?', or "" */
    struct http_header *headers;
    size_t n_headers;
    size_t headers_cap;
    struct sp_buf body;
    unsigned short http_major, http_minor;
    bool keep_alive;    /* what the client asked for */
    bool upgrade;       /* Connection: upgrade (or CONNECT): the handler may http_hijack() */
    bool is_unix;       /* arrived on a unix-socket listener */
    bool is_local;      /* arrived on a listener made with HTTP_LISTEN_LOCAL */
    bool body_buffered; /* a body followed the head and was read into body (maybe empty) */

    /* For asynchronous handlers. */
    void *data;
    void (*on_abort)(struct http_request *req); /* the client went away before the end */
    void (*on_drain)(struct http_request *req); /* a streamed response's backlog was written */
    /* A streamed request body (see http_server_set_body_hook): bytes as they arrive, then the
     * end. on_body returns 0, or < 0 when the handler answered already (no more bytes come). */
    int (*on_body)(struct http_request *req, const char *data, size_t len);
    void (*on_body_end)(struct http_request *req);

    struct http_conn *conn; /* private */
};

typedef void (*http_handler_fn)(void *ud, struct http_request *req);

int http_server_new(struct http_server **out, struct loop *loop, const struct http_limits *lim,
                    http_handler_fn handler, void *ud);
/* Adds a listener: ":8080", "0.0.0.0:80", "[::1]:8080", "localhost:8080" or "unix:/path".
 * Unix sockets are created mode 0600 (a stale socket file is replaced; a socket another process
 * serves on is -EADDRINUSE). The actual address
 * (with the kernel's port for ":0") is written to bound (may be NULL). */
int http_server_listen(struct http_server *s, const char *addr, char *bound, size_t bound_len,
                       struct sp_err *err);
/* A listener whose requests carry is_local: the router serves them a restricted set of routes
 * without a token (the local services socket, whose 0600 mode is the access control). */
enum http_listen_flags { HTTP_LISTEN_LOCAL = 1 << 0 };
int http_server_listen_flags(struct http_server *s, const char *addr, int flags, char *bound,
                             size_t bound_len, struct sp_err *err);
/* Header lines ("Name: value\r\n"…) put on every response, including the ones handlers write
 * by hand after http_hijack (see http_common_headers). The string is the caller's and must
 * outlive the server; NULL for none. */
void http_server_set_common_headers(struct http_server *s, const char *lines);
const char *http_common_headers(const struct http_request *req); /* "" when none */

/*
 * Streamed request bodies. Once a request's headers are in and a body follows, body_hook(ud,
 * req) says whether the handler takes it as a stream: then the handler runs at once (it sees no
 * body in req->body), sets on_body / on_body_end, and the bytes arrive from the loop as the client
 * sends them, with no size limit but the handler's own (max_body_bytes is for buffered bodies).
 * A body that makes no progress for request_timeout while not paused, or that is cut short, ends
 * in on_abort. A response sent before the body ended closes the connection after it.
 */
typedef bool (*http_body_hook_fn)(void *ud, const struct http_request *req);
void http_server_set_body_hook(struct http_server *s, http_body_hook_fn fn);
/* Back-pressure on a streamed body: while paused no bytes are read or handed over. */
void http_body_pause(struct http_request *req, bool paused);
/*
 * A streamed body straight into a file: the rest of the body goes from the socket into fd
 * through a pipe (splice), never through user space, instead of to on_body. Only for a body with
 * a Content-Length. on_body must still work: bytes already read go there first (then the rest
 * to fd at its current offset), and all of them when no pipe can be had (out of fds). After
 * every step on_sunk(req, n) gets the bytes written (n > 0): it returns 0, or < 0 when it
 * answered; it may pause the body. A failed write ends the body: on_sunk(req, -errno), and the
 * handler answers (the connection is closed after it, the rest of the body unread). on_body_end
 * and on_abort keep their meaning. fd stays the caller's. 0, or -ENOTSUP for a body that cannot
 * go this way (chunked, or nothing left): on_body then gets it all as before.
 */
typedef int (*http_sunk_fn)(struct http_request *req, long n);
int http_body_to_fd(struct http_request *req, int fd, http_sunk_fn on_sunk);

/* Stops accepting and closes every connection (pending requests see on_abort). */
void http_server_free(struct http_server *s);

/* Header lookup, case-insensitive; NULL when absent. */
const char *http_header_get(const struct http_request *req, const char *name);

/* Query parameter lookup (percent-decoded into buf); returns buf or NULL when absent. */
const char *http_query_get(const struct http_request *req, const char *name, char *buf, size_t len);

/* Every value of a repeated query parameter, percent-decoded, as a NULL-terminated vector
 * (NULL when out of memory; an empty vector when absent). Free with sp_strv_free. */
char **http_query_all(const struct http_request *req, const char *name);

/* ---- responses ---- */

/* A complete response. extra_headers: zero or more "Name: value\r\n" lines, or NULL. */
void http_respond(struct http_request *req, int status, const char *content_type,
                  const char *extra_headers, const void *body, size_t len);
/* A complete response whose body is len bytes of fd from offset (Content-Length), sent with
 * sendfile(2) as the client takes it: no copy, no buffer. The fd becomes the server's (closed
 * when sent, or when the connection ends). A file that shrinks meanwhile ends the connection. */
void http_respond_fd(struct http_request *req, int status, const char *content_type,
                     const char *extra_headers, int fd, off_t offset, uint64_t len);
/* JSON error body {"code":…,"message":…}, with extra header lines (or NULL). */
void http_respond_error_h(struct http_request *req, int status, const char *extra_headers,
                          const char *code, const char *fmt, ...) SP_PRINTF(5, 6);
/* JSON error body {"code":…,"message":…}. */
void http_respond_error(struct http_request *req, int status, const char *code, const char *fmt,
                        ...) SP_PRINTF(4, 5);

/* Streamed (chunked) response. */
void http_stream_begin(struct http_request *req, int status, const char *content_type,
                       const char *extra_headers);
/* Queues a chunk; returns the bytes not yet written to the socket (the backlog), or -errno when
 * the connection is gone. Producers should pause above a threshold and resume on on_drain. */
long http_stream_write(struct http_request *req, const void *data, size_t len);
void http_stream_end(struct http_request *req);

/*
 * Zero-copy variant of http_stream_write: reserve room for up to n bytes of one chunk, write
 * them at the returned pointer, then commit how many were written (<= n). NULL when the
 * connection is gone or memory is short. Returns like http_stream_write.
 */
void *http_stream_reserve(struct http_request *req, size_t n);
/* One chunk from several pieces: sent straight from them when nothing is queued (no copy),
 * the rest is copied. Returns like http_stream_write. */
struct iovec;
long http_stream_writev(struct http_request *req, const struct iovec *iov, int iovcnt);
long http_stream_commit(struct http_request *req, size_t n);

/*
 * An owner of a connection taken from the server. It still counts against max_connections until
 * the owner calls http_hijack_done(); when the server is freed first, it calls close() on every
 * owner, which must then finish the connection (and call http_hijack_done).
 */
struct http_hijack_owner {
    void (*close)(struct http_hijack_owner *o);
    struct http_server *srv; /* private */
    bool is_unix, local;     /* private */
    struct http_hijack_owner *prev, *next;
};

/*
 * Takes the connection away from the server: the caller now owns the socket fd (non-blocking,
 * close-on-exec) and receives any bytes the client already sent after the request. The request
 * must not be used afterwards (it is freed after the current loop batch), so copy what you need
 * first. Only valid before any response was started. Returns 0 or -errno (then the request is
 * still the caller's to answer).
 * A request dispatched at its head for a streamed body (http_server_set_body_hook) can be taken
 * as long as none of its body was handed over yet (-EINVAL after; a handler that hijacks later
 * pauses the body with http_body_pause first): rest then starts with the first body byte, raw
 * as the client framed it. For a request dispatched complete, rest is what followed it.
 */
int http_hijack(struct http_request *req, int *fd_out, struct sp_buf *rest,
                struct http_hijack_owner *owner);
/* The owner is done with a hijacked connection (it has closed the fd). */
void http_hijack_done(struct http_hijack_owner *owner);
/* Or the owner gives the connection back between two requests (a proxy whose response ended
 * where a keep-alive connection goes on): the server serves the next request on fd, starting
 * with rest (n bytes the owner read past the end of the last request; copied). The owner is
 * done as by http_hijack_done. 0, or -ENOMEM or -EINVAL (not an owner now): fd is closed. */
int http_hijack_return(struct http_hijack_owner *owner, int fd, const void *rest, size_t n);

const char *http_status_text(int status);

#endif
