/* SPDX-License-Identifier: MIT */
/*
 * Readiness checks: runs a service's check (svc_ready) over and over until it passes or its
 * timeout is over, then reports once. Commands are spawned in their own session with stdio on
 * /dev/null and must exit 0; TCP checks need a connect that succeeds; HTTP checks a GET that
 * answers 2xx (one attempt at a time, each given until the next interval); a notification fd
 * passes on the first newline the service writes to it.
 */
#ifndef SP_PROBE_H
#define SP_PROBE_H

#include <stdbool.h>
#include <sys/types.h>

#include "../os/loop.h"
#include "../os/reap.h"
#include "svcdef.h"

struct probe;

/* ready, or not with the reason ("not ready within 10s: connect 127.0.0.1:5432: Connection
 * refused"). The callback may free the probe. */
typedef void (*probe_fn)(void *ud, bool ready, const char *why);

struct probe_ctx {
    struct loop *loop;
    struct reaper *reaper;
    /* for command checks: as the service runs */
    char *const *envp; /* NULL: the daemon's */
    const char *cwd;
    bool set_user;
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    size_t n_groups;
};

/*
 * Starts checking r (which must outlive the probe). notify_fd: for SVC_READY_NOTIFY, the read
 * end of the service's notification pipe (the probe owns it from here); -1 otherwise. cb runs
 * once, from the loop, unless the probe is freed first. 0 or -ENOMEM.
 */
int probe_start(struct probe **out, const struct probe_ctx *c, const struct svc_ready *r,
                int notify_fd, probe_fn cb, void *ud);

/* Cancels the check (a running check command's group is killed) and frees it. NULL is fine. */
void probe_free(struct probe *p);

#endif
