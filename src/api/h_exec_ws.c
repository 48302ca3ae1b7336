/* SPDX-License-Identifier: MIT */
/*
 * WebSocket exec and re-attach:
 *   GET /exec (WebSocket)     sprite-env's protocol: binary [0x01]/[0x02]+data, one [0x03,code],
 *                             close 1000; stdin [0x00]+data, a lone [0x04] is EOF; TTY raw both
 *                             ways, text {"type":"resize"}, text {"type":"exit"} before the close.
 *                             detachable=true sessions survive their client; id=… re-attaches.
 *   GET /exec (plain)         the list of detachable sessions.
 *   GET /v1/processes/{sel}/stream (WebSocket)   JSON messages (wrenn's shapes) from an offset.
 * An attached exec client is lossless (the process pauses when the client is slow); a stream
 * follower never slows the process: if it falls behind the log it is told how many bytes it
 * missed.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "../base/log.h"
#include "../base/str.h"
#include "../os/sig.h"
#include "../os/spawn.h"
#include "api_internal.h"
#include "attach.h"
#include "ws.h"

#define WS_HIGH_MARK    (256 * 1024)
#define STDIN_HIGH_MARK (1024 * 1024) /* stop reading the client above this much queued stdin */
#define STDIN_POLL_MS   10
#define WS_CHUNK        65536

/* ---- GET /exec ---- */

struct wsexec {
    struct api *api;
    struct ws_conn *ws;
    struct proc_follower f;
    struct attach at;
    bool tty;
    bool detachable;
    bool done;                     /* exit sent, closing */
    bool reading_paused;           /* the client sends stdin faster than the process reads it */
    struct loop_timer stdin_timer; /* checks when to read the client again */
};

static void stdin_check(struct loop_timer *t)
{
    struct wsexec *we = SP_CONTAINER_OF(t, struct wsexec, stdin_timer);
    struct proc *p = we->f.proc;
    if (!we->ws || !we->reading_paused) return;
    if (!p || proc_stdin_pending(p) < STDIN_HIGH_MARK / 4) {
        we->reading_paused = false;
        ws_pause_reading(we->ws, false);
        return;
    }
    loop_timer_start(we->api->ctx.loop, t, STDIN_POLL_MS);
}

/* Back-pressure on stdin: stop reading the client while the process is behind. */
static void stdin_throttle(struct wsexec *we)
{
    struct proc *p = we->f.proc;
    if (we->reading_paused || !p || proc_stdin_pending(p) < STDIN_HIGH_MARK) return;
    we->reading_paused = true;
    ws_pause_reading(we->ws, true);
    loop_timer_start(we->api->ctx.loop, &we->stdin_timer, STDIN_POLL_MS);
}

static void wsexec_release(struct wsexec *we)
{
    if (we->f.proc) {
        attach_release(&we->at);
        proc_unfollow(&we->f);
    }
}

static long we_send(void *ctx, int s, const struct iovec *piece, int n)
{
    struct wsexec *we = ctx;
    char buf[1 + WS_CHUNK];
    size_t off = we->tty ? 0 : 1, len = off;
    buf[0] = (char)(s + 1);
    for (int i = 0; i < n; i++) { /* pieces add up to at most WS_CHUNK (frame_max) */
        memcpy(buf + len, piece[i].iov_base, piece[i].iov_len);
        len += piece[i].iov_len;
    }
    return ws_send(we->ws, WS_BINARY, buf, len);
}

static void wsexec_pump(struct wsexec *we)
{
    struct proc *p = we->f.proc;
    if (!p || we->done || !we->ws) return;
    if (attach_pump(&we->at) != ATTACH_DONE) return; /* on_drain or on_close follows */
    if (proc_finished(p)) {
        we->done = true;
        int code = proc_exit_code(p);
        if (code < 0 || code > 255) code = 255;
        if (we->tty) {
            char msg[64];
            int n = snprintf(msg, sizeof(msg), "{\"type\":\"exit\",\"exit_code\":%d}", code);
            ws_send(we->ws, WS_TEXT, msg, (size_t)n);
        } else {
            char frame[2] = {3, (char)code};
            ws_send(we->ws, WS_BINARY, frame, 2);
        }
        if (we->ws) ws_close(we->ws, 1000, "");
    }
}

static void we_on_output(struct proc_follower *f)
{
    wsexec_pump(f->data);
}

static void we_on_drain(struct ws_conn *ws)
{
    wsexec_pump(ws_data(ws));
}

static void we_on_message(struct ws_conn *ws, enum ws_opcode op, const char *data, size_t len)
{
    struct wsexec *we = ws_data(ws);
    struct proc *p = we->f.proc;
    if (!p || we->done) return;
    if (op == WS_TEXT) {
        json_t *o = json_loadb(data, len, 0, NULL);
        const char *type = o ? json_string_value(json_object_get(o, "type")) : NULL;
        if (type && strcmp(type, "resize") == 0) {
            json_int_t cols = json_integer_value(json_object_get(o, "cols"));
            json_int_t rows = json_integer_value(json_object_get(o, "rows"));
            if (cols > 0 && rows > 0 && cols < 10000 && rows < 10000)
                proc_resize(p, (unsigned short)cols, (unsigned short)rows);
        }
        json_decref(o);
        return;
    }
    if (we->tty) {
        if (len && proc_stdin_write(p, data, len) == -ENOBUFS)
            ws_close(ws, 1011, "stdin backlog too large");
        stdin_throttle(we);
        return;
    }
    if (len == 1 && data[0] == 4) { /* a lone 0x04: end of input */
        proc_stdin_close(p);
        return;
    }
    if (len >= 1 && data[0] == 0 && len > 1 && proc_stdin_write(p, data + 1, len - 1) == -ENOBUFS)
        ws_close(ws, 1011, "stdin backlog too large");
    stdin_throttle(we);
}

static void we_on_close(struct ws_conn *ws, int code)
{
    struct wsexec *we = ws_data(ws);
    struct proc *p = we->f.proc;
    (void)code;
    we->ws = NULL;
    loop_timer_stop(we->api->ctx.loop, &we->stdin_timer);
    if (p && !we->done && proc_active(p) && !we->detachable) {
        sp_info("exec %d: client went away, killing its process group", (int)proc_pid(p));
        proc_signal(p, SIGKILL);
    }
    wsexec_release(we);
    free(we);
}

static const struct ws_handlers wsexec_handlers = {
    .on_message = we_on_message,
    .on_drain = we_on_drain,
    .on_close = we_on_close,
};

static json_t *session_json(struct proc *p)
{
    char *const *argv = proc_argv(p);
    struct sp_buf cmd = SP_BUF_INIT;
    for (size_t i = 0; argv[i]; i++)
        sp_buf_printf(&cmd, "%s%s", i ? " " : "", argv[i]);
    json_t *o = json_pack(
        "{s:s, s:s, s:I, s:s%, s:b, s:b, s:i}", "id", proc_tag(p), "name", proc_tag(p), "created",
        (json_int_t)(proc_started_ms(p) / 1000), "command", cmd.data ? cmd.data : "", cmd.len,
        "is_active", proc_follower_count(p) > 0, "tty", proc_is_tty(p), "pid", (int)proc_pid(p));
    sp_buf_free(&cmd);
    return o;
}

static void list_sessions(struct api *a, struct http_request *req)
{
    json_t *list = json_array();
    size_t n = 0;
    for (struct proc *p = proc_next(a->ctx.procs, NULL); p; p = proc_next(a->ctx.procs, p)) {
        if (!proc_is_detachable(p) || !proc_running(p)) continue;
        json_array_append_new(list, session_json(p));
        n++;
    }
    api_respond_json(req, 200, json_pack("{s:o, s:I}", "sessions", list, "count", (json_int_t)n));
}

static bool query_true(struct http_request *req, const char *name, bool dflt)
{
    char buf[16];
    const char *v = http_query_get(req, name, buf, sizeof(buf));
    if (!v || !*v) return dflt;
    return strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
}

static unsigned short query_dim(struct http_request *req, const char *name)
{
    char buf[16];
    uint64_t v;
    const char *s = http_query_get(req, name, buf, sizeof(buf));
    if (!s || sp_parse_u64(s, 9999, &v) < 0) return 0;
    return (unsigned short)v;
}

static void ws_attach_proc(struct api *a, struct http_request *req, struct proc *p, bool replay)
{
    struct wsexec *we = calloc(1, sizeof(*we));
    if (!we) {
        http_respond_error(req, 503, "out_of_memory", "out of memory");
        return;
    }
    we->api = a;
    loop_timer_init(&we->stdin_timer, stdin_check);
    we->tty = proc_is_tty(p);
    we->detachable = proc_is_detachable(p);
    we->at = (struct attach){.proc = p,
                             .frame_max = WS_CHUNK,
                             .high_mark = WS_HIGH_MARK,
                             .send = we_send,
                             .ctx = we,
                             .what = "exec"};
    for (int s = 0; s < 2; s++) {
        const struct outlog *l = proc_log(p, (enum proc_stream)s);
        we->at.cursor[s] = replay ? l->start : l->end;
    }
    if (ws_accept(req, a->ctx.loop, &wsexec_handlers, we, &we->ws) < 0) {
        free(we);
        return;
    }
    we->f.on_output = we_on_output;
    we->f.on_exit = we_on_output;
    we->f.data = we;
    proc_follow(p, &we->f);
    wsexec_pump(we);
}

void h_exec_get(struct api *a, struct http_request *req)
{
    char idbuf[128];
    const char *id = http_query_get(req, "id", idbuf, sizeof(idbuf));
    bool has_cmd = exec_query_has_command(req);
    const char *upgrade = http_header_get(req, "Upgrade");
    if (!upgrade && !has_cmd && !(id && *id)) {
        list_sessions(a, req);
        return;
    }
    if (id && *id) {
        struct proc *p = proc_find(a->ctx.procs, id);
        if (!p || !proc_is_detachable(p)) {
            http_respond_error(req, 404, "not_found", "no detachable session \"%s\"", id);
            return;
        }
        ws_attach_proc(a, req, p, true); /* first the recent output, then live */
        return;
    }
    char **cmd = NULL, **env = NULL;
    char dir[4096];
    if (exec_query_command(req, &cmd, &env) < 0) goto out;
    if (!upgrade) {
        http_respond_error(req, 400, "bad_request",
                           "GET /exec with a command needs a WebSocket upgrade");
        goto out;
    }
    bool tty = query_true(req, "tty", false);
    struct proc_spec spec = {
        .argv = cmd,
        .env = env,
        .cwd = http_query_get(req, "dir", dir, sizeof(dir)),
        .umask = -1,
        .tty = tty,
        .cols = query_dim(req, "cols"),
        .rows = query_dim(req, "rows"),
        .stdin_open = tty ? query_true(req, "stdin", true) : query_true(req, "stdin", false),
        .detachable = query_true(req, "detachable", false),
        .wrap = true,
    };
    if (spec.cwd && !*spec.cwd) spec.cwd = NULL;
    struct sp_err err = {0};
    struct proc *p;
    int r = proc_start(a->ctx.procs, &spec, &p, &err);
    if (r < 0) {
        if (strncmp(err.msg, "exec ", 5) == 0) {
            /* as if the command had run: the reason on stderr, then 127 or 126 */
            struct wsexec *we = calloc(1, sizeof(*we));
            if (!we) goto oom;
            we->api = a;
            loop_timer_init(&we->stdin_timer, stdin_check);
            we->done = true;
            if (ws_accept(req, a->ctx.loop, &wsexec_handlers, we, &we->ws) < 0) {
                free(we);
                goto out;
            }
            char msg[SP_ERR_MSG_MAX + 16];
            int n = snprintf(msg, sizeof(msg), "%ssprite-env: %s\r\n", tty ? "" : "\002", err.msg);
            ws_send(we->ws, WS_BINARY, msg, (size_t)n);
            int code = spawn_exec_error_code(r);
            if (tty) {
                n = snprintf(msg, sizeof(msg), "{\"type\":\"exit\",\"exit_code\":%d}", code);
                ws_send(we->ws, WS_TEXT, msg, (size_t)n);
            } else {
                char frame[2] = {3, (char)code};
                ws_send(we->ws, WS_BINARY, frame, 2);
            }
            ws_close(we->ws, 1000, "");
        } else {
            respond_start_error(req, &err);
        }
        goto out;
    }
    proc_ref(p);
    ws_attach_proc(a, req, p, true);
    /* if the upgrade failed, nobody follows: a non-detachable process must not run on */
    if (proc_follower_count(p) == 0 && !spec.detachable) proc_signal(p, SIGKILL);
    proc_unref(p);
    goto out;
oom:
    http_respond_error(req, 503, "out_of_memory", "out of memory");
out:
    sp_strv_free(cmd);
    sp_strv_free(env);
}

/* ---- GET /v1/processes/{sel}/stream ---- */

struct follower_ws {
    struct ws_conn *ws;
    struct proc_follower f;
    uint64_t cursor[2];
    bool blocked; /* waiting for the socket to drain */
    bool done;
};

static void fw_pump(struct follower_ws *fw)
{
    static const char *const names[2] = {"stdout", "stderr"};
    struct proc *p = fw->f.proc;
    char buf[WS_CHUNK];
    if (!p || fw->done || !fw->ws) return;
    for (int s = 0; s < 2; s++) {
        for (;;) {
            uint64_t missed = 0;
            uint64_t at = fw->cursor[s];
            size_t n = proc_read(p, (enum proc_stream)s, &fw->cursor[s], buf, sizeof(buf), &missed);
            json_t *m = NULL;
            if (missed) {
                m = json_pack("{s:s, s:s, s:I, s:I}", "type", "missed", "stream", names[s], "bytes",
                              (json_int_t)missed, "offset", (json_int_t)at);
                char *t = json_dumps(m, JSON_COMPACT);
                json_decref(m);
                if (!t || ws_send(fw->ws, WS_TEXT, t, strlen(t)) < 0) {
                    free(t);
                    return;
                }
                free(t);
                at += missed;
            }
            if (n == 0) break;
            json_t *data = json_stringn(buf, n);
            const char *enc = "utf-8";
            if (!data) {
                char *b64 = malloc(sp_base64_encoded_len(n) + 1);
                if (!b64) return;
                sp_base64_encode(buf, n, b64);
                data = json_string(b64);
                free(b64);
                enc = "base64";
            }
            m = json_pack("{s:s, s:o, s:s, s:I}", "type", names[s], "data", data, "encoding", enc,
                          "offset", (json_int_t)at);
            char *t = m ? json_dumps(m, JSON_COMPACT) : NULL;
            json_decref(m);
            long backlog = t ? ws_send(fw->ws, WS_TEXT, t, strlen(t)) : -ENOMEM;
            free(t);
            if (backlog < 0) return;
            if (backlog > WS_HIGH_MARK) {
                fw->blocked = true; /* never pause the process: catch up (or miss) later */
                return;
            }
        }
    }
    fw->blocked = false;
    if (proc_finished(p)) {
        fw->done = true;
        json_t *m = json_pack("{s:s, s:i}", "type", "exit", "exit_code", proc_exit_code(p));
        if (proc_term_signal(p))
            json_object_set_new(m, "signal", json_string(sig_name(proc_term_signal(p))));
        char *t = json_dumps(m, JSON_COMPACT);
        json_decref(m);
        if (t) ws_send(fw->ws, WS_TEXT, t, strlen(t));
        free(t);
        if (fw->ws) ws_close(fw->ws, 1000, "");
    }
}

static void fw_on_output(struct proc_follower *f)
{
    struct follower_ws *fw = f->data;
    if (!fw->blocked) fw_pump(fw);
}

static void fw_on_exit(struct proc_follower *f)
{
    struct follower_ws *fw = f->data;
    if (!fw->blocked) fw_pump(fw);
}

static void fw_on_drain(struct ws_conn *ws)
{
    struct follower_ws *fw = ws_data(ws);
    fw->blocked = false;
    fw_pump(fw);
}

static void fw_on_close(struct ws_conn *ws, int code)
{
    struct follower_ws *fw = ws_data(ws);
    (void)code;
    fw->ws = NULL;
    if (fw->f.proc) proc_unfollow(&fw->f);
    free(fw);
}

static const struct ws_handlers follower_handlers = {
    .on_drain = fw_on_drain,
    .on_close = fw_on_close,
};

void h_process_stream(struct api *a, struct http_request *req, struct proc *p)
{
    char buf[32];
    uint64_t off[2];
    const char *names[2] = {"offset", "stderr_offset"};
    for (int s = 0; s < 2; s++) {
        const struct outlog *l = proc_log(p, (enum proc_stream)s);
        off[s] = l->start;
        const char *v = http_query_get(req, names[s], buf, sizeof(buf));
        if (v && (sp_parse_u64(v, UINT64_MAX, &off[s]) < 0 || off[s] > l->end)) {
            http_respond_error(req, 400, "bad_request", "%s must be a byte offset from 0 to %llu",
                               names[s], (unsigned long long)l->end);
            return;
        }
    }
    struct follower_ws *fw = calloc(1, sizeof(*fw));
    if (!fw) {
        http_respond_error(req, 503, "out_of_memory", "out of memory");
        return;
    }
    fw->cursor[0] = off[0];
    fw->cursor[1] = off[1];
    if (ws_accept(req, a->ctx.loop, &follower_handlers, fw, &fw->ws) < 0) {
        free(fw);
        return;
    }
    fw->f.on_output = fw_on_output;
    fw->f.on_exit = fw_on_exit;
    fw->f.data = fw;
    proc_follow(p, &fw->f);
    char start[64];
    int n = snprintf(start, sizeof(start), "{\"type\":\"start\",\"pid\":%d}", (int)proc_pid(p));
    ws_send(fw->ws, WS_TEXT, start, (size_t)n);
    fw_pump(fw);
}
