/* SPDX-License-Identifier: MIT */
/*
 * Starting processes. spawn() forks, sets the child up (process group or session, foreground
 * terminal, fds, cwd, signal mask) and execs; an exec failure comes back to the caller
 * synchronously through a close-on-exec pipe, as -errno, with the child already waited for.
 * On success the caller must register the pid with the reaper before returning to the loop.
 */
#ifndef SP_SPAWN_H
#define SP_SPAWN_H

#include <sys/types.h>

#include "../base/err.h"

enum spawn_flags {
    SPAWN_SETPGID = 1 << 0,    /* own process group (pgid = pid) */
    SPAWN_SETSID = 1 << 1,     /* own session */
    SPAWN_FOREGROUND = 1 << 2, /* with SETPGID: become the terminal's foreground group */
    SPAWN_CTTY = 1 << 3,       /* with SETSID: stdin (a pty slave) becomes the controlling tty */
};

struct spawn_opts {
    /* identity: applied when set_user (groups first, then gid, then uid) */
    int set_user;
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    size_t n_groups;
    int set_umask;
    mode_t umask;
    char *const *argv; /* argv[0] is looked up in PATH (from envp) when it has no '/' */
    char *const *envp; /* NULL: the daemon's environ */
    const char *cwd;   /* NULL: inherited */
    int flags;
    int stdin_fd, stdout_fd, stderr_fd; /* -1: inherited */
    /* One more fd for the child: extra_fd becomes fd extra_fd_target (>= 3) there, without
     * close-on-exec (a readiness notification pipe). extra_fd_target 0: none. */
    int extra_fd, extra_fd_target;
};

/*
 * Returns 0 and the pid, or -errno; exec failures fill err with "exec <argv0>: <reason>".
 * -ENOENT/-ENOTDIR mean "not found" (shells exit 127), anything else "cannot execute" (126).
 */
int spawn(const struct spawn_opts *o, pid_t *pid_out, struct sp_err *err);

/* The open-file limit children get (the daemon raises its own); NULL: theirs is ours. */
struct rlimit;
void spawn_set_child_nofile(const struct rlimit *rl);

/* The oom_score_adj children get (-1000..1000; only a raise works without CAP_SYS_RESOURCE): a
 * sandbox's agent makes its processes the OOM killer's choice rather than itself. Not called:
 * inherited. */
void spawn_set_child_oom_score_adj(int adj);
/* 127 for a not-found errno, 126 otherwise (what a shell exits with). */
int spawn_exec_error_code(int neg_errno);

#endif
