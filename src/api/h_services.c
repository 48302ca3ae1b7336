/* SPDX-License-Identifier: MIT */
/*
 * /v1/services: sprite-env's service routes (list, get, create-and-start with an NDJSON event
 * stream, delete, start, stop, restart, signal) and the logs route, on the main API and on the
 * local services socket. Status codes follow the original (docs/api.md): 404 unknown service,
 * 409 a state that refuses the operation, 408 a stop that did not end within the wait.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../base/compiler.h"
#include "../base/log.h"
#include "../base/str.h"
#include "../base/time.h"
#include "../os/sig.h"
#include "api_internal.h"

#define STOP_WAIT_MS       10000 /* stop, delete and signal TERM/KILL wait this long */
#define PUT_DEFAULT_MS     5000  /* the PUT stream's default duration */
#define PUT_MAX_MS         3600000
#define EXIT_DRAIN_MS      200           /* after an exit, output still arriving is sent */
#define STREAM_BACKLOG_MAX (1024 * 1024) /* a follower not reading: stop writing beyond */
#define LOGS_TAIL_MAX      100000

static void respond_err(struct http_request *req, int r, const struct sp_err *err)
{
    switch (r) {
    case -ENOENT: http_respond_error(req, 404, "not_found", "%s", err->msg); break;
    case -EEXIST: http_respond_error(req, 409, "already_exists", "%s", err->msg); break;
    case -EBUSY:
    case -EPERM: http_respond_error(req, 409, "conflict", "%s", err->msg); break;
    case -ESRCH: http_respond_error(req, 409, "not_running", "%s", err->msg); break;
    case -ECANCELED: http_respond_error(req, 503, "shutting_down", "%s", err->msg); break;
    case -ENOSPC: http_respond_error(req, 429, "too_many_services", "%s", err->msg); break;
    case -EINVAL: http_respond_error(req, 400, "invalid_service", "%s", err->msg); break;
    default: http_respond_error(req, 500, "internal", "%s", err->msg); break;
    }
}

static struct service *find_or_404(struct api *a, struct http_request *req, const char *name)
{
    struct service *s = svcmgr_find(a->ctx.services, name);
    if (!s || service_deleting(s)) {
        http_respond_error(req, 404, "not_found", "service %s not found", name);
        return NULL;
    }
    return s;
}

/* ---- NDJSON event lines ---- */

static long send_event(struct http_request *req, json_t *ev)
{
    char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    if (!text) return -ENOMEM;
    size_t n = strlen(text);
    text[n] = '\n';
    long r = http_stream_write(req, text, n + 1);
    free(text);
    return r;
}

static json_t *event(const char *type, uint64_t ts_ms)
{
    return json_pack("{s:s, s:I}", "type", type, "timestamp",
                     (json_int_t)(ts_ms ? ts_ms : sp_wall_ms()));
}

static json_t *record_event(const struct logring_rec *rec)
{
    json_t *ev = event(rec->stream == LOGRING_STDERR ? "stderr" : "stdout", rec->ts_ms);
    /* output need not be UTF-8: invalid bytes become U+FFFD rather than a broken line */
    json_t *data = json_stringn_nocheck(rec->data, rec->len);
    if (!sp_utf8_valid(rec->data, rec->len)) {
        json_decref(data);
        char *fixed = malloc(rec->len * 3 + 1);
        size_t o = 0;
        for (size_t i = 0; fixed && i < rec->len;) {
            size_t run = 1;
            while (run <= 4 && i + run <= rec->len && !sp_utf8_valid(rec->data + i, run))
                run++;
            if (run <= 4 && i + run <= rec->len) {
                memcpy(fixed + o, rec->data + i, run);
                o += run;
                i += run;
            } else {
                memcpy(fixed + o, "\xef\xbf\xbd", 3);
                o += 3;
                i++;
            }
        }
        data = fixed ? json_stringn(fixed, o) : NULL;
        free(fixed);
    }
    if (ev && data)
        json_object_set_new(ev, "data", data);
    else
        json_decref(data);
    return ev;
}

/* ---- a stream of one service's events (PUT's and the logs route's) ---- */

enum stream_kind { STREAM_PUT, STREAM_LOGS };

struct svc_stream {
    struct svc_watch w;
    struct api *a;
    struct http_request *req;
    enum stream_kind kind;
    char name[SVC_NAME_MAX + 1];
    uint64_t seq; /* the next record to send */
    bool follow;
    bool exited; /* PUT: the exit event went out; complete after the drain */
    bool paused; /* the client is behind (backlog over STREAM_BACKLOG_MAX): wait for on_drain */
    uint64_t end_seq; /* logs without follow: where it ends */
    bool done;
    struct loop_timer timer; /* PUT: the duration, then the drain after an exit */
};

static void stream_free(struct svc_stream *st)
{
    svcmgr_unwatch(&st->w);
    loop_timer_stop(st->a->ctx.loop, &st->timer);
    free(st);
}

static void stream_abort(struct http_request *req)
{
    struct svc_stream *st = req->data;
    stream_free(st);
}

static void stream_finish(struct svc_stream *st)
{
    struct http_request *req = st->req;
    if (st->kind == STREAM_PUT) {
        json_t *ev = event("complete", 0);
        char out[4200], err[4200];
        snprintf(out, sizeof(out), "%s/logs/services/%s.log", st->a->ctx.state_dir, st->name);
        snprintf(err, sizeof(err), "%s/logs/services/%s.stderr.log", st->a->ctx.state_dir,
                 st->name);
        json_t *lf = json_pack("{s:s, s:s}", "stdout", out, "stderr", err);
        if (ev && lf)
            json_object_set_new(ev, "log_files", lf);
        else
            json_decref(lf);
        send_event(req, ev);
    }
    req->on_abort = NULL;
    req->on_drain = NULL;
    http_stream_end(req);
    stream_free(st);
}

/* Sends held records from st->seq on, while the client keeps up. false when the stream ended. */
static bool stream_pump(struct svc_stream *st)
{
    const struct logring *ring = service_log(st->w.svc);
    if (st->seq < logring_first_seq(ring)) {
        uint64_t missed = logring_first_seq(ring) - st->seq;
        json_t *ev = event("missed", 0);
        if (ev) json_object_set_new(ev, "records", json_integer((json_int_t)missed));
        if (send_event(st->req, ev) < 0) return true; /* the connection is going: on_abort */
        st->seq = logring_first_seq(ring);
    }
    uint64_t end = st->kind == STREAM_LOGS && !st->follow ? st->end_seq : logring_end_seq(ring);
    while (st->seq < end) {
        const struct logring_rec *rec = logring_get(ring, st->seq);
        st->seq++;
        if (!rec) continue;
        long backlog = send_event(st->req, record_event(rec));
        if (backlog < 0) return true;
        if (backlog > STREAM_BACKLOG_MAX) {
            /* no more until the client has taken it: the ring moves on meanwhile, and the
             * client learns what it missed */
            st->paused = true;
            return true;
        }
    }
    return true;
}

static void stream_drain(struct http_request *req)
{
    struct svc_stream *st = req->data;
    st->paused = false;
    if (st->w.svc) stream_pump(st);
}

static void stream_on_log(struct svc_watch *w, const struct logring_rec *rec)
{
    struct svc_stream *st = SP_CONTAINER_OF(w, struct svc_stream, w);
    (void)rec;
    if (!st->paused) stream_pump(st);
}

static void stream_on_exit(struct svc_watch *w, int code)
{
    struct svc_stream *st = SP_CONTAINER_OF(w, struct svc_stream, w);
    if (st->kind != STREAM_PUT || st->exited) return;
    stream_pump(st);
    st->exited = true;
    json_t *ev = event("exit", 0);
    if (ev) json_object_set_new(ev, "exit_code", json_integer(code));
    send_event(st->req, ev);
    loop_timer_start(st->a->ctx.loop, &st->timer, EXIT_DRAIN_MS);
}

/* PUT: a service that could not be started at all (a need failed, the exec failed). */
static void stream_on_state(struct svc_watch *w, enum svc_state from, enum svc_state to)
{
    struct svc_stream *st = SP_CONTAINER_OF(w, struct svc_stream, w);
    if (st->kind != STREAM_PUT || st->exited || to != SVC_FAILED || service_pid(w->svc) > 0) return;
    (void)from;
    json_t *root = service_to_json(w->svc);
    const char *why = json_string_value(json_object_get(json_object_get(root, "state"), "error"));
    char msg[700];
    snprintf(msg, sizeof(msg), "Failed to start service: %s", why ? why : "unknown reason");
    json_decref(root);
    json_t *ev = event("error", 0);
    if (ev) json_object_set_new(ev, "data", json_string(msg));
    send_event(st->req, ev);
    st->exited = true;
    ev = event("exit", 0);
    if (ev) json_object_set_new(ev, "exit_code", json_integer(1));
    send_event(st->req, ev);
    loop_timer_start(st->a->ctx.loop, &st->timer, 0);
}

static void stream_on_gone(struct svc_watch *w)
{
    struct svc_stream *st = SP_CONTAINER_OF(w, struct svc_stream, w);
    /* the watch is already removed; end from the loop, not under the manager's feet */
    st->done = true;
    loop_timer_start(st->a->ctx.loop, &st->timer, 0);
}

static void stream_timer(struct loop_timer *t)
{
    struct svc_stream *st = SP_CONTAINER_OF(t, struct svc_stream, timer);
    if (st->w.svc) stream_pump(st);
    stream_finish(st);
}

static struct svc_stream *stream_new(struct api *a, struct http_request *req, struct service *s,
                                     enum stream_kind kind)
{
    struct svc_stream *st = calloc(1, sizeof(*st));
    if (!st) return NULL;
    st->a = a;
    st->req = req;
    st->kind = kind;
    snprintf(st->name, sizeof(st->name), "%s", service_def(s)->name);
    st->w.on_log = stream_on_log;
    st->w.on_exit = stream_on_exit;
    st->w.on_state = stream_on_state;
    st->w.on_gone = stream_on_gone;
    loop_timer_init(&st->timer, stream_timer);
    req->data = st;
    req->on_abort = stream_abort;
    req->on_drain = stream_drain;
    return st;
}

/* ---- waiting for a stop ---- */

enum wait_kind { WAIT_STOPPED, WAIT_GONE, WAIT_EXIT };

struct svc_wait {
    struct svc_watch w;
    struct api *a;
    struct http_request *req;
    enum wait_kind kind;
    pid_t pid; /* WAIT_EXIT: the process that must end */
    struct loop_timer timer;
};

static void wait_free(struct svc_wait *wt)
{
    svcmgr_unwatch(&wt->w);
    loop_timer_stop(wt->a->ctx.loop, &wt->timer);
    free(wt);
}

static void wait_abort(struct http_request *req)
{
    wait_free(req->data);
}

static void wait_answer(struct svc_wait *wt, int status)
{
    struct http_request *req = wt->req;
    req->on_abort = NULL;
    if (status == 204)
        http_respond(req, 204, NULL, NULL, NULL, 0);
    else
        http_respond_error(req, 408, "timeout", "service did not stop within timeout");
    wait_free(wt);
}

static bool stopped(enum svc_state st)
{
    return st == SVC_STOPPED || st == SVC_FAILED || st == SVC_BACKOFF;
}

static void wait_on_state(struct svc_watch *w, enum svc_state from, enum svc_state to)
{
    struct svc_wait *wt = SP_CONTAINER_OF(w, struct svc_wait, w);
    (void)from;
    if (wt->kind == WAIT_STOPPED && stopped(to)) wait_answer(wt, 204);
}

static void wait_on_exit(struct svc_watch *w, int code)
{
    struct svc_wait *wt = SP_CONTAINER_OF(w, struct svc_wait, w);
    (void)code;
    if (wt->kind == WAIT_EXIT) wait_answer(wt, 204);
}

static void wait_on_gone(struct svc_watch *w)
{
    struct svc_wait *wt = SP_CONTAINER_OF(w, struct svc_wait, w);
    wait_answer(wt, 204);
}

static void wait_timer(struct loop_timer *t)
{
    struct svc_wait *wt = SP_CONTAINER_OF(t, struct svc_wait, timer);
    /* signal: the original answers 204 after its wait either way */
    wait_answer(wt, wt->kind == WAIT_EXIT ? 204 : 408);
}

static void wait_for(struct api *a, struct http_request *req, struct service *s,
                     enum wait_kind kind)
{
    if ((kind == WAIT_STOPPED && stopped(service_state(s))) ||
        (kind == WAIT_EXIT && service_pid(s) == 0)) {
        http_respond(req, 204, NULL, NULL, NULL, 0);
        return;
    }
    struct svc_wait *wt = calloc(1, sizeof(*wt));
    if (!wt) {
        http_respond_error(req, 503, "out_of_memory", "out of memory");
        return;
    }
    wt->a = a;
    wt->req = req;
    wt->kind = kind;
    wt->w.on_state = wait_on_state;
    wt->w.on_exit = wait_on_exit;
    wt->w.on_gone = wait_on_gone;
    loop_timer_init(&wt->timer, wait_timer);
    loop_timer_start(a->ctx.loop, &wt->timer, STOP_WAIT_MS);
    req->data = wt;
    req->on_abort = wait_abort;
    svcmgr_watch(s, &wt->w);
}

/* ---- the routes ---- */

static void list(struct api *a, struct http_request *req)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < svcmgr_count(a->ctx.services); i++) {
        struct service *s = svcmgr_at(a->ctx.services, i);
        if (service_deleting(s)) continue;
        if (json_array_append_new(arr, service_to_json(s)) < 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    api_respond_json(req, 200, arr);
}

static void create(struct api *a, struct http_request *req, const char *name)
{
    struct sp_err err = {0};
    char buf[64];
    uint64_t ms = PUT_DEFAULT_MS;
    const char *dur = http_query_get(req, "duration", buf, sizeof(buf));
    if (!dur) dur = http_query_get(req, "timeout", buf, sizeof(buf));
    if (dur) {
        uint64_t ns;
        if (sp_duration_parse(dur, &ns) < 0 || ns / 1000000 > PUT_MAX_MS) {
            http_respond_error(req, 400, "invalid_duration",
                               "duration: \"%s\" is not a duration up to 1h (e.g. \"5s\")", dur);
            return;
        }
        ms = ns / 1000000;
    }
    if (!svcdef_name_ok(name)) {
        http_respond_error(req, 400, "invalid_service",
                           "service name \"%s\": use 1 to %d of [A-Za-z0-9_.-], starting with a "
                           "letter or digit",
                           name, SVC_NAME_MAX);
        return;
    }
    json_t *body;
    if (api_json_body(req, &body) < 0) return;
    struct svc_def *def;
    if (svcdef_from_json(name, SVC_ORIGIN_API, body, &def, &err) < 0) {
        json_decref(body);
        http_respond_error(req, 400, "invalid_service", "%s", err.msg);
        return;
    }
    json_decref(body);
    int r = svcmgr_create(a->ctx.services, def, &err);
    if (r < 0) {
        respond_err(req, r, &err);
        return;
    }
    struct service *s = svcmgr_find(a->ctx.services, name);
    struct svc_stream *st = stream_new(a, req, s, STREAM_PUT);
    if (!st) {
        http_respond_error(req, 503, "out_of_memory", "out of memory");
        return;
    }
    st->seq = logring_end_seq(service_log(s));
    http_stream_begin(req, 200, "application/x-ndjson", NULL);
    char msg[128];
    snprintf(msg, sizeof(msg), "Service %s started", name);
    json_t *ev = event("started", 0);
    if (ev) json_object_set_new(ev, "data", json_string(msg));
    send_event(req, ev);
    svcmgr_watch(s, &st->w);
    loop_timer_start(a->ctx.loop, &st->timer, ms);
    r = svcmgr_start(a->ctx.services, s, &err);
    if (r < 0 && st->w.svc && !st->exited) {
        /* could not even begin (shutting down): say so in the stream */
        char m2[700];
        snprintf(m2, sizeof(m2), "Failed to start service: %s", err.msg);
        ev = event("error", 0);
        if (ev) json_object_set_new(ev, "data", json_string(m2));
        send_event(req, ev);
        st->exited = true;
        ev = event("exit", 0);
        if (ev) json_object_set_new(ev, "exit_code", json_integer(1));
        send_event(req, ev);
        loop_timer_start(a->ctx.loop, &st->timer, 0);
    }
}

/* A logs request without follow: what was held when it came, then the end. */
static void logs_drain_end(struct http_request *req)
{
    struct svc_stream *st = req->data;
    st->paused = false;
    if (st->w.svc && st->seq < st->end_seq) stream_pump(st);
    if (!st->w.svc || st->seq >= st->end_seq) stream_finish(st);
}

static void logs(struct api *a, struct http_request *req, struct service *s)
{
    char buf[32];
    const char *v = http_query_get(req, "follow", buf, sizeof(buf));
    bool follow = v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
    uint64_t tail = UINT64_MAX;
    const char *t = http_query_get(req, "tail", buf, sizeof(buf));
    if (t && strcmp(t, "all") != 0 && sp_parse_u64(t, LOGS_TAIL_MAX, &tail) < 0) {
        http_respond_error(req, 400, "invalid_tail",
                           "tail: \"%s\" is not a number of lines up to %d or \"all\"", t,
                           LOGS_TAIL_MAX);
        return;
    }
    struct svc_stream *st = stream_new(a, req, s, STREAM_LOGS);
    if (!st) {
        http_respond_error(req, 503, "out_of_memory", "out of memory");
        return;
    }
    const struct logring *ring = service_log(s);
    st->seq = tail == UINT64_MAX ? logring_first_seq(ring) : logring_tail_seq(ring, (size_t)tail);
    st->follow = follow;
    st->end_seq = logring_end_seq(ring);
    http_stream_begin(req, 200, "application/x-ndjson", NULL);
    svcmgr_watch(s, &st->w);
    stream_pump(st);
    if (!follow) {
        if (st->seq >= st->end_seq) {
            stream_finish(st);
        } else {
            st->w.on_log = NULL; /* the backlog drains through on_drain, then it ends */
            req->on_drain = logs_drain_end;
        }
    }
}

/* TERM, SIGTERM, term, sigterm … of the six the original accepts. */
static int parse_api_signal(const char *s)
{
    static const struct {
        const char *name;
        int sig;
    } ok[] = {{"TERM", SIGTERM}, {"KILL", SIGKILL}, {"INT", SIGINT},
              {"HUP", SIGHUP},   {"USR1", SIGUSR1}, {"USR2", SIGUSR2}};
    if (strncasecmp(s, "SIG", 3) == 0) s += 3;
    for (size_t i = 0; i < SP_ARRAY_LEN(ok); i++)
        if (strcasecmp(s, ok[i].name) == 0) return ok[i].sig;
    return 0;
}

static void signal_route(struct api *a, struct http_request *req)
{
    json_t *body;
    if (api_json_body(req, &body) < 0) return;
    const char *name = json_string_value(json_object_get(body, "name"));
    const char *sname = json_string_value(json_object_get(body, "signal"));
    if (!name || !*name || !sname || !*sname) {
        json_decref(body);
        http_respond_error(req, 400, "invalid_request", "\"name\" and \"signal\" are required");
        return;
    }
    int sig = parse_api_signal(sname);
    if (!sig) {
        http_respond_error(req, 400, "invalid_signal",
                           "invalid signal \"%s\": use TERM, KILL, INT, HUP, USR1 or USR2", sname);
        json_decref(body);
        return;
    }
    struct service *s = find_or_404(a, req, name);
    json_decref(body);
    if (!s) return;
    struct sp_err err = {0};
    pid_t pid = service_pid(s);
    int r = svcmgr_signal(a->ctx.services, s, sig, &err);
    if (r < 0) {
        respond_err(req, r, &err);
        return;
    }
    if (sig == SIGTERM || sig == SIGKILL) {
        (void)pid;
        wait_for(a, req, s, WAIT_EXIT);
        return;
    }
    http_respond(req, 204, NULL, NULL, NULL, 0);
}

void h_services_list(struct api *a, struct http_request *req)
{
    list(a, req);
}

void h_services(struct api *a, struct http_request *req)
{
    const char *rest = req->path + strlen("/v1/services/");
    char name[SVC_NAME_MAX + 2];
    const char *slash = strchr(rest, '/');
    size_t nlen = slash ? (size_t)(slash - rest) : strlen(rest);
    const char *action = slash ? slash + 1 : "";
    struct sp_err err = {0};

    if (strcmp(rest, "signal") == 0 && strcmp(req->method, "POST") == 0) {
        signal_route(a, req);
        return;
    }
    if (nlen == 0 || nlen > SVC_NAME_MAX || strchr(action, '/')) {
        http_respond_error(req, 404, "not_found", "no route for %s %s", req->method, req->path);
        return;
    }
    memcpy(name, rest, nlen);
    name[nlen] = '\0';
    const char *m = req->method;

    if (!*action) {
        if (strcmp(m, "PUT") == 0) {
            create(a, req, name);
            return;
        }
        if (strcmp(m, "GET") != 0 && strcmp(m, "DELETE") != 0) {
            http_respond_error_h(req, 405, "Allow: GET, PUT, DELETE\r\n", "method_not_allowed",
                                 "method %s is not allowed on %s", m, req->path);
            return;
        }
        struct service *s = find_or_404(a, req, name);
        if (!s) return;
        if (strcmp(m, "GET") == 0) {
            api_respond_json(req, 200, service_to_json(s));
            return;
        }
        int r = svcmgr_delete(a->ctx.services, s, &err);
        if (r < 0) {
            respond_err(req, r, &err);
            return;
        }
        s = svcmgr_find(a->ctx.services, name);
        if (!s || !service_deleting(s) || service_def(s) == NULL)
            http_respond(req, 204, NULL, NULL, NULL, 0);
        else
            wait_for(a, req, s, WAIT_GONE);
        return;
    }
    bool is_logs = strcmp(action, "logs") == 0;
    if (!is_logs && strcmp(action, "start") != 0 && strcmp(action, "stop") != 0 &&
        strcmp(action, "restart") != 0) {
        http_respond_error(req, 404, "not_found", "no route for %s %s", m, req->path);
        return;
    }
    if (strcmp(m, is_logs ? "GET" : "POST") != 0) {
        http_respond_error_h(req, 405, is_logs ? "Allow: GET\r\n" : "Allow: POST\r\n",
                             "method_not_allowed", "method %s is not allowed on %s", m, req->path);
        return;
    }
    struct service *s = find_or_404(a, req, name);
    if (!s) return;
    if (is_logs) {
        logs(a, req, s);
        return;
    }
    int r;
    if (strcmp(action, "start") == 0) {
        if (service_state(s) == SVC_STARTING) {
            http_respond_error(req, 409, "conflict", "service %s is already starting", name);
            return;
        }
        r = svcmgr_start(a->ctx.services, s, &err);
    } else if (strcmp(action, "stop") == 0) {
        r = svcmgr_stop(a->ctx.services, s, &err);
        if (r == 0) {
            wait_for(a, req, s, WAIT_STOPPED);
            return;
        }
    } else {
        r = svcmgr_restart(a->ctx.services, s, &err);
    }
    if (r < 0)
        respond_err(req, r, &err);
    else
        http_respond(req, 204, NULL, NULL, NULL, 0);
}
