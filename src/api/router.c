/* SPDX-License-Identifier: MIT */
/*
 * Routing and authentication: every request is matched against the route table; every route
 * but GET /health needs the token. Unknown paths are 404, known paths with another method 405
 * with an Allow header.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../base/log.h"
#include "../base/str.h"
#include "api_internal.h"

enum route_flags {
    R_PUBLIC = 1 << 0,      /* no token needed */
    R_DEBUG = 1 << 1,       /* only with -debug-endpoints */
    R_DOCKER = 1 << 2,      /* Docker Engine API: also under a version prefix, /v1.NN/… */
    R_STREAM_BODY = 1 << 3, /* the handler takes the request body as it arrives */
    R_LOCAL = 1 << 4,       /* also served on the local services socket, where no token is asked */
};

struct route {
    const char *method;
    const char *path;
    void (*fn)(struct api *a, struct http_request *req);
    int flags;
};

static const struct route routes[] = {
    {"GET", "/health", h_health, R_PUBLIC},
    {"HEAD", "/health", h_health, R_PUBLIC},
    {"GET", "/v1/system", h_system, 0},
    {"POST", "/exec", h_exec_post, 0},
    {"GET", "/exec", h_exec_get, 0},
    {"POST", "/transcripts/enable", h_transcripts_enable, 0},
    {"POST", "/transcripts/disable", h_transcripts_disable, 0},
    {"GET", "/transcripts", h_transcripts, 0},
    {"GET", "/transcripts/*", h_transcript, 0},
    {"POST", "/v1/exec", h_v1_exec, 0},
    {"GET", "/v1/processes", h_v1_processes, 0},
    {"*", "/v1/processes/*", h_v1_process, 0},
    {"POST", "/debug/create-zombie", h_debug_create_zombie, R_DEBUG},
    {"GET", "/debug/check-process", h_debug_check_process, R_DEBUG},
    {"GET", "/debug/echo", h_debug_echo, R_DEBUG},
    {"GET", "/debug/stream", h_debug_stream, R_DEBUG},
    {"POST", "/debug/body", h_debug_body, R_DEBUG | R_STREAM_BODY},
    {"PUT", "/v1/files/write", h_files_write, R_STREAM_BODY},
    {"POST", "/v1/files/write", h_files_write_multipart, R_STREAM_BODY},
    {"POST", "/v1/files/stream/write", h_files_write_multipart, R_STREAM_BODY},
    {"GET", "/v1/files/watch", h_files_watch, 0},
    {"GET", "/files", h_envd_files_download, 0},
    {"HEAD", "/files", h_envd_files_download, 0},
    {"POST", "/files", h_envd_files_upload, R_STREAM_BODY},
    {"*", "/v1/files/*", h_files, 0},
    {"GET", "/v1/sandboxes", h_sandboxes_list, 0},
    {"POST", "/v1/sandboxes", h_sandboxes_list, 0},
    {"*", "/v1/sandboxes/*", h_sandboxes, R_STREAM_BODY},
    {"GET", "/v1/volumes", h_volumes, 0},
    {"POST", "/v1/volumes", h_volumes, 0},
    {"DELETE", "/v1/volumes/*", h_volumes, 0},
    {"GET", "/v1/services", h_services_list, R_LOCAL},
    {"*", "/v1/services/*", h_services, R_LOCAL},
    {"GET", "/_ping", h_docker_ping, R_PUBLIC | R_DOCKER},
    {"HEAD", "/_ping", h_docker_ping, R_PUBLIC | R_DOCKER},
    {"GET", "/version", h_docker_version, R_PUBLIC | R_DOCKER}, /* docker-py asks first */
    {"GET", "/info", h_docker_info, R_DOCKER},
    {"*", "/containers/*", h_docker_containers, R_DOCKER},
    {"*", "/exec/*", h_docker_exec, R_DOCKER},
};

const char *api_unversioned_path(const char *path, unsigned *minor)
{
    if (minor) *minor = DOCKER_API_MINOR;
    if (path[0] != '/' || path[1] != 'v' || !(path[2] >= '0' && path[2] <= '9')) return path;
    size_t n = 2 + strspn(path + 2, "0123456789.");
    if (path[n] != '/') return path;
    const char *dot = memchr(path + 2, '.', n - 2);
    if (minor && dot) *minor = (unsigned)strtoul(dot + 1, NULL, 10);
    return path + n;
}

bool api_auth_ok(const char *h, const char *token)
{
    size_t tlen = strlen(token);
    if (!h) return false;
    while (*h == ' ')
        h++;
    if (strncasecmp(h, "Bearer", 6) == 0 && h[6] == ' ') {
        const char *t = h + 7;
        while (*t == ' ')
            t++;
        size_t n = strlen(t);
        while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
            n--;
        return sp_ct_equal(t, n, token, tlen);
    }
    if (strncasecmp(h, "Basic", 5) == 0 && h[5] == ' ') {
        const char *t = h + 6;
        while (*t == ' ')
            t++;
        size_t n = strlen(t);
        while (n > 0 && t[n - 1] == ' ')
            n--;
        char dec[1024];
        if (n > 1300) return false;
        long dn = sp_base64_decode(t, n, dec, sizeof(dec));
        if (dn < 7 || strncmp(dec, "bearer:", 7) != 0) return false;
        return sp_ct_equal(dec + 7, (size_t)dn - 7, token, tlen);
    }
    return false;
}

void api_respond_json(struct http_request *req, int status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        http_respond_error(req, 503, "out_of_memory", "out of memory");
        return;
    }
    size_t n = strlen(text);
    text[n] = '\n';
    http_respond(req, status, "application/json", NULL, text, n + 1);
    free(text);
}

/* The route for req (NULL when none); allow collects the methods of a known path. */
static const struct route *find_route(const struct api *a, const struct http_request *req,
                                      bool *path_known, char *allow, size_t allow_len)
{
    const char *unversioned = api_unversioned_path(req->path, NULL);
    *path_known = false;
    if (allow_len) allow[0] = 0;
    for (size_t i = 0; i < SP_ARRAY_LEN(routes); i++) {
        const struct route *r = &routes[i];
        if ((r->flags & R_DEBUG) && !a->ctx.debug_endpoints) continue;
        size_t plen = strlen(r->path);
        /* our own routes win: "/v1/exec" is ours, not Docker's "/exec" under version 1 */
        const char *path = (r->flags & R_DOCKER) ? unversioned : req->path;
        if (plen > 1 && r->path[plen - 1] == '*') { /* prefix route: the handler parses the rest */
            if (strncmp(r->path, path, plen - 1) != 0) continue;
        } else if (strcmp(r->path, path) != 0) {
            continue;
        }
        *path_known = true;
        if (strcmp(r->method, "*") == 0 || strcmp(r->method, req->method) == 0) return r;
        if (!allow_len) continue;
        size_t l = strlen(allow);
        snprintf(allow + l, allow_len - l, "%s%s", l ? ", " : "", r->method);
    }
    return NULL;
}

/* Whether req's route takes its body as a stream (http_server_set_body_hook). */
static bool body_hook(void *ud, const struct http_request *req)
{
    bool known;
    const struct route *r = find_route(ud, req, &known, NULL, 0);
    return r && (r->flags & R_STREAM_BODY);
}

static void dispatch(void *ud, struct http_request *req)
{
    struct api *a = ud;
    char allow[128];
    bool path_known;
    const struct route *match = find_route(a, req, &path_known, allow, sizeof(allow));

    if (req->is_local) {
        /* the local socket serves the service routes only; its 0600 mode is the access control */
        if (!match || !(match->flags & R_LOCAL)) {
            http_respond_error(req, 404, "not_found", "no route for %s %s on this socket",
                               req->method, req->path);
            return;
        }
    } else if (!match || !(match->flags & R_PUBLIC)) {
        const char *xat = http_header_get(req, "X-Access-Token"); /* envd's clients */
        if (!api_auth_ok(http_header_get(req, "Authorization"), a->ctx.token) &&
            !(xat && sp_ct_equal(xat, strlen(xat), a->ctx.token, strlen(a->ctx.token)))) {
            http_respond_error(req, 401, "unauthorized", "missing or invalid authentication");
            return;
        }
    }
    if (!match && path_known) {
        char hdr[160];
        snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
        http_respond_error_h(req, 405, hdr, "method_not_allowed", "method %s is not allowed on %s",
                             req->method, req->path);
        return;
    }
    if (!match) {
        http_respond_error(req, 404, "not_found", "no route for %s %s", req->method, req->path);
        return;
    }
    match->fn(a, req);
}

int api_new(struct api **out, struct http_server **server_out, struct loop *loop,
            const struct http_limits *lim, const struct api_ctx *ctx, struct sp_err *err)
{
    struct api *a = calloc(1, sizeof(*a));
    if (!a) return sp_err_set(err, -ENOMEM, "out of memory");
    a->ctx = *ctx;
    int r = http_server_new(&a->server, loop, lim, dispatch, a);
    if (r < 0) {
        free(a);
        return sp_err_set(err, r, "out of memory");
    }
    /* on every response: what Docker clients read to negotiate (docs/api.md) */
    snprintf(a->common_headers, sizeof(a->common_headers),
             "Api-Version: %s\r\nDocker-Experimental: false\r\nOstype: linux\r\n"
             "Server: sprite-env/%s (linux)\r\n",
             DOCKER_API_VERSION, ctx->version);
    http_server_set_common_headers(a->server, a->common_headers);
    http_server_set_body_hook(a->server, body_hook);
    if ((r = docker_new(a, err)) < 0 || (r = files_new(a, err)) < 0) {
        docker_free(a);
        http_server_free(a->server);
        free(a);
        return r;
    }
    *out = a;
    *server_out = a->server;
    return 0;
}

void api_free(struct api *a)
{
    if (!a) return;
    http_server_free(a->server);
    /* the closed connections' callbacks (queued to the loop) still use the api: run them now */
    loop_run_deferred(a->ctx.loop);
    docker_free(a);
    watch_free_all(a);
    files_free(a);
    free(a);
}
