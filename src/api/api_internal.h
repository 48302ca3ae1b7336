/* SPDX-License-Identifier: MIT */
/* Handlers shared between the files of src/api; not a public contract. */
#ifndef SP_API_INTERNAL_H
#define SP_API_INTERNAL_H

#include <jansson.h>

#include "api.h"

struct api {
    struct api_ctx ctx;
    struct http_server *server;
};

void h_health(struct api *a, struct http_request *req);
void h_system(struct api *a, struct http_request *req);
void h_debug_create_zombie(struct api *a, struct http_request *req);
void h_debug_check_process(struct api *a, struct http_request *req);
void h_debug_echo(struct api *a, struct http_request *req);
void h_debug_stream(struct api *a, struct http_request *req);
void h_exec_post(struct api *a, struct http_request *req);
void h_v1_exec(struct api *a, struct http_request *req);
void h_v1_processes(struct api *a, struct http_request *req);
void h_v1_process(struct api *a, struct http_request *req);
void h_exec_get(struct api *a, struct http_request *req);
bool exec_query_has_command(const struct http_request *req);
void respond_start_error(struct http_request *req, const struct sp_err *err);
void h_transcripts_enable(struct api *a, struct http_request *req);
void h_transcripts_disable(struct api *a, struct http_request *req);
void h_transcripts(struct api *a, struct http_request *req);
void h_transcript(struct api *a, struct http_request *req);
void h_process_stream(struct api *a, struct http_request *req, struct proc *p);

#endif
