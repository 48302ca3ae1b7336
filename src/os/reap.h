/* SPDX-License-Identifier: MIT */
/*
 * The reaper: the one place that calls wait. On every SIGCHLD the loop calls reaper_collect(),
 * which runs waitpid(-1, WNOHANG) until nothing is left and hands each status to the owner that
 * registered the pid with reaper_watch(); pids nobody owns are orphans, counted and dropped.
 * Because all signals are read in the loop and a spawner registers its pid before returning to
 * the loop, no owned child can be reaped before its owner is known.
 *
 * When the daemon is not PID 1, reaper_new() makes it a child subreaper so that orphans of its
 * descendants come to it rather than to the real init.
 */
#ifndef SP_REAP_H
#define SP_REAP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../base/err.h"

struct reaper;

/* Called once per reaped owned pid, with the raw wait status. The watch is gone by then. */
typedef void (*reaper_fn)(void *owner, pid_t pid, int status);

struct reaper_stats {
    bool pid1;
    bool subreaper;
    uint64_t reaped;         /* every status collected */
    uint64_t orphans_reaped; /* statuses nobody had registered */
};

int reaper_new(struct reaper **out, struct sp_err *err);
void reaper_free(struct reaper *r);

/* Registers pid → (fn, owner). 0, -EEXIST or -ENOMEM. */
int reaper_watch(struct reaper *r, pid_t pid, reaper_fn fn, void *owner);
/* Drops a registration; its status will be counted as an orphan's. */
void reaper_unwatch(struct reaper *r, pid_t pid);

/* Collects every exited child. Loop-thread only. */
void reaper_collect(struct reaper *r);

void reaper_get_stats(const struct reaper *r, struct reaper_stats *out);

/* Exit status as a shell reports it: the exit code, or 128 + the signal number. */
int reaper_status_code(int status);

#endif
