/* SPDX-License-Identifier: MIT */
/* The reaper: see reap.h. The pid table is open addressing with linear probing. */
#include "reap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../base/log.h"
#include "sig.h"

#define TOMBSTONE ((pid_t)-1)

struct slot {
    pid_t pid; /* 0 = empty, TOMBSTONE = deleted */
    reaper_fn fn;
    void *owner;
};

struct reaper {
    struct slot *slots;
    size_t cap;  /* power of two */
    size_t used; /* live + tombstones */
    size_t live;
    struct reaper_stats stats;
};

static size_t slot_hash(pid_t pid, size_t cap)
{
    return ((size_t)pid * 2654435761u) & (cap - 1);
}

static int table_grow(struct reaper *r)
{
    size_t cap = r->cap ? r->cap : 64;
    if (r->live * 2 >= cap) cap *= 2;
    struct slot *slots = calloc(cap, sizeof(*slots));
    if (!slots) return -ENOMEM;
    for (size_t i = 0; i < r->cap; i++) {
        struct slot *s = &r->slots[i];
        if (s->pid <= 0) continue;
        size_t j = slot_hash(s->pid, cap);
        while (slots[j].pid)
            j = (j + 1) & (cap - 1);
        slots[j] = *s;
    }
    free(r->slots);
    r->slots = slots;
    r->cap = cap;
    r->used = r->live;
    return 0;
}

static struct slot *table_find(struct reaper *r, pid_t pid)
{
    if (!r->cap) return NULL;
    for (size_t j = slot_hash(pid, r->cap), n = 0; n < r->cap; j = (j + 1) & (r->cap - 1), n++) {
        if (r->slots[j].pid == 0) return NULL;
        if (r->slots[j].pid == pid) return &r->slots[j];
    }
    return NULL;
}

int reaper_new(struct reaper **out, struct sp_err *err)
{
    struct reaper *r = calloc(1, sizeof(*r));
    if (!r) return sp_err_set(err, -ENOMEM, "out of memory");
    r->stats.pid1 = getpid() == 1;
    if (!r->stats.pid1) {
        int on = 0;
        if (prctl(PR_GET_CHILD_SUBREAPER, &on) == 0 && on) {
            r->stats.subreaper = true;
        } else if (prctl(PR_SET_CHILD_SUBREAPER, 1) == 0) {
            r->stats.subreaper = true;
        } else {
            sp_warn("not PID 1 and cannot become a child subreaper (%m): orphans of supervised "
                    "processes will be reaped by the system init, not by sprite-env");
        }
    }
    *out = r;
    return 0;
}

void reaper_free(struct reaper *r)
{
    if (!r) return;
    free(r->slots);
    free(r);
}

int reaper_watch(struct reaper *r, pid_t pid, reaper_fn fn, void *owner)
{
    if (pid <= 0) return -EINVAL;
    if (table_find(r, pid)) return -EEXIST;
    if ((r->used + 1) * 4 >= r->cap * 3) {
        int e = table_grow(r);
        if (e < 0) return e;
    }
    size_t j = slot_hash(pid, r->cap);
    while (r->slots[j].pid > 0)
        j = (j + 1) & (r->cap - 1);
    if (r->slots[j].pid == 0) r->used++;
    r->slots[j] = (struct slot){pid, fn, owner};
    r->live++;
    return 0;
}

void reaper_unwatch(struct reaper *r, pid_t pid)
{
    struct slot *s = table_find(r, pid);
    if (!s) return;
    s->pid = TOMBSTONE;
    s->fn = NULL;
    s->owner = NULL;
    r->live--;
}

void reaper_collect(struct reaper *r)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid < 0 && errno == EINTR) continue;
        if (pid <= 0) break; /* 0: children left but none exited; -1 ECHILD: no children */
        r->stats.reaped++;
        struct slot *s = table_find(r, pid);
        if (s) {
            reaper_fn fn = s->fn;
            void *owner = s->owner;
            reaper_unwatch(r, pid);
            fn(owner, pid, status);
        } else {
            r->stats.orphans_reaped++;
            if (WIFSIGNALED(status))
                sp_debug("reaped orphan pid=%d signal=%s", (int)pid, sig_name(WTERMSIG(status)));
            else
                sp_debug("reaped orphan pid=%d exit=%d", (int)pid, WEXITSTATUS(status));
        }
    }
}

void reaper_get_stats(const struct reaper *r, struct reaper_stats *out)
{
    *out = r->stats;
}

int reaper_status_code(int status)
{
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 255;
}
