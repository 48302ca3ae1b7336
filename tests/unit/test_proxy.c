/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/api/proxy.c. One process, one loop: an upstream http_server on a unix socket
 * (handlers below: an echo of the request as JSON, a streamed-body echo, a chunked response, a
 * held stream, an upgrade that echoes bytes, a response cut short, no answer at all, a large
 * stream paced by on_drain) and a front http_server on another unix socket whose handler proxies
 * /v1/sandboxes/sb/<rest> to it.
 * A client thread drives the front with blocking sockets (4 s timeouts) and reports stages
 * through an eventfd the loop watches; every check runs in the main thread afterwards. Each phase
 * has a 5 s watchdog, so a bug fails instead of hanging.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "../../src/api/http.h"
#include "../../src/api/proxy.h"
#include "../../src/api/rawconn.h"
#include "../../src/base/buf.h"
#include "../../src/base/compiler.h"
#include "../../src/base/fd.h"

#define WATCHDOG_MS      5000
#define CLIENT_TIMEOUT_S 4
#define POST_LEN         (1u << 20)
#define BIG_LEN          (8u << 20)
#define BIG_BACKLOG      (256 * 1024)
#define QUIET_MS         200
#define PREFIX           "/v1/sandboxes/sb"

/* ---- the world ---- */

struct world {
    struct loop *loop;
    struct http_server *up, *front;
    char dir[64];
    char up_path[96], front_path[96], refused_path[96], missing_path[96];
    int refused_fd; /* bound, never listening */
    const char *proxy_to;
    const char *authorization;
    struct loop_timer watchdog;
    bool watchdog_fired;
    int ev_fd; /* client thread → loop: one count per stage */
    struct loop_io ev_io;
    int go_fd; /* loop → client thread */
    unsigned stage, want_stage;
    int ends, want_ends;     /* on_end calls */
    int aborts, want_aborts; /* upstream requests that saw on_abort */
    bool quiet, want_quiet;  /* /big: the producer has been blocked for QUIET_MS */
    bool go_on_end;
    int proxy_err; /* the last proxy_request failure */
    char err[256]; /* what went wrong inside a loop callback */

    /* upstream state */
    struct sp_buf up_body;
    char up_te[64], up_cl[64];
    struct http_request *chunk_req;
    struct loop_timer chunk_timer;
    int chunk_n;
    struct http_request *big_req;
    uint64_t big_produced;
    struct loop_timer quiet_timer;

    /* front state */
    struct http_request *late_req;
    char late_target[256];
    struct loop_timer late_timer;

    pthread_t thread;
    bool thread_running;
};

static struct world g;

static void g_fail(const char *msg)
{
    if (!g.err[0]) snprintf(g.err, sizeof(g.err), "%s", msg);
}

static void maybe_stop(void)
{
    if (g.stage >= g.want_stage && g.ends >= g.want_ends && g.aborts >= g.want_aborts &&
        (!g.want_quiet || g.quiet))
        loop_stop(g.loop);
}

static void watchdog_cb(struct loop_timer *t)
{
    (void)t;
    g.watchdog_fired = true;
    loop_stop(g.loop);
}

static void ev_cb(struct loop_io *io, uint32_t events)
{
    (void)events;
    uint64_t n;
    if (read(io->fd, &n, sizeof(n)) == (ssize_t)sizeof(n)) g.stage += (unsigned)n;
    maybe_stop();
}

static void go_client(void)
{
    uint64_t one = 1;
    if (write(g.go_fd, &one, sizeof(one)) != (ssize_t)sizeof(one)) g_fail("eventfd write");
}

static void on_end(void *ud)
{
    if (ud != &g) g_fail("on_end: wrong ud");
    g.ends++;
    if (g.go_on_end) go_client();
    maybe_stop();
}

static unsigned char pat_post(size_t i)
{
    return (unsigned char)(i * 131 + (i >> 9));
}

static unsigned char pat_big(size_t i)
{
    return (unsigned char)(i * 7 + (i >> 13));
}

/* ---- the upstream server ---- */

static void up_abort(struct http_request *req)
{
    g.aborts++;
    if (g.chunk_req == req) g.chunk_req = NULL;
    if (g.big_req == req) g.big_req = NULL;
    maybe_stop();
}

/* The request as JSON: method, target, HTTP minor version, headers in order, buffered body. */
static void up_echo(struct http_request *req)
{
    json_t *h = json_array();
    for (size_t i = 0; i < req->n_headers; i++)
        json_array_append_new(h, json_pack("[s,s]", req->headers[i].name, req->headers[i].value));
    json_t *o =
        json_pack("{s:s, s:s, s:i, s:o, s:s%}", "method", req->method, "target", req->target,
                  "minor", (int)req->http_minor, "headers", h, "body",
                  req->body.data ? sp_buf_head(&req->body) : "", sp_buf_pending(&req->body));
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (text)
        http_respond(req, 200, "application/json", NULL, text, strlen(text));
    else
        http_respond_error(req, 500, "oom", "json");
    free(text);
    json_decref(o);
}

static int se_body(struct http_request *req, const char *data, size_t len)
{
    (void)req;
    return sp_buf_append(&g.up_body, data, len) < 0 ? -1 : 0;
}

static void se_end(struct http_request *req)
{
    char extra[256];
    snprintf(extra, sizeof(extra), "X-Up-TE: %s\r\nX-Up-CL: %s\r\n", g.up_te, g.up_cl);
    http_respond(req, 200, "application/octet-stream", extra, sp_buf_head(&g.up_body),
                 sp_buf_pending(&g.up_body));
}

/* A streamed body, answered with the same bytes once it ended. */
static void up_stream_echo(struct http_request *req)
{
    const char *te = http_header_get(req, "Transfer-Encoding");
    const char *cl = http_header_get(req, "Content-Length");
    snprintf(g.up_te, sizeof(g.up_te), "%s", te ? te : "-");
    snprintf(g.up_cl, sizeof(g.up_cl), "%s", cl ? cl : "-");
    sp_buf_clear(&g.up_body);
    req->on_body = se_body;
    req->on_body_end = se_end;
    req->on_abort = up_abort;
}

static void chunk_timer_cb(struct loop_timer *t)
{
    static const char *const parts[] = {"one\n", "two\n", "three\n"};
    (void)t;
    if (!g.chunk_req) return;
    http_stream_write(g.chunk_req, parts[g.chunk_n], strlen(parts[g.chunk_n]));
    if (++g.chunk_n == (int)SP_ARRAY_LEN(parts)) {
        http_stream_end(g.chunk_req);
        g.chunk_req = NULL;
        return;
    }
    loop_timer_start(g.loop, &g.chunk_timer, 1);
}

/* A chunked response, one chunk per loop turn. */
static void up_chunked(struct http_request *req)
{
    http_stream_begin(req, 200, "text/plain", NULL);
    req->on_abort = up_abort;
    g.chunk_req = req;
    g.chunk_n = 0;
    loop_timer_start(g.loop, &g.chunk_timer, 1);
}

/* A stream that sends one chunk and stays open until the client goes. */
static void up_hold(struct http_request *req)
{
    http_stream_begin(req, 200, "text/plain", NULL);
    req->on_abort = up_abort;
    http_stream_write(req, "first\n", 6);
}

static void die_owner_close(struct http_hijack_owner *o)
{
    (void)o;
}

static struct http_hijack_owner die_owner = {.close = die_owner_close};

/* A response cut short: the head promises 100 bytes, 7 come, then the connection closes. */
static void up_die(struct http_request *req)
{
    static const char part[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial";
    struct sp_buf rest = SP_BUF_INIT;
    int fd;
    if (http_hijack(req, &fd, &rest, &die_owner) < 0) {
        g_fail("up_die: hijack failed");
        http_respond_error(req, 500, "x", "hijack");
        return;
    }
    sp_buf_free(&rest);
    if (send(fd, part, sizeof(part) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(part) - 1)
        g_fail("up_die: short send");
    sp_close(fd);
    http_hijack_done(&die_owner);
}

/* No answer at all: the connection closes (a request body unread: the proxy sees a reset). */
static void up_vanish(struct http_request *req)
{
    struct sp_buf rest = SP_BUF_INIT;
    int fd;
    if (http_hijack(req, &fd, &rest, &die_owner) < 0) {
        g_fail("up_vanish: hijack failed");
        http_respond_error(req, 500, "x", "hijack");
        return;
    }
    sp_buf_free(&rest);
    sp_close(fd);
    http_hijack_done(&die_owner);
}

static void ws_data(struct rawconn *rc, const char *data, size_t len)
{
    struct iovec v = {(void *)data, len};
    if (rawconn_send(rc, &v, 1) > 65536) rawconn_pause_reading(rc, true);
}

static void ws_drain(struct rawconn *rc)
{
    rawconn_pause_reading(rc, false);
}

static void ws_eof(struct rawconn *rc)
{
    rawconn_finish(rc); /* the echo of everything, then EOF */
}

static void ws_close(struct rawconn *rc)
{
    (void)rc;
}

static const struct rawconn_handlers ws_handlers = {
    .on_data = ws_data, .on_eof = ws_eof, .on_drain = ws_drain, .on_close = ws_close};

/* An upgrade to a byte echo. */
static void up_ws(struct http_request *req)
{
    static const char head[] =
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n";
    struct rawconn *rc;
    if (!req->upgrade) {
        http_respond_error(req, 400, "no_upgrade", "the upgrade did not come through");
        return;
    }
    if (rawconn_accept(req, g.loop, head, sizeof(head) - 1, &ws_handlers, NULL, &rc) < 0)
        http_respond_error(req, 500, "x", "rawconn");
}

static void big_pump(struct http_request *req)
{
    static char chunk[65536];
    while (g.big_produced < BIG_LEN) {
        for (size_t i = 0; i < sizeof(chunk); i++)
            chunk[i] = (char)pat_big(g.big_produced + i);
        long backlog = http_stream_write(req, chunk, sizeof(chunk));
        if (backlog < 0) return;
        g.big_produced += sizeof(chunk);
        loop_timer_start(g.loop, &g.quiet_timer, QUIET_MS);
        if (backlog > BIG_BACKLOG) return; /* on_drain goes on */
    }
    g.big_req = NULL;
    http_stream_end(req);
}

static void quiet_cb(struct loop_timer *t)
{
    (void)t;
    g.quiet = true;
    maybe_stop();
}

/* BIG_LEN bytes as fast as the client takes them (the producer waits on on_drain). */
static void up_big(struct http_request *req)
{
    g.big_produced = 0;
    g.big_req = req;
    req->on_abort = up_abort;
    req->on_drain = big_pump;
    http_stream_begin(req, 200, "application/octet-stream", NULL);
    big_pump(req);
}

static void up_handler(void *ud, struct http_request *req)
{
    (void)ud;
    if (strcmp(req->path, "/echo") == 0)
        up_echo(req);
    else if (strcmp(req->path, "/stream-echo") == 0)
        up_stream_echo(req);
    else if (strcmp(req->path, "/chunked") == 0)
        up_chunked(req);
    else if (strcmp(req->path, "/hold") == 0)
        up_hold(req);
    else if (strcmp(req->path, "/die") == 0)
        up_die(req);
    else if (strcmp(req->path, "/ws") == 0)
        up_ws(req);
    else if (strcmp(req->path, "/big") == 0)
        up_big(req);
    else if (strcmp(req->path, "/vanish") == 0)
        up_vanish(req);
    else
        http_respond_error(req, 404, "not_found", "no route %s", req->path);
}

static bool up_body_hook(void *ud, const struct http_request *req)
{
    (void)ud;
    return strcmp(req->path, "/stream-echo") == 0 || strcmp(req->path, "/vanish") == 0;
}

/* ---- the front server ---- */

static void do_proxy(struct http_request *req, const char *target)
{
    struct proxy_opts o = {
        .socket_path = g.proxy_to,
        .target = target,
        .authorization = g.authorization,
        .on_end = on_end,
        .ud = &g,
    };
    struct sp_err err = {0};
    int r = proxy_request(req, g.loop, &o, &err);
    if (r < 0) {
        g.proxy_err = r;
        if (err.code != r) g_fail("proxy_request: err not set");
        http_respond_error(req, 502, "upstream_unreachable", "%s", err.msg);
    }
}

static void late_abort(struct http_request *req)
{
    if (g.late_req == req) g.late_req = NULL;
}

static void late_cb(struct loop_timer *t)
{
    (void)t;
    struct http_request *req = g.late_req;
    g.late_req = NULL;
    if (req) do_proxy(req, g.late_target);
}

/*
 * PREFIX/<rest> is proxied to /<rest> (with the query). PREFIX/buffered/<rest> comes from a route
 * whose body is buffered; PREFIX/late/<rest> is proxied from a later loop turn, its body paused.
 */
static void front_handler(void *ud, struct http_request *req)
{
    (void)ud;
    char target[256];
    if (strncmp(req->path, PREFIX "/", strlen(PREFIX "/")) != 0) {
        http_respond_error(req, 404, "not_found", "not proxied");
        return;
    }
    const char *rest = req->path + strlen(PREFIX);
    bool late = strncmp(rest, "/late/", 6) == 0;
    if (late) rest += 5;
    if (strncmp(rest, "/buffered/", 10) == 0) rest += 9;
    snprintf(target, sizeof(target), "%s%s%s", rest, req->query[0] ? "?" : "", req->query);
    if (!late) {
        do_proxy(req, target);
        return;
    }
    http_body_pause(req, true);
    snprintf(g.late_target, sizeof(g.late_target), "%s", target);
    g.late_req = req;
    req->on_abort = late_abort;
    loop_timer_start(g.loop, &g.late_timer, 1);
}

static bool front_body_hook(void *ud, const struct http_request *req)
{
    (void)ud;
    return strstr(req->path, "/buffered/") == NULL;
}

/* ---- setup and teardown ---- */

static int env_up(unsigned front_max_conns)
{
    struct sp_err err = {0};
    struct http_limits lim = {
        .max_header_bytes = 65536,
        .max_body_bytes = 4u << 20,
        .max_connections = 64,
        .idle_timeout_ms = 30000,
        .request_timeout_ms = 30000,
        .write_timeout_ms = 30000,
    };
    memset(&g, 0, sizeof(g));
    g.refused_fd = g.ev_fd = g.go_fd = -1;
    snprintf(g.dir, sizeof(g.dir), "/tmp/sp-proxy-XXXXXX");
    if (!mkdtemp(g.dir)) return -1;
    snprintf(g.up_path, sizeof(g.up_path), "%s/up.sock", g.dir);
    snprintf(g.front_path, sizeof(g.front_path), "%s/front.sock", g.dir);
    snprintf(g.refused_path, sizeof(g.refused_path), "%s/refused.sock", g.dir);
    snprintf(g.missing_path, sizeof(g.missing_path), "%s/missing.sock", g.dir);
    g.proxy_to = g.up_path;
    g.authorization = "Bearer inner-token";
    if (loop_new(&g.loop) < 0) return -1;
    loop_timer_init(&g.watchdog, watchdog_cb);
    loop_timer_init(&g.chunk_timer, chunk_timer_cb);
    loop_timer_init(&g.quiet_timer, quiet_cb);
    loop_timer_init(&g.late_timer, late_cb);

    g.ev_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    g.go_fd = eventfd(0, EFD_CLOEXEC);
    if (g.ev_fd < 0 || g.go_fd < 0) return -1;
    loop_io_init(&g.ev_io, g.ev_fd, ev_cb);
    if (loop_io_start(g.loop, &g.ev_io, EPOLLIN) < 0) return -1;

    char addr[160];
    if (http_server_new(&g.up, g.loop, &lim, up_handler, NULL) < 0) return -1;
    http_server_set_body_hook(g.up, up_body_hook);
    snprintf(addr, sizeof(addr), "unix:%s", g.up_path);
    if (http_server_listen(g.up, addr, NULL, 0, &err) < 0) return -1;

    lim.max_connections = front_max_conns;
    if (http_server_new(&g.front, g.loop, &lim, front_handler, NULL) < 0) return -1;
    http_server_set_body_hook(g.front, front_body_hook);
    snprintf(addr, sizeof(addr), "unix:%s", g.front_path);
    if (http_server_listen(g.front, addr, NULL, 0, &err) < 0) return -1;

    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", g.refused_path);
    g.refused_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (g.refused_fd < 0 || bind(g.refused_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) return -1;
    return 0;
}

static void join_client(void)
{
    if (!g.thread_running) return;
    pthread_join(g.thread, NULL);
    g.thread_running = false;
}

/* Frees everything; deferred calls (on_end among them) run in loop_free. */
static void env_down(void)
{
    if (!g.loop) return;
    join_client();
    http_server_free(g.front);
    http_server_free(g.up);
    g.front = g.up = NULL;
    loop_timer_stop(g.loop, &g.watchdog);
    loop_timer_stop(g.loop, &g.chunk_timer);
    loop_timer_stop(g.loop, &g.quiet_timer);
    loop_timer_stop(g.loop, &g.late_timer);
    loop_io_stop(g.loop, &g.ev_io);
    loop_free(g.loop);
    g.loop = NULL;
    sp_close(g.ev_fd);
    sp_close(g.go_fd);
    sp_close(g.refused_fd);
    unlink(g.refused_path);
    unlink(g.up_path);
    unlink(g.front_path);
    rmdir(g.dir);
    sp_buf_free(&g.up_body);
}

static int setup(void **state)
{
    (void)state;
    return env_up(64);
}

static int setup_one_conn(void **state)
{
    (void)state;
    return env_up(1);
}

static int teardown(void **state)
{
    (void)state;
    env_down();
    return 0;
}

/* Runs the loop until the client thread reported `stage` stages and the counters are reached. */
static void run_until(unsigned stage, int ends, int aborts, bool quiet)
{
    g.want_stage = stage;
    g.want_ends = ends;
    g.want_aborts = aborts;
    g.want_quiet = quiet;
    if (g.stage >= stage && g.ends >= ends && g.aborts >= aborts && (!quiet || g.quiet)) return;
    assert_int_equal(loop_timer_start(g.loop, &g.watchdog, WATCHDOG_MS), 0);
    assert_int_equal(loop_run(g.loop), 0);
    loop_timer_stop(g.loop, &g.watchdog);
    assert_false(g.watchdog_fired);
    assert_string_equal(g.err, "");
}

/* ---- the client thread: blocking sockets; failures are recorded, checked by the main thread */

struct client {
    char err[256];
    struct sp_buf raw[4]; /* what each connection (or response) received */
    int status_b;         /* test_hijack_counts_connections: the refused client's status */
};

static struct client cl;

static void cl_reset(void)
{
    for (size_t i = 0; i < SP_ARRAY_LEN(cl.raw); i++)
        sp_buf_free(&cl.raw[i]);
    memset(&cl, 0, sizeof(cl));
}

static int cl_fail(const char *what)
{
    if (!cl.err[0]) snprintf(cl.err, sizeof(cl.err), "%s: %s", what, strerror(errno));
    return -1;
}

static void cl_signal(void)
{
    uint64_t one = 1;
    if (write(g.ev_fd, &one, sizeof(one)) != (ssize_t)sizeof(one)) cl_fail("signal");
}

static int cl_wait_go(void)
{
    struct pollfd pfd = {.fd = g.go_fd, .events = POLLIN};
    uint64_t n;
    if (poll(&pfd, 1, CLIENT_TIMEOUT_S * 1000) != 1) return cl_fail("waiting for the loop");
    if (read(g.go_fd, &n, sizeof(n)) != (ssize_t)sizeof(n)) return cl_fail("go read");
    return 0;
}

static int cl_connect(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct timeval tv = {.tv_sec = CLIENT_TIMEOUT_S};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", g.front_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return cl_fail("socket");
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return cl_fail("connect");
    }
    return fd;
}

static int cl_send(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return cl_fail("send");
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int cl_send_str(int fd, const char *s)
{
    return cl_send(fd, s, strlen(s));
}

/* Reads once into b: bytes read, 0 at EOF, -1 on an error or timeout. */
static ssize_t cl_read_some(int fd, struct sp_buf *b)
{
    if (sp_buf_reserve(b, 65536) < 0) return cl_fail("oom");
    ssize_t r;
    do
        r = recv(fd, b->data + b->len, 65536, 0);
    while (r < 0 && errno == EINTR);
    if (r < 0) return cl_fail("recv (a timeout is a missing byte or a missing EOF)");
    b->len += (size_t)r;
    return r;
}

static int cl_read_eof(int fd, struct sp_buf *b)
{
    for (;;) {
        ssize_t r = cl_read_some(fd, b);
        if (r <= 0) return (int)r;
    }
}

static int cl_read_until(int fd, struct sp_buf *b, const char *needle)
{
    while (!b->data || !memmem(sp_buf_head(b), sp_buf_pending(b), needle, strlen(needle))) {
        ssize_t r = cl_read_some(fd, b);
        if (r < 0) return -1;
        if (r == 0) {
            errno = EPIPE;
            return cl_fail("EOF before the expected bytes");
        }
    }
    return 0;
}

static int cl_read_n(int fd, struct sp_buf *b, size_t n);

/* Reads one response framed by its Content-Length into b (which must start empty). */
static int cl_read_response(int fd, struct sp_buf *b)
{
    if (cl_read_until(fd, b, "\r\n\r\n") < 0) return -1;
    const char *end = memmem(sp_buf_head(b), sp_buf_pending(b), "\r\n\r\n", 4);
    const char *cl_at =
        memmem(sp_buf_head(b), (size_t)(end - sp_buf_head(b)), "\r\nContent-Length: ", 18);
    if (!cl_at) return cl_fail("a response without Content-Length");
    size_t head = (size_t)(end + 4 - sp_buf_head(b));
    return cl_read_n(fd, b, head + strtoul(cl_at + 18, NULL, 10));
}

static int cl_read_n(int fd, struct sp_buf *b, size_t n)
{
    while (sp_buf_pending(b) < n) {
        ssize_t r = cl_read_some(fd, b);
        if (r < 0) return -1;
        if (r == 0) {
            errno = EPIPE;
            return cl_fail("EOF before the expected bytes");
        }
    }
    return 0;
}

struct script {
    void (*fn)(void);
};

static void *client_main(void *arg)
{
    const struct script *s = arg;
    s->fn();
    cl_signal(); /* the last stage: the script is over */
    return NULL;
}

static void start_client(const struct script *s)
{
    cl_reset();
    assert_int_equal(pthread_create(&g.thread, NULL, client_main, (void *)s), 0);
    g.thread_running = true;
}

/* Runs until the script ended (its stages + 1) with the counters reached; joins the thread. */
static void finish_client(unsigned stages, int ends, int aborts)
{
    run_until(stages + 1, ends, aborts, false);
    join_client();
    assert_string_equal(cl.err, "");
}

/* One request on a new connection; the whole response, read to EOF, into raw[i]. */
static void cl_exchange(int i, const void *req, size_t len)
{
    int fd = cl_connect();
    if (fd < 0) return;
    if (cl_send(fd, req, len) == 0) cl_read_eof(fd, &cl.raw[i]);
    close(fd);
}

/* ---- responses ---- */

struct resp {
    int status;
    char head[8192];
    struct sp_buf body; /* decoded */
};

static const char *head_get(const struct resp *r, const char *name, char *buf, size_t len)
{
    size_t n = strlen(name);
    for (const char *line = strstr(r->head, "\r\n"); line && line[2];
         line = strstr(line + 2, "\r\n")) {
        const char *l = line + 2;
        if (strncasecmp(l, name, n) == 0 && l[n] == ':') {
            const char *v = l + n + 1;
            v += strspn(v, " ");
            size_t vl = strcspn(v, "\r");
            snprintf(buf, len, "%.*s", (int)vl, v);
            return buf;
        }
    }
    return NULL;
}

/* Parses a response read to EOF; the body decoded from Content-Length or chunked framing. */
static void resp_parse(struct sp_buf *raw, struct resp *r)
{
    char v[64];
    assert_int_equal(sp_buf_reserve(raw, 1), 0);
    raw->data[raw->len] = '\0'; /* for strtoul */
    const char *data = sp_buf_head(raw);
    size_t len = sp_buf_pending(raw);
    memset(r, 0, sizeof(*r));
    const char *end = memmem(data, len, "\r\n\r\n", 4);
    assert_non_null(end);
    size_t hlen = (size_t)(end - data) + 2;
    assert_true(hlen < sizeof(r->head));
    memcpy(r->head, data, hlen);
    assert_int_equal(sscanf(r->head, "HTTP/1.%*d %d", &r->status), 1);
    const char *p = end + 4, *stop = data + len;
    if (head_get(r, "Transfer-Encoding", v, sizeof(v))) {
        assert_string_equal(v, "chunked");
        for (;;) {
            char *e;
            unsigned long n = strtoul(p, &e, 16);
            assert_true(e + 2 <= stop && e[0] == '\r' && e[1] == '\n');
            p = e + 2;
            if (n == 0) break;
            assert_true((size_t)(stop - p) >= n + 2);
            assert_int_equal(sp_buf_append(&r->body, p, n), 0);
            assert_memory_equal(p + n, "\r\n", 2);
            p += n + 2;
        }
        assert_true(stop - p == 2);
        assert_memory_equal(p, "\r\n", 2);
    } else if (head_get(r, "Content-Length", v, sizeof(v))) {
        assert_int_equal(strtoull(v, NULL, 10), (unsigned long long)(stop - p));
        assert_int_equal(sp_buf_append(&r->body, p, (size_t)(stop - p)), 0);
    } else {
        assert_int_equal(sp_buf_append(&r->body, p, (size_t)(stop - p)), 0);
    }
}

static void resp_free(struct resp *r)
{
    sp_buf_free(&r->body);
}

/* ---- tests ---- */

static void script_get_echo(void)
{
    static const char req[] = "GET " PREFIX "/echo?a=1&b=x%20y HTTP/1.1\r\n"
                              "Host: front\r\n"
                              "Authorization: Bearer outer-token\r\n"
                              "X-Access-Token: secret\r\n"
                              "Connection: keep-alive, X-Hop\r\n"
                              "Keep-Alive: timeout=5\r\n"
                              "X-Hop: per-hop\r\n"
                              "TE: trailers\r\n"
                              "Trailer: X-T\r\n"
                              "Proxy-Authorization: Basic eDp5\r\n"
                              "Proxy-Connection: keep-alive\r\n"
                              "Upgrade: h2c\r\n"
                              "X-Custom: one\r\n"
                              "x-custom: two\r\n"
                              "User-Agent: test\r\n"
                              "\r\n";
    static const char again[] = "GET " PREFIX "/echo HTTP/1.1\r\nHost: x\r\n"
                                "Connection: close\r\n\r\n";
    /* keep-alive: the response ends where its Content-Length says, and the connection serves
     * the next request (which asks to close) */
    int fd = cl_connect();
    if (fd < 0) return;
    if (cl_send(fd, req, sizeof(req) - 1) == 0 && cl_read_response(fd, &cl.raw[0]) == 0 &&
        cl_send(fd, again, sizeof(again) - 1) == 0)
        cl_read_eof(fd, &cl.raw[1]);
    close(fd);
}

/* A GET: the target rewritten with its query, hop-by-hop fields and the host's credentials
 * dropped, the upstream's Authorization added. The client keeps its connection: so does the
 * upstream's answer, and the next request on it is the server's again (proxied, asking to
 * close: Connection: close upstream and back). */
static void test_get_headers_rewritten(void **state)
{
    (void)state;
    static const struct script s = {script_get_echo};
    start_client(&s);
    finish_client(0, 2, 0);

    struct resp r;
    char v[64];
    resp_parse(&cl.raw[1], &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(head_get(&r, "Connection", v, sizeof(v)), "close");
    json_error_t je0;
    json_t *o1 = json_loadb(sp_buf_head(&r.body), sp_buf_pending(&r.body), 0, &je0);
    assert_non_null(o1);
    json_t *h1 = json_object_get(o1, "headers");
    json_t *last = json_array_get(h1, json_array_size(h1) - 1);
    assert_string_equal(json_string_value(json_array_get(last, 0)), "Connection");
    assert_string_equal(json_string_value(json_array_get(last, 1)), "close");
    json_decref(o1);
    resp_free(&r);

    resp_parse(&cl.raw[0], &r);
    assert_int_equal(r.status, 200);
    assert_null(head_get(&r, "Connection", v, sizeof(v)));
    json_error_t je;
    json_t *o = json_loadb(sp_buf_head(&r.body), sp_buf_pending(&r.body), 0, &je);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "method")), "GET");
    assert_string_equal(json_string_value(json_object_get(o, "target")), "/echo?a=1&b=x%20y");
    assert_int_equal(json_integer_value(json_object_get(o, "minor")), 1);
    static const char *const want[][2] = {
        {"Host", "front"},
        {"X-Custom", "one"},
        {"x-custom", "two"},
        {"User-Agent", "test"},
        {"Authorization", "Bearer inner-token"},
    };
    json_t *h = json_object_get(o, "headers");
    assert_int_equal(json_array_size(h), SP_ARRAY_LEN(want));
    for (size_t i = 0; i < SP_ARRAY_LEN(want); i++) {
        json_t *pair = json_array_get(h, i);
        assert_string_equal(json_string_value(json_array_get(pair, 0)), want[i][0]);
        assert_string_equal(json_string_value(json_array_get(pair, 1)), want[i][1]);
    }
    json_decref(o);
    resp_free(&r);
    env_down();
    assert_int_equal(g.ends, 2);
}

static void script_post_large(void)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "POST " PREFIX "/stream-echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     "Content-Length: %u\r\n\r\n",
                     POST_LEN);
    struct sp_buf req = SP_BUF_INIT;
    if (sp_buf_append(&req, head, (size_t)n) < 0 || sp_buf_reserve(&req, POST_LEN) < 0) {
        cl_fail("oom");
        return;
    }
    for (size_t i = 0; i < POST_LEN; i++)
        req.data[req.len + i] = (char)pat_post(i);
    req.data[req.len] = '\n'; /* the first body byte looks like the end of the head */
    req.len += POST_LEN;
    cl_exchange(0, sp_buf_head(&req), sp_buf_pending(&req));
    sp_buf_free(&req);
}

/* A Content-Length body four times the relay buffer, checked byte for byte on the way up (the
 * upstream's copy) and back (the echo). */
static void test_post_large_body(void **state)
{
    (void)state;
    static const struct script s = {script_post_large};
    start_client(&s);
    finish_client(0, 1, 0);

    struct resp r;
    char v[64];
    resp_parse(&cl.raw[0], &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(head_get(&r, "X-Up-TE", v, sizeof(v)), "-");
    assert_string_equal(head_get(&r, "X-Up-CL", v, sizeof(v)), "1048576");
    assert_int_equal(sp_buf_pending(&g.up_body), POST_LEN);
    assert_int_equal(sp_buf_pending(&r.body), POST_LEN);
    unsigned char *up = (unsigned char *)sp_buf_head(&g.up_body);
    unsigned char *back = (unsigned char *)sp_buf_head(&r.body);
    assert_int_equal(up[0], '\n');
    assert_int_equal(back[0], '\n');
    for (size_t i = 1; i < POST_LEN; i++) {
        if (up[i] != pat_post(i) || back[i] != pat_post(i))
            fail_msg("byte %zu: sent %u, upstream got %u, echoed %u", i, pat_post(i), up[i],
                     back[i]);
    }
    resp_free(&r);
}

static void script_post_chunked(void)
{
    int fd = cl_connect();
    if (fd < 0) return;
    char big[1000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 26);
    /* the head alone first, then the chunks in pieces */
    if (cl_send_str(fd, "POST " PREFIX "/stream-echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n") == 0 &&
        cl_send_str(fd, "5\r\nhello\r\n1\r\n\n\r\n3e8\r\n") == 0 &&
        cl_send(fd, big, sizeof(big)) == 0 && cl_send_str(fd, "\r\n0\r\n\r\n") == 0)
        cl_read_eof(fd, &cl.raw[0]);
    close(fd);
}

/* A chunked body stays chunked upstream (the upstream decodes it). */
static void test_post_chunked_body(void **state)
{
    (void)state;
    static const struct script s = {script_post_chunked};
    start_client(&s);
    finish_client(0, 1, 0);

    struct resp r;
    char v[64];
    char want[1006];
    memcpy(want, "hello\n", 6);
    for (size_t i = 0; i < 1000; i++)
        want[6 + i] = (char)('a' + i % 26);
    resp_parse(&cl.raw[0], &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(head_get(&r, "X-Up-TE", v, sizeof(v)), "chunked");
    assert_string_equal(head_get(&r, "X-Up-CL", v, sizeof(v)), "-");
    assert_int_equal(sp_buf_pending(&r.body), sizeof(want));
    assert_memory_equal(sp_buf_head(&r.body), want, sizeof(want));
    resp_free(&r);
}

static void script_post_buffered(void)
{
    static const char req[] =
        "POST " PREFIX "/buffered/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
        "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n";
    cl_exchange(0, req, sizeof(req) - 1);
}

/* A body the front server buffered goes up with Content-Length instead of its framing; the
 * Expect the front answered is not passed on. */
static void test_buffered_body_reframed(void **state)
{
    (void)state;
    static const struct script s = {script_post_buffered};
    start_client(&s);
    finish_client(0, 1, 0);

    /* the front answers the Expect itself (when the body was not all in with the head) */
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    if (sp_buf_pending(&cl.raw[0]) > sizeof(cont) &&
        memcmp(sp_buf_head(&cl.raw[0]), cont, sizeof(cont) - 1) == 0)
        sp_buf_consume(&cl.raw[0], sizeof(cont) - 1);
    struct resp r;
    resp_parse(&cl.raw[0], &r);
    assert_int_equal(r.status, 200);
    json_error_t je;
    json_t *o = json_loadb(sp_buf_head(&r.body), sp_buf_pending(&r.body), 0, &je);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "body")), "abcdef");
    static const char *const want[][2] = {
        {"Host", "x"},
        {"Authorization", "Bearer inner-token"},
        {"Content-Length", "6"},
        {"Connection", "close"},
    };
    json_t *h = json_object_get(o, "headers");
    assert_int_equal(json_array_size(h), SP_ARRAY_LEN(want));
    for (size_t i = 0; i < SP_ARRAY_LEN(want); i++) {
        json_t *pair = json_array_get(h, i);
        assert_string_equal(json_string_value(json_array_get(pair, 0)), want[i][0]);
        assert_string_equal(json_string_value(json_array_get(pair, 1)), want[i][1]);
    }
    json_decref(o);
    resp_free(&r);
}

static void script_post_buffered_empty(void)
{
    static const char req[] =
        "POST " PREFIX "/buffered/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    cl_exchange(0, req, sizeof(req) - 1);
}

/* An empty chunked body the front buffered goes up as Content-Length: 0 (relayed with its
 * Transfer-Encoding and without its bytes, the upstream would wait for a body until it timed
 * out, past the watchdog). */
static void test_buffered_empty_chunked_body(void **state)
{
    (void)state;
    static const struct script s = {script_post_buffered_empty};
    start_client(&s);
    finish_client(0, 1, 0);
    struct resp r;
    resp_parse(&cl.raw[0], &r);
    assert_int_equal(r.status, 200);
    json_error_t je;
    json_t *o = json_loadb(sp_buf_head(&r.body), sp_buf_pending(&r.body), 0, &je);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "body")), "");
    json_t *h = json_object_get(o, "headers"), *pair;
    size_t i;
    bool cl0 = false;
    json_array_foreach(h, i, pair)
    {
        assert_string_not_equal(json_string_value(json_array_get(pair, 0)), "Transfer-Encoding");
        if (!strcmp(json_string_value(json_array_get(pair, 0)), "Content-Length") &&
            !strcmp(json_string_value(json_array_get(pair, 1)), "0"))
            cl0 = true;
    }
    assert_true(cl0);
    json_decref(o);
    resp_free(&r);
}

static void script_post_late(void)
{
    static const char head[] =
        "POST " PREFIX "/late/stream-echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        "Content-Length: 200000\r\n\r\n";
    static char req[sizeof(head) - 1 + 200000];
    memcpy(req, head, sizeof(head) - 1);
    for (size_t i = 0; i < 200000; i++)
        req[sizeof(head) - 1 + i] = (char)pat_post(i);
    cl_exchange(0, req, sizeof(req));
}

/* A handler that pauses the body and proxies from a later loop turn loses nothing. */
static void test_late_proxy_paused_body(void **state)
{
    (void)state;
    static const struct script s = {script_post_late};
    start_client(&s);
    finish_client(0, 1, 0);

    struct resp r;
    resp_parse(&cl.raw[0], &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(sp_buf_pending(&r.body), 200000);
    for (size_t i = 0; i < 200000; i++)
        if ((unsigned char)sp_buf_head(&r.body)[i] != pat_post(i)) fail_msg("byte %zu", i);
    resp_free(&r);
}

static void script_get_chunked(void)
{
    static const char req[] =
        "GET " PREFIX "/chunked HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    cl_exchange(0, req, sizeof(req) - 1);
}

/* A chunked response streamed over several loop turns reaches the client as sent. */
static void test_chunked_response(void **state)
{
    (void)state;
    static const struct script s = {script_get_chunked};
    start_client(&s);
    finish_client(0, 1, 0);

    struct resp r;
    char v[64];
    resp_parse(&cl.raw[0], &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(head_get(&r, "Transfer-Encoding", v, sizeof(v)), "chunked");
    assert_int_equal(sp_buf_pending(&r.body), strlen("one\ntwo\nthree\n"));
    assert_memory_equal(sp_buf_head(&r.body), "one\ntwo\nthree\n", strlen("one\ntwo\nthree\n"));
    resp_free(&r);
}

/* One keep-alive connection: a response with a Content-Length, one to HEAD (no body), a chunked
 * one, then a request that asks to close. Each is proxied on its own upstream connection. */
static void script_keep_alive(void)
{
    static const char get[] = "GET " PREFIX "/echo HTTP/1.1\r\nHost: x\r\n\r\n";
    static const char head[] = "HEAD " PREFIX "/echo HTTP/1.1\r\nHost: x\r\n\r\n";
    static const char chunked[] = "GET " PREFIX "/chunked HTTP/1.1\r\nHost: x\r\n\r\n";
    static const char last[] = "GET " PREFIX "/echo HTTP/1.1\r\nHost: x\r\n"
                               "Connection: close\r\n\r\n";
    int fd = cl_connect();
    if (fd < 0) return;
    if (cl_send_str(fd, get) == 0 && cl_read_response(fd, &cl.raw[0]) == 0 &&
        cl_send_str(fd, head) == 0 && cl_read_until(fd, &cl.raw[1], "\r\n\r\n") == 0 &&
        cl_send_str(fd, chunked) == 0 && cl_read_until(fd, &cl.raw[2], "\r\n0\r\n\r\n") == 0 &&
        cl_send_str(fd, last) == 0)
        cl_read_eof(fd, &cl.raw[3]);
    close(fd);
}

static void test_keep_alive(void **state)
{
    (void)state;
    static const struct script s = {script_keep_alive};
    start_client(&s);
    finish_client(0, 4, 0);
    struct resp r;
    char v[64];
    /* the HEAD: a head announcing the GET's length, with no byte behind it */
    struct sp_buf *h = &cl.raw[1];
    assert_true(sp_buf_pending(h) > 12 && memcmp(sp_buf_head(h), "HTTP/1.1 200 ", 13) == 0);
    assert_memory_equal(sp_buf_head(h) + sp_buf_pending(h) - 4, "\r\n\r\n", 4);
    assert_null(memmem(sp_buf_head(h), sp_buf_pending(h), "Connection", 10));
    for (int i = 0; i < 4; i++) {
        if (i == 1) continue;
        resp_parse(&cl.raw[i], &r);
        assert_int_equal(r.status, 200);
        if (i < 3)
            assert_null(head_get(&r, "Connection", v, sizeof(v)));
        else
            assert_string_equal(head_get(&r, "Connection", v, sizeof(v)), "close");
        resp_free(&r);
    }
    assert_int_equal(g.ends, 4);
}

static void script_upgrade(void)
{
    int fd = cl_connect();
    if (fd < 0) return;
    struct sp_buf *in = &cl.raw[0];
    /* bytes behind the head in the same write reach the upstream too */
    if (cl_send_str(fd, "GET " PREFIX "/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                        "Upgrade: echo\r\n\r\nearly") < 0 ||
        cl_read_until(fd, in, "\r\n\r\n") < 0)
        goto out;
    const char *end = memmem(sp_buf_head(in), sp_buf_pending(in), "\r\n\r\n", 4);
    size_t hlen = (size_t)(end - sp_buf_head(in)) + 4;
    if (strncmp(sp_buf_head(in), "HTTP/1.1 101 ", 13) != 0) {
        errno = EPROTO;
        cl_fail("no 101");
        goto out;
    }
    sp_buf_consume(in, hlen);
    if (cl_read_n(fd, in, 5) < 0) goto out;
    if (sp_buf_pending(in) != 5 || memcmp(sp_buf_head(in), "early", 5) != 0) {
        errno = EPROTO;
        cl_fail("early bytes not echoed");
        goto out;
    }
    sp_buf_clear(in);
    /* 320 KiB in pieces, each echoed before the next */
    char piece[16384];
    for (size_t k = 0; k < 20; k++) {
        for (size_t i = 0; i < sizeof(piece); i++)
            piece[i] = (char)pat_big(k * sizeof(piece) + i);
        if (cl_send(fd, piece, sizeof(piece)) < 0 || cl_read_n(fd, in, sizeof(piece)) < 0) goto out;
        if (sp_buf_pending(in) != sizeof(piece) || memcmp(sp_buf_head(in), piece, sizeof(piece))) {
            errno = EPROTO;
            cl_fail("echo differs");
            goto out;
        }
        sp_buf_clear(in);
    }
    /* a half-close travels up; the upstream finishes and its EOF comes back */
    if (cl_send_str(fd, "last") < 0) goto out;
    shutdown(fd, SHUT_WR);
    cl_read_eof(fd, in);
out:
    close(fd);
}

static void test_upgrade_relay_half_close(void **state)
{
    (void)state;
    static const struct script s = {script_upgrade};
    start_client(&s);
    finish_client(0, 1, 0);
    assert_int_equal(sp_buf_pending(&cl.raw[0]), 4);
    assert_memory_equal(sp_buf_head(&cl.raw[0]), "last", 4);
}

static void script_two_gets(void)
{
    /* answered by the front itself: keep-alive unless asked otherwise */
    static const char req[] =
        "GET " PREFIX "/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    cl_exchange(0, req, sizeof(req) - 1);
    cl_signal();
    if (cl_wait_go() < 0) return;
    cl_exchange(1, req, sizeof(req) - 1);
}

/* An unreachable upstream: proxy_request fails with the connect error and the request is still
 * answered (502); on_end never runs. */
static void test_connect_failure(void **state)
{
    (void)state;
    static const struct script s = {script_two_gets};
    struct resp r;

    g.proxy_to = g.missing_path;
    start_client(&s);
    run_until(1, 0, 0, false);
    assert_int_equal(g.proxy_err, -ENOENT);
    g.proxy_to = g.refused_path;
    go_client();
    finish_client(1, 0, 0);
    assert_int_equal(g.proxy_err, -ECONNREFUSED);
    for (int i = 0; i < 2; i++) {
        resp_parse(&cl.raw[i], &r);
        assert_int_equal(r.status, 502);
        assert_non_null(
            memmem(sp_buf_head(&r.body), sp_buf_pending(&r.body), "upstream_unreachable", 20));
        resp_free(&r);
    }
    env_down();
    assert_int_equal(g.ends, 0);
}

static void script_die(void)
{
    static const char req[] = "GET " PREFIX "/die HTTP/1.1\r\nHost: x\r\n\r\n";
    cl_exchange(0, req, sizeof(req) - 1);
}

/* The upstream closing mid-response: what it sent arrives, then EOF (no hang). */
static void test_upstream_dies_mid_response(void **state)
{
    (void)state;
    static const struct script s = {script_die};
    start_client(&s);
    finish_client(0, 1, 0);
    static const char want[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial";
    assert_int_equal(sp_buf_pending(&cl.raw[0]), sizeof(want) - 1);
    assert_memory_equal(sp_buf_head(&cl.raw[0]), want, sizeof(want) - 1);
}

static void script_vanish(void)
{
    static const char get[] = "GET " PREFIX "/vanish HTTP/1.1\r\nHost: x\r\n\r\n";
    cl_exchange(0, get, sizeof(get) - 1);
    /* mid-upload: the upstream resets the connection on the body it did not read */
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "POST " PREFIX "/vanish HTTP/1.1\r\nHost: x\r\nContent-Length: %u\r\n\r\n",
                     POST_LEN);
    int fd = cl_connect();
    if (fd < 0) return;
    char *body = calloc(1, POST_LEN);
    if (body && cl_send(fd, head, (size_t)n) == 0 && cl_send(fd, body, POST_LEN) == 0)
        cl_read_eof(fd, &cl.raw[1]);
    free(body);
    close(fd);
}

/* An upstream that closes without a byte of answer: the client gets a 502, not a bare close;
 * a body still arriving is drained meanwhile. */
static void test_upstream_vanishes(void **state)
{
    (void)state;
    static const struct script s = {script_vanish};
    start_client(&s);
    finish_client(0, 2, 0);
    for (int i = 0; i < 2; i++) {
        struct resp r;
        resp_parse(&cl.raw[i], &r);
        assert_int_equal(r.status, 502);
        assert_non_null(strstr(r.head, "\r\nConnection: close\r\n"));
        assert_non_null(
            memmem(sp_buf_head(&r.body), sp_buf_pending(&r.body), "\"bad_gateway\"", 13));
        resp_free(&r);
    }
}

static void script_hold_then_leave(void)
{
    static const char req[] = "GET " PREFIX "/hold HTTP/1.1\r\nHost: x\r\n\r\n";
    int fd = cl_connect();
    if (fd < 0) return;
    if (cl_send_str(fd, req) == 0) cl_read_until(fd, &cl.raw[0], "first\n");
    close(fd);
}

/* The client going away mid-stream ends the upstream request (on_abort) and the relay, once. */
static void test_client_leaves_mid_stream(void **state)
{
    (void)state;
    static const struct script s = {script_hold_then_leave};
    start_client(&s);
    finish_client(0, 1, 1);
    env_down();
    assert_int_equal(g.ends, 1);
    assert_int_equal(g.aborts, 1);
}

static void script_hold_until_eof(void)
{
    static const char req[] = "GET " PREFIX "/hold HTTP/1.1\r\nHost: x\r\n\r\n";
    int fd = cl_connect();
    if (fd < 0) return;
    if (cl_send_str(fd, req) == 0 && cl_read_until(fd, &cl.raw[0], "first\n") == 0) {
        cl_signal();
        cl_read_eof(fd, &cl.raw[0]);
    }
    close(fd);
}

/* Freeing the front server ends its relays (the hijack owner's close). */
static void test_server_free_ends_relay(void **state)
{
    (void)state;
    static const struct script s = {script_hold_until_eof};
    start_client(&s);
    run_until(1, 0, 0, false);
    assert_int_equal(g.ends, 0);
    http_server_free(g.front);
    g.front = NULL;
    finish_client(1, 1, 1);
    env_down();
    assert_int_equal(g.ends, 1);
}

static void script_big(void)
{
    static const char req[] = "GET " PREFIX "/big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    int fd = cl_connect();
    if (fd < 0) return;
    if (cl_send_str(fd, req) == 0 && cl_read_until(fd, &cl.raw[0], "\r\n\r\n") == 0) {
        cl_signal();
        if (cl_wait_go() == 0) cl_read_eof(fd, &cl.raw[0]);
    }
    close(fd);
}

/* A client that does not read: the upstream is held back (the relay buffers are bounded), then
 * everything arrives once it reads. */
static void test_backpressure(void **state)
{
    (void)state;
    static const struct script s = {script_big};
    start_client(&s);
    run_until(1, 0, 0, true);
    /* relay buffer + socket buffers + the producer's backlog: far less than the whole */
    if (g.big_produced >= BIG_LEN / 2)
        fail_msg("%llu bytes produced while the client read none",
                 (unsigned long long)g.big_produced);
    go_client();
    finish_client(1, 1, 0);

    struct resp r;
    resp_parse(&cl.raw[0], &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(sp_buf_pending(&r.body), BIG_LEN);
    for (size_t i = 0; i < BIG_LEN; i++)
        if ((unsigned char)sp_buf_head(&r.body)[i] != pat_big(i)) fail_msg("byte %zu", i);
    resp_free(&r);
}

static void script_limit(void)
{
    static const char hold[] = "GET " PREFIX "/hold HTTP/1.1\r\nHost: x\r\n\r\n";
    static const char get[] =
        "GET " PREFIX "/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    int a = cl_connect();
    if (a < 0) return;
    if (cl_send_str(a, hold) < 0 || cl_read_until(a, &cl.raw[0], "first\n") < 0) {
        close(a);
        return;
    }
    /* refused: the relay holds the only slot. The server closes on our unread request, so the
     * 503 may be followed by a reset instead of EOF. */
    int b = cl_connect();
    if (b < 0) {
        close(a);
        return;
    }
    /* the server may have closed before our request is sent (EPIPE): its 503 is readable */
    if (send(b, get, sizeof(get) - 1, MSG_NOSIGNAL) >= 0 || errno == EPIPE || errno == ECONNRESET) {
        for (;;) {
            if (sp_buf_reserve(&cl.raw[1], 4096) < 0) break;
            ssize_t r = recv(b, cl.raw[1].data + cl.raw[1].len, 4096, 0);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0 && errno != ECONNRESET) cl_fail("recv");
            if (r <= 0) break;
            cl.raw[1].len += (size_t)r;
        }
    }
    close(b);
    close(a);
    if (cl_wait_go() < 0) return; /* the relay ended */
    cl_exchange(2, get, sizeof(get) - 1);
}

/* A relayed connection counts against max_connections until the relay ends. */
static void test_hijack_counts_connections(void **state)
{
    (void)state;
    static const struct script s = {script_limit};
    g.go_on_end = true;
    start_client(&s);
    finish_client(0, 2, 1);

    struct resp r;
    resp_parse(&cl.raw[1], &r);
    assert_int_equal(r.status, 503);
    resp_free(&r);
    resp_parse(&cl.raw[2], &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

static void script_bad_auth(void)
{
    static const char req[] =
        "GET " PREFIX "/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    cl_exchange(0, req, sizeof(req) - 1);
}

/* A value that would inject header lines fails before anything is taken. */
static void test_bad_authorization(void **state)
{
    (void)state;
    static const struct script s = {script_bad_auth};
    g.authorization = "Bearer x\r\nX-Evil: 1";
    start_client(&s);
    finish_client(0, 0, 0);
    assert_int_equal(g.proxy_err, -EINVAL);
    struct resp r;
    resp_parse(&cl.raw[0], &r);
    assert_int_equal(r.status, 502);
    resp_free(&r);
    env_down();
    assert_int_equal(g.ends, 0);
}

/* ---- an upstream that misbehaves: it answers and keeps the connection open ---- */

static int g_raw_listen =
    -1; /* a unix socket the client thread accepts the proxy's connection on */
static char g_raw_path[100];
static struct sp_buf g_raw_got; /* every byte the raw upstream received */

static int raw_listen(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(g_raw_path, sizeof(g_raw_path), "%s/raw.sock", g.dir);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", g_raw_path);
    g_raw_listen = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (g_raw_listen < 0 || bind(g_raw_listen, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(g_raw_listen, 4) < 0)
        return -1;
    g.proxy_to = g_raw_path;
    return 0;
}

static void raw_close(void)
{
    if (g_raw_listen >= 0) close(g_raw_listen);
    g_raw_listen = -1;
    unlink(g_raw_path);
    sp_buf_free(&g_raw_got);
}

static int raw_accept(void)
{
    struct pollfd pfd = {.fd = g_raw_listen, .events = POLLIN};
    if (poll(&pfd, 1, CLIENT_TIMEOUT_S * 1000) != 1) return cl_fail("no upstream connection");
    int fd = accept4(g_raw_listen, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) return cl_fail("accept");
    struct timeval tv = {.tv_sec = CLIENT_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Whatever reaches the raw upstream within QUIET_MS (it must be nothing): appended to got. */
static void raw_expect_silence(int fd, const char *what)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, QUIET_MS) != 1) return; /* nothing: good */
    ssize_t n = cl_read_some(fd, &g_raw_got);
    if (n > 0 && !cl.err[0])
        snprintf(cl.err, sizeof(cl.err), "%s: the upstream received %zd more bytes", what, n);
}

/* Two requests pipelined on one connection, then a third after the answer: only the first may
 * reach the upstream, even one that keeps the connection open. */
static void script_pipelined(void)
{
    int fd = cl_connect();
    if (fd < 0) return;
    cl_send_str(fd, "GET " PREFIX "/first HTTP/1.1\r\nHost: a\r\n\r\n"
                    "GET /v1/sandboxes HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer HOST\r\n\r\n");
    int up = raw_accept();
    if (up >= 0 && cl_read_until(up, &g_raw_got, "\r\n\r\n") == 0) {
        raw_expect_silence(up, "after the first request");
        static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        cl_send(up, answer, sizeof(answer) - 1);
        cl_read_until(fd, &cl.raw[0], "ok");
        /* the connection went back to the front server: it answers the second request itself */
        cl_read_until(fd, &cl.raw[1], "not proxied");
        cl_send_str(fd, "GET /secret HTTP/1.1\r\nAuthorization: Bearer HOST\r\n\r\n");
        cl_read_until(fd, &cl.raw[2], "not proxied");
        raw_expect_silence(up, "after the answer");
    }
    close(fd);
    if (up >= 0) {
        cl_read_eof(up, &g_raw_got); /* the relay ends with the client */
        close(up);
    }
}

static void test_nothing_after_the_request_goes_upstream(void **state)
{
    (void)state;
    assert_int_equal(raw_listen(), 0);
    static const struct script sc = {script_pipelined};
    start_client(&sc);
    finish_client(0, 1, 0);
    assert_non_null(memmem(sp_buf_head(&g_raw_got), sp_buf_pending(&g_raw_got), "GET /first ", 11));
    assert_null(memmem(sp_buf_head(&g_raw_got), sp_buf_pending(&g_raw_got), "Bearer HOST", 11));
    assert_null(memmem(sp_buf_head(&g_raw_got), sp_buf_pending(&g_raw_got), "/secret", 7));
    assert_null(memmem(sp_buf_head(&g_raw_got), sp_buf_pending(&g_raw_got), "/v1/sandboxes", 13));
    assert_true(sp_buf_pending(&cl.raw[1]) > 12 &&
                memcmp(sp_buf_head(&cl.raw[1]), "HTTP/1.1 404", 12) == 0);
    raw_close();
}

/* A 204 (and a 1xx, a 304) has no body whatever its head says: what the upstream sends after
 * the head never reaches the client, not even dressed as the answer to its next request (here
 * exactly as long as the Content-Length the 204 announces). A 100 Continue before the real
 * answer is passed on and followed. */
static void script_bodiless(void)
{
    int fd = cl_connect();
    if (fd < 0) return;
    for (int i = 0; i < 2 && !cl.err[0]; i++) {
        cl_send_str(fd, "GET " PREFIX "/x HTTP/1.1\r\nHost: a\r\n\r\n");
        int up = raw_accept();
        if (up < 0) break;
        if (cl_read_until(up, &g_raw_got, "\r\n\r\n") == 0) {
            static const char forged[] = "HTTP/1.1 204 No Content\r\nContent-Length: 44\r\n\r\n"
                                         "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged";
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n"
                                       "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal";
            if (i == 0)
                cl_send(up, forged, sizeof(forged) - 1);
            else
                cl_send(up, cont, sizeof(cont) - 1);
            cl_read_until(fd, &cl.raw[i], i == 0 ? "\r\n\r\n" : "real");
        }
        close(up);
    }
    /* the next request is the front server's: its answer, not the forged one */
    cl_send_str(fd, "GET /elsewhere HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    cl_read_eof(fd, &cl.raw[2]);
    close(fd);
}

static void test_bodiless_responses(void **state)
{
    (void)state;
    assert_int_equal(raw_listen(), 0);
    static const struct script sc = {script_bodiless};
    start_client(&sc);
    finish_client(0, 2, 0);
    for (int i = 0; i < 3; i++)
        assert_null(memmem(sp_buf_head(&cl.raw[i]), sp_buf_pending(&cl.raw[i]), "forged", 6));
    assert_true(sp_buf_pending(&cl.raw[0]) > 12 &&
                memcmp(sp_buf_head(&cl.raw[0]), "HTTP/1.1 204", 12) == 0);
    assert_non_null(
        memmem(sp_buf_head(&cl.raw[1]), sp_buf_pending(&cl.raw[1]), "100 Continue", 12));
    assert_true(sp_buf_pending(&cl.raw[2]) > 12 &&
                memcmp(sp_buf_head(&cl.raw[2]), "HTTP/1.1 404", 12) == 0);
    raw_close();
}

/* An upstream that says Connection: close (and keeps its socket open): the relay ends at the end
 * of its response, the client sees it close. */
static void script_upstream_says_close(void)
{
    int fd = cl_connect();
    if (fd < 0) return;
    cl_send_str(fd, "GET " PREFIX "/x HTTP/1.1\r\nHost: a\r\n\r\n");
    int up = raw_accept();
    if (up >= 0 && cl_read_until(up, &g_raw_got, "\r\n\r\n") == 0) {
        static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                                     "Connection: close\r\n\r\nok";
        cl_send(up, answer, sizeof(answer) - 1);
        cl_read_eof(fd, &cl.raw[0]); /* a timeout here: the relay waited for the upstream */
    }
    close(fd);
    if (up >= 0) close(up);
}

static void test_upstream_close_ends_keep_alive(void **state)
{
    (void)state;
    assert_int_equal(raw_listen(), 0);
    static const struct script sc = {script_upstream_says_close};
    start_client(&sc);
    finish_client(0, 1, 0);
    /* a keep-alive client: the upstream was not told to close */
    assert_null(memmem(sp_buf_head(&g_raw_got), sp_buf_pending(&g_raw_got), "Connection", 10));
    struct resp r;
    resp_parse(&cl.raw[0], &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(sp_buf_pending(&r.body), 2);
    resp_free(&r);
    raw_close();
}

/* An upgrade the upstream refuses: the bytes the client sent behind its head never reach it,
 * nor anything the client sends after the refusal. */
static void script_refused_upgrade(void)
{
    int fd = cl_connect();
    if (fd < 0) return;
    cl_send_str(fd, "GET " PREFIX "/ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\n\r\nEARLY-BYTES");
    int up = raw_accept();
    if (up >= 0 && cl_read_until(up, &g_raw_got, "\r\n\r\n") == 0) {
        raw_expect_silence(up, "before the upstream answered");
        static const char answer[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\nno";
        cl_send(up, answer, sizeof(answer) - 1);
        cl_read_until(fd, &cl.raw[0], "no");
        cl_send_str(fd, "GET /secret HTTP/1.1\r\nAuthorization: Bearer HOST\r\n\r\n");
        raw_expect_silence(up, "after the refusal");
    }
    close(fd);
    if (up >= 0) {
        cl_read_eof(up, &g_raw_got);
        close(up);
    }
}

static void test_refused_upgrade_sends_nothing_more(void **state)
{
    (void)state;
    assert_int_equal(raw_listen(), 0);
    static const struct script sc = {script_refused_upgrade};
    start_client(&sc);
    finish_client(0, 1, 0);
    const char *got = sp_buf_head(&g_raw_got);
    size_t n = sp_buf_pending(&g_raw_got);
    assert_non_null(memmem(got, n, "Connection: Upgrade, close\r\n", 28));
    assert_null(memmem(got, n, "EARLY-BYTES", 11));
    assert_null(memmem(got, n, "/secret", 7));
    raw_close();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_headers_rewritten, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_large_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_chunked_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_buffered_body_reframed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_buffered_empty_chunked_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_late_proxy_paused_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked_response, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keep_alive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upstream_close_ends_keep_alive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bodiless_responses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_relay_half_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upstream_dies_mid_response, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upstream_vanishes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_leaves_mid_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_free_ends_relay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hijack_counts_connections, setup_one_conn, teardown),
        cmocka_unit_test_setup_teardown(test_bad_authorization, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nothing_after_the_request_goes_upstream, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_refused_upgrade_sends_nothing_more, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
