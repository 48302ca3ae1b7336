/* SPDX-License-Identifier: MIT */
/*
 * The seed's transcripts: POST /transcripts/enable|disable → {"enabled":bool}; GET /transcripts
 * lists the recorded ones; GET /transcripts/{id} returns one (JSON lines). Recording itself is
 * in src/proc/transcript.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../base/buf.h"
#include "../base/fd.h"
#include "api_internal.h"

static void transcripts_dir(struct api *a, char *buf, size_t len)
{
    snprintf(buf, len, "%s/transcripts", a->ctx.state_dir);
}

static void respond_enabled(struct api *a, struct http_request *req)
{
    api_respond_json(req, 200,
                     json_pack("{s:b}", "enabled", proc_table_transcripts(a->ctx.procs) != NULL));
}

void h_transcripts_enable(struct api *a, struct http_request *req)
{
    char dir[4200];
    transcripts_dir(a, dir, sizeof(dir));
    if (mkdir(a->ctx.state_dir, 0700) < 0 && errno != EEXIST) {
        http_respond_error(req, 500, "io_error", "%s: %s", a->ctx.state_dir, strerror(errno));
        return;
    }
    int r = proc_table_set_transcripts(a->ctx.procs, dir);
    if (r < 0) {
        http_respond_error(req, 500, "io_error", "%s: %s", dir, strerror(-r));
        return;
    }
    respond_enabled(a, req);
}

void h_transcripts_disable(struct api *a, struct http_request *req)
{
    proc_table_set_transcripts(a->ctx.procs, NULL);
    respond_enabled(a, req);
}

static bool valid_id(const char *id)
{
    if (!*id || strlen(id) > 100 || id[0] == '.') return false;
    return strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
           strlen(id);
}

void h_transcripts(struct api *a, struct http_request *req)
{
    char dir[4200];
    transcripts_dir(a, dir, sizeof(dir));
    json_t *list = json_array();
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t n = strlen(e->d_name);
            if (n <= 6 || strcmp(e->d_name + n - 6, ".jsonl") != 0) continue;
            struct stat st;
            if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                continue;
            json_array_append_new(list, json_pack("{s:s%, s:I, s:I}", "id", e->d_name, n - 6,
                                                  "size", (json_int_t)st.st_size, "modified",
                                                  (json_int_t)st.st_mtime));
        }
        closedir(d);
    }
    api_respond_json(req, 200,
                     json_pack("{s:o, s:I, s:b}", "transcripts", list, "count",
                               (json_int_t)json_array_size(list), "enabled",
                               proc_table_transcripts(a->ctx.procs) != NULL));
}

struct transcript_reader {
    int fd;
};

static void reader_abort(struct http_request *req)
{
    struct transcript_reader *tr = req->data;
    sp_close(tr->fd);
    free(tr);
}

static void reader_pump(struct http_request *req)
{
    struct transcript_reader *tr = req->data;
    char chunk[65536];
    for (;;) {
        ssize_t n = sp_read(tr->fd, chunk, sizeof(chunk));
        if (n <= 0) break;
        long backlog = http_stream_write(req, chunk, (size_t)n);
        if (backlog < 0) return;          /* gone: on_abort frees */
        if (backlog > 256 * 1024) return; /* on_drain continues */
    }
    req->on_abort = NULL;
    req->on_drain = NULL;
    req->data = NULL;
    sp_close(tr->fd);
    free(tr);
    http_stream_end(req);
}

void h_transcript(struct api *a, struct http_request *req)
{
    const char *id = req->path + strlen("/transcripts/");
    if (!valid_id(id)) {
        http_respond_error(req, 404, "not_found", "no such transcript");
        return;
    }
    char path[4400];
    char dir[4200];
    transcripts_dir(a, dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/%s.jsonl", dir, id);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
        sp_close(fd);
        fd = -1;
    }
    if (fd < 0) {
        http_respond_error(req, 404, "not_found", "no transcript \"%s\"", id);
        return;
    }
    /* streamed in chunks with back-pressure: a slow client costs one chunk, not the file */
    struct transcript_reader *tr = calloc(1, sizeof(*tr));
    if (!tr) {
        sp_close(fd);
        http_respond_error(req, 503, "out_of_memory", "out of memory");
        return;
    }
    tr->fd = fd;
    req->data = tr;
    req->on_abort = reader_abort;
    req->on_drain = reader_pump;
    http_stream_begin(req, 200, "application/x-ndjson", NULL);
    reader_pump(req);
}
