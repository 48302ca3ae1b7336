/* SPDX-License-Identifier: MIT */
/*
 * /v1/sandboxes and /v1/volumes (docs/sandboxes.md): the manager's operations, and the proxy of
 * /v1/sandboxes/{id}/… to the sandbox's agent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../base/log.h"
#include "../sandbox/sbspec.h"
#include "api_internal.h"
#include "proxy.h"

#define PREFIX "/v1/sandboxes/"

/* The status and code for a manager error (sandbox.h lists them). */
static void respond_sb_error(struct http_request *req, int r, const struct sp_err *err)
{
    int status = 500;
    const char *code = "internal";
    switch (r) {
    case -EINVAL: status = 400, code = "invalid_request"; break;
    case -ENOTSUP: status = 400, code = "unsupported"; break;
    case -ENOENT: status = 404, code = "not_found"; break;
    case -EEXIST: status = 409, code = "name_taken"; break;
    case -EBUSY: status = 409, code = "conflict"; break;
    case -EAGAIN: status = 429, code = "too_many_sandboxes"; break;
    case -EMFILE: status = 429, code = "too_many_requests"; break;
    case -EPERM: status = 403, code = "forbidden"; break;
    case -ETIMEDOUT: status = 504, code = "timeout"; break;
    case -ECHILD: status = 502, code = "agent_failed"; break;
    default: break;
    }
    if (r == -EBUSY && strcmp(err->msg, "sandbox is paused") == 0) code = "sandbox_paused";
    http_respond_error(req, status, code, "%s", err->msg);
}

static bool available(struct api *a, struct http_request *req)
{
    if (a->ctx.sandboxes) return true;
    http_respond_error(req, 503, "sandboxes_unavailable",
                       "sandboxes are off (sandboxes.enabled is false, or the daemon is not root)");
    return false;
}

/* ---- create / destroy ---- */

static void on_abort_op(struct http_request *req)
{
    sbop_detach(req->data);
}

static void on_created(void *ud, struct sandbox *sb, int r, const struct sp_err *err)
{
    struct http_request *req = ud;
    req->on_abort = NULL;
    if (r < 0) {
        respond_sb_error(req, r, err);
        return;
    }
    api_respond_json(req, 201, sandbox_json(sb));
}

static void h_create(struct api *a, struct http_request *req)
{
    json_t *body = NULL, *spec = NULL;
    struct sp_err err = {0};
    if (api_json_body(req, &body) < 0) return;
    int r = sbspec_parse(body, &spec, &err);
    json_decref(body);
    if (r < 0) {
        http_respond_error(req, 400, "invalid_request", "%s", err.msg);
        return;
    }
    struct sbop *op = NULL;
    r = sbmgr_create(a->ctx.sandboxes, spec, on_created, req, &op, &err);
    json_decref(spec);
    if (r < 0) {
        respond_sb_error(req, r, &err);
        return;
    }
    req->data = op;
    req->on_abort = on_abort_op;
}

static void on_destroyed(void *ud, struct sandbox *sb, int r, const struct sp_err *err)
{
    (void)sb;
    struct http_request *req = ud;
    req->on_abort = NULL;
    if (r < 0)
        respond_sb_error(req, r, err);
    else
        http_respond(req, 204, NULL, NULL, NULL, 0);
}

static void on_paused(void *ud, struct sandbox *sb, int r, const struct sp_err *err)
{
    struct http_request *req = ud;
    req->on_abort = NULL;
    if (r < 0)
        respond_sb_error(req, r, err);
    else
        api_respond_json(req, 200, sandbox_json(sb));
}

void h_sandboxes_list(struct api *a, struct http_request *req)
{
    if (!available(a, req)) return;
    if (strcmp(req->method, "POST") == 0) {
        h_create(a, req);
        return;
    }
    api_respond_json(req, 200, sbmgr_list_json(a->ctx.sandboxes));
}

/* ---- the proxy ---- */

struct proxied {
    struct api *a;
    char id[SANDBOX_ID_LEN + 1];
};

static void on_proxy_end(void *ud)
{
    struct proxied *p = ud;
    if (p->a->ctx.sandboxes) sbmgr_request_end(p->a->ctx.sandboxes, p->id);
    free(p);
}

void sandbox_proxy(struct api *a, struct http_request *req, struct sandbox *sb, const char *target)
{
    struct sbmgr *m = a->ctx.sandboxes;
    struct sp_err err = {0};
    const char *auth;
    char sock[64];
    int sockfd = sandbox_upstream(m, sb, sock, sizeof(sock), &auth, &err), r;
    if (sockfd == -ECONNREFUSED) {
        http_respond_error(req, 502, "agent_unreachable", "sandbox %s: %s", sandbox_id(sb),
                           err.msg);
        return;
    }
    if (sockfd < 0) {
        respond_sb_error(req, sockfd, &err);
        return;
    }
    struct proxied *p = calloc(1, sizeof(*p));
    if (!p) {
        close(sockfd);
        http_respond_error(req, 503, "out_of_memory", "out of memory");
        return;
    }
    p->a = a;
    snprintf(p->id, sizeof(p->id), "%s", sandbox_id(sb));
    struct proxy_opts po = {.socket_path = sock,
                            .target = target,
                            .authorization = auth,
                            .on_end = on_proxy_end,
                            .ud = p};
    r = proxy_request(req, a->ctx.loop, &po, &err);
    close(sockfd);      /* connected (or not): the path through it is no longer needed */
    if (r == -EINVAL) { /* a target the request line cannot carry */
        free(p);
        http_respond_error(req, 400, "bad_request", "%s", err.msg);
        return;
    }
    if (r < 0) {
        free(p);
        http_respond_error(req, 502, "agent_unreachable",
                           "sandbox %s: the agent does not answer: %s", sandbox_id(sb), err.msg);
        return;
    }
    sbmgr_request_begin(m, sb);
}

/* /v1/sandboxes/{id}/-/<path> → /<path>; GET …/exec → /exec; …/<rest> → /v1/<rest> */
static void proxy(struct api *a, struct http_request *req, struct sandbox *sb, const char *rest)
{
    const char *q = strchr(req->target, '?');
    char *target = NULL;
    int n;
    if (strncmp(rest, "-/", 2) == 0)
        n = asprintf(&target, "/%s%s", rest + 2, q ? q : "");
    else if (strcmp(rest, "exec") == 0 && strcmp(req->method, "GET") == 0)
        n = asprintf(&target, "/exec%s", q ? q : "");
    else
        n = asprintf(&target, "/v1/%s%s", rest, q ? q : "");
    if (n < 0) {
        http_respond_error(req, 503, "out_of_memory", "out of memory");
        return;
    }
    sandbox_proxy(a, req, sb, target);
    free(target);
}

void h_sandboxes(struct api *a, struct http_request *req)
{
    if (!available(a, req)) return;
    struct sbmgr *m = a->ctx.sandboxes;
    const char *path = req->path + strlen(PREFIX);
    const char *slash = strchr(path, '/');
    char key[128];
    size_t klen = slash ? (size_t)(slash - path) : strlen(path);
    if (klen == 0 || klen >= sizeof(key)) {
        http_respond_error(req, 404, "not_found", "no sandbox %.*s", (int)(klen > 64 ? 64 : klen),
                           path);
        return;
    }
    memcpy(key, path, klen);
    key[klen] = 0;
    struct sandbox *sb = sbmgr_find(m, key);
    if (!sb) {
        http_respond_error(req, 404, "not_found", "no sandbox %s", key);
        return;
    }
    const char *rest = slash ? slash + 1 : "";
    struct sp_err err = {0};
    int r;
    if (!*rest) {
        if (strcmp(req->method, "GET") == 0) {
            api_respond_json(req, 200, sandbox_json(sb));
        } else if (strcmp(req->method, "DELETE") == 0) {
            struct sbop *op = NULL;
            if ((r = sbmgr_destroy(m, sb, on_destroyed, req, &op, &err)) < 0) {
                respond_sb_error(req, r, &err);
                return;
            }
            req->data = op;
            req->on_abort = on_abort_op;
        } else {
            http_respond_error_h(req, 405, "Allow: GET, DELETE\r\n", "method_not_allowed",
                                 "method %s is not allowed on %s", req->method, req->path);
        }
        return;
    }
    bool pause = strcmp(rest, "pause") == 0, resume = strcmp(rest, "resume") == 0;
    if (pause || resume || strcmp(rest, "ping") == 0) {
        if (strcmp(req->method, "POST") != 0) {
            http_respond_error_h(req, 405, "Allow: POST\r\n", "method_not_allowed",
                                 "method %s is not allowed on %s", req->method, req->path);
            return;
        }
        if (pause) {
            struct sbop *op = NULL;
            if ((r = sbmgr_pause(m, sb, on_paused, req, &op, &err)) < 0) {
                respond_sb_error(req, r, &err);
                return;
            }
            if (op) { /* answered once frozen */
                req->data = op;
                req->on_abort = on_abort_op;
                return;
            }
        }
        if (resume && (r = sbmgr_resume(m, sb, &err)) < 0) {
            respond_sb_error(req, r, &err);
            return;
        }
        if (!pause) sandbox_touch(m, sb);
        api_respond_json(req, 200, sandbox_json(sb));
        return;
    }
    proxy(a, req, sb, rest);
}

/* ---- volumes ---- */

void h_volumes(struct api *a, struct http_request *req)
{
    if (!available(a, req)) return;
    struct sbmgr *m = a->ctx.sandboxes;
    struct sp_err err = {0};
    int r;
    if (strcmp(req->path, "/v1/volumes") == 0) {
        if (strcmp(req->method, "GET") == 0) {
            api_respond_json(req, 200, sbmgr_volumes_json(m));
            return;
        }
        json_t *body = NULL, *out = NULL;
        if (api_json_body(req, &body) < 0) return;
        const char *name = json_string_value(json_object_get(body, "name"));
        if (!name || json_object_size(body) != 1) {
            json_decref(body);
            http_respond_error(req, 400, "invalid_request",
                               "the body is {\"name\": NAME} and nothing else");
            return;
        }
        r = sbmgr_volume_create(m, name, &out, &err);
        json_decref(body);
        if (r < 0) {
            if (r == -EEXIST) {
                http_respond_error(req, 409, "volume_exists", "%s", err.msg);
                return;
            }
            respond_sb_error(req, r, &err);
            return;
        }
        api_respond_json(req, 201, out);
        return;
    }
    const char *name = req->path + strlen("/v1/volumes/");
    if ((r = sbmgr_volume_delete(m, name, &err)) < 0) {
        if (r == -EBUSY) {
            http_respond_error(req, 409, "volume_in_use", "%s", err.msg);
            return;
        }
        respond_sb_error(req, r, &err);
        return;
    }
    http_respond(req, 204, NULL, NULL, NULL, 0);
}
