/* SPDX-License-Identifier: MIT */
/*
 * The state machine of one service, as a table: for every (state, event) pair either the next
 * state or "rejected". The service manager (service.c) decides which event happened (it knows the
 * restart policy, whether a stop was asked for, whether the needs are ready) and performs the
 * side effects; this table only says which transitions exist, so that no code path can invent
 * one. tests/unit/test_svcfsm.c walks every pair.
 *
 *   stopped  --start-->  starting   (waiting for needs, then spawned, then waiting for readiness)
 *   starting --ready-->  running
 *   starting --not_ready--> stopping (readiness failed or timed out: the process is stopped)
 *   starting|running|stopping --exited--> stopped    (a clean end, or the end of a requested stop)
 *   starting|running|stopping --failed--> failed     (a failure, and the policy does not restart)
 *   starting|running|stopping --restart--> backoff   (the policy restarts it after a delay)
 *   backoff  --retry-->  starting   (the delay is over)
 *   backoff|failed --start--> starting (an explicit start skips the delay / retries a failure)
 *   starting|running|stopping --stop--> stopping;   backoff --stop--> stopped
 *   stopped  --failed--> failed     (it could not even be started: a need failed, spawn failed)
 */
#ifndef SP_SVCFSM_H
#define SP_SVCFSM_H

#include <stdbool.h>

enum svc_state {
    SVC_STOPPED,
    SVC_STARTING,
    SVC_RUNNING,
    SVC_STOPPING,
    SVC_BACKOFF,
    SVC_FAILED,
    SVC_STATE_COUNT
};

enum svc_event {
    SVC_EV_START,     /* a start was asked for (API, boot, or a dependent's start) */
    SVC_EV_READY,     /* the readiness check passed (or there is none and it was spawned) */
    SVC_EV_NOT_READY, /* the readiness check failed or timed out */
    SVC_EV_EXITED,    /* the process group is gone: clean exit, or the requested stop is done */
    SVC_EV_FAILED,    /* it failed and is not to be restarted */
    SVC_EV_RESTART,   /* it ended and the policy restarts it after a back-off */
    SVC_EV_RETRY,     /* the back-off delay is over */
    SVC_EV_STOP,      /* a stop was asked for */
    SVC_EVENT_COUNT
};

/* The next state, or -1 when the event is rejected in that state. */
int svcfsm_next(enum svc_state s, enum svc_event ev);

/* "stopped", "starting", "running", "stopping", "backoff", "failed". */
const char *svcfsm_state_name(enum svc_state s);
/* "start", "ready", "not_ready", "exited", "failed", "restart", "retry", "stop". */
const char *svcfsm_event_name(enum svc_event ev);

/* States in which the service has (or may have) a live process group. */
bool svcfsm_has_process(enum svc_state s);

#endif
