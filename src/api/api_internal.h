/* SPDX-License-Identifier: MIT */
/* Handlers shared between the files of src/api; not a public contract. */
#ifndef SP_API_INTERNAL_H
#define SP_API_INTERNAL_H

#include <jansson.h>

#include "api.h"

struct docker;
struct files;

struct api {
    struct api_ctx ctx;
    struct http_server *server;
    struct docker *docker;
    struct files *files;
    char common_headers[160];
};

void h_health(struct api *a, struct http_request *req);
void h_system(struct api *a, struct http_request *req);
void h_debug_create_zombie(struct api *a, struct http_request *req);
void h_debug_check_process(struct api *a, struct http_request *req);
void h_debug_echo(struct api *a, struct http_request *req);
void h_debug_stream(struct api *a, struct http_request *req);
void h_debug_body(struct api *a, struct http_request *req);
void h_exec_post(struct api *a, struct http_request *req);
void h_v1_exec(struct api *a, struct http_request *req);
void h_v1_processes(struct api *a, struct http_request *req);
void h_v1_process(struct api *a, struct http_request *req);
void h_exec_get(struct api *a, struct http_request *req);
bool exec_query_has_command(const struct http_request *req);
/* cmd / cmd[] / path / env of the query form; -1 after answering (see h_exec.c). */
int exec_query_command(struct http_request *req, char ***cmd, char ***env);
void respond_start_error(struct http_request *req, const struct sp_err *err);
void h_transcripts_enable(struct api *a, struct http_request *req);
void h_transcripts_disable(struct api *a, struct http_request *req);
void h_transcripts(struct api *a, struct http_request *req);
void h_transcript(struct api *a, struct http_request *req);
/* The request body as a JSON object; -1 after answering 400. */
int api_json_body(struct http_request *req, json_t **out);
/* o[key] as a vector of strings (*out NULL when absent or null); -1 after answering 400/503. */
int api_json_strv(struct http_request *req, json_t *o, const char *key, char ***out);
/* The path without a Docker API version prefix ("/v1.51/x" → "/x"); *minor gets the version's
 * minor number (the current one when there is no prefix). */
const char *api_unversioned_path(const char *path, unsigned *minor);

/* Files (h_files.c). */
int files_new(struct api *a, struct sp_err *err);
void files_free(struct api *a);
void h_files(struct api *a, struct http_request *req);
void h_files_write(struct api *a, struct http_request *req); /* PUT /v1/files/write: streamed */
/* envd's GET/HEAD /files (download: ranges, If-Modified-Since) and POST /files (upload). */
void h_envd_files_download(struct api *a, struct http_request *req);
void h_envd_files_upload(struct api *a, struct http_request *req);
/* POST /v1/files/write and /v1/files/stream/write: multipart, streamed. */
void h_files_write_multipart(struct api *a, struct http_request *req);
/* The answer to an errno of a file operation on path (404 not_found, 403 forbidden, …). */
void files_respond_error(struct http_request *req, int r, const char *path);
/* The files root (for the watch routes); root_dir names it, for users_lookup. */
struct fsroot;
const struct fsroot *files_fsroot(struct api *a);
const char *files_root_dir(struct api *a);
/* GET /v1/files/watch (h_watch.c): inotify events as WebSocket messages or NDJSON. */
void h_files_watch(struct api *a, struct http_request *req);
void watch_free_all(struct api *a); /* at teardown, after the server is gone */

/* Sandboxes and volumes (h_sandboxes.c). */
void h_sandboxes_list(struct api *a, struct http_request *req);
void h_sandboxes(struct api *a, struct http_request *req);
void h_volumes(struct api *a, struct http_request *req);
/* Relays req to the sandbox's agent with the request target given (or answers the error). */
void sandbox_proxy(struct api *a, struct http_request *req, struct sandbox *sb, const char *target);

/* Docker Engine API (h_docker.c). */
#define DOCKER_API_VERSION "1.51"
#define DOCKER_API_MINOR   51
int docker_new(struct api *a, struct sp_err *err);
void docker_free(struct api *a);
void h_docker_ping(struct api *a, struct http_request *req);
void h_docker_version(struct api *a, struct http_request *req);
void h_docker_info(struct api *a, struct http_request *req);
void h_docker_containers(struct api *a, struct http_request *req);
void h_docker_exec(struct api *a, struct http_request *req);
/* POST /exec with a Docker body ("Cmd"): an exec created in the root environment. */
void docker_exec_create_root(struct api *a, struct http_request *req, json_t *body);

/* Services (h_services.c). */
void h_services_list(struct api *a, struct http_request *req);
void h_services(struct api *a, struct http_request *req);

void h_process_stream(struct api *a, struct http_request *req, struct proc *p);

#endif
