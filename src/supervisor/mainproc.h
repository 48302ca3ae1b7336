/* SPDX-License-Identifier: MIT */
/*
 * The main process: the command given after `--` (or process_command). It runs in its own
 * process group, made the terminal's foreground group when there is one. Signals are forwarded
 * to the whole group. Stopping it means: a signal to the group, a grace period, then SIGKILL to
 * the group; "stopped" means the group is empty, not just that the leader exited, so nothing
 * the command started is left running.
 */
#ifndef SP_MAINPROC_H
#define SP_MAINPROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../base/err.h"
#include "../os/loop.h"
#include "../os/reap.h"

enum mainproc_state {
    MAINPROC_NONE,    /* no command configured */
    MAINPROC_RUNNING, /* the leader is alive */
    MAINPROC_EXITED,  /* the leader exited (exit_code is set) */
    MAINPROC_FAILED,  /* exec failed (exit_code is 126 or 127) */
};

struct mainproc_opts {
    char *const *argv;
    char *const *extra_env; /* "K=V" added to the daemon's environment; may be NULL */
    const char *cwd;        /* NULL: inherited */
};

struct mainproc;

/* Called once when the leader has exited (or exec failed), with the shell-style status. */
typedef void (*mainproc_exit_fn)(void *ud, int exit_code);
/* Called once when a stop requested with mainproc_stop() is complete (the group is empty). */
typedef void (*mainproc_stopped_fn)(void *ud);

int mainproc_new(struct mainproc **out, struct loop *loop, struct reaper *reaper,
                 const struct mainproc_opts *o, mainproc_exit_fn on_exit, void *ud);
void mainproc_free(struct mainproc *m);

/* Starts the command. An exec failure is not an error here: the state becomes FAILED, the
 * reason is logged and on_exit runs (from the loop) with 126 or 127. -errno only when even
 * fork failed. */
int mainproc_start(struct mainproc *m, struct sp_err *err);

/* Forwards a signal to the process group (to the leader if the group is gone). */
void mainproc_signal(struct mainproc *m, int sig);

/*
 * Stops whatever is left of the group: sends `sig` (if not 0), waits up to grace_ms for the
 * group to be empty, then SIGKILLs it and waits for it. on_stopped runs when it is empty (at
 * once, from the loop, when it already is). Calling it again while stopping only re-sends sig.
 */
void mainproc_stop(struct mainproc *m, int sig, uint64_t grace_ms, mainproc_stopped_fn on_stopped);

/* To be called after every reaper_collect(): notices an emptied group while stopping. */
void mainproc_poll(struct mainproc *m);

enum mainproc_state mainproc_state(const struct mainproc *m);
const char *mainproc_state_name(enum mainproc_state s);
pid_t mainproc_pid(const struct mainproc *m);
int mainproc_exit_code(const struct mainproc *m);     /* -1 while running / none */
const char *mainproc_error(const struct mainproc *m); /* exec failure reason, or NULL */

#endif
