/* SPDX-License-Identifier: MIT */
/*
 * Signals. At start-up sig_setup() saves the signal mask the daemon was started with, then blocks
 * every signal except the synchronous faults and opens a signalfd for them, so every signal is
 * handled in the loop. The only disposition changed is an inherited SIG_IGN for SIGCHLD (it
 * would stop the reaper from seeing exits); sig_child_restore puts it and the mask back, so a
 * child starts exactly as it would have without us.
 */
#ifndef SP_SIG_H
#define SP_SIG_H

#include <signal.h>
#include <sys/signalfd.h>

#include "../base/err.h"

/* Blocks signals and returns a non-blocking, close-on-exec signalfd in *fd_out. */
int sig_setup(int *fd_out, struct sp_err *err);

/* In a forked child, before exec: restore the original mask. Async-signal-safe. */
void sig_child_restore(void);

/* Reads one signal; returns the signal number, 0 when none is pending, or -errno. */
int sig_read(int fd, struct signalfd_siginfo *si);

/* "SIGTERM" for 15; "SIG?" for an unknown number. Never NULL. */
const char *sig_name(int sig);

/* Parses "TERM", "SIGTERM", "term" or "15"; returns the number or -EINVAL. */
int sig_parse(const char *s);

#endif
