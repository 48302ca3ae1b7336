/* SPDX-License-Identifier: MIT */
/* GET /health (no auth) and GET /v1/system: what the daemon and its main process are doing. */
#include <unistd.h>

#include "../base/time.h"
#include "api_internal.h"

static json_t *process_json(const struct api *a)
{
    const struct mainproc *m = a->ctx.mainproc;
    if (!m || mainproc_state(m) == MAINPROC_NONE) return json_null();
    enum mainproc_state st = mainproc_state(m);
    int code = mainproc_exit_code(m);
    json_t *o = json_pack("{s:o, s:s, s:o}", "pid",
                          mainproc_pid(m) > 0 ? json_integer(mainproc_pid(m)) : json_null(),
                          "state", mainproc_state_name(st), "exit_code",
                          code >= 0 ? json_integer(code) : json_null());
    if (o && mainproc_error(m)) json_object_set_new(o, "error", json_string(mainproc_error(m)));
    return o;
}

/* The services' counts by state, and why the system is in "error" when it is. */
static void add_system_extras(const struct api *a, json_t *o)
{
    if (!o) return;
    if (a->ctx.services) json_object_set_new(o, "services", svcmgr_summary_json(a->ctx.services));
    const char *why = a->ctx.system_error ? a->ctx.system_error(a->ctx.system_ud) : NULL;
    if (why) json_object_set_new(o, "error", json_string(why));
}

void h_health(struct api *a, struct http_request *req)
{
    struct reaper_stats rs;
    reaper_get_stats(a->ctx.reaper, &rs);
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:b, s:o}", "status", "ok", "state",
                          a->ctx.system_state(a->ctx.system_ud), "version", a->ctx.version,
                          "uptime_ms", (json_int_t)(sp_now_ms() - a->ctx.started_ms), "pid1",
                          rs.pid1, "process", process_json(a));
    add_system_extras(a, o);
    api_respond_json(req, 200, o);
}

void h_system(struct api *a, struct http_request *req)
{
    struct reaper_stats rs;
    reaper_get_stats(a->ctx.reaper, &rs);
    json_t *o =
        json_pack("{s:s, s:s, s:I, s:i, s:b, s:b, s:I, s:I, s:o}", "state",
                  a->ctx.system_state(a->ctx.system_ud), "version", a->ctx.version, "uptime_ms",
                  (json_int_t)(sp_now_ms() - a->ctx.started_ms), "pid", (int)getpid(), "pid1",
                  rs.pid1, "subreaper", rs.subreaper, "reaped", (json_int_t)rs.reaped,
                  "orphans_reaped", (json_int_t)rs.orphans_reaped, "process", process_json(a));
    add_system_extras(a, o);
    api_respond_json(req, 200, o);
}
