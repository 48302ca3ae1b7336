/* SPDX-License-Identifier: MIT */
/*
 * Running commands:
 *   POST /exec            the seed's JSON form (Docker stdcopy frames, EXIT:<code>) and the
 *                         sprite-env query form (?cmd=…: [0x01]/[0x02]+data, final [0x03,code])
 *   POST /v1/exec         wrenn's JSON API: synchronous result, or background:true → 202
 *   /v1/processes…        list, inspect, signal, write stdin
 * Attached streams are lossless: when the client does not keep up, the process is paused
 * (proc_pause) until the socket drains. A client that goes away kills the process group.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "../base/log.h"
#include "../base/str.h"
#include "../os/sig.h"
#include "../os/spawn.h"
#include "api_internal.h"
#include "attach.h"

#define STREAM_HIGH_MARK (1024 * 1024)
#define FRAME_MAX        (256 * 1024)

enum framing { FRAME_STDCOPY, FRAME_SPRITE };

/* ---- helpers ---- */

int api_json_body(struct http_request *req, json_t **out)
{
    json_error_t je;
    json_t *o = json_loadb(sp_buf_head(&req->body), sp_buf_pending(&req->body), 0, &je);
    if (!o) {
        http_respond_error(req, 400, "bad_request", "invalid JSON body: %s (line %d column %d)",
                           je.text, je.line, je.column);
        return -1;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        http_respond_error(req, 400, "bad_request", "the JSON body must be an object");
        return -1;
    }
    *out = o;
    return 0;
}

/* A JSON array of strings as a vector; *out NULL when the key is absent. -1 after answering. */
int api_json_strv(struct http_request *req, json_t *o, const char *key, char ***out)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_array(v)) goto bad;
    char **sv = sp_strv_new(json_array_size(v));
    if (!sv) goto oom;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e)) {
            sp_strv_free(sv);
            goto bad;
        }
        if (!(sv[i] = strdup(json_string_value(e)))) {
            sp_strv_free(sv);
            goto oom;
        }
    }
    *out = sv;
    return 0;
bad:
    http_respond_error(req, 400, "bad_request", "%s: expected an array of strings", key);
    return -1;
oom:
    http_respond_error(req, 503, "out_of_memory", "out of memory");
    return -1;
}

static const char *json_str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/*
 * An optional string field: absent, null or "" → *out NULL. A number is accepted for "user" (a
 * uid). Any other type is answered 400 (a mistyped "user" must never mean "run as the daemon").
 * Returns -1 after answering. buf holds a converted number.
 */
static int opt_str(struct http_request *req, json_t *o, const char *key, const char **out,
                   char *buf, size_t len)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v)) return 0;
    if (json_is_string(v)) {
        *out = json_string_length(v) ? json_string_value(v) : NULL;
        return 0;
    }
    if (strcmp(key, "user") == 0 && json_is_integer(v) && json_integer_value(v) >= 0 &&
        json_integer_value(v) < 0xffffffffLL) {
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
        *out = buf;
        return 0;
    }
    http_respond_error(req, 400, "bad_request", "%s: expected a string", key);
    return -1;
}

/* "stdin": absent/null (*in NULL) or a string of at most PROC_STDIN_MAX bytes; -1 after
 * answering 400/413. */
static int parse_stdin(struct http_request *req, json_t *o, json_t **in)
{
    json_t *v = json_object_get(o, "stdin");
    *in = json_is_string(v) ? v : NULL;
    if (v && !json_is_string(v) && !json_is_null(v)) {
        http_respond_error(req, 400, "bad_request", "stdin: expected a string");
        return -1;
    }
    if (*in && json_string_length(*in) > PROC_STDIN_MAX) {
        http_respond_error(req, 413, "too_large", "stdin: more than %u bytes", PROC_STDIN_MAX);
        return -1;
    }
    return 0;
}

/* Maps a proc_start failure to an answer (for failures that are not exec errors). */
void respond_start_error(struct http_request *req, const struct sp_err *err)
{
    switch (err->code) {
    case -E2BIG: http_respond_error(req, 413, "too_large", "%s", err->msg); return;
    case -EAGAIN: http_respond_error(req, 429, "too_many_processes", "%s", err->msg); return;
    case -EEXIST: http_respond_error(req, 409, "tag_in_use", "%s", err->msg); return;
    case -ENOMEM: http_respond_error(req, 503, "out_of_memory", "%s", err->msg); return;
    case -EMFILE:
    case -ENFILE: http_respond_error(req, 503, "resource_exhausted", "%s", err->msg); return;
    default: http_respond_error(req, 400, "bad_request", "%s", err->msg); return;
    }
}

/* Exec failures (not found / not executable) are reported as a process result; setup errors
 * before exec (unknown user, missing directory, bad input, limits) are request errors. */
static bool is_exec_failure(const struct sp_err *err)
{
    return strncmp(err->msg, "exec ", 5) == 0;
}

static void iso_time(uint64_t ms, char *buf, size_t len)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
}

/* ---- attached streams (POST /exec) ---- */

struct exec_stream {
    struct http_request *req; /* NULL once the client is gone */
    struct proc_follower f;
    enum framing framing;
    struct attach at;
    bool ended;
};

static void frame_write(struct exec_stream *es, int stream, const char *data, size_t n,
                        long *backlog)
{
    unsigned char hdr[8];
    size_t hlen;
    if (es->framing == FRAME_STDCOPY) {
        hdr[0] = (unsigned char)stream;
        hdr[1] = hdr[2] = hdr[3] = 0;
        hdr[4] = (unsigned char)(n >> 24);
        hdr[5] = (unsigned char)(n >> 16);
        hdr[6] = (unsigned char)(n >> 8);
        hdr[7] = (unsigned char)n;
        hlen = 8;
    } else {
        hdr[0] = (unsigned char)stream;
        hlen = 1;
    }
    /* one chunk per frame: header and payload together */
    char buf[8 + 4096];
    if (n > 4096) n = 4096; /* only short frames (reasons, exit codes) go this way */
    memcpy(buf, hdr, hlen);
    memcpy(buf + hlen, data, n);
    *backlog = http_stream_write(es->req, buf, hlen + n);
}

static void exec_stream_free(struct exec_stream *es)
{
    if (es->f.proc) {
        attach_release(&es->at);
        proc_unfollow(&es->f);
    }
    free(es);
}

static void write_exit_frame(struct exec_stream *es, int code)
{
    long backlog;
    if (es->framing == FRAME_STDCOPY) {
        char msg[32];
        int n = snprintf(msg, sizeof(msg), "EXIT:%d", code);
        frame_write(es, 3, msg, (size_t)n, &backlog);
    } else {
        char c = (char)(code < 0 ? 255 : code > 255 ? 255 : code);
        frame_write(es, 3, &c, 1, &backlog);
    }
}

static long es_send(void *ctx, int s, const struct iovec *piece, int n)
{
    struct exec_stream *es = ctx;
    size_t len = piece[0].iov_len + (n > 1 ? piece[1].iov_len : 0);
    unsigned char hdr[8] = {(unsigned char)(s + 1)};
    size_t hlen = 1;
    if (es->framing == FRAME_STDCOPY) {
        hdr[4] = (unsigned char)(len >> 24);
        hdr[5] = (unsigned char)(len >> 16);
        hdr[6] = (unsigned char)(len >> 8);
        hdr[7] = (unsigned char)len;
        hlen = 8;
    }
    struct iovec iov[3] = {{hdr, hlen}, piece[0], n > 1 ? piece[1] : (struct iovec){NULL, 0}};
    return http_stream_writev(es->req, iov, n + 1);
}

/* Moves what the logs hold to the client; ends the response once the process has finished
 * and everything was sent. */
static void exec_stream_pump(struct exec_stream *es)
{
    struct http_request *req = es->req;
    if (!req || es->ended) return;
    if (attach_pump(&es->at) != ATTACH_DONE) return; /* on_drain or on_abort follows */
    struct proc *p = es->f.proc;
    es->ended = true;
    write_exit_frame(es, proc_exit_code(p));
    req->on_abort = NULL;
    req->on_drain = NULL;
    req->data = NULL;
    es->req = NULL;
    http_stream_end(req);
    exec_stream_free(es);
}

static void es_on_output(struct proc_follower *f)
{
    exec_stream_pump(f->data);
}

static void es_on_drain(struct http_request *req)
{
    exec_stream_pump(req->data);
}

static void es_on_abort(struct http_request *req)
{
    struct exec_stream *es = req->data;
    struct proc *p = es->f.proc;
    es->req = NULL;
    if (p && proc_active(p)) {
        sp_info("exec %d: client went away, killing its process group", (int)proc_pid(p));
        proc_signal(p, SIGKILL);
    }
    exec_stream_free(es);
}

static const char *stream_ctype(enum framing f)
{
    return f == FRAME_STDCOPY ? "application/vnd.docker.raw-stream" : "application/octet-stream";
}

/* Starts the process and streams it; answers the request in every case. */
static void exec_attached(struct api *a, struct http_request *req, const struct proc_spec *spec,
                          enum framing framing, const void *stdin_data, size_t stdin_len)
{
    struct sp_err err = {0};
    struct proc *p;
    int r = proc_start(a->ctx.procs, spec, &p, &err);
    if (r < 0 && !is_exec_failure(&err)) {
        respond_start_error(req, &err);
        return;
    }
    struct exec_stream *es = calloc(1, sizeof(*es));
    if (!es) {
        if (r == 0) proc_signal(p, SIGKILL);
        http_respond_error(req, 503, "out_of_memory", "out of memory");
        return;
    }
    es->req = req;
    es->framing = framing;
    if (r == 0) {
        /* follow and arm the abort before anything is written: a client already gone makes the
         * very first write fail, and on_abort must then find everything in place */
        if (stdin_len) proc_stdin_write(p, stdin_data, stdin_len);
        if (spec->stdin_open) proc_stdin_close(p);
        es->f.on_output = es_on_output;
        es->f.on_exit = es_on_output;
        es->f.data = es;
        proc_follow(p, &es->f);
        es->at = (struct attach){.proc = p,
                                 .frame_max = FRAME_MAX,
                                 .high_mark = STREAM_HIGH_MARK,
                                 .send = es_send,
                                 .ctx = es,
                                 .what = "exec"};
        req->data = es;
        req->on_abort = es_on_abort;
        req->on_drain = es_on_drain;
    }
    http_stream_begin(req, 200, stream_ctype(framing), "X-Content-Type-Options: nosniff\r\n");
    if (r < 0) { /* the reason, then the status a shell would give */
        long backlog;
        char msg[SP_ERR_MSG_MAX + 16];
        int n = snprintf(msg, sizeof(msg), "sprite-env: %s\n", err.msg);
        frame_write(es, 2, msg, (size_t)n, &backlog);
        write_exit_frame(es, spawn_exec_error_code(r));
        free(es);
        http_stream_end(req);
        return;
    }
    exec_stream_pump(es);
}

/*
 * sprite-env's query form of a command: cmd (repeated, also cmd[]), path (replaces argv[0] for
 * the lookup) and env (repeated K=V). Fills *cmd and *env (the caller frees both, also on
 * failure); -1 after answering 400 (no command) or 503.
 */
int exec_query_command(struct http_request *req, char ***cmd, char ***env)
{
    char path[4096];
    char **cmd2 = http_query_all(req, "cmd[]");
    *cmd = http_query_all(req, "cmd");
    *env = http_query_all(req, "env");
    int r = -1;
    if (!*cmd || !cmd2 || !*env) goto oom;
    for (size_t i = 0; cmd2[i]; i++)
        if (sp_strv_push(cmd, cmd2[i]) < 0) goto oom;
    const char *pathv = http_query_get(req, "path", path, sizeof(path));
    if (pathv && *pathv) {
        /* path replaces argv[0] for the lookup; argv[0] keeps what the client sent */
        if (!(*cmd)[0] && sp_strv_push(cmd, pathv) < 0) goto oom;
        free((*cmd)[0]);
        if (!((*cmd)[0] = strdup(pathv))) goto oom;
    }
    if (!(*cmd)[0])
        http_respond_error(req, 400, "bad_request", "No command specified");
    else
        r = 0;
    sp_strv_free(cmd2);
    return r;
oom:
    sp_strv_free(cmd2);
    http_respond_error(req, 503, "out_of_memory", "out of memory");
    return -1;
}

/* POST /exec?cmd=…: sprite-env's HTTP exec. */
static void exec_query_form(struct api *a, struct http_request *req)
{
    char buf[256];
    if (http_query_get(req, "tty", buf, sizeof(buf))) {
        http_respond_error(req, 400, "bad_request", "TTY not supported on POST /exec");
        return;
    }
    static const char *const unsupported[] = {"id", "detachable", "cc"};
    for (size_t i = 0; i < SP_ARRAY_LEN(unsupported); i++) {
        const char *v = http_query_get(req, unsupported[i], buf, sizeof(buf));
        if (v && *v) {
            http_respond_error(req, 400, "bad_request", "Unsupported parameters for POST /exec");
            return;
        }
    }
    char **cmd = NULL, **env = NULL;
    char dir[4096], stdin_flag[16];
    if (exec_query_command(req, &cmd, &env) < 0) goto out;
    const char *stdinv = http_query_get(req, "stdin", stdin_flag, sizeof(stdin_flag));
    bool use_stdin = stdinv && strcmp(stdinv, "true") == 0;
    struct proc_spec spec = {
        .argv = cmd,
        .env = env,
        .cwd = http_query_get(req, "dir", dir, sizeof(dir)),
        .umask = -1,
        .stdin_open = use_stdin,
        .wrap = true,
    };
    if (spec.cwd && !*spec.cwd) spec.cwd = NULL;
    if (use_stdin && sp_buf_pending(&req->body) > PROC_STDIN_MAX) {
        http_respond_error(req, 413, "too_large", "stdin: more than %u bytes", PROC_STDIN_MAX);
        goto out;
    }
    exec_attached(a, req, &spec, FRAME_SPRITE, use_stdin ? sp_buf_head(&req->body) : NULL,
                  use_stdin ? sp_buf_pending(&req->body) : 0);
out:
    sp_strv_free(cmd);
    sp_strv_free(env);
}

/* "timeout": nanoseconds (a number) or a Go duration string; 0 or absent = none. */
static int parse_timeout_ns(struct http_request *req, json_t *v, uint64_t *ms)
{
    *ms = 0;
    if (!v || json_is_null(v)) return 0;
    uint64_t ns;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        ns = (uint64_t)json_integer_value(v);
    } else if (json_is_string(v) && sp_duration_parse(json_string_value(v), &ns) == 0) {
    } else {
        http_respond_error(
            req, 400, "bad_request",
            "timeout: expected nanoseconds (a number) or a duration such as \"30s\"");
        return -1;
    }
    *ms = ns / 1000000u + (ns % 1000000u ? 1 : 0);
    return 0;
}

/* The sprite-env query form has cmd, cmd[] or path parameters. */
bool exec_query_has_command(const struct http_request *req)
{
    char buf[8];
    return http_query_get(req, "cmd", buf, sizeof(buf)) ||
           http_query_get(req, "cmd[]", buf, sizeof(buf)) ||
           http_query_get(req, "path", buf, sizeof(buf));
}

void h_exec_post(struct api *a, struct http_request *req)
{
    if (exec_query_has_command(req)) {
        exec_query_form(a, req);
        return;
    }
    json_t *o;
    if (api_json_body(req, &o) < 0) return;
    char **cmd = NULL, **env = NULL;
    if (json_object_get(o, "Cmd")) {
        docker_exec_create_root(a, req, o);
        goto out;
    }
    if (api_json_strv(req, o, "command", &cmd) < 0 || api_json_strv(req, o, "env", &env) < 0)
        goto out;
    if (!cmd || !cmd[0]) {
        http_respond_error(req, 400, "bad_request", "command: a non-empty array is required");
        goto out;
    }
    uint64_t timeout_ms;
    if (parse_timeout_ns(req, json_object_get(o, "timeout"), &timeout_ms) < 0) goto out;
    json_t *in;
    if (parse_stdin(req, o, &in) < 0) goto out;
    const char *dir, *user;
    char ubuf[24];
    if (opt_str(req, o, "dir", &dir, ubuf, sizeof(ubuf)) < 0 ||
        opt_str(req, o, "user", &user, ubuf, sizeof(ubuf)) < 0)
        goto out;
    struct proc_spec spec = {
        .argv = cmd,
        .env = env,
        .cwd = dir,
        .user = user,
        .umask = -1,
        .timeout_ms = timeout_ms,
        .stdin_open = json_is_string(in),
        .tty = json_is_true(json_object_get(o, "tty")),
        .wrap = true,
    };
    exec_attached(a, req, &spec, FRAME_STDCOPY, in ? json_string_value(in) : NULL,
                  in && json_is_string(in) ? json_string_length(in) : 0);
out:
    sp_strv_free(cmd);
    sp_strv_free(env);
    json_decref(o);
}

/* ---- POST /v1/exec ---- */

struct sync_exec {
    struct api *api;
    struct http_request *req;
    struct proc_follower f;
    char *cmd;
};

static json_t *output_json(const struct outlog *l, bool b64, bool *truncated)
{
    size_t n = (size_t)(l->end - l->start);
    char *buf = malloc(n ? n : 1);
    if (!buf) return NULL;
    uint64_t cur = l->start;
    outlog_read(l, &cur, buf, n, NULL);
    if (l->start > 0) *truncated = true;
    json_t *s;
    if (b64) {
        char *enc = malloc(sp_base64_encoded_len(n) + 1);
        if (!enc) {
            free(buf);
            return NULL;
        }
        sp_base64_encode(buf, n, enc);
        s = json_string(enc);
        free(enc);
    } else {
        s = json_stringn(buf, n);
    }
    free(buf);
    return s;
}

static bool log_is_utf8(const struct outlog *l)
{
    size_t n = (size_t)(l->end - l->start);
    char *buf = malloc(n ? n : 1);
    if (!buf) return false;
    uint64_t cur = l->start;
    outlog_read(l, &cur, buf, n, NULL);
    json_t *s = json_stringn(buf, n); /* jansson refuses invalid UTF-8 */
    free(buf);
    json_decref(s);
    return s != NULL;
}

static json_t *exec_result(struct proc *p, const char *cmd, const char *error)
{
    bool b64 = !log_is_utf8(proc_log(p, PROC_STDOUT)) || !log_is_utf8(proc_log(p, PROC_STDERR));
    bool truncated = false;
    json_t *o = json_object();
    json_object_set_new(o, "cmd", json_string(cmd));
    json_object_set_new(o, "pid", json_integer(proc_pid(p)));
    json_object_set_new(o, "tag", json_string(proc_tag(p)));
    json_object_set_new(o, "stdout", output_json(proc_log(p, PROC_STDOUT), b64, &truncated));
    json_object_set_new(o, "stderr", output_json(proc_log(p, PROC_STDERR), b64, &truncated));
    json_object_set_new(o, "exit_code", json_integer(proc_exit_code(p)));
    if (proc_term_signal(p))
        json_object_set_new(o, "signal", json_string(sig_name(proc_term_signal(p))));
    json_object_set_new(o, "timed_out", json_boolean(proc_timed_out(p)));
    json_object_set_new(o, "duration_ms", json_integer((json_int_t)proc_duration_ms(p)));
    json_object_set_new(o, "encoding", json_string(b64 ? "base64" : "utf-8"));
    json_object_set_new(o, "truncated", json_boolean(truncated));
    if (error) json_object_set_new(o, "error", json_string(error));
    return o;
}

static void sync_free(struct sync_exec *se)
{
    if (se->f.proc) proc_unfollow(&se->f);
    free(se->cmd);
    free(se);
}

static void sync_on_exit(struct proc_follower *f)
{
    struct sync_exec *se = f->data;
    struct http_request *req = se->req;
    req->on_abort = NULL;
    req->data = NULL;
    api_respond_json(req, 200, exec_result(f->proc, se->cmd, NULL));
    sync_free(se);
}

static void sync_on_abort(struct http_request *req)
{
    struct sync_exec *se = req->data;
    if (se->f.proc && proc_active(se->f.proc)) proc_signal(se->f.proc, SIGKILL);
    sync_free(se);
}

static json_t *process_json(struct proc *p)
{
    char started[64], ended[64];
    iso_time(proc_started_ms(p), started, sizeof(started));
    json_t *args = json_array();
    char *const *argv = proc_argv(p);
    for (size_t i = 1; argv[i]; i++)
        json_array_append_new(args, json_string(argv[i]));
    json_t *o = json_object();
    json_object_set_new(o, "pid", json_integer(proc_pid(p)));
    json_object_set_new(o, "tag", json_string(proc_tag(p)));
    json_object_set_new(o, "cmd", json_string(argv[0]));
    json_object_set_new(o, "args", args);
    json_object_set_new(o, "cwd", proc_cwd(p) ? json_string(proc_cwd(p)) : json_null());
    json_object_set_new(o, "state", json_string(proc_running(p) ? "running" : "exited"));
    json_object_set_new(o, "exit_code",
                        proc_running(p) ? json_null() : json_integer(proc_exit_code(p)));
    if (proc_term_signal(p))
        json_object_set_new(o, "signal", json_string(sig_name(proc_term_signal(p))));
    json_object_set_new(o, "timed_out", json_boolean(proc_timed_out(p)));
    json_object_set_new(o, "started_at", json_string(started));
    if (proc_running(p)) {
        json_object_set_new(o, "ended_at", json_null());
    } else {
        iso_time(proc_ended_ms(p), ended, sizeof(ended));
        json_object_set_new(o, "ended_at", json_string(ended));
    }
    json_object_set_new(o, "stdout_bytes", json_integer((json_int_t)proc_log(p, PROC_STDOUT)->end));
    json_object_set_new(o, "stderr_bytes", json_integer((json_int_t)proc_log(p, PROC_STDERR)->end));
    return o;
}

void h_v1_exec(struct api *a, struct http_request *req)
{
    json_t *o;
    if (api_json_body(req, &o) < 0) return;
    char **argv = NULL, **args = NULL, **env = NULL;
    const char *cmd = json_str(o, "cmd");
    if (!cmd || !*cmd) {
        http_respond_error(req, 400, "bad_request", "cmd: a non-empty string is required");
        goto out;
    }
    if (api_json_strv(req, o, "args", &args) < 0) goto out;
    json_t *envs = json_object_get(o, "envs");
    env = sp_strv_new(0);
    if (!env) goto oom;
    if (envs && !json_is_null(envs)) {
        if (!json_is_object(envs)) {
            http_respond_error(req, 400, "bad_request", "envs: expected an object of strings");
            goto out;
        }
        const char *k;
        json_t *v;
        json_object_foreach(envs, k, v)
        {
            if (!json_is_string(v) || !*k || strchr(k, '=')) {
                http_respond_error(req, 400, "bad_request", "envs.%s: expected a string value", k);
                goto out;
            }
            char *kv;
            if (asprintf(&kv, "%s=%s", k, json_string_value(v)) < 0) goto oom;
            int r = sp_strv_push(&env, kv);
            free(kv);
            if (r < 0) goto oom;
        }
    }
    json_t *to = json_object_get(o, "timeout_sec");
    if (to && !json_is_null(to) &&
        (!json_is_integer(to) || json_integer_value(to) < 0 ||
         json_integer_value(to) > 86400 * 7)) {
        http_respond_error(req, 400, "bad_request", "timeout_sec: expected 0 to 604800");
        goto out;
    }
    json_t *in;
    if (parse_stdin(req, o, &in) < 0) goto out;
    int umask_v = -1;
    json_t *um = json_object_get(o, "umask");
    if (um && !json_is_null(um)) {
        char *end = NULL;
        long v = json_is_string(um) ? strtol(json_string_value(um), &end, 8) : -1;
        if (json_is_integer(um)) v = (long)json_integer_value(um);
        if (v < 0 || v > 0777 ||
            (json_is_string(um) && (!end || *end || end == json_string_value(um)))) {
            http_respond_error(req, 400, "bad_request", "umask: an octal string such as \"022\"");
            goto out;
        }
        umask_v = (int)v;
    }
    json_t *tagv = json_object_get(o, "tag");
    if (tagv && !json_is_string(tagv) && !json_is_null(tagv)) {
        http_respond_error(req, 400, "bad_request", "tag: expected a string");
        goto out;
    }
    argv = sp_strv_new(0);
    if (!argv || sp_strv_push(&argv, cmd) < 0) goto oom;
    for (size_t i = 0; args && args[i]; i++)
        if (sp_strv_push(&argv, args[i]) < 0) goto oom;
    bool background = json_is_true(json_object_get(o, "background"));
    const char *cwd, *user;
    char ubuf[24];
    if (opt_str(req, o, "cwd", &cwd, ubuf, sizeof(ubuf)) < 0 ||
        opt_str(req, o, "user", &user, ubuf, sizeof(ubuf)) < 0)
        goto out;
    struct proc_spec spec = {
        .argv = argv,
        .env = env,
        .cwd = cwd,
        .user = user,
        .umask = umask_v,
        .tag = json_str(o, "tag"),
        .timeout_ms = to && json_is_integer(to) ? (uint64_t)json_integer_value(to) * 1000u : 0,
        .stdin_open = json_is_string(in) || background,
        .wrap = true,
    };
    if (spec.cwd && !*spec.cwd) spec.cwd = NULL;
    struct sp_err err = {0};
    struct proc *p;
    int r = proc_start(a->ctx.procs, &spec, &p, &err);
    if (r < 0) {
        if (!is_exec_failure(&err)) {
            respond_start_error(req, &err);
        } else if (background) {
            json_t *e = json_pack("{s:s, s:s, s:i}", "code", "exec_failed", "message", err.msg,
                                  "exit_code", spawn_exec_error_code(r));
            api_respond_json(req, 400, e);
        } else {
            char stderr_text[SP_ERR_MSG_MAX + 16];
            snprintf(stderr_text, sizeof(stderr_text), "sprite-env: %s\n", err.msg);
            json_t *e =
                json_pack("{s:s, s:s, s:s, s:i, s:i, s:s, s:b, s:s}", "cmd", cmd, "stdout", "",
                          "stderr", stderr_text, "exit_code", spawn_exec_error_code(r),
                          "duration_ms", 0, "encoding", "utf-8", "truncated", 0, "error", err.msg);
            api_respond_json(req, 200, e);
        }
        goto out;
    }
    if (json_is_string(in)) proc_stdin_write(p, json_string_value(in), json_string_length(in));
    if (background) {
        if (json_is_string(in)) proc_stdin_close(p);
        api_respond_json(
            req, 202,
            json_pack("{s:i, s:s, s:s}", "pid", (int)proc_pid(p), "tag", proc_tag(p), "cmd", cmd));
        goto out;
    }
    proc_stdin_close(p);
    struct sync_exec *se = calloc(1, sizeof(*se));
    if (!se || !(se->cmd = strdup(cmd))) {
        free(se);
        proc_signal(p, SIGKILL);
        goto oom;
    }
    se->api = a;
    se->req = req;
    se->f.on_exit = sync_on_exit;
    se->f.data = se;
    req->data = se;
    req->on_abort = sync_on_abort;
    proc_follow(p, &se->f);
    goto out;
oom:
    http_respond_error(req, 503, "out_of_memory", "out of memory");
out:
    sp_strv_free(argv);
    sp_strv_free(args);
    sp_strv_free(env);
    json_decref(o);
}

/* ---- /v1/processes ---- */

void h_v1_processes(struct api *a, struct http_request *req)
{
    json_t *list = json_array();
    size_t n = 0;
    for (struct proc *p = proc_next(a->ctx.procs, NULL); p; p = proc_next(a->ctx.procs, p)) {
        json_array_append_new(list, process_json(p));
        n++;
    }
    api_respond_json(req, 200, json_pack("{s:o, s:I}", "processes", list, "count", (json_int_t)n));
}

/* /v1/processes/{selector}[/stdin] */
void h_v1_process(struct api *a, struct http_request *req)
{
    const char *rest = req->path + strlen("/v1/processes/");
    char sel[128];
    const char *slash = strchr(rest, '/');
    size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
    const char *sub = slash ? slash + 1 : "";
    if (len == 0 || len >= sizeof(sel)) {
        http_respond_error(req, 404, "not_found", "no such process");
        return;
    }
    memcpy(sel, rest, len);
    sel[len] = '\0';
    struct proc *p = proc_find(a->ctx.procs, sel);
    bool is_get = strcmp(req->method, "GET") == 0;
    bool is_delete = strcmp(req->method, "DELETE") == 0;
    bool is_post = strcmp(req->method, "POST") == 0;

    if (!*sub && !is_get && !is_delete) {
        http_respond_error_h(req, 405, "Allow: GET, DELETE\r\n", "method_not_allowed",
                             "use GET or DELETE");
        return;
    }
    if (strcmp(sub, "stream") == 0) {
        if (!is_get) {
            http_respond_error_h(req, 405, "Allow: GET\r\n", "method_not_allowed", "use GET");
            return;
        }
        if (!p) {
            http_respond_error(req, 404, "not_found", "no process with pid or tag \"%s\"", sel);
            return;
        }
        h_process_stream(a, req, p);
        return;
    }
    if (*sub && strcmp(sub, "stdin") != 0 && strcmp(sub, "resize") != 0) {
        http_respond_error(req, 404, "not_found", "no route for %s %s", req->method, req->path);
        return;
    }
    if (*sub && !is_post) {
        http_respond_error_h(req, 405, "Allow: POST\r\n", "method_not_allowed", "use POST");
        return;
    }
    if (!p) {
        http_respond_error(req, 404, "not_found", "no process with pid or tag \"%s\"", sel);
        return;
    }
    if (is_get) {
        api_respond_json(req, 200, process_json(p));
        return;
    }
    if (is_delete) {
        char buf[32];
        const char *s = http_query_get(req, "signal", buf, sizeof(buf));
        int sig = s && *s ? sig_parse(s) : SIGKILL;
        if (sig < 0) {
            http_respond_error(req, 400, "bad_request", "unknown signal \"%s\"", s);
            return;
        }
        if (proc_signal(p, sig) < 0) {
            http_respond_error(req, 409, "not_running", "process %d has exited", (int)proc_pid(p));
            return;
        }
        api_respond_json(req, 200,
                         json_pack("{s:i, s:s, s:s}", "pid", (int)proc_pid(p), "tag", proc_tag(p),
                                   "signal", sig_name(sig)));
        return;
    }
    if (strcmp(sub, "resize") == 0) {
        json_t *o;
        if (api_json_body(req, &o) < 0) return;
        json_t *c = json_object_get(o, "cols"), *r = json_object_get(o, "rows");
        if (!json_is_integer(c) || !json_is_integer(r) || json_integer_value(c) < 1 ||
            json_integer_value(r) < 1 || json_integer_value(c) > 9999 ||
            json_integer_value(r) > 9999) {
            json_decref(o);
            http_respond_error(req, 400, "bad_request", "cols and rows: integers from 1 to 9999");
            return;
        }
        int e = proc_resize(p, (unsigned short)json_integer_value(c),
                            (unsigned short)json_integer_value(r));
        json_decref(o);
        if (e == -ENOTTY) {
            http_respond_error(req, 409, "not_a_tty", "process %d has no terminal",
                               (int)proc_pid(p));
            return;
        }
        if (e < 0) {
            http_respond_error(req, 409, "not_running", "process %d has exited", (int)proc_pid(p));
            return;
        }
        api_respond_json(req, 200, json_pack("{s:b}", "ok", 1));
        return;
    }
    /* POST …/stdin */
    char buf[16];
    const char *eof = http_query_get(req, "eof", buf, sizeof(buf));
    size_t n = sp_buf_pending(&req->body);
    if (!proc_stdin_open(p)) {
        http_respond_error(req, 409, "stdin_closed", "the process's stdin is closed");
        return;
    }
    int r = n ? proc_stdin_write(p, sp_buf_head(&req->body), n) : 0;
    if (r == -ENOBUFS) {
        http_respond_error(req, 429, "stdin_backlog", "too much stdin is queued for the process");
        return;
    }
    if (r < 0 || (!n && !proc_running(p))) {
        http_respond_error(req, 409, "stdin_closed", "the process's stdin is closed");
        return;
    }
    if (eof && strcmp(eof, "true") == 0) proc_stdin_close(p);
    api_respond_json(req, 200, json_pack("{s:I}", "written", (json_int_t)n));
}
