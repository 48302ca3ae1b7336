/* SPDX-License-Identifier: MIT */
/* Transcripts: see transcript.h. Writes are small appends to a local file, made in the loop. */
#include "transcript.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "../base/fd.h"
#include "../base/log.h"
#include "../base/str.h"
#include "../base/time.h"
#include "../os/sig.h"
#include "proc.h"

struct transcript {
    int fd;
    uint64_t written, max;
    bool truncated;
};

static void put(struct transcript *t, json_t *o)
{
    char ts[40];
    sp_time_rfc3339(ts, sizeof(ts));
    json_object_set_new(o, "time", json_string(ts));
    char *line = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!line) return;
    size_t n = strlen(line);
    line[n] = '\n';
    if (t->written + n + 1 > t->max && !t->truncated) {
        char note[96];
        int k = snprintf(note, sizeof(note), "{\"type\":\"truncated\",\"time\":\"%s\"}\n", ts);
        free(line);
        t->truncated = true;
        if (k > 0 && sp_write_all(t->fd, note, (size_t)k) == 0) t->written += (size_t)k;
        return;
    }
    if (!t->truncated && sp_write_all(t->fd, line, n + 1) == 0) t->written += n + 1;
    free(line);
}

struct transcript *transcript_open(const char *dir, struct proc *p, uint64_t max_bytes)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.jsonl", dir, proc_tag(p));
    struct transcript *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    /* a tag used again starts a new transcript (the file is named by the tag) */
    t->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (t->fd < 0) {
        sp_warn("transcript %s: %s", path, strerror(errno));
        free(t);
        return NULL;
    }
    t->max = max_bytes;
    json_t *args = json_array();
    char *const *argv = proc_argv(p);
    for (size_t i = 0; argv[i]; i++)
        json_array_append_new(args, json_string(argv[i]));
    json_t *o = json_pack("{s:s, s:i, s:s, s:o, s:b}", "type", "start", "pid", (int)proc_pid(p),
                          "tag", proc_tag(p), "argv", args, "tty", proc_is_tty(p));
    if (o && proc_cwd(p)) json_object_set_new(o, "cwd", json_string(proc_cwd(p)));
    if (o) put(t, o);
    return t;
}

void transcript_data(struct transcript *t, const char *stream, const void *data, size_t n)
{
    if (!t || t->truncated || n == 0) return;
    json_t *d = json_stringn(data, n);
    const char *enc = "utf-8";
    if (!d) {
        char *b64 = malloc(sp_base64_encoded_len(n) + 1);
        if (!b64) return;
        sp_base64_encode(data, n, b64);
        d = json_string(b64);
        free(b64);
        enc = "base64";
    }
    json_t *o = json_pack("{s:s, s:o, s:s}", "type", stream, "data", d, "encoding", enc);
    if (o) put(t, o);
}

void transcript_close(struct transcript *t, struct proc *p)
{
    if (!t) return;
    json_t *o = json_pack("{s:s, s:i}", "type", "exit", "exit_code", proc_exit_code(p));
    if (o && proc_term_signal(p))
        json_object_set_new(o, "signal", json_string(sig_name(proc_term_signal(p))));
    if (o && proc_timed_out(p)) json_object_set_new(o, "timed_out", json_true());
    if (o) {
        t->truncated = false; /* the exit record is always written */
        t->max = UINT64_MAX;
        put(t, o);
    }
    sp_close(t->fd);
    free(t);
}
