/* SPDX-License-Identifier: MIT */
/*
 * The API: routes, authentication and the handlers behind them. api_new() wires an HTTP server
 * to the daemon's state; handlers read that state through the pointers in struct api_ctx and
 * never own it.
 */
#ifndef SP_API_H
#define SP_API_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "../os/loop.h"
#include "../os/reap.h"
#include "../proc/proc.h"
#include "../supervisor/mainproc.h"
#include "../sandbox/sandbox.h"
#include "../supervisor/service.h"
#include "http.h"

struct api_ctx {
    struct loop *loop;
    struct reaper *reaper;
    struct mainproc *mainproc;
    struct proc_table *procs;
    struct svcmgr *services;
    struct sbmgr *sandboxes; /* NULL: the sandbox routes answer 503 */
    const char *state_dir;   /* the write directory (transcripts live under it) */
    const char *token;       /* never NULL or empty */
    const char *version;
    uint64_t started_ms; /* sp_now_ms() at start */
    bool debug_endpoints;
    const char *(*system_state)(void *ud); /* "booting", "running", "shutting_down", … */
    const char *(*system_error)(void *ud); /* why the state is "error" (NULL otherwise) */
    void *system_ud;
    const char *files_root;       /* where the file routes resolve paths; NULL: "/" */
    const char *docker_name;      /* the root environment's container name */
    unsigned docker_max_execs;    /* exec records kept */
    uint64_t docker_retention_ms; /* an ended exec stays inspectable this long */
};

struct api;

int api_new(struct api **out, struct http_server **server_out, struct loop *loop,
            const struct http_limits *lim, const struct api_ctx *ctx, struct sp_err *err);
void api_free(struct api *a);

/* True when the Authorization header carries the token (Bearer, or Basic "bearer:<token>"). */
bool api_auth_ok(const char *authorization, const char *token);

/* Sends a JSON value (consumed) as the response body. */
void api_respond_json(struct http_request *req, int status, json_t *body);

#endif
