/* SPDX-License-Identifier: MIT */
/*
 * Lossless delivery of a process's output to one attached client (DESIGN §3): the HTTP stream of
 * POST /exec, the WebSocket of GET /exec and Docker's hijacked start all use it.
 *
 * attach_pump() sends what the logs hold past the cursors, stdout first, in pieces of at most
 * frame_max bytes, through the owner's send callback (which frames them its way). When the
 * client's backlog passes high_mark the process is paused (proc_pause) and the pump returns; the
 * owner calls it again when its client drained, and on every proc_follower event. The owner
 * follows the process itself; attach_release() gives back a pause still held.
 */
#ifndef SP_ATTACH_H
#define SP_ATTACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../proc/proc.h"

struct iovec;

struct attach {
    struct proc *proc;
    uint64_t cursor[2]; /* where each stream continues (the owner may set them first) */
    bool skip[2];       /* streams nobody wants: their bytes are passed over */
    size_t frame_max;
    long high_mark;
    /* sends one piece of stream s (1 or 2 iovecs); returns the client's backlog, or < 0 when
     * the client is gone */
    long (*send)(void *ctx, int s, const struct iovec *piece, int n);
    void *ctx;
    const char *what; /* names the stream in log lines */
    bool paused;      /* we hold a proc_pause */
};

enum attach_result {
    ATTACH_WAITING, /* caught up with a running process, or paused behind the client */
    ATTACH_DONE,    /* the process finished and every byte was sent */
    ATTACH_GONE,    /* send failed: the client is gone */
};

enum attach_result attach_pump(struct attach *at);
void attach_release(struct attach *at);

#endif
