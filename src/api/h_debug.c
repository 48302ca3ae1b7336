/* SPDX-License-Identifier: MIT */
/*
 * The seed's debug endpoints (only with -debug-endpoints): make a zombie and watch the reaper
 * collect it, and look at any pid's state in /proc.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../base/log.h"
#include "../base/str.h"
#include "../base/time.h"
#include "api_internal.h"

#define ZOMBIE_WAIT_MS 1000

struct zombie_watch {
    struct api *api;
    struct http_request *req; /* NULL once the client went away */
    struct loop_timer timer;
    pid_t pid;
    uint64_t start_ns;
    bool reaped;
    int status;
    uint64_t reap_ns;
};

static void zombie_reply(struct zombie_watch *z)
{
    loop_timer_stop(z->api->ctx.loop, &z->timer);
    if (z->req) {
        double ms = (double)z->reap_ns / 1e6;
        json_t *o = json_pack("{s:s, s:i, s:b, s:f, s:s, s:b}", "message",
                              z->reaped ? "zombie process created and reaped"
                                        : "zombie process created but not reaped within 1s",
                              "pid", (int)z->pid, "was_reaped", z->reaped, "reap_duration_ms",
                              z->reaped ? ms : 0.0, "note",
                              "the child exits at once without being waited for by its creator; "
                              "sprite-env's reaper collects it",
                              "success", z->reaped);
        struct http_request *req = z->req;
        req->on_abort = NULL;
        api_respond_json(req, 200, o);
    }
    if (!z->reaped) reaper_unwatch(z->api->ctx.reaper, z->pid); /* an orphan from now on */
    free(z);
}

static void zombie_reaped(void *owner, pid_t pid, int status)
{
    struct zombie_watch *z = owner;
    (void)pid;
    z->reaped = true;
    z->status = status;
    z->reap_ns = sp_now_ns() - z->start_ns;
    zombie_reply(z);
}

static void zombie_timeout(struct loop_timer *t)
{
    zombie_reply(SP_CONTAINER_OF(t, struct zombie_watch, timer));
}

static void zombie_abort(struct http_request *req)
{
    struct zombie_watch *z = req->data;
    z->req = NULL; /* keep waiting for the reap so the watch is released; no reply */
}

void h_debug_create_zombie(struct api *a, struct http_request *req)
{
    struct zombie_watch *z = calloc(1, sizeof(*z));
    if (!z) {
        http_respond_error(req, 503, "out_of_memory", "out of memory");
        return;
    }
    z->api = a;
    z->req = req;
    loop_timer_init(&z->timer, zombie_timeout);
    z->start_ns = sp_now_ns();
    pid_t pid = fork();
    if (pid < 0) {
        free(z);
        http_respond_error(req, 500, "fork_failed", "fork: %s", strerror(errno));
        return;
    }
    if (pid == 0) _exit(0);
    z->pid = pid;
    /* Registered before the loop runs again, so the reaper cannot collect it unseen. */
    if (reaper_watch(a->ctx.reaper, pid, zombie_reaped, z) < 0) {
        free(z);
        http_respond_error(req, 503, "out_of_memory", "out of memory");
        return;
    }
    req->data = z;
    req->on_abort = zombie_abort;
    loop_timer_start(a->ctx.loop, &z->timer, ZOMBIE_WAIT_MS);
}

void h_debug_check_process(struct api *a, struct http_request *req)
{
    char buf[64];
    uint64_t pid;
    (void)a;

    const char *s = http_query_get(req, "pid", buf, sizeof(buf));
    if (!s || !*s) {
        http_respond_error(req, 400, "bad_request", "pid query parameter is required");
        return;
    }
    if (sp_parse_u64(s, 4194304, &pid) < 0 || pid == 0) {
        http_respond_error(req, 400, "bad_request", "invalid pid format: %s", s);
        return;
    }

    char path[64], stat[1024];
    snprintf(path, sizeof(path), "/proc/%llu/stat", (unsigned long long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = -1;
    if (fd >= 0) {
        n = read(fd, stat, sizeof(stat) - 1);
        close(fd);
    }
    if (n <= 0) {
        api_respond_json(
            req, 200,
            json_pack("{s:I, s:b, s:b}", "pid", (json_int_t)pid, "exists", 0, "is_zombie", 0));
        return;
    }
    stat[n] = '\0';
    /* "pid (comm) S ...": comm may hold spaces and parentheses, so find the last ')' */
    char *rp = strrchr(stat, ')');
    char state = rp && rp[1] == ' ' ? rp[2] : '?';
    char st[2] = {state, '\0'};
    api_respond_json(req, 200,
                     json_pack("{s:I, s:b, s:b, s:s}", "pid", (json_int_t)pid, "exists", 1,
                               "is_zombie", state == 'Z', "proc_status", st));
}

/*
 * GET /debug/echo with "Connection: Upgrade" and "Upgrade: echo": after a 101 answer the
 * connection is taken from the HTTP server (http_hijack) and every byte received is sent back
 * until the client closes. It exercises the hand-off that WebSocket and Docker's hijack use.
 */
struct echo_conn {
    struct api *api;
    struct loop_io io;
    struct sp_buf pending; /* bytes not yet written back */
    struct http_hijack_owner owner;
};

static void echo_free(void *arg)
{
    struct echo_conn *e = arg;
    sp_buf_free(&e->pending);
    free(e);
}

static void echo_close(struct echo_conn *e)
{
    loop_io_stop(e->api->ctx.loop, &e->io);
    close(e->io.fd);
    http_hijack_done(&e->owner);
    if (loop_defer(e->api->ctx.loop, echo_free, e) < 0) { /* leak rather than use after free */
    }
}

static void echo_owner_close(struct http_hijack_owner *o)
{
    echo_close(SP_CONTAINER_OF(o, struct echo_conn, owner));
}

static bool echo_flush(struct echo_conn *e)
{
    while (sp_buf_pending(&e->pending)) {
        ssize_t w =
            send(e->io.fd, sp_buf_head(&e->pending), sp_buf_pending(&e->pending), MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) break;
        if (w <= 0) return false;
        sp_buf_consume(&e->pending, (size_t)w);
    }
    /* back-pressure: read only while nothing waits to be written */
    uint32_t ev = sp_buf_pending(&e->pending) ? EPOLLOUT : EPOLLIN;
    return loop_io_set(e->api->ctx.loop, &e->io, ev) == 0;
}

static void echo_io(struct loop_io *io, uint32_t events)
{
    struct echo_conn *e = SP_CONTAINER_OF(io, struct echo_conn, io);
    if (events & EPOLLIN) {
        char buf[16384];
        ssize_t r = recv(io->fd, buf, sizeof(buf), 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (r <= 0 || sp_buf_append(&e->pending, buf, (size_t)r) < 0) {
            echo_close(e);
            return;
        }
    } else if (events & (EPOLLERR | EPOLLHUP)) {
        echo_close(e);
        return;
    }
    if (!echo_flush(e)) echo_close(e);
}

void h_debug_echo(struct api *a, struct http_request *req)
{
    const char *up = http_header_get(req, "Upgrade");
    if (!req->upgrade || !up || strcasecmp(up, "echo") != 0) {
        http_respond_error(req, 400, "bad_request",
                           "this route needs \"Connection: Upgrade\" and \"Upgrade: echo\"");
        return;
    }
    struct echo_conn *e = calloc(1, sizeof(*e));
    if (!e) {
        http_respond_error(req, 503, "out_of_memory", "out of memory");
        return;
    }
    e->api = a;
    static const char resp[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                               "Upgrade: echo\r\n\r\n";
    int fd;
    e->owner.close = echo_owner_close;
    if (sp_buf_append(&e->pending, resp, sizeof(resp) - 1) < 0 ||
        http_hijack(req, &fd, &e->pending, &e->owner) < 0) {
        sp_buf_free(&e->pending);
        free(e);
        http_respond_error(req, 503, "out_of_memory", "out of memory");
        return;
    }
    /* req is gone now */
    loop_io_init(&e->io, fd, echo_io);
    if (loop_io_start(a->ctx.loop, &e->io, EPOLLOUT) < 0) {
        close(fd);
        http_hijack_done(&e->owner);
        echo_free(e);
        return;
    }
    if (!echo_flush(e)) echo_close(e);
}

/*
 * GET /debug/stream?bytes=N: a chunked response of N bytes ("0123456789" repeated), written in
 * 64 KiB chunks with back-pressure: production pauses while more than 256 KiB wait for the
 * client and resumes on on_drain. It exercises streamed responses the way exec output will.
 */
#define STREAM_CHUNK     65536
#define STREAM_HIGH_MARK (256 * 1024)
#define STREAM_MAX_BYTES (1ull << 30)

struct streamer {
    uint64_t left;
    uint64_t sent;
};

static void stream_abort(struct http_request *req)
{
    free(req->data);
    req->data = NULL;
}

static void stream_pump(struct http_request *req)
{
    struct streamer *st = req->data;
    static char pattern[STREAM_CHUNK + 10];
    if (!pattern[0])
        for (size_t i = 0; i < sizeof(pattern); i++)
            pattern[i] = (char)('0' + i % 10);

    while (st->left > 0) {
        size_t n = st->left < STREAM_CHUNK ? (size_t)st->left : STREAM_CHUNK;
        long backlog = http_stream_write(req, pattern + st->sent % 10, n);
        if (backlog < 0) return; /* the connection is gone; on_abort frees st */
        st->left -= n;
        st->sent += n;
        if (backlog > STREAM_HIGH_MARK) return; /* resume on on_drain */
    }
    req->on_abort = NULL;
    req->on_drain = NULL;
    req->data = NULL;
    free(st);
    http_stream_end(req);
}

void h_debug_stream(struct api *a, struct http_request *req)
{
    char buf[32];
    uint64_t n;
    (void)a;
    const char *s = http_query_get(req, "bytes", buf, sizeof(buf));
    if (!s || sp_parse_u64(s, STREAM_MAX_BYTES, &n) < 0) {
        http_respond_error(req, 400, "bad_request", "bytes must be an integer from 0 to %llu",
                           (unsigned long long)STREAM_MAX_BYTES);
        return;
    }
    struct streamer *st = calloc(1, sizeof(*st));
    if (!st) {
        http_respond_error(req, 503, "out_of_memory", "out of memory");
        return;
    }
    st->left = n;
    req->data = st;
    req->on_abort = stream_abort;
    req->on_drain = stream_pump;
    http_stream_begin(req, 200, "application/octet-stream", NULL);
    stream_pump(req);
}

/* ---- POST /debug/body: a streamed request body, counted and checksummed ---- */

struct body_sink {
    struct api *a;
    struct http_request *req;
    uint64_t bytes, chunks, pause_ms;
    uint32_t s1, s2; /* Adler-32 (RFC 1950) */
    struct loop_timer resume;
};

static void body_sink_free(struct body_sink *b)
{
    loop_timer_stop(b->a->ctx.loop, &b->resume);
    free(b);
}

static void body_sink_resume(struct loop_timer *t)
{
    struct body_sink *b = SP_CONTAINER_OF(t, struct body_sink, resume);
    http_body_pause(b->req, false);
}

static int body_sink_data(struct http_request *req, const char *data, size_t len)
{
    struct body_sink *b = req->data;
    for (size_t i = 0; i < len; i++) {
        b->s1 = (b->s1 + (unsigned char)data[i]) % 65521;
        b->s2 = (b->s2 + b->s1) % 65521;
    }
    b->bytes += len;
    b->chunks++;
    if (b->pause_ms) { /* a slow consumer: the client must wait, nothing may be lost */
        http_body_pause(req, true);
        loop_timer_start(b->a->ctx.loop, &b->resume, b->pause_ms);
    }
    return 0;
}

static void body_sink_end(struct http_request *req)
{
    struct body_sink *b = req->data;
    req->on_abort = NULL;
    req->data = NULL;
    api_respond_json(req, 200,
                     json_pack("{s:I,s:I,s:I}", "bytes", (json_int_t)b->bytes, "chunks",
                               (json_int_t)b->chunks, "adler32",
                               (json_int_t)((uint32_t)b->s2 << 16 | b->s1)));
    body_sink_free(b);
}

static void body_sink_abort(struct http_request *req)
{
    body_sink_free(req->data);
}

void h_debug_body(struct api *a, struct http_request *req)
{
    char buf[32];
    uint64_t pause = 0;
    const char *s = http_query_get(req, "pause_ms", buf, sizeof(buf));
    if (s && sp_parse_u64(s, 1000, &pause) < 0) {
        http_respond_error(req, 400, "bad_request", "pause_ms must be an integer from 0 to 1000");
        return;
    }
    struct body_sink *b = calloc(1, sizeof(*b));
    if (!b) {
        http_respond_error(req, 503, "out_of_memory", "out of memory");
        return;
    }
    b->a = a;
    b->req = req;
    b->pause_ms = pause;
    b->s1 = 1;
    loop_timer_init(&b->resume, body_sink_resume);
    req->data = b;
    req->on_body = body_sink_data;
    req->on_body_end = body_sink_end;
    req->on_abort = body_sink_abort;
}
