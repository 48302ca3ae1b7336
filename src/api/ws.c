/* SPDX-License-Identifier: MIT */
/* WebSocket server connections: see ws.h. */
#include "ws.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../base/buf.h"
#include "../base/fd.h"
#include "../base/log.h"
#include "../base/sha1.h"
#include "../base/str.h"
#include "../base/time.h"

#define WS_GUID          "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define READ_CHUNK       65536
#define CLOSE_WAIT_MS    2000
#define WRITE_TIMEOUT_MS 60000
#define OUT_HIGH_MARK    (1024 * 1024) /* stop reading while this much waits to be sent */

struct ws_conn {
    struct loop *loop;
    struct loop_io io;
    struct loop_timer timer;
    struct sp_buf in, out;
    struct sp_buf msg; /* a fragmented message being assembled */
    int msg_opcode;    /* 0: none in progress */
    const struct ws_handlers *h;
    void *data;
    bool close_sent, paused, dead, notifying;
    uint64_t write_progress_ms;
    struct http_hijack_owner owner;
    int close_code;
};

void ws_accept_key(const char *key, char out[29])
{
    char buf[128];
    unsigned char digest[SP_SHA1_LEN];
    size_t n = strlen(key);
    if (n > sizeof(buf) - sizeof(WS_GUID)) n = sizeof(buf) - sizeof(WS_GUID);
    memcpy(buf, key, n);
    memcpy(buf + n, WS_GUID, sizeof(WS_GUID) - 1);
    sp_sha1(buf, n + sizeof(WS_GUID) - 1, digest);
    sp_base64_encode(digest, sizeof(digest), out);
}

long ws_parse_frame(char *p, size_t n, struct ws_frame *f)
{
    if (n < 2) return 0;
    unsigned char b0 = (unsigned char)p[0], b1 = (unsigned char)p[1];
    if (b0 & 0x70) return -1; /* no extensions were negotiated */
    f->fin = b0 & 0x80;
    f->opcode = b0 & 0x0f;
    f->masked = b1 & 0x80;
    uint64_t len = b1 & 0x7f;
    size_t h = 2;
    if (len == 126) {
        if (n < 4) return 0;
        len = (uint64_t)(unsigned char)p[2] << 8 | (unsigned char)p[3];
        h = 4;
    } else if (len == 127) {
        if (n < 10) return 0;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | (unsigned char)p[2 + i];
        if (len >> 63) return -1;
        h = 10;
    }
    if (f->opcode >= 8 && (len > 125 || !f->fin)) return -1; /* control frames */
    if (len > WS_MAX_MESSAGE) return -2;                     /* too big: 1009 */
    size_t mask_at = h;
    if (f->masked) h += 4;
    if (n < h + len) return 0;
    char *payload = p + h;
    if (f->masked) {
        const unsigned char *m = (const unsigned char *)p + mask_at;
        for (size_t i = 0; i < len; i++)
            payload[i] ^= (char)m[i & 3];
    }
    f->payload = payload;
    f->len = (size_t)len;
    return (long)(h + len);
}

void *ws_data(struct ws_conn *ws)
{
    return ws->data;
}

static void ws_free(void *arg)
{
    struct ws_conn *ws = arg;
    sp_buf_free(&ws->in);
    sp_buf_free(&ws->out);
    sp_buf_free(&ws->msg);
    free(ws);
}

/* The end: tell the owner once, then free after the current batch. */
static void ws_closed_deferred(void *arg)
{
    struct ws_conn *ws = arg;
    if (ws->h->on_close) ws->h->on_close(ws, ws->close_code);
    ws_free(ws);
}

static void ws_die(struct ws_conn *ws, int code)
{
    if (ws->dead) return;
    ws->dead = true;
    loop_timer_stop(ws->loop, &ws->timer);
    loop_io_stop(ws->loop, &ws->io);
    sp_close(ws->io.fd);
    ws->io.fd = -1;
    http_hijack_done(&ws->owner);
    /* on_close runs from the loop, never from inside a ws_* call the owner is making (a failed
     * send must not free the owner's state under it); the owner sees -EPIPE meanwhile. */
    ws->close_code = code;
    if (loop_defer(ws->loop, ws_closed_deferred, ws) < 0)
        sp_error("ws: leaking a connection (out of memory)");
}

static void ws_update(struct ws_conn *ws)
{
    if (ws->dead) return;
    /* A client that sends (pings, say) but does not read would make us queue without end:
     * read only while what we owe it stays under the mark. */
    bool reading = !(ws->paused && !ws->close_sent) && sp_buf_pending(&ws->out) <= OUT_HIGH_MARK;
    uint32_t ev = reading ? EPOLLIN : 0;
    if (sp_buf_pending(&ws->out)) ev |= EPOLLOUT;
    if (loop_io_set(ws->loop, &ws->io, ev) < 0) {
        ws_die(ws, 1006);
        return;
    }
    if (sp_buf_pending(&ws->out)) {
        uint64_t now = sp_now_ms(), deadline = ws->write_progress_ms + WRITE_TIMEOUT_MS;
        loop_timer_start(ws->loop, &ws->timer, deadline > now ? deadline - now : 0);
    } else if (!ws->close_sent) {
        loop_timer_stop(ws->loop, &ws->timer);
    }
}

/* Writes what it can; false when the connection died. */
static bool ws_flush(struct ws_conn *ws)
{
    while (sp_buf_pending(&ws->out)) {
        ssize_t w = send(ws->io.fd, sp_buf_head(&ws->out), sp_buf_pending(&ws->out), MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) break;
        if (w < 0) {
            ws_die(ws, 1006);
            return false;
        }
        sp_buf_consume(&ws->out, (size_t)w);
        ws->write_progress_ms = sp_now_ms();
    }
    ws_update(ws);
    return !ws->dead;
}

static int queue_frame(struct ws_conn *ws, int op, const void *data, size_t len)
{
    unsigned char h[10];
    size_t hl;
    h[0] = (unsigned char)(0x80 | op);
    if (len < 126) {
        h[1] = (unsigned char)len;
        hl = 2;
    } else if (len <= 0xffff) {
        h[1] = 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        hl = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
        hl = 10;
    }
    int r = sp_buf_append(&ws->out, h, hl);
    if (r == 0 && len) r = sp_buf_append(&ws->out, data, len);
    return r;
}

long ws_send(struct ws_conn *ws, enum ws_opcode op, const void *data, size_t len)
{
    if (ws->dead || ws->close_sent) return -EPIPE;
    if (queue_frame(ws, op, data, len) < 0) {
        ws_die(ws, 1011);
        return -ENOMEM;
    }
    if (!ws_flush(ws)) return -EPIPE;
    return (long)sp_buf_pending(&ws->out);
}

static void close_timer_cb(struct loop_timer *t)
{
    ws_die(SP_CONTAINER_OF(t, struct ws_conn, timer), 1006);
}

void ws_close(struct ws_conn *ws, uint16_t code, const char *reason)
{
    if (ws->dead || ws->close_sent) return;
    char payload[125];
    size_t rl = reason ? strlen(reason) : 0;
    if (rl > sizeof(payload) - 2) rl = sizeof(payload) - 2;
    payload[0] = (char)(code >> 8);
    payload[1] = (char)code;
    memcpy(payload + 2, reason, rl);
    queue_frame(ws, WS_CLOSE, payload, rl + 2);
    ws->close_sent = true;
    loop_timer_start(ws->loop, &ws->timer, CLOSE_WAIT_MS); /* wait for the peer's close */
    ws_flush(ws);
}

void ws_pause_reading(struct ws_conn *ws, bool paused)
{
    if (ws->paused == paused) return;
    ws->paused = paused;
    ws_update(ws);
}

static void protocol_error(struct ws_conn *ws, uint16_t code, const char *why)
{
    sp_debug("ws: closing: %s", why);
    if (!ws->close_sent)
        ws_close(ws, code, why);
    else
        ws_die(ws, code);
}

/* Handles complete frames in ws->in; stops early when the owner paused or closed us. */
static void process_frames(struct ws_conn *ws)
{
    while (!ws->dead && sp_buf_pending(&ws->in)) {
        if (ws->paused && !ws->close_sent) return;
        if (sp_buf_pending(&ws->out) > OUT_HIGH_MARK) return; /* resumed when it drains */
        struct ws_frame f;
        long n = ws_parse_frame(sp_buf_head(&ws->in), sp_buf_pending(&ws->in), &f);
        if (n == 0) return;
        if (n < 0) {
            protocol_error(ws, n == -2 ? 1009 : 1002,
                           n == -2 ? "message too big" : "malformed frame");
            return;
        }
        if (!f.masked) {
            protocol_error(ws, 1002, "client frames must be masked");
            return;
        }
        /* copy the payload out before consuming (handlers may re-enter and read more) */
        switch (f.opcode) {
        case WS_PING: {
            char pl[125];
            memcpy(pl, f.payload, f.len);
            sp_buf_consume(&ws->in, (size_t)n);
            if (!ws->close_sent && queue_frame(ws, WS_PONG, pl, f.len) == 0) ws_flush(ws);
            continue;
        }
        case WS_PONG: sp_buf_consume(&ws->in, (size_t)n); continue;
        case WS_CLOSE: {
            int code = f.len >= 2 ? ((unsigned char)f.payload[0] << 8 | (unsigned char)f.payload[1])
                                  : 1005;
            sp_buf_consume(&ws->in, (size_t)n);
            if (!ws->close_sent) {
                char pl[2] = {(char)(code == 1005 ? 0x03 : code >> 8),
                              (char)(code == 1005 ? 0xe8 : code)};
                queue_frame(ws, WS_CLOSE, pl, 2);
                ws->close_sent = true;
                ws_flush(ws);
            }
            if (!ws->dead) {
                shutdown(ws->io.fd, SHUT_WR);
                ws_die(ws, code);
            }
            return;
        }
        case 0: /* continuation */
        case WS_TEXT:
        case WS_BINARY: break;
        default: protocol_error(ws, 1002, "unknown opcode"); return;
        }
        if (f.opcode != 0 && ws->msg_opcode) {
            protocol_error(ws, 1002, "new message inside a fragmented one");
            return;
        }
        if (f.opcode == 0 && !ws->msg_opcode) {
            protocol_error(ws, 1002, "continuation without a message");
            return;
        }
        if (f.fin && f.opcode != 0) { /* the common case: a whole message in one frame */
            if (f.opcode == WS_TEXT && !sp_utf8_valid(f.payload, f.len)) {
                protocol_error(ws, 1007, "text message is not UTF-8");
                return;
            }
            struct sp_buf copy = SP_BUF_INIT;
            if (sp_buf_append(&copy, f.payload, f.len) < 0) {
                protocol_error(ws, 1011, "out of memory");
                return;
            }
            sp_buf_consume(&ws->in, (size_t)n);
            if (ws->h->on_message)
                ws->h->on_message(ws, (enum ws_opcode)f.opcode, copy.data ? copy.data : "", f.len);
            sp_buf_free(&copy);
            continue;
        }
        if (f.opcode) ws->msg_opcode = f.opcode;
        if (sp_buf_pending(&ws->msg) + f.len > WS_MAX_MESSAGE) {
            protocol_error(ws, 1009, "message too big");
            return;
        }
        if (sp_buf_append(&ws->msg, f.payload, f.len) < 0) {
            protocol_error(ws, 1011, "out of memory");
            return;
        }
        sp_buf_consume(&ws->in, (size_t)n);
        if (f.fin) {
            if (ws->msg_opcode == WS_TEXT &&
                !sp_utf8_valid(sp_buf_head(&ws->msg), sp_buf_pending(&ws->msg))) {
                protocol_error(ws, 1007, "text message is not UTF-8");
                return;
            }
            struct sp_buf m = ws->msg;
            int op = ws->msg_opcode;
            ws->msg = (struct sp_buf)SP_BUF_INIT;
            ws->msg_opcode = 0;
            if (ws->h->on_message)
                ws->h->on_message(ws, (enum ws_opcode)op, m.data ? sp_buf_head(&m) : "",
                                  sp_buf_pending(&m));
            sp_buf_free(&m);
        }
    }
}

/* The HTTP server is going away (daemon shutdown): end the connection now. */
static void ws_owner_close(struct http_hijack_owner *o)
{
    ws_die(SP_CONTAINER_OF(o, struct ws_conn, owner), 1001);
}

static void process_pending(void *arg)
{
    struct ws_conn *ws = arg;
    if (!ws->dead) process_frames(ws);
}

static void ws_io_cb(struct loop_io *io, uint32_t events)
{
    struct ws_conn *ws = SP_CONTAINER_OF(io, struct ws_conn, io);
    if (events & EPOLLOUT) {
        bool was_pending = sp_buf_pending(&ws->out) > 0;
        if (!ws_flush(ws)) return;
        if (was_pending && !sp_buf_pending(&ws->out) && ws->h->on_drain && !ws->close_sent) {
            ws->h->on_drain(ws);
            if (ws->dead) return;
        }
        if (sp_buf_pending(&ws->out) <= OUT_HIGH_MARK && sp_buf_pending(&ws->in)) {
            process_frames(ws); /* frames held back while we were over the mark */
            if (ws->dead) return;
        }
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
    if (ws->paused && !ws->close_sent && !(events & (EPOLLHUP | EPOLLERR))) return;
    if (sp_buf_pending(&ws->out) > OUT_HIGH_MARK && !(events & (EPOLLHUP | EPOLLERR))) return;
    if (sp_buf_pending(&ws->in) > WS_MAX_MESSAGE + 16) {
        protocol_error(ws, 1009, "too much unread input");
        return;
    }
    if (sp_buf_reserve(&ws->in, READ_CHUNK) < 0) {
        ws_die(ws, 1011);
        return;
    }
    ssize_t r = recv(io->fd, ws->in.data + ws->in.len, READ_CHUNK, 0);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (r <= 0) {
        ws_die(ws, 1006);
        return;
    }
    ws->in.len += (size_t)r;
    process_frames(ws);
}

static bool header_has_token(const char *v, const char *token)
{
    size_t tl = strlen(token);
    while (v && *v) {
        while (*v == ' ' || *v == ',')
            v++;
        const char *end = strchrnul(v, ',');
        const char *e = end;
        while (e > v && e[-1] == ' ')
            e--;
        if ((size_t)(e - v) == tl && strncasecmp(v, token, tl) == 0) return true;
        v = end;
    }
    return false;
}

int ws_accept(struct http_request *req, struct loop *loop, const struct ws_handlers *h, void *data,
              struct ws_conn **out)
{
    const char *up = http_header_get(req, "Upgrade");
    const char *conn = http_header_get(req, "Connection");
    const char *key = http_header_get(req, "Sec-WebSocket-Key");
    const char *ver = http_header_get(req, "Sec-WebSocket-Version");
    unsigned char raw[32];
    if (strcmp(req->method, "GET") != 0 || !up || strcasecmp(up, "websocket") != 0 ||
        !header_has_token(conn, "upgrade")) {
        http_respond_error(req, 400, "bad_request", "this route needs a WebSocket upgrade");
        return -1;
    }
    if (!ver || strcmp(ver, "13") != 0) {
        /* 426 Upgrade Required with the version we speak (RFC 6455 §4.4) */
        http_respond_error_h(req, 426, "Sec-WebSocket-Version: 13\r\n", "bad_request",
                             "WebSocket version 13 is required");
        return -1;
    }
    if (!key || strlen(key) > 64 || sp_base64_decode(key, strlen(key), raw, sizeof(raw)) != 16) {
        http_respond_error(req, 400, "bad_request", "missing or malformed Sec-WebSocket-Key");
        return -1;
    }
    struct ws_conn *ws = calloc(1, sizeof(*ws));
    if (!ws) {
        http_respond_error(req, 503, "out_of_memory", "out of memory");
        return -1;
    }
    char accept[29];
    ws_accept_key(key, accept);
    if (sp_buf_printf(&ws->out,
                      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n",
                      accept, http_common_headers(req)) < 0) {
        free(ws);
        http_respond_error(req, 503, "out_of_memory", "out of memory");
        return -1;
    }
    int fd;
    ws->owner.close = ws_owner_close;
    if (http_hijack(req, &fd, &ws->in, &ws->owner) < 0) {
        sp_buf_free(&ws->out);
        free(ws);
        http_respond_error(req, 503, "out_of_memory", "out of memory");
        return -1;
    }
    ws->loop = loop;
    ws->h = h;
    ws->data = data;
    ws->write_progress_ms = sp_now_ms();
    loop_io_init(&ws->io, fd, ws_io_cb);
    loop_timer_init(&ws->timer, close_timer_cb);
    if (loop_io_start(loop, &ws->io, EPOLLIN) < 0) {
        sp_close(fd);
        http_hijack_done(&ws->owner);
        ws_free(ws);
        return -1;
    }
    *out = ws;
    ws_flush(ws);
    /* Frames the client sent right behind its request: handle them once the owner is set up. */
    if (!ws->dead && sp_buf_pending(&ws->in) && loop_defer(loop, process_pending, ws) < 0)
        ws_die(ws, 1011);
    return 0;
}
