/* SPDX-License-Identifier: MIT */
/* The reverse proxy to a unix socket: see proxy.h. */
#include "proxy.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <http_parser.h>

#include "../base/buf.h"
#include "../base/compiler.h"
#include "../base/fd.h"
#include "../base/log.h"
#include "../base/time.h"

#define READ_CHUNK      65536
#define READS_PER_EVENT 16
#define BUF_KEEP        65536 /* what an emptied buffer keeps of its memory */

struct proxy {
    struct loop *loop;
    struct loop_io cl; /* the client's socket (taken from the server) */
    struct loop_io up; /* the upstream socket; fd -1 once closed */
    struct loop_timer timer;
    struct sp_buf to_up;     /* client → upstream, starting with the rewritten request head */
    struct sp_buf to_cl;     /* upstream → client */
    uint64_t to_up_since_ms; /* when the bytes of each buffer last moved */
    uint64_t to_cl_since_ms;
    uint64_t linger_deadline_ms;
    bool cl_eof;   /* the client sent EOF */
    bool up_eof;   /* the upstream sent EOF: the relay is ending, client input is dropped */
    bool up_shut;  /* we shut the upstream's write side (after the client's EOF) */
    bool cl_shut;  /* we shut the client's write side: draining it until it closes */
    bool up_hup;   /* the upstream closed both ways (unread bytes may remain) */
    bool answered; /* the upstream sent a byte (or the client was sent our 502) */
    bool head_req; /* a HEAD request: a 502 of ours has no body */
    bool up_wfail; /* writing upstream failed: nothing more goes there, its answer still comes */
    /* The request as the upstream will parse it (the rewritten head, then the client's bytes):
     * once it is complete, no further client byte goes upstream, so a client that reuses the
     * connection never sends its next request (with the host's credentials) to the sandbox. */
    http_parser reqp;
    bool req_done;
    /* Keep-alive (an HTTP/1.1 client that did not ask to close, no upgrade): the upstream is not
     * told to close; its response is parsed too, and when it ends, the request having ended
     * first, the client's connection goes back to the server for its next request, with what
     * the client sent past this one (after). Otherwise the relay ends as at the upstream's EOF. */
    bool keep;
    http_parser resp;
    bool resp_done;
    bool no_give_back; /* the connection cannot go on (a bad request, or `after` lost) */
    bool give_back;    /* the response ended where the connection goes on: once it is written */
    struct sp_buf after;
    bool tunnel;                /* upgraded: raw bytes both ways */
    bool await_101;             /* an upgrade: what follows the head waits for the upstream's 101 */
    size_t held;                /* bytes at the end of to_up held back until then */
    bool dead;                  /* both sockets closed; freed from the loop */
    const char *common_headers; /* the server's, for our 502 (the server outlives the relay) */
    struct http_hijack_owner owner;
    void (*on_end)(void *ud);
    void *ud;
};

static void px_free(struct proxy *p)
{
    sp_buf_free(&p->to_up);
    sp_buf_free(&p->to_cl);
    sp_buf_free(&p->after);
    free(p);
}

static void px_end_deferred(void *arg)
{
    struct proxy *p = arg;
    if (p->on_end) p->on_end(p->ud);
    px_free(p);
}

static void px_close_upstream(struct proxy *p)
{
    if (p->up.fd < 0) return;
    loop_io_stop(p->loop, &p->up);
    sp_close(p->up.fd);
    p->up.fd = -1;
    sp_buf_free(&p->to_up);
}

/* Closes both sockets; on_end and the free follow from the loop. */
static void px_close(struct proxy *p)
{
    if (p->dead) return;
    p->dead = true;
    loop_timer_stop(p->loop, &p->timer);
    px_close_upstream(p);
    loop_io_stop(p->loop, &p->cl);
    sp_close(p->cl.fd);
    p->cl.fd = -1;
    http_hijack_done(&p->owner);
    sp_buf_free(&p->to_cl);
    if (loop_defer(p->loop, px_end_deferred, p) < 0)
        sp_error("proxy: leaking a relay record (out of memory)");
}

/* The response is written and the connection goes on: it goes back to the server, with what the
 * client sent past its request; on_end and the free follow from the loop. */
static void px_give_back(struct proxy *p)
{
    p->dead = true;
    loop_timer_stop(p->loop, &p->timer);
    px_close_upstream(p);
    loop_io_stop(p->loop, &p->cl);
    int fd = p->cl.fd;
    p->cl.fd = -1;
    sp_buf_free(&p->to_cl);
    /* on_end before the next request is served (deferred calls run in order): that one must not
     * find this relay still counted */
    if (loop_defer(p->loop, px_end_deferred, p) < 0)
        sp_error("proxy: leaking a relay record (out of memory)");
    (void)http_hijack_return(&p->owner, fd, sp_buf_head(&p->after), sp_buf_pending(&p->after));
}

/* Reads fd into b while b has room (PROXY_BUF_MAX). 1 at EOF, 0 when the socket has nothing more
 * now or b is full, -errno on an error. */
static int px_fill(int fd, struct sp_buf *b, uint64_t *since_ms)
{
    for (int i = 0; i < READS_PER_EVENT; i++) {
        size_t pending = sp_buf_pending(b);
        if (pending >= PROXY_BUF_MAX) return 0;
        size_t want = PROXY_BUF_MAX - pending;
        if (want > READ_CHUNK) want = READ_CHUNK;
        if (sp_buf_reserve(b, want) < 0) return -ENOMEM;
        ssize_t r = recv(fd, b->data + b->len, want, MSG_DONTWAIT);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return errno == EAGAIN ? 0 : -errno;
        if (r == 0) return 1;
        if (pending == 0) *since_ms = sp_now_ms(); /* the bytes start waiting now */
        b->len += (size_t)r;
    }
    return 0;
}

/* Reads fd and drops the bytes. 1 at EOF, 0 when nothing more now, -errno on an error. */
static int px_drain(int fd)
{
    char junk[16384];
    for (int i = 0; i < READS_PER_EVENT; i++) {
        ssize_t r = recv(fd, junk, sizeof(junk), MSG_DONTWAIT);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return errno == EAGAIN ? 0 : -errno;
        if (r == 0) return 1;
    }
    return 0;
}

/* Writes what fd takes of b, but its last keep bytes. 0 or -errno. */
static int px_flush(int fd, struct sp_buf *b, size_t keep, uint64_t *since_ms)
{
    while (sp_buf_pending(b) > keep) {
        ssize_t w = send(fd, sp_buf_head(b), sp_buf_pending(b) - keep, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) break;
        if (w < 0) return -errno;
        sp_buf_consume(b, (size_t)w);
        *since_ms = sp_now_ms();
    }
    if (!sp_buf_pending(b)) sp_buf_shrink(b, BUF_KEEP);
    return 0;
}

static int scan_complete(http_parser *hp)
{
    http_parser_pause(hp, 1); /* stop right after the request */
    return 0;
}

static const http_parser_settings scan_settings = {.on_message_complete = scan_complete};

/* The last n bytes of to_up just arrived: they are parsed as the upstream will parse them, and
 * what lies beyond the end of the request is dropped (an upgrade's are held instead). */
static void px_scan(struct proxy *p, size_t n)
{
    if (p->req_done) { /* nothing more goes upstream, or (an upgrade) it waits for the 101 */
        if (p->await_101) {
            p->held += n;
            return;
        }
        /* a keep-alive client's next request: kept for the server */
        if (p->keep && sp_buf_append(&p->after, p->to_up.data + p->to_up.len - n, n) < 0)
            p->no_give_back = true;
        p->to_up.len -= n;
        return;
    }
    const char *tail = p->to_up.data + p->to_up.len - n;
    size_t used = http_parser_execute(&p->reqp, &scan_settings, tail, n);
    enum http_errno e = HTTP_PARSER_ERRNO(&p->reqp);
    if (e == HPE_OK && used == n) return;
    /* the end of the request (paused), or bytes the upstream will refuse: nothing after them */
    p->req_done = true;
    if (e == HPE_PAUSED && p->reqp.upgrade) {
        p->await_101 = true;
        p->held = n - used;
        return;
    }
    if (e != HPE_PAUSED) {
        p->no_give_back = true; /* a request the upstream refuses: no next one after it */
    } else if (p->keep && sp_buf_append(&p->after, tail + used, n - used) < 0) {
        p->no_give_back = true; /* (out of memory) they are lost, and the connection with them */
    }
    p->to_up.len -= n - used;
}

static int resp_headers(http_parser *hp)
{
    const struct proxy *p = hp->data;
    unsigned st = hp->status_code;
    /* no body whatever the head announces (RFC 9112 §6.3): a response to HEAD, a 1xx, 204, 304 */
    return p->head_req || st < 200 || st == 204 || st == 304 ? 1 : 0;
}

static int resp_complete(http_parser *hp)
{
    http_parser_pause(hp, 1);
    return 0;
}

static const http_parser_settings resp_settings = {.on_headers_complete = resp_headers,
                                                   .on_message_complete = resp_complete};

/* The last n bytes of to_cl just came from the upstream (keep-alive only): parsed until the
 * response ends. Then the relay ends too: the connection goes back to the server when the
 * response allows it and the request ended first, else it ends as at the upstream's EOF. */
static void px_scan_response(struct proxy *p, size_t n)
{
    if (!p->keep || p->resp_done || p->tunnel || p->await_101) return;
    const char *tail = p->to_cl.data + p->to_cl.len - n;
    size_t used = http_parser_execute(&p->resp, &resp_settings, tail, n);
    enum http_errno e = HTTP_PARSER_ERRNO(&p->resp);
    if (e == HPE_OK && used == n) return;
    if (e == HPE_PAUSED && p->resp.status_code == 100) { /* interim: the real one follows */
        http_parser_pause(&p->resp, 0);
        px_scan_response(p, n - used);
        return;
    }
    p->resp_done = true;
    /* The relay ends here: the upstream was told to keep its connection, so its EOF may never
     * come. A response that does not parse, or another 1xx (no final response is followed
     * after one), ends it as it stands, and the client's connection with it. */
    if (e != HPE_PAUSED || p->resp.status_code < 200) {
        p->up_eof = true;
        return;
    }
    p->to_cl.len -= n - used; /* nothing of the upstream's beyond its response */
    p->give_back = http_should_keep_alive(&p->resp) && p->req_done && !p->no_give_back &&
                   !p->up_wfail && !p->cl_eof;
    p->up_eof = true; /* the upstream is not read again */
}

/* The upstream's first bytes decide an upgrade: its 101 lets the held bytes and the rest
 * through; anything else means the client's further bytes are not for it. */
static void px_check_101(struct proxy *p)
{
    if (!p->await_101 || sp_buf_pending(&p->to_cl) < 12) return;
    const char *h = sp_buf_head(&p->to_cl);
    p->await_101 = false;
    if ((memcmp(h, "HTTP/1.1 101", 12) == 0 || memcmp(h, "HTTP/1.0 101", 12) == 0) &&
        (sp_buf_pending(&p->to_cl) == 12 || h[12] == ' ' || h[12] == '\r')) {
        p->held = 0; /* the tunnel: everything goes through from now on */
        p->req_done = false;
        p->reqp.upgrade = 0;
        p->tunnel = true;
    } else {
        p->to_up.len -= p->held;
        p->held = 0;
    }
}

/*
 * The upstream is done: at its EOF, or when a read or write fails (taken as its EOF, so what it
 * sent still reaches the client). Nothing more goes upstream and the relay ends once the client
 * has what is buffered. An upstream that sent nothing at all (the agent died, say) leaves the
 * request unanswered: the client gets a 502 instead of a bare close.
 */
static void px_upstream_gone(struct proxy *p)
{
    static const char body[] = "{\"code\":\"bad_gateway\",\"message\":\"the upstream closed the "
                               "connection before answering\"}\n";
    p->up_eof = true;
    if (p->answered) return;
    p->answered = true;
    sp_warn("proxy: the upstream closed the connection before answering");
    int r = sp_buf_printf(&p->to_cl,
                          "HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\n"
                          "Content-Length: %zu\r\n%sConnection: close\r\n\r\n%s",
                          sizeof(body) - 1, p->common_headers, p->head_req ? "" : body);
    if (r < 0) {
        px_close(p);
        return;
    }
    p->to_cl_since_ms = sp_now_ms();
}

/* Reads the upstream into to_cl while there is room; its EOF or an error ends it. */
static void px_read_upstream(struct proxy *p)
{
    size_t before = sp_buf_pending(&p->to_cl);
    int r = px_fill(p->up.fd, &p->to_cl, &p->to_cl_since_ms);
    if (sp_buf_pending(&p->to_cl) != before) p->answered = true;
    px_check_101(p);
    if (sp_buf_pending(&p->to_cl) > before) px_scan_response(p, sp_buf_pending(&p->to_cl) - before);
    if (r != 0 && !p->up_eof) px_upstream_gone(p);
}

/* Sets epoll interest and the timer from the state. */
static void px_update(struct proxy *p)
{
    uint32_t cev = 0, uev = 0;
    /* client bytes still go upstream (else they are dropped) */
    bool relaying = !p->up_eof && !p->up_wfail && (p->tunnel || !p->req_done || p->await_101);

    /* a keep-alive client's next request waits in its socket until the response is out */
    bool hold = p->keep && p->req_done && !relaying && !p->up_eof;
    if (!p->cl_eof && !hold && !p->give_back &&
        (!relaying || sp_buf_pending(&p->to_up) < PROXY_BUF_MAX))
        cev |= EPOLLIN;
    if (sp_buf_pending(&p->to_cl)) cev |= EPOLLOUT;
    /* registered even with no interest: a client that goes away (HUP, ERR) is always noticed */
    if (loop_io_set(p->loop, &p->cl, cev) < 0) {
        px_close(p);
        return;
    }
    if (p->up.fd >= 0) {
        if (!p->up_eof && sp_buf_pending(&p->to_cl) < PROXY_BUF_MAX) uev |= EPOLLIN;
        if (sp_buf_pending(&p->to_up) > p->held && !p->up_wfail) uev |= EPOLLOUT;
        if (uev == 0 && p->up_hup) {
            /* its HUP would be reported on every wait: listen again once there is room */
            loop_io_stop(p->loop, &p->up);
        } else if (loop_io_set(p->loop, &p->up, uev) < 0) {
            px_close(p);
            return;
        }
    }

    uint64_t deadline = UINT64_MAX, now = sp_now_ms();
    if (p->up.fd >= 0 && sp_buf_pending(&p->to_up) > p->held)
        deadline = p->to_up_since_ms + PROXY_STALL_MS;
    if (sp_buf_pending(&p->to_cl) && p->to_cl_since_ms + PROXY_STALL_MS < deadline)
        deadline = p->to_cl_since_ms + PROXY_STALL_MS;
    if (p->cl_shut && p->linger_deadline_ms < deadline) deadline = p->linger_deadline_ms;
    if (deadline == UINT64_MAX)
        loop_timer_stop(p->loop, &p->timer);
    else if (loop_timer_start(p->loop, &p->timer, deadline > now ? deadline - now : 0) < 0)
        px_close(p);
}

/* Moves what can move after an event, then updates interest. */
static void px_pump(struct proxy *p)
{
    if (p->dead) return;
    if (!p->up_eof && !p->up_wfail && sp_buf_pending(&p->to_up) > p->held &&
        px_flush(p->up.fd, &p->to_up, p->held, &p->to_up_since_ms) < 0) {
        /* it stopped reading (an early answer, or it died): nothing more goes there, and what
         * it answered is read until its socket reports the end */
        p->up_wfail = true;
        p->up_hup = true;
        sp_buf_free(&p->to_up);
        p->held = 0;
        px_read_upstream(p);
        if (p->dead) return;
    }
    if (p->up_eof) px_close_upstream(p); /* the relay is ending: nothing more goes upstream */
    if (p->up.fd >= 0 && p->cl_eof && !p->up_shut && !p->up_wfail && !p->await_101 &&
        !sp_buf_pending(&p->to_up)) {
        shutdown(p->up.fd, SHUT_WR); /* the client's half-close, passed on */
        p->up_shut = true;
    }

    if (sp_buf_pending(&p->to_cl) && px_flush(p->cl.fd, &p->to_cl, 0, &p->to_cl_since_ms) < 0) {
        px_close(p);
        return;
    }
    if (p->give_back && !sp_buf_pending(&p->to_cl)) {
        px_give_back(p);
        return;
    }
    if (p->up_eof && !p->cl_shut && !sp_buf_pending(&p->to_cl)) {
        shutdown(p->cl.fd, SHUT_WR);
        p->cl_shut = true;
        p->linger_deadline_ms = sp_now_ms() + PROXY_LINGER_MS;
    }
    if (p->cl_shut && p->cl_eof) { /* both directions are done */
        px_close(p);
        return;
    }
    px_update(p);
}

static void px_client_cb(struct loop_io *io, uint32_t events)
{
    struct proxy *p = SP_CONTAINER_OF(io, struct proxy, cl);

    /* Both directions shut: the client closed (or reset) its connection, or, while lingering,
     * it closed after our shutdown. Either way nothing more can reach it. */
    if (events & (EPOLLERR | EPOLLHUP)) {
        px_close(p);
        return;
    }
    bool relaying = !p->up_eof && !p->up_wfail && (p->tunnel || !p->req_done || p->await_101);
    bool hold = p->keep && p->req_done && !relaying && !p->up_eof; /* see px_update */
    if ((events & EPOLLIN) && !p->cl_eof && !hold && !p->give_back) {
        size_t before = sp_buf_pending(&p->to_up);
        int r = relaying ? px_fill(io->fd, &p->to_up, &p->to_up_since_ms) : px_drain(io->fd);
        if (relaying && !p->tunnel && sp_buf_pending(&p->to_up) > before)
            px_scan(p, sp_buf_pending(&p->to_up) - before);
        if (r < 0) {
            px_close(p);
            return;
        }
        if (r == 1) p->cl_eof = true;
    }
    px_pump(p); /* also writes what EPOLLOUT made room for */
}

static void px_upstream_cb(struct loop_io *io, uint32_t events)
{
    struct proxy *p = SP_CONTAINER_OF(io, struct proxy, up);

    /* an error (a reset) is reported by recv once what the upstream sent has been read: until
     * then it is treated as a hang-up, and reading waits for room like at a HUP */
    if (events & (EPOLLHUP | EPOLLERR)) p->up_hup = true;
    /* Read before writing: an upstream that answered and closed is seen to end in order. */
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !p->up_eof) px_read_upstream(p);
    px_pump(p);
}

static void px_timer_cb(struct loop_timer *t)
{
    struct proxy *p = SP_CONTAINER_OF(t, struct proxy, timer);
    if (!p->cl_shut)
        sp_warn("proxy: buffered bytes made no progress for %d s; closing", PROXY_STALL_MS / 1000);
    px_close(p); /* stalled, or done lingering */
}

static void px_owner_close(struct http_hijack_owner *o)
{
    px_close(SP_CONTAINER_OF(o, struct proxy, owner));
}

/* ---- the request head ---- */

static bool name_in(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(name, list[i]) == 0) return true;
    return false;
}

/* Whether a Connection header of req names the field (RFC 9110 §7.6.1: such fields are for this
 * hop only). */
static bool named_by_connection(const struct http_request *req, const char *name)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct http_header *h = &req->headers[i];
        if (!h->name || strcasecmp(h->name, "Connection") != 0 || !h->value) continue;
        const char *s = h->value;
        while (*s) {
            s += strspn(s, " \t,");
            size_t len = strcspn(s, ",");
            size_t tlen = len;
            while (tlen && (s[tlen - 1] == ' ' || s[tlen - 1] == '\t'))
                tlen--;
            if (tlen == nlen && strncasecmp(s, name, nlen) == 0) return true;
            s += len;
        }
    }
    return false;
}

static bool drop_field(const struct http_request *req, const char *name, bool buffered)
{
    static const char *const hop[] = {
        "Connection",     "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "TE",
        "Trailer",        "Expect", /* answered by the front server already (100 Continue) */
        "Authorization", /* the client's credentials for the host, not for the upstream */
        "X-Access-Token",
    };
    static const char *const framing[] = {"Content-Length", "Transfer-Encoding"};

    if (name_in(name, hop, SP_ARRAY_LEN(hop))) return true;
    if (strcasecmp(name, "Upgrade") == 0) return !req->upgrade;
    /* the body is relayed as framed: its framing fields must reach the upstream unchanged */
    if (name_in(name, framing, SP_ARRAY_LEN(framing))) return buffered;
    if (strcasecmp(name, "Host") == 0) return false;
    return named_by_connection(req, name);
}

/* A header value as one line: a CR or LF (an obsolete line folding) becomes a space. */
static int append_value(struct sp_buf *b, const char *v)
{
    size_t start = b->len;
    int r = sp_buf_append_str(b, v);
    for (size_t i = start; r == 0 && i < b->len; i++)
        if (b->data[i] == '\r' || b->data[i] == '\n') b->data[i] = ' ';
    return r;
}

static int build_head(struct sp_buf *b, const struct http_request *req, const struct proxy_opts *o,
                      bool keep)
{
    /* a body the server read (an empty chunked one too) is sent with Content-Length */
    bool buffered = req->body_buffered || sp_buf_pending(&req->body) > 0;
    bool upgrade = req->upgrade && http_header_get(req, "Upgrade") != NULL;
    int r =
        sp_buf_printf(b, "%s %s HTTP/1.%u\r\n", req->method, o->target, req->http_minor ? 1u : 0u);
    for (size_t i = 0; r == 0 && i < req->n_headers; i++) {
        const struct http_header *h = &req->headers[i];
        if (!h->name || drop_field(req, h->name, buffered)) continue;
        r = sp_buf_printf(b, "%s: ", h->name);
        if (r == 0) r = append_value(b, h->value ? h->value : "");
        if (r == 0) r = sp_buf_append(b, "\r\n", 2);
    }
    if (r == 0 && !http_header_get(req, "Host")) r = sp_buf_append_str(b, "Host: localhost\r\n");
    if (r == 0 && o->authorization) r = sp_buf_printf(b, "Authorization: %s\r\n", o->authorization);
    if (r == 0 && buffered)
        r = sp_buf_printf(b, "Content-Length: %zu\r\n", sp_buf_pending(&req->body));
    if (r == 0)
        r = sp_buf_append_str(b, upgrade ? "Connection: Upgrade, close\r\n\r\n"
                                 : keep  ? "\r\n" /* HTTP/1.1: persistent unless said otherwise */
                                         : "Connection: close\r\n\r\n");
    if (r == 0 && buffered)
        r = sp_buf_append(b, sp_buf_head(&req->body), sp_buf_pending(&req->body));
    return r;
}

/* A request target: no space or control byte (CR, LF) that would break the request line. Bytes
 * above 0x7f pass, as http-parser lets them through in the client's own target. */
static bool target_ok(const char *s)
{
    if (!s || !*s) return false;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f) return false;
    return true;
}

static bool value_ok(const char *s)
{
    return strpbrk(s, "\r\n") == NULL;
}

/* A TCP client that vanishes (no FIN, no reset) would hold an idle relay forever: keepalive
 * probes make its kernel answer with a reset, or time out. */
static void probe_dead_peers(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
        (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
        return;
    int on = 1, idle = PROXY_PROBE_S, intvl = PROXY_PROBE_S, cnt = 3;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

int proxy_request(struct http_request *req, struct loop *loop, const struct proxy_opts *o,
                  struct sp_err *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    if (!o->socket_path || strlen(o->socket_path) >= sizeof(sa.sun_path))
        return sp_err_set(err, -EINVAL, "proxy: bad upstream socket path");
    if (!target_ok(o->target)) return sp_err_set(err, -EINVAL, "proxy: bad request target");
    if (o->authorization && !value_ok(o->authorization))
        return sp_err_set(err, -EINVAL, "proxy: bad authorization value");
    strcpy(sa.sun_path, o->socket_path);

    int ufd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ufd < 0) return sp_err_set(err, -errno, "proxy: socket: %s", strerror(errno));
    /* a unix-socket connect completes at once or fails; EAGAIN means the backlog is full */
    if (connect(ufd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        sp_close(ufd);
        return sp_err_set(err, -e, "proxy: connect %s: %s", o->socket_path, strerror(e));
    }

    struct proxy *p = calloc(1, sizeof(*p));
    if (!p) {
        sp_close(ufd);
        return sp_err_set(err, -ENOMEM, "proxy: out of memory");
    }
    p->owner.close = px_owner_close;
    p->common_headers = http_common_headers(req);
    p->head_req = strcmp(req->method, "HEAD") == 0;
    p->keep = req->keep_alive && req->http_major == 1 && req->http_minor == 1 && !req->upgrade &&
              strcmp(req->method, "CONNECT") != 0;
    int cfd = -1;
    int r = build_head(&p->to_up, req, o, p->keep);
    if (r < 0) {
        sp_close(ufd);
        px_free(p);
        return sp_err_set(err, r, "proxy: out of memory");
    }
    /* the bytes the client sent behind its head (the body so far) follow the rewritten head */
    r = http_hijack(req, &cfd, &p->to_up, &p->owner);
    if (r < 0) {
        sp_close(ufd);
        px_free(p);
        return sp_err_set(err, r, "proxy: cannot take the connection: %s", strerror(-r));
    }

    /* everything so far is scanned as the upstream will parse it */
    http_parser_init(&p->reqp, HTTP_REQUEST);
    http_parser_init(&p->resp, HTTP_RESPONSE);
    p->resp.data = p;
    px_scan(p, sp_buf_pending(&p->to_up));

    p->loop = loop;
    p->on_end = o->on_end;
    p->ud = o->ud;
    loop_io_init(&p->cl, cfd, px_client_cb);
    loop_io_init(&p->up, ufd, px_upstream_cb);
    loop_timer_init(&p->timer, px_timer_cb);
    p->to_up_since_ms = p->to_cl_since_ms = sp_now_ms();
    probe_dead_peers(cfd);
    px_pump(p); /* failures from here on end the relay like any other: on_end follows */
    return 0;
}
