/* SPDX-License-Identifier: MIT */
/* Lossless delivery of a process's output to one client: see attach.h. */
#include "attach.h"

#include <sys/uio.h>

#include "../base/log.h"

static void warn_missed(struct attach *at, uint64_t missed)
{
    if (missed)
        sp_warn("%s %d: attached stream lost %llu bytes", at->what, (int)proc_pid(at->proc),
                (unsigned long long)missed);
}

enum attach_result attach_pump(struct attach *at)
{
    struct proc *p = at->proc;
    for (int s = 0; s < 2; s++) {
        for (;;) {
            uint64_t avail = outlog_available(proc_log(p, (enum proc_stream)s), at->cursor[s]);
            uint64_t missed = 0;
            if (avail == 0) { /* a cursor behind the window moves up to it */
                proc_read(p, (enum proc_stream)s, &at->cursor[s], NULL, 0, &missed);
                warn_missed(at, missed);
                break;
            }
            size_t want = avail < at->frame_max ? (size_t)avail : at->frame_max;
            const char *p1, *p2;
            size_t n1, n2;
            proc_peek(p, (enum proc_stream)s, &at->cursor[s], want, &p1, &n1, &p2, &n2, &missed);
            warn_missed(at, missed);
            if (at->skip[s] || n1 + n2 == 0) continue;
            struct iovec piece[2] = {{(void *)p1, n1}, {(void *)p2, n2}};
            long backlog = at->send(at->ctx, s, piece, n2 ? 2 : 1);
            if (backlog < 0) return ATTACH_GONE;
            if (backlog > at->high_mark) {
                if (!at->paused) {
                    at->paused = true;
                    proc_pause(p);
                }
                return ATTACH_WAITING;
            }
        }
    }
    if (at->paused) {
        at->paused = false;
        proc_resume(p);
    }
    return proc_finished(p) ? ATTACH_DONE : ATTACH_WAITING;
}

void attach_release(struct attach *at)
{
    if (at->paused && at->proc) proc_resume(at->proc);
    at->paused = false;
}
