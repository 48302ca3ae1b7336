/* SPDX-License-Identifier: MIT */
/*
 * The process table: every process started through the API, running or recently exited.
 *
 * A process runs in its own process group with pipes for stdin, stdout and stderr. What it writes
 * goes into two output logs (outlog.h); followers (struct proc_follower) are told when new bytes
 * arrive and when the process has finished, and read the logs at their own cursors. A follower
 * that must not lose bytes (an attached HTTP stream) uses proc_pause()/proc_resume(): while any
 * pause is held the daemon stops reading the process's pipes, so the process blocks on write and
 * memory stays bounded. Other followers never slow the process down.
 *
 * Order of events: the exit status is recorded when the process is reaped; its pipes are then
 * drained (until EOF, or drain_ms for pipes a surviving child still holds); only then is the
 * process "finished" and followers get on_exit. So every byte written before the exit reaches
 * the logs before any follower hears of the exit.
 *
 * Finished processes stay in the table for retention_ms, then are freed (later, if a follower
 * still holds a reference). Loop-thread only.
 */
#ifndef SP_PROC_H
#define SP_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../base/err.h"
#include "../os/loop.h"
#include "../os/reap.h"
#include "outlog.h"

enum proc_stream { PROC_STDOUT = 0, PROC_STDERR = 1 };

struct proc_limits {
    unsigned max_procs;       /* running at once; more → -EAGAIN */
    size_t max_args_bytes;    /* argv + env strings; more → -E2BIG */
    size_t log_bytes;         /* per stream */
    uint64_t retention_ms;    /* how long a finished process stays listable */
    uint64_t drain_ms;        /* after exit, how long to wait for EOF on pipes */
    unsigned max_retained;    /* finished processes kept listable; the oldest go first */
    const char *default_user; /* for a spec without user; NULL: the daemon's (must outlive) */
};

struct proc_spec {
    char *const *argv;         /* required; argv[0] is looked up in PATH */
    char *const *env;          /* "K=V" added to (or replacing in) the daemon's environment */
    const char *cwd;           /* NULL: the daemon's */
    const char *user;          /* NULL: the daemon's; else users_lookup() syntax */
    int umask;                 /* -1: inherited */
    const char *tag;           /* NULL or "": "proc-" + 8 hex */
    uint64_t timeout_ms;       /* 0: none; else SIGKILL to the group at the deadline */
    bool stdin_open;           /* stdin is a pipe the API can write to; else /dev/null */
    bool detachable;           /* listed as a session; survives its client (GET /exec) */
    bool tty;                  /* a pty: own session, the pty as controlling terminal */
    unsigned short cols, rows; /* initial pty size (0: 80x24) */
    bool wrap;                 /* prefix exec.wrapper_command */
};

struct proc;
struct proc_follower;

typedef void (*proc_follower_fn)(struct proc_follower *f);

struct proc_follower {
    proc_follower_fn on_output; /* new bytes in some stream */
    proc_follower_fn on_exit;   /* the process finished: all output is in the logs */
    void *data;
    struct proc *proc; /* set by proc_follow */
    struct proc_follower *prev, *next;
};

struct proc_table;

/* Transcripts of every process started from now on into dir (created if needed), or none
 * (dir NULL). 0 or -errno. */
int proc_table_set_transcripts(struct proc_table *t, const char *dir);
const char *proc_table_transcripts(const struct proc_table *t); /* NULL when off */

/* wrapper / tty_wrapper: exec.wrapper_command and exec.tty_wrapper_command (NULL: none). */
int proc_table_new(struct proc_table **out, struct loop *loop, struct reaper *reaper,
                   const struct proc_limits *lim, char *const *wrapper, char *const *tty_wrapper);
/* Kills every running process group (SIGKILL) and frees everything. */
void proc_table_free(struct proc_table *t);

/*
 * Starts a process. Errors (err filled, negative code): -E2BIG (args/env too large), -EAGAIN
 * (too many processes), -EEXIST (tag used by a running process), -EINVAL, -ENOENT (unknown
 * user), and exec failures: -ENOENT/-ENOTDIR (not found: exit 127) or others (126) — for
 * those, spawn_exec_error_code() gives the status a shell would report.
 */
int proc_start(struct proc_table *t, const struct proc_spec *s, struct proc **out,
               struct sp_err *err);

/* "123" → by pid; anything else → by tag (a running process first, else the newest). */
struct proc *proc_find(struct proc_table *t, const char *selector);

/* Iteration in start order: first NULL, then the previous result. */
struct proc *proc_next(struct proc_table *t, struct proc *prev);

void proc_ref(struct proc *p);
void proc_unref(struct proc *p);

void proc_follow(struct proc *p, struct proc_follower *f);
void proc_unfollow(struct proc_follower *f);

void proc_pause(struct proc *p);
void proc_resume(struct proc *p);

/* Reads a stream from *cursor (see outlog_read). */
size_t proc_read(struct proc *p, enum proc_stream s, uint64_t *cursor, void *dst, size_t n,
                 uint64_t *missed);
const struct outlog *proc_log(const struct proc *p, enum proc_stream s);
/* outlog_peek on a stream (see outlog.h). */
size_t proc_peek(struct proc *p, enum proc_stream s, uint64_t *cursor, size_t n, const char **p1,
                 size_t *n1, const char **p2, size_t *n2, uint64_t *missed);

/* Most stdin bytes queued for a process at once (more → -ENOBUFS). */
#define PROC_STDIN_MAX (4u * 1024 * 1024)

/* Queues bytes for stdin; -EPIPE when stdin is closed or was never open. */
int proc_stdin_write(struct proc *p, const void *data, size_t n);
/* True while the API can still write to stdin (not closed, no close requested). */
bool proc_stdin_open(const struct proc *p);
/* Bytes queued for stdin and not yet taken by the process. */
size_t proc_stdin_pending(const struct proc *p);
/* Closes stdin once everything queued is written. */
void proc_stdin_close(struct proc *p);

/* Sets the pty size (the kernel sends SIGWINCH to its foreground group). -ENOTTY without pty. */
int proc_resize(struct proc *p, unsigned short cols, unsigned short rows);
bool proc_is_tty(const struct proc *p);
bool proc_is_detachable(const struct proc *p);
size_t proc_follower_count(const struct proc *p);

/* True while the leader or anything left in its process group may still run (what a client
 * disconnect or a timeout must kill). */
bool proc_active(struct proc *p);

/* Signals the process group (also after the leader exited, while the group has members).
 * -ESRCH when nothing is left. */
int proc_signal(struct proc *p, int sig);

/* Accessors. */
pid_t proc_pid(const struct proc *p);
const char *proc_tag(const struct proc *p);
char *const *proc_argv(const struct proc *p); /* as requested (without the wrapper) */
const char *proc_cwd(const struct proc *p);   /* NULL: the daemon's */
bool proc_running(const struct proc *p);      /* not yet reaped */
bool proc_finished(const struct proc *p);     /* reaped and output drained */
int proc_exit_code(const struct proc *p);     /* -1 until reaped; else code or 128+signal */
int proc_term_signal(const struct proc *p);   /* the signal that killed it, or 0 */
bool proc_timed_out(const struct proc *p);
uint64_t proc_started_ms(const struct proc *p); /* wall clock, ms since the epoch */
uint64_t proc_ended_ms(const struct proc *p);   /* 0 while running */
uint64_t proc_duration_ms(const struct proc *p);

#endif
