/* SPDX-License-Identifier: MIT */
/*
 * The service manager: runs the services defined by svcdef, each through the state machine of
 * svcfsm, in dependency order.
 *
 * - A service is spawned in its own session (pgid = pid) with stdin on /dev/null and its output
 *   in pipes; every line goes to its log ring (logring) and to its log files
 *   <state dir>/logs/services/<name>.log and <name>.stderr.log, rotated beyond a size.
 * - Starting a service first starts what it needs; it is spawned once every need is running
 *   (that is, ready), and counts as running once its own readiness check passes.
 * - A process "ends" when its group is empty, not when the leader exits: leftovers of a leader
 *   that exited get the stop signal, then SIGKILL after the stop timeout.
 * - Stopping sends the stop signal and SIGCONT to the group, SIGKILL after the stop timeout.
 * - An end that was not asked for follows the restart policy, with exponential back-off.
 * - Boot starts every service (independent ones in parallel) and reports once all are running,
 *   or as soon as one fails: during boot a service that exits before it is ready, or is not ready
 *   in time, fails the boot whatever its restart policy.
 * - Shutdown stops services in reverse dependency order (a service is stopped once nothing that
 *   needs it is left running), with no restarts, and reports when no process is left.
 *
 * Definitions made through the API are persisted as <state dir>/services/<name>.json.
 * Loop-thread only; callbacks run from the loop.
 */
#ifndef SP_SERVICE_H
#define SP_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "../base/err.h"
#include "../os/loop.h"
#include "../os/reap.h"
#include "logring.h"
#include "svcdef.h"
#include "svcfsm.h"

struct svcmgr;
struct service;

struct svcmgr_opts {
    struct loop *loop;
    struct reaper *reaper;
    const char *state_dir;   /* definitions and logs live under it */
    size_t ring_bytes;       /* log ring per service */
    size_t log_file_bytes;   /* a log file is rotated beyond this */
    unsigned log_files_kept; /* rotated files kept per stream (name.log.1 …) */
};

/*
 * Something following one service: its log records, its state changes and its process ends.
 * Embedded in the follower's own object; every callback is optional. A callback may call
 * svcmgr_unwatch() on its own watch (and on no other). on_gone: the service was deleted; the
 * watch is already removed.
 */
struct svc_watch {
    void (*on_log)(struct svc_watch *w, const struct logring_rec *rec);
    void (*on_state)(struct svc_watch *w, enum svc_state from, enum svc_state to);
    void (*on_exit)(struct svc_watch *w, int exit_code); /* the group is gone */
    void (*on_gone)(struct svc_watch *w);
    /* private */
    struct service *svc;
    struct svc_watch *prev, *next;
};

typedef void (*svcmgr_done_fn)(void *ud);
/* Boot result: ok, or the reason it failed ("service db was not ready within 10s: …"). */
typedef void (*svcmgr_boot_fn)(void *ud, bool ok, const char *why);

int svcmgr_new(struct svcmgr **out, const struct svcmgr_opts *o, struct sp_err *err);
/* Forgets everything; processes still running are SIGKILLed (call svcmgr_shutdown first). */
void svcmgr_free(struct svcmgr *m);

/*
 * Adds the definitions of the configuration and the components directory (taking ownership of
 * every one, also on failure) and the persisted ones, then checks the whole graph. Before boot.
 */
int svcmgr_load(struct svcmgr *m, struct svc_def **defs, size_t n, struct sp_err *err);

/* Starts every service; cb once all are running or one failed. Nothing to start: cb at once
 * (from the loop). */
void svcmgr_boot(struct svcmgr *m, svcmgr_boot_fn cb, void *ud);

/* Stops everything in reverse dependency order; cb when no process is left. */
void svcmgr_shutdown(struct svcmgr *m, svcmgr_done_fn cb, void *ud);

/* To be called after every reaper_collect(): notices emptied process groups. */
void svcmgr_poll(struct svcmgr *m);

size_t svcmgr_count(const struct svcmgr *m);
struct service *svcmgr_find(struct svcmgr *m, const char *name);
struct service *svcmgr_at(struct svcmgr *m, size_t i); /* in definition order */

/*
 * The API's operations. Errors: -ENOENT (no such service), -EEXIST (name taken), -EINVAL (bad
 * definition or graph; err says why), -EBUSY (refused in this state: err says why, e.g. "service
 * db is needed by web, which is running"), -ESRCH (not running), -ENOSPC (too many services),
 * -ECANCELED (shutting down). err is always set on failure.
 */
/* Adds a definition (taking ownership, also on failure) and persists it; does not start it. */
int svcmgr_create(struct svcmgr *m, struct svc_def *def, struct sp_err *err);
/* Starts it (and its needs). Already running or starting: 0. */
int svcmgr_start(struct svcmgr *m, struct service *s, struct sp_err *err);
/* Asks it to stop; follow it with a watch to learn when it has. Not running: -ESRCH. */
int svcmgr_stop(struct svcmgr *m, struct service *s, struct sp_err *err);
/* Stop then start again (a start if it was not running). */
int svcmgr_restart(struct svcmgr *m, struct service *s, struct sp_err *err);
/* Sends sig to the process group. Not running: -ESRCH. */
int svcmgr_signal(struct svcmgr *m, struct service *s, int sig, struct sp_err *err);
/* Stops it if needed and forgets it (and its persisted file) once stopped; watchers get
 * on_gone. Needed by another service: -EBUSY. */
int svcmgr_delete(struct svcmgr *m, struct service *s, struct sp_err *err);

void svcmgr_watch(struct service *s, struct svc_watch *w);
void svcmgr_unwatch(struct svc_watch *w);

/* ---- reading a service ---- */
const struct svc_def *service_def(const struct service *s);
enum svc_state service_state(const struct service *s);
pid_t service_pid(const struct service *s); /* 0 when no process */
bool service_deleting(const struct service *s);
const struct logring *service_log(const struct service *s);
/* Paths of the log files. */
void service_log_paths(const struct service *s, char *out, size_t outlen, char *err, size_t errlen);
/* The definition and the state as the API shows them: the definition's fields and "state":
 * {"name","status","pid"?,"started_at","error"?,"ready","ready_at"?,"exit_code"?,"restarts",
 * "next_restart_at"?,"waiting_for"?}. NULL when out of memory. */
json_t *service_to_json(const struct service *s);

/* System-wide view for /v1/system: how many services are in each state. */
json_t *svcmgr_summary_json(const struct svcmgr *m);

#endif
