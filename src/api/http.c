/* SPDX-License-Identifier: MIT */
/* The HTTP server: see http.h. */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <limits.h>
#include <sys/sendfile.h>

#include <jansson.h>

#include "../base/fd.h"
#include "../base/log.h"
#include "../base/str.h"
#include "../base/time.h"
#include "http_parse.h"

#define READ_CHUNK      16384
#define SINK_PIPE_BYTES (1u << 20) /* http_body_to_fd's pipe */
#define SINK_STEP_BYTES (2u << 20) /* spliced per readable event at most */
/* Spliced into the sink per call at most. The size of a write decides the size of the page-cache
 * folios the kernel allocates for it: 1 MiB writes take 1 MiB folios, high-order pages that a VM
 * with free page reporting has given back to its host (each first touch then faults there);
 * 64 KiB writes measured twice as fast on such a VM, and no slower elsewhere. */
#define SINK_WRITE_BYTES (64u << 10)
#define LINGER_MS        2000
#define ACCEPT_PAUSE     100 /* ms without accepting after EMFILE */

enum conn_state {
    C_READING,  /* waiting for / parsing a request */
    C_HANDLING, /* request dispatched, response not finished */
    C_FLUSHING, /* response finished, bytes still queued */
    C_LINGER,   /* error sent, write side shut: draining input before close */
};

struct listener {
    struct loop_io io;
    struct loop_timer pause;
    struct http_server *srv;
    bool is_unix;
    bool local; /* HTTP_LISTEN_LOCAL */
    char *unix_path;
    struct listener *next;
};

struct http_conn {
    struct http_server *srv;
    struct loop_io io;
    struct loop_timer timer;
    struct sp_buf in, out;
    struct http_reqparser rp;
    struct http_request req;
    enum conn_state state;
    bool is_unix;
    bool local;
    bool streaming;     /* a chunked/close-delimited body is open */
    bool chunked;       /* the stream uses chunked encoding */
    bool resp_started;  /* status line queued */
    bool close_after;   /* close once the response is flushed */
    bool sent_continue; /* 100 Continue already sent for this request */
    bool in_dispatch;   /* the handler is running on our stack */
    bool linger;        /* after the response: shut down writes and drain before closing */
    bool head_only;     /* a streamed answer to HEAD: headers only */
    bool body_open;     /* a streamed request body is still arriving (see http_body_pause) */
    bool body_paused;   /* the handler is not taking body bytes now */
    bool body_fed;      /* bytes of the streamed body went through the parser */
    int file_fd;        /* http_respond_fd: the body still to send with sendfile, or -1 */
    int sink_fd;        /* http_body_to_fd: the body goes into this fd (the handler's), or -1 */
    http_sunk_fn on_sunk;
    bool sink_by_copy; /* the sink's filesystem takes no splice: read and write instead */
    off_t file_off;
    uint64_t file_left;
    uint64_t body_progress_ms;
    uint64_t idle_since_ms; /* when the connection last became idle (between requests) */
    bool closed;
    uint64_t req_start_ms;
    uint64_t write_progress_ms;
    struct http_conn *prev, *next;
};

struct http_server {
    struct loop *loop;
    struct http_limits lim;
    http_handler_fn handler;
    void *ud;
    struct listener *listeners;
    struct http_conn *conns;
    struct http_hijack_owner *hijacked;
    unsigned n_conns;           /* served and hijacked connections */
    const char *common_headers; /* on every response; the caller's string */
    http_body_hook_fn body_hook;
    int sink_pipe[2]; /* http_body_to_fd: socket -> pipe -> file; empty between events */
};

static void conn_close(struct http_conn *c);
static void conn_flush(struct http_conn *c);
static void conn_process_input(struct http_conn *c);
static void conn_update(struct http_conn *c);
static struct http_conn *conn_new(struct http_server *s, int fd, bool is_unix, bool local);

const char *http_status_text(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 507: return "Insufficient Storage";
    default: return "Unknown";
    }
}

const char *http_header_get(const struct http_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (req->headers[i].name && strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes [s, s+n) into buf; '+' is a space (form encoding). */
static void url_decode(const char *s, size_t n, char *buf, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < len; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            buf[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            buf[o++] = s[i] == '+' ? ' ' : s[i];
        }
    }
    buf[o] = '\0';
}

const char *http_query_get(const struct http_request *req, const char *name, char *buf, size_t len)
{
    const char *q = req->query ? req->query : "";
    size_t nlen = strlen(name);
    while (*q) {
        const char *end = strchrnul(q, '&');
        const char *eq = memchr(q, '=', (size_t)(end - q));
        const char *kend = eq ? eq : end;
        char key[256];
        url_decode(q, (size_t)(kend - q), key, sizeof(key));
        if (strlen(key) == nlen && memcmp(key, name, nlen) == 0) {
            if (eq)
                url_decode(eq + 1, (size_t)(end - eq - 1), buf, len);
            else if (len)
                buf[0] = '\0';
            return buf;
        }
        q = *end ? end + 1 : end;
    }
    return NULL;
}

char **http_query_all(const struct http_request *req, const char *name)
{
    char **out = sp_strv_new(0);
    const char *q = req->query ? req->query : "";
    size_t nlen = strlen(name);
    while (out && *q) {
        const char *end = strchrnul(q, '&');
        const char *eq = memchr(q, '=', (size_t)(end - q));
        const char *kend = eq ? eq : end;
        char key[256];
        url_decode(q, (size_t)(kend - q), key, sizeof(key));
        if (strlen(key) == nlen && memcmp(key, name, nlen) == 0) {
            size_t vlen = eq ? (size_t)(end - eq - 1) : 0;
            char *val = malloc(vlen + 1);
            if (!val) {
                sp_strv_free(out);
                return NULL;
            }
            url_decode(eq ? eq + 1 : "", vlen, val, vlen + 1);
            int r = sp_strv_push(&out, val);
            free(val);
            if (r < 0) {
                sp_strv_free(out);
                return NULL;
            }
        }
        q = *end ? end + 1 : end;
    }
    return out;
}

/* ---- connections ---- */

static void conn_free_deferred(void *arg)
{
    struct http_conn *c = arg;
    http_request_clear(&c->req);
    sp_buf_free(&c->in);
    sp_buf_free(&c->out);
    free(c);
}

static void conn_abort_deferred(void *arg)
{
    struct http_conn *c = arg;
    void (*abort_fn)(struct http_request *) = c->req.on_abort;
    c->req.on_abort = NULL;
    c->req.on_drain = NULL;
    if (abort_fn) abort_fn(&c->req);
}

static void request_begin(struct http_conn *c)
{
    http_request_clear(&c->req);
    c->req.conn = c;
    c->req.is_unix = c->is_unix;
    c->req.is_local = c->local;
    http_reqparser_reset(&c->rp, &c->req);
    c->streaming = c->chunked = c->resp_started = c->sent_continue = c->head_only = false;
    c->body_open = c->body_paused = c->body_fed = false;
    c->sink_fd = -1;
    c->on_sunk = NULL;
    c->sink_by_copy = false;
    c->rp.ask_stream = c->srv->body_hook != NULL;
    c->state = C_READING;
    c->idle_since_ms = sp_now_ms();
}

static void conn_close(struct http_conn *c)
{
    struct http_server *s = c->srv;
    if (c->closed) return;
    c->closed = true;
    /* The handler may be on the stack right now (a write it made failed): tell it from the loop,
     * never from inside its own call. The free is deferred behind this, so req stays valid. */
    if (c->state == C_HANDLING && c->req.on_abort) loop_defer(s->loop, conn_abort_deferred, c);
    loop_timer_stop(s->loop, &c->timer);
    loop_io_stop(s->loop, &c->io);
    sp_close(c->io.fd);
    c->io.fd = -1;
    sp_close(c->file_fd);
    c->file_fd = -1;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->n_conns--;
    if (loop_defer(s->loop, conn_free_deferred, c) < 0) {
        /* Could not defer (out of memory): leak rather than free under a pending event. */
        sp_error("http: leaking a connection record (out of memory)");
    }
}

static void conn_timer_cb(struct loop_timer *t)
{
    struct http_conn *c = SP_CONTAINER_OF(t, struct http_conn, timer);
    if (sp_buf_pending(&c->out) > 0 || c->file_left || c->state == C_LINGER) {
        conn_close(c); /* the client stopped reading, or lingering is over */
        return;
    }
    if (c->state == C_HANDLING && c->body_open) {
        conn_close(c); /* the body stopped arriving: on_abort tells the handler */
        return;
    }
    if (c->state == C_READING && c->rp.started) {
        c->close_after = true;
        c->linger = true;
        c->state = C_HANDLING;
        http_respond_error(&c->req, 408, "request_timeout",
                           "the request was not received within the time limit");
        return;
    }
    conn_close(c); /* idle keep-alive connection */
}

/* Sets epoll interest and the timer from the state. */
static void conn_update(struct http_conn *c)
{
    struct loop *l = c->srv->loop;
    uint32_t ev = 0;
    uint64_t deadline = 0;
    uint64_t now = sp_now_ms();

    if (c->closed) return;
    if (c->state == C_READING || c->state == C_LINGER) ev |= EPOLLIN;
    if (c->state == C_HANDLING && c->body_open && !c->body_paused) ev |= EPOLLIN;
    /* While a request is served, notice a client that goes away (a disconnect must stop what
     * it started). A client that half-closes after its request counts as gone too. */
    if (c->state == C_HANDLING) ev |= EPOLLRDHUP;
    if (sp_buf_pending(&c->out) || c->file_left) ev |= EPOLLOUT;
    if (loop_io_set(l, &c->io, ev) < 0) {
        conn_close(c);
        return;
    }
    if (sp_buf_pending(&c->out) || c->file_left) {
        deadline = c->write_progress_ms + c->srv->lim.write_timeout_ms;
    } else if (c->state == C_LINGER) {
        return; /* armed once when lingering starts */
    } else if (c->state == C_READING) {
        deadline = c->rp.started ? c->req_start_ms + c->srv->lim.request_timeout_ms
                                 : c->idle_since_ms + c->srv->lim.idle_timeout_ms;
    } else if (c->state == C_HANDLING && c->body_open && !c->body_paused) {
        /* a streamed body has no overall deadline, but must keep moving */
        deadline = c->body_progress_ms + c->srv->lim.request_timeout_ms;
    }
    if (deadline)
        loop_timer_start(l, &c->timer, deadline > now ? deadline - now : 0);
    else
        loop_timer_stop(l, &c->timer);
}

static void conn_start_linger(struct http_conn *c)
{
    shutdown(c->io.fd, SHUT_WR);
    c->state = C_LINGER;
    loop_timer_start(c->srv->loop, &c->timer, LINGER_MS);
    conn_update(c);
}

/* The response is fully queued: flush what remains, then move to the next request. */
static void conn_response_done(struct http_conn *c)
{
    c->state = C_FLUSHING;
    c->req.on_abort = NULL;
    c->req.on_drain = NULL;
    conn_flush(c);
}

static void conn_after_flush(struct http_conn *c)
{
    if (c->close_after) {
        /* Errors sent while the client may still be sending: linger so it reads our answer
         * instead of a reset. Otherwise a plain close. */
        if (c->linger)
            conn_start_linger(c);
        else
            conn_close(c);
        return;
    }
    request_begin(c);
    sp_buf_shrink(&c->out, 64 * 1024);
    if (!c->in_dispatch) conn_process_input(c);
}

static void conn_flush(struct http_conn *c)
{
    while (sp_buf_pending(&c->out)) {
        ssize_t w = send(c->io.fd, sp_buf_head(&c->out), sp_buf_pending(&c->out), MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            conn_close(c);
            return;
        }
        sp_buf_consume(&c->out, (size_t)w);
        c->write_progress_ms = sp_now_ms();
    }
    while (sp_buf_pending(&c->out) == 0 && c->file_left) {
        size_t want = c->file_left > (1u << 30) ? (1u << 30) : (size_t)c->file_left;
        ssize_t w = sendfile(c->io.fd, c->file_fd, &c->file_off, want);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) break;
        if (w <= 0) { /* an error, or the file shrank under a promised Content-Length */
            conn_close(c);
            return;
        }
        c->file_left -= (uint64_t)w;
        c->write_progress_ms = sp_now_ms();
        if (!c->file_left) {
            sp_close(c->file_fd);
            c->file_fd = -1;
        }
    }
    if (sp_buf_pending(&c->out) == 0 && !c->file_left) {
        if (c->state == C_FLUSHING) {
            conn_after_flush(c);
            return;
        }
    }
    conn_update(c);
}

static void conn_dispatch(struct http_conn *c)
{
    c->state = C_HANDLING;
    c->in_dispatch = true;
    conn_update(c); /* stop reading while the request is served */
    c->srv->handler(c->srv->ud, &c->req);
    c->in_dispatch = false;
    /* what a streaming handler wrote during the call was held back to go out with the head */
    if (!c->closed && c->state == C_HANDLING && sp_buf_pending(&c->out)) conn_flush(c);
}

static void send_continue(struct http_conn *c)
{
    if (c->rp.expect_continue && !c->sent_continue && c->req.http_minor >= 1) {
        c->sent_continue = true;
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (sp_buf_append(&c->out, cont, sizeof(cont) - 1) == 0) conn_flush(c);
    }
}

/* A streamed body: parse what is buffered and hand the bytes to the handler, until it pauses,
 * the body ends or the buffer is empty. */
static void body_feed(struct http_conn *c)
{
    struct http_request *req = &c->req;
    while (!c->closed && c->body_open && !c->body_paused && sp_buf_pending(&c->in)) {
        c->body_fed = true;
        size_t n = http_reqparser_feed(&c->rp, sp_buf_head(&c->in), sp_buf_pending(&c->in));
        sp_buf_consume(&c->in, n);
        if (c->rp.state == HTTP_PARSE_ERROR) { /* bad chunk framing mid-body */
            sp_warn("http: %s", c->rp.error_msg);
            conn_close(c);
            return;
        }
        if (sp_buf_pending(&req->body)) {
            c->body_progress_ms = sp_now_ms();
            int r = req->on_body
                        ? req->on_body(req, sp_buf_head(&req->body), sp_buf_pending(&req->body))
                        : 0;
            sp_buf_consume(&req->body, sp_buf_pending(&req->body));
            if (r < 0 || c->closed) return; /* the handler answered or gave up */
        }
        if (c->rp.state == HTTP_PARSE_COMPLETE) {
            c->body_open = false;
            if (req->on_body_end) req->on_body_end(req);
            break;
        }
        if (n == 0) break;
    }
    conn_update(c);
}

/* The pipe body_sink moves bytes through, made on first use (1 MiB when the system allows, so
 * one splice takes a good part of what the socket holds). */
static int sink_pipe(struct http_server *s)
{
    if (s->sink_pipe[0] >= 0) return 0;
    if (pipe2(s->sink_pipe, O_CLOEXEC | O_NONBLOCK) < 0) return -errno;
    (void)fcntl(s->sink_pipe[1], F_SETPIPE_SZ, SINK_PIPE_BYTES);
    return 0;
}

/* A pipe that may still hold bytes (a write into the sink failed) is never used again. */
static void sink_pipe_drop(struct http_server *s)
{
    sp_close(s->sink_pipe[0]);
    sp_close(s->sink_pipe[1]);
    s->sink_pipe[0] = s->sink_pipe[1] = -1;
}

/* Moves n bytes from the pipe into the sink: spliced, or read and written for a file whose
 * filesystem takes no splice (EINVAL: from then on for the whole body). 0 / -errno. */
static int sink_drain(struct http_conn *c, size_t n)
{
    int from = c->srv->sink_pipe[0];
    char buf[16384];
    while (n) {
        ssize_t w;
        if (!c->sink_by_copy) {
            w = splice(from, NULL, c->sink_fd, NULL, n < SINK_WRITE_BYTES ? n : SINK_WRITE_BYTES,
                       SPLICE_F_MOVE);
            if (w < 0 && errno == EINVAL) {
                c->sink_by_copy = true;
                continue;
            }
        } else {
            w = read(from, buf, n < sizeof(buf) ? n : sizeof(buf));
            int e = w > 0 ? sp_write_all(c->sink_fd, buf, (size_t)w) : 0;
            if (e < 0) return e;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -errno;
        if (w == 0) return -EIO;
        n -= (size_t)w;
    }
    return 0;
}

/* http_body_to_fd: the socket is readable and nothing is buffered. Moves what the socket holds
 * of the body (at most SINK_STEP_BYTES per event, so other connections get their turn) into the
 * sink through the pipe, telling the handler after every step; ends the body when its
 * Content-Length is reached. The bytes never enter user space. */
static void body_sink(struct http_conn *c)
{
    struct http_server *s = c->srv;
    struct http_request *req = &c->req;
    int e = sink_pipe(s);
    if (e < 0) { /* no pipe (out of fds): the body comes through on_body instead */
        c->sink_fd = -1;
        conn_update(c);
        return;
    }
    for (size_t moved = 0; moved < SINK_STEP_BYTES;) {
        uint64_t left = c->rp.p.content_length;
        size_t want = left < SINK_PIPE_BYTES ? (size_t)left : SINK_PIPE_BYTES;
        ssize_t n =
            splice(c->io.fd, NULL, s->sink_pipe[1], NULL, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        if (n <= 0) {
            conn_close(c); /* the body was cut short, or the connection failed */
            return;
        }
        e = sink_drain(c, (size_t)n);
        if (e < 0) { /* the sink failed (ENOSPC, EIO, ...): the handler answers */
            sink_pipe_drop(s);
            c->sink_fd = -1;
            c->on_sunk(req, e);
            if (!c->closed && !c->resp_started) conn_close(c); /* it did not answer */
            return;
        }
        moved += (size_t)n;
        c->rp.p.content_length = left - (uint64_t)n;
        c->body_progress_ms = sp_now_ms();
        if (c->on_sunk(req, n) < 0 || c->closed || !c->body_open) return;
        if (c->rp.p.content_length == 0) {
            /* the whole body is in: the request is complete as if the parser had seen it (even
             * if the handler just paused: nothing is left to hold back) */
            c->rp.state = HTTP_PARSE_COMPLETE;
            c->body_open = false;
            c->sink_fd = -1;
            if (req->on_body_end) req->on_body_end(req);
            if (!c->closed) conn_update(c);
            return;
        }
        if (c->body_paused) break; /* the handler paused the body: nothing more now */
    }
    conn_update(c);
}

int http_body_to_fd(struct http_request *req, int fd, http_sunk_fn on_sunk)
{
    struct http_conn *c = req->conn;
    if (fd < 0 || !on_sunk) return -EINVAL;
    if (c->closed || !c->body_open || (c->rp.p.flags & F_CHUNKED) || c->rp.p.content_length == 0 ||
        c->rp.p.content_length == ULLONG_MAX)
        return -ENOTSUP;
    c->sink_fd = fd;
    c->on_sunk = on_sunk;
    return 0;
}

static void body_deferred(void *arg)
{
    struct http_conn *c = arg;
    if (!c->closed) body_feed(c);
}

void http_body_pause(struct http_request *req, bool paused)
{
    struct http_conn *c = req->conn;
    if (c->closed || !c->body_open || c->body_paused == paused) return;
    c->body_paused = paused;
    if (!paused) {
        c->body_progress_ms = sp_now_ms();
        /* bytes already here are handed over from the loop, never inside this call */
        if (sp_buf_pending(&c->in)) loop_defer(c->srv->loop, body_deferred, c);
    }
    conn_update(c);
}

void http_server_set_body_hook(struct http_server *s, http_body_hook_fn fn)
{
    s->body_hook = fn;
}

/* Parses buffered input; dispatches at most one request at a time. */
static void conn_process_input(struct http_conn *c)
{
    while (!c->closed && c->state == C_READING) {
        if (sp_buf_pending(&c->in) == 0) {
            conn_update(c);
            return;
        }
        if (!c->rp.started) c->req_start_ms = sp_now_ms();
        size_t n = http_reqparser_feed(&c->rp, sp_buf_head(&c->in), sp_buf_pending(&c->in));
        sp_buf_consume(&c->in, n);
        if (c->rp.state == HTTP_PARSE_ERROR) {
            c->close_after = true;
            c->linger = true;
            c->state = C_HANDLING;
            http_respond_error(&c->req, c->rp.error_status, c->rp.error_code, "%s",
                               c->rp.error_msg);
            return;
        }
        if (c->rp.state == HTTP_PARSE_HEADERS) {
            bool stream = c->srv->body_hook(c->srv->ud, &c->req);
            http_reqparser_body_mode(&c->rp, stream);
            c->req.body_buffered = !stream;
            if (stream) {
                c->body_open = true;
                c->body_progress_ms = sp_now_ms();
                send_continue(c);
                if (c->closed) return;
                conn_dispatch(c); /* the handler sets on_body; bytes follow from the loop */
                if (!c->closed && c->body_open && sp_buf_pending(&c->in))
                    loop_defer(c->srv->loop, body_deferred, c);
                return;
            }
            continue;
        }
        if (c->rp.state == HTTP_PARSE_COMPLETE) {
            conn_dispatch(c);
            continue; /* if the response finished synchronously, state is READING again */
        }
        send_continue(c);
        if (c->closed) return;
        if (sp_buf_pending(&c->in) == 0) {
            conn_update(c);
            return;
        }
    }
}

static void conn_io_cb(struct loop_io *io, uint32_t events)
{
    struct http_conn *c = SP_CONTAINER_OF(io, struct http_conn, io);

    if (events & EPOLLOUT) {
        conn_flush(c);
        if (c->closed) return;
        /* A paused producer may go on. Only from here, never from inside one of its own calls
         * (http_stream_begin/write), so a handler is not re-entered. */
        if (c->state == C_HANDLING && c->streaming && c->req.on_drain &&
            sp_buf_pending(&c->out) == 0) {
            c->req.on_drain(&c->req);
            if (c->closed) return;
        }
    }
    if ((events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN)) {
        conn_close(c);
        return;
    }
    if (c->state == C_HANDLING && c->body_open && (events & EPOLLIN) && !c->body_paused) {
        if (c->sink_fd >= 0 && sp_buf_pending(&c->in) == 0) {
            body_sink(c);
            return;
        }
        if (sp_buf_reserve(&c->in, READ_CHUNK * 4) < 0) {
            conn_close(c);
            return;
        }
        ssize_t r = recv(c->io.fd, c->in.data + c->in.len, READ_CHUNK * 4, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
            conn_close(c); /* the body was cut short */
            return;
        }
        if (r > 0) {
            c->in.len += (size_t)r;
            body_feed(c);
        }
        return;
    }
    if ((events & EPOLLRDHUP) && c->state == C_HANDLING) {
        conn_close(c);
        return;
    }
    if (!(events & EPOLLIN)) return;

    if (c->state == C_LINGER) {
        char junk[READ_CHUNK];
        ssize_t r = recv(c->io.fd, junk, sizeof(junk), 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) conn_close(c);
        return;
    }
    if (c->state != C_READING) {
        /* Not reading now; a hang-up will be seen when we write. */
        conn_update(c);
        return;
    }
    if (sp_buf_reserve(&c->in, READ_CHUNK) < 0) {
        conn_close(c);
        return;
    }
    ssize_t r = recv(c->io.fd, c->in.data + c->in.len, READ_CHUNK, 0);
    if (r < 0) {
        if (errno != EAGAIN && errno != EINTR) conn_close(c);
        return;
    }
    if (r == 0) {
        conn_close(c); /* EOF: between requests that is a normal close; mid-request, truncated */
        return;
    }
    c->in.len += (size_t)r;
    conn_process_input(c);
}

/* ---- responses ---- */

static void queue_status_and_headers(struct http_conn *c, int status, const char *ctype,
                                     const char *extra, long content_length)
{
    struct http_request *req = &c->req;
    bool http10 = req->http_major == 1 && req->http_minor == 0;

    if (!req->keep_alive) c->close_after = true;
    if (c->body_open) { /* answered before the body ended: drop the rest, then close */
        c->body_open = false;
        c->close_after = true;
        c->linger = true;
    }
    sp_buf_printf(&c->out, "HTTP/1.1 %d %s\r\n", status, http_status_text(status));
    if (ctype) sp_buf_printf(&c->out, "Content-Type: %s\r\n", ctype);
    if (content_length >= 0) {
        sp_buf_printf(&c->out, "Content-Length: %ld\r\n", content_length);
    } else if (!http10) {
        sp_buf_append_str(&c->out, "Transfer-Encoding: chunked\r\n");
        c->chunked = true;
    } else {
        c->close_after = true; /* HTTP/1.0: the body ends when the connection does */
    }
    if (extra) sp_buf_append_str(&c->out, extra);
    if (c->srv->common_headers) sp_buf_append_str(&c->out, c->srv->common_headers);
    if (c->close_after)
        sp_buf_append_str(&c->out, "Connection: close\r\n");
    else if (http10)
        sp_buf_append_str(&c->out, "Connection: keep-alive\r\n");
    sp_buf_append_str(&c->out, "\r\n");
    c->resp_started = true;
}

/* Ending a request on a connection that is already gone: nothing to send, and the request is
 * the caller's no more (no on_abort will follow). */
static bool ended_on_closed(struct http_conn *c)
{
    if (!c->closed) return false;
    c->req.on_abort = NULL;
    c->req.on_drain = NULL;
    return true;
}

void http_respond(struct http_request *req, int status, const char *content_type,
                  const char *extra_headers, const void *body, size_t len)
{
    struct http_conn *c = req->conn;
    if (ended_on_closed(c) || c->resp_started) return;
    bool head = req->method && strcmp(req->method, "HEAD") == 0;
    queue_status_and_headers(c, status, content_type, extra_headers, (long)len);
    if (!head && len) sp_buf_append(&c->out, body, len);
    conn_response_done(c);
}

void http_respond_fd(struct http_request *req, int status, const char *content_type,
                     const char *extra_headers, int fd, off_t offset, uint64_t len)
{
    struct http_conn *c = req->conn;
    if (ended_on_closed(c) || c->resp_started || len > (uint64_t)LONG_MAX) {
        sp_close(fd);
        return;
    }
    bool head = req->method && strcmp(req->method, "HEAD") == 0;
    queue_status_and_headers(c, status, content_type, extra_headers, (long)len);
    if (head || !len) {
        sp_close(fd);
    } else {
        c->file_fd = fd;
        c->file_off = offset;
        c->file_left = len;
    }
    conn_response_done(c);
}

static void respond_error_v(struct http_request *req, int status, const char *extra,
                            const char *code, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);

    json_t *o = json_pack("{s:s, s:s}", "code", code, "message", msg);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (text) {
        size_t n = strlen(text);
        text[n] = '\n'; /* replaces the NUL; length n+1 below */
        http_respond(req, status, "application/json", extra, text, n + 1);
    } else {
        static const char oom[] = "{\"code\":\"out_of_memory\",\"message\":\"out of memory\"}\n";
        http_respond(req, status, "application/json", extra, oom, sizeof(oom) - 1);
    }
    free(text);
    json_decref(o);
}

void http_respond_error(struct http_request *req, int status, const char *code, const char *fmt,
                        ...)
{
    va_list ap;
    va_start(ap, fmt);
    respond_error_v(req, status, NULL, code, fmt, ap);
    va_end(ap);
}

void http_respond_error_h(struct http_request *req, int status, const char *extra_headers,
                          const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    respond_error_v(req, status, extra_headers, code, fmt, ap);
    va_end(ap);
}

void http_stream_begin(struct http_request *req, int status, const char *content_type,
                       const char *extra_headers)
{
    struct http_conn *c = req->conn;
    if (c->closed || c->resp_started) return;
    bool head = req->method && strcmp(req->method, "HEAD") == 0;
    queue_status_and_headers(c, status, content_type, extra_headers, head ? 0 : -1);
    c->streaming = true;
    c->head_only = head;
    conn_flush(c);
}

long http_stream_write(struct http_request *req, const void *data, size_t len)
{
    struct http_conn *c = req->conn;
    if (c->closed) return -EPIPE;
    if (!c->streaming) return -EINVAL;
    if (len == 0 || c->head_only) return (long)sp_buf_pending(&c->out);
    int r = 0;
    if (c->chunked) r = sp_buf_printf(&c->out, "%zx\r\n", len);
    if (r == 0) r = sp_buf_append(&c->out, data, len);
    if (r == 0 && c->chunked) r = sp_buf_append(&c->out, "\r\n", 2);
    if (r < 0) {
        conn_close(c);
        return r;
    }
    if (!c->in_dispatch || sp_buf_pending(&c->out) >= READ_CHUNK) conn_flush(c);
    return c->closed ? -EPIPE : (long)sp_buf_pending(&c->out);
}

/* A chunk written in place: a fixed-width size line ("%08zx\r\n", leading zeros are valid
 * chunk-size syntax), the data, CRLF. */
#define CHUNK_HDR 10

long http_stream_writev(struct http_request *req, const struct iovec *iov, int iovcnt)
{
    struct http_conn *c = req->conn;
    struct iovec v[8];
    char hdr[24];
    size_t total = 0;
    if (c->closed) return -EPIPE;
    if (!c->streaming || iovcnt < 0 || iovcnt > 6) return -EINVAL;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    if (total == 0 || c->head_only) return (long)sp_buf_pending(&c->out);
    int n = 0;
    if (c->chunked) {
        int k = snprintf(hdr, sizeof(hdr), "%zx\r\n", total);
        v[n++] = (struct iovec){hdr, (size_t)k};
    }
    for (int i = 0; i < iovcnt; i++)
        v[n++] = iov[i];
    if (c->chunked) v[n++] = (struct iovec){(void *)"\r\n", 2};

    size_t sent = 0;
    if (sp_buf_pending(&c->out) == 0) {
        struct msghdr mh = {.msg_iov = v, .msg_iovlen = (size_t)n};
        ssize_t w;
        do
            w = sendmsg(c->io.fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        while (w < 0 && errno == EINTR);
        if (w < 0 && errno != EAGAIN) {
            conn_close(c);
            return -EPIPE;
        }
        if (w > 0) {
            sent = (size_t)w;
            c->write_progress_ms = sp_now_ms();
        }
    }
    for (int i = 0; i < n; i++) { /* queue what the socket did not take */
        if (sent >= v[i].iov_len) {
            sent -= v[i].iov_len;
            continue;
        }
        if (sp_buf_append(&c->out, (char *)v[i].iov_base + sent, v[i].iov_len - sent) < 0) {
            conn_close(c);
            return -ENOMEM;
        }
        sent = 0;
    }
    conn_update(c);
    return c->closed ? -EPIPE : (long)sp_buf_pending(&c->out);
}

void *http_stream_reserve(struct http_request *req, size_t n)
{
    struct http_conn *c = req->conn;
    if (c->closed || !c->streaming || n > 0xffffffffu) return NULL;
    if (sp_buf_reserve(&c->out, CHUNK_HDR + n + 2) < 0) return NULL;
    return c->out.data + c->out.len + (c->chunked ? CHUNK_HDR : 0);
}

long http_stream_commit(struct http_request *req, size_t n)
{
    struct http_conn *c = req->conn;
    if (c->closed) return -EPIPE;
    if (!c->streaming) return -EINVAL;
    if (n == 0 || c->head_only) return (long)sp_buf_pending(&c->out);
    if (n > 0xffffffffu) return -EINVAL;
    if (c->chunked) {
        char hdr[24];
        snprintf(hdr, sizeof(hdr), "%08x\r\n", (unsigned)n); /* n <= 0xffffffff, checked */
        memcpy(c->out.data + c->out.len, hdr, CHUNK_HDR);
        c->out.len += CHUNK_HDR + n;
        memcpy(c->out.data + c->out.len, "\r\n", 2);
        c->out.len += 2;
    } else {
        c->out.len += n;
    }
    if (!c->in_dispatch || sp_buf_pending(&c->out) >= READ_CHUNK) conn_flush(c);
    return c->closed ? -EPIPE : (long)sp_buf_pending(&c->out);
}

void http_stream_end(struct http_request *req)
{
    struct http_conn *c = req->conn;
    if (ended_on_closed(c) || !c->streaming) return;
    if (c->chunked && !c->head_only) sp_buf_append(&c->out, "0\r\n\r\n", 5);
    c->streaming = false;
    conn_response_done(c);
}

int http_hijack(struct http_request *req, int *fd_out, struct sp_buf *rest,
                struct http_hijack_owner *owner)
{
    struct http_conn *c = req->conn;
    struct http_server *s = c->srv;
    size_t skip = 0;
    if (c->resp_started || c->closed) return -EINVAL;
    if (c->body_open) {
        /* Dispatched at its head for a streamed body: once part of the body went through the
         * parser, the rest starts mid-body and cannot be handed over. */
        if (c->body_fed) return -EINVAL;
        /* http-parser pauses in on_headers_complete before it consumes the head's final LF,
         * which is still the first byte of c->in: the owner gets the body from its first byte. */
        if (sp_buf_pending(&c->in) && sp_buf_head(&c->in)[0] == '\n') skip = 1;
    }
    int r = sp_buf_append(rest, sp_buf_head(&c->in) + skip, sp_buf_pending(&c->in) - skip);
    if (r < 0) return r;
    /* conn_close() without the abort callback and without closing the socket */
    c->closed = true;
    c->req.on_abort = NULL;
    loop_timer_stop(s->loop, &c->timer);
    loop_io_stop(s->loop, &c->io);
    *fd_out = c->io.fd;
    c->io.fd = -1;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    /* still counted in n_conns: the owner's connection until http_hijack_done */
    owner->srv = s;
    owner->is_unix = c->is_unix;
    owner->local = c->local;
    owner->prev = NULL;
    owner->next = s->hijacked;
    if (s->hijacked) s->hijacked->prev = owner;
    s->hijacked = owner;
    if (loop_defer(s->loop, conn_free_deferred, c) < 0)
        sp_error("http: leaking a connection record (out of memory)");
    return 0;
}

/* Serves the next request from the bytes read so far: from the loop, never inside the owner's
 * call. */
static void conn_resume_deferred(void *arg)
{
    struct http_conn *c = arg;
    if (!c->closed) conn_process_input(c);
}

int http_hijack_return(struct http_hijack_owner *o, int fd, const void *rest, size_t n)
{
    struct http_server *s = o->srv;
    if (!s) {
        sp_close(fd);
        return -EINVAL;
    }
    struct http_conn *c = conn_new(s, fd, o->is_unix, o->local);
    if (!c || sp_buf_append(&c->in, rest, n) < 0) {
        if (c) { /* undo conn_new: nothing refers to it yet */
            s->conns = c->next;
            if (c->next) c->next->prev = NULL;
            sp_buf_free(&c->in);
            free(c);
        }
        http_hijack_done(o);
        sp_close(fd);
        return -ENOMEM;
    }
    http_hijack_done(o);
    s->n_conns++; /* the same connection, counted again as the server's */
    /* the resume is queued before anything can close c, so it runs before c's deferred free */
    if (n && loop_defer(s->loop, conn_resume_deferred, c) < 0) {
        conn_close(c);
        return -ENOMEM;
    }
    conn_update(c);
    return 0;
}

void http_hijack_done(struct http_hijack_owner *o)
{
    struct http_server *s = o->srv;
    if (!s) return;
    if (o->prev)
        o->prev->next = o->next;
    else
        s->hijacked = o->next;
    if (o->next) o->next->prev = o->prev;
    o->srv = NULL;
    s->n_conns--;
}

/* ---- listeners ---- */

static void accept_refuse(int fd)
{
    static const char body[] =
        "{\"code\":\"too_many_connections\",\"message\":\"connection limit reached\"}\n";
    char resp[512];
    int n = snprintf(resp, sizeof(resp),
                     "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     sizeof(body) - 1, body);
    /* best effort: a client that cannot take 200 bytes right now just sees the close */
    ssize_t unused = send(fd, resp, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)unused;
    shutdown(fd, SHUT_WR);
    sp_close(fd);
}

static void listener_resume(struct loop_timer *t)
{
    struct listener *ls = SP_CONTAINER_OF(t, struct listener, pause);
    loop_io_set(ls->srv->loop, &ls->io, EPOLLIN);
}

/* A connection record for fd, waiting for its first request, on the server's list (not yet
 * counted in n_conns). NULL when out of memory. */
static struct http_conn *conn_new(struct http_server *s, int fd, bool is_unix, bool local)
{
    struct http_conn *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->srv = s;
    c->is_unix = is_unix;
    c->local = local;
    loop_io_init(&c->io, fd, conn_io_cb);
    loop_timer_init(&c->timer, conn_timer_cb);
    http_reqparser_init(&c->rp, &s->lim);
    c->file_fd = -1;
    c->sink_fd = -1;
    request_begin(c);
    c->write_progress_ms = sp_now_ms();
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    return c;
}

static void listener_cb(struct loop_io *io, uint32_t events)
{
    struct listener *ls = SP_CONTAINER_OF(io, struct listener, io);
    struct http_server *s = ls->srv;
    (void)events;

    for (int i = 0; i < 64; i++) {
        int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS) {
                sp_warn("http: accept: %m; pausing accepts for %d ms", ACCEPT_PAUSE);
                loop_io_set(s->loop, io, 0);
                loop_timer_start(s->loop, &ls->pause, ACCEPT_PAUSE);
            }
            return;
        }
        if (s->n_conns >= s->lim.max_connections) {
            accept_refuse(fd);
            continue;
        }
        if (!ls->is_unix) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        struct http_conn *c = conn_new(s, fd, ls->is_unix, ls->local);
        if (!c) {
            sp_close(fd);
            continue;
        }
        s->n_conns++;
        conn_update(c);
    }
}

int http_server_new(struct http_server **out, struct loop *loop, const struct http_limits *lim,
                    http_handler_fn handler, void *ud)
{
    struct http_server *s = calloc(1, sizeof(*s));
    if (!s) return -ENOMEM;
    s->loop = loop;
    s->lim = *lim;
    s->handler = handler;
    s->ud = ud;
    s->sink_pipe[0] = s->sink_pipe[1] = -1;
    *out = s;
    return 0;
}

static int listen_unix(const char *path, struct listener *ls, struct sp_err *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat st;

    if (strlen(path) >= sizeof(sa.sun_path))
        return sp_err_set(err, -ENAMETOOLONG, "listen unix:%s: path too long", path);
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return sp_err_set(err, -errno, "listen unix:%s: socket: %s", path, strerror(errno));
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            sp_close(fd);
            return sp_err_set(err, -EEXIST, "listen unix:%s: exists and is not a socket", path);
        }
        /* a stale socket from an earlier run is replaced; a live one is someone else's */
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool live = probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0;
        sp_close(probe);
        if (live) {
            sp_close(fd);
            return sp_err_set(err, -EADDRINUSE,
                              "listen unix:%s: another process is serving on this socket", path);
        }
        unlink(path);
    }
    mode_t old = umask(0177); /* created 0600: no window where others can connect */
    int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    int e = errno;
    umask(old);
    if (r < 0 || chmod(path, 0600) < 0 || listen(fd, 511) < 0) {
        e = r < 0 ? e : errno;
        sp_close(fd);
        return sp_err_set(err, -e, "listen unix:%s: %s", path, strerror(e));
    }
    ls->is_unix = true;
    ls->unix_path = strdup(path);
    loop_io_init(&ls->io, fd, listener_cb);
    return 0;
}

static int listen_tcp(const char *addr, struct listener *ls, char *bound, size_t bound_len,
                      struct sp_err *err)
{
    char host[256];
    const char *port;
    const char *colon = strrchr(addr, ':');

    if (!colon)
        return sp_err_set(err, -EINVAL, "listen %s: expected HOST:PORT, :PORT or unix:PATH", addr);
    size_t hlen = (size_t)(colon - addr);
    if (hlen >= sizeof(host)) return sp_err_set(err, -EINVAL, "listen %s: host too long", addr);
    memcpy(host, addr, hlen);
    host[hlen] = '\0';
    port = colon + 1;
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
        memmove(host, host + 1, hlen - 2);
        host[hlen - 2] = '\0';
    }
    uint64_t portnum;
    if (sp_parse_u64(port, 65535, &portnum) < 0)
        return sp_err_set(err, -EINVAL, "listen %s: the port must be a number from 0 to 65535",
                          addr);

    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int gr = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (gr != 0) return sp_err_set(err, -EINVAL, "listen %s: %s", addr, gai_strerror(gr));

    /* For ":PORT" prefer one dual-stack IPv6 socket; fall back to whatever works. */
    int fd = -1, e = 0;
    for (int pass = 0; pass < 2 && fd < 0; pass++) {
        for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
            if (!host[0] && pass == 0 && ai->ai_family != AF_INET6) continue;
            int s = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (s < 0) {
                e = errno;
                continue;
            }
            int one = 1, zero = 0;
            setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            if (ai->ai_family == AF_INET6 && !host[0])
                setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
            if (bind(s, ai->ai_addr, ai->ai_addrlen) < 0 || listen(s, 511) < 0) {
                e = errno;
                sp_close(s);
                continue;
            }
            fd = s;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) return sp_err_set(err, -e, "listen %s: %s", addr, strerror(e));

    if (bound) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        char ip[INET6_ADDRSTRLEN] = "?";
        int p = 0;
        getsockname(fd, (struct sockaddr *)&ss, &sl);
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
            p = ntohs(in->sin_port);
            snprintf(bound, bound_len, "%s:%d", ip, p);
        } else {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
            p = ntohs(in6->sin6_port);
            snprintf(bound, bound_len, "[%s]:%d", ip, p);
        }
    }
    loop_io_init(&ls->io, fd, listener_cb);
    return 0;
}

int http_server_listen(struct http_server *s, const char *addr, char *bound, size_t bound_len,
                       struct sp_err *err)
{
    return http_server_listen_flags(s, addr, 0, bound, bound_len, err);
}

int http_server_listen_flags(struct http_server *s, const char *addr, int flags, char *bound,
                             size_t bound_len, struct sp_err *err)
{
    struct listener *ls = calloc(1, sizeof(*ls));
    if (!ls) return sp_err_set(err, -ENOMEM, "out of memory");
    ls->srv = s;
    ls->local = (flags & HTTP_LISTEN_LOCAL) != 0;
    loop_timer_init(&ls->pause, listener_resume);
    int r;
    if (strncmp(addr, "unix:", 5) == 0) {
        r = listen_unix(addr + 5, ls, err);
        if (r == 0 && bound) snprintf(bound, bound_len, "%s", addr);
    } else {
        r = listen_tcp(addr, ls, bound, bound_len, err);
    }
    if (r == 0) r = loop_io_start(s->loop, &ls->io, EPOLLIN);
    if (r < 0) {
        if (ls->io.fd > 0) sp_close(ls->io.fd);
        free(ls->unix_path);
        free(ls);
        return err->code ? err->code : sp_err_set(err, r, "listen %s: %s", addr, strerror(-r));
    }
    ls->next = s->listeners;
    s->listeners = ls;
    return 0;
}

void http_server_set_common_headers(struct http_server *s, const char *lines)
{
    s->common_headers = lines;
}

const char *http_common_headers(const struct http_request *req)
{
    const char *h = req->conn->srv->common_headers;
    return h ? h : "";
}

void http_server_free(struct http_server *s)
{
    if (!s) return;
    while (s->listeners) {
        struct listener *ls = s->listeners;
        s->listeners = ls->next;
        loop_timer_stop(s->loop, &ls->pause);
        loop_io_stop(s->loop, &ls->io);
        sp_close(ls->io.fd);
        if (ls->unix_path) unlink(ls->unix_path);
        free(ls->unix_path);
        free(ls);
    }
    while (s->conns)
        conn_close(s->conns);
    while (s->hijacked) {
        struct http_hijack_owner *o = s->hijacked;
        o->close(o);
        if (s->hijacked == o) http_hijack_done(o); /* the owner forgot: do not loop forever */
    }
    sp_close(s->sink_pipe[0]);
    sp_close(s->sink_pipe[1]);
    free(s);
}
