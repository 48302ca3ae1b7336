/* SPDX-License-Identifier: MIT */
/* The service state machine: see svcfsm.h. Every row lists all eight events in enum order. */
#include "svcfsm.h"

#define REJ (-1)

static const signed char fsm_next[SVC_STATE_COUNT][SVC_EVENT_COUNT] = {
    [SVC_STOPPED] =
        {
            [SVC_EV_START] = SVC_STARTING,
            [SVC_EV_READY] = REJ,
            [SVC_EV_NOT_READY] = REJ,
            [SVC_EV_EXITED] = REJ,
            [SVC_EV_FAILED] = SVC_FAILED,
            [SVC_EV_RESTART] = REJ,
            [SVC_EV_RETRY] = REJ,
            [SVC_EV_STOP] = REJ,
        },
    [SVC_STARTING] =
        {
            [SVC_EV_START] = REJ,
            [SVC_EV_READY] = SVC_RUNNING,
            [SVC_EV_NOT_READY] = SVC_STOPPING,
            [SVC_EV_EXITED] = SVC_STOPPED,
            [SVC_EV_FAILED] = SVC_FAILED,
            [SVC_EV_RESTART] = SVC_BACKOFF,
            [SVC_EV_RETRY] = REJ,
            [SVC_EV_STOP] = SVC_STOPPING,
        },
    [SVC_RUNNING] =
        {
            [SVC_EV_START] = REJ,
            [SVC_EV_READY] = REJ,
            [SVC_EV_NOT_READY] = REJ,
            [SVC_EV_EXITED] = SVC_STOPPED,
            [SVC_EV_FAILED] = SVC_FAILED,
            [SVC_EV_RESTART] = SVC_BACKOFF,
            [SVC_EV_RETRY] = REJ,
            [SVC_EV_STOP] = SVC_STOPPING,
        },
    [SVC_STOPPING] =
        {
            [SVC_EV_START] = REJ,
            [SVC_EV_READY] = REJ,
            [SVC_EV_NOT_READY] = REJ,
            [SVC_EV_EXITED] = SVC_STOPPED,
            [SVC_EV_FAILED] = SVC_FAILED,
            [SVC_EV_RESTART] = SVC_BACKOFF,
            [SVC_EV_RETRY] = REJ,
            [SVC_EV_STOP] = SVC_STOPPING,
        },
    [SVC_BACKOFF] =
        {
            [SVC_EV_START] = SVC_STARTING,
            [SVC_EV_READY] = REJ,
            [SVC_EV_NOT_READY] = REJ,
            [SVC_EV_EXITED] = REJ,
            [SVC_EV_FAILED] = REJ,
            [SVC_EV_RESTART] = REJ,
            [SVC_EV_RETRY] = SVC_STARTING,
            [SVC_EV_STOP] = SVC_STOPPED,
        },
    [SVC_FAILED] =
        {
            [SVC_EV_START] = SVC_STARTING,
            [SVC_EV_READY] = REJ,
            [SVC_EV_NOT_READY] = REJ,
            [SVC_EV_EXITED] = REJ,
            [SVC_EV_FAILED] = REJ,
            [SVC_EV_RESTART] = REJ,
            [SVC_EV_RETRY] = REJ,
            [SVC_EV_STOP] = REJ,
        },
};

static const char *const state_names[SVC_STATE_COUNT] = {
    [SVC_STOPPED] = "stopped",   [SVC_STARTING] = "starting", [SVC_RUNNING] = "running",
    [SVC_STOPPING] = "stopping", [SVC_BACKOFF] = "backoff",   [SVC_FAILED] = "failed",
};

static const char *const event_names[SVC_EVENT_COUNT] = {
    [SVC_EV_START] = "start",   [SVC_EV_READY] = "ready",   [SVC_EV_NOT_READY] = "not_ready",
    [SVC_EV_EXITED] = "exited", [SVC_EV_FAILED] = "failed", [SVC_EV_RESTART] = "restart",
    [SVC_EV_RETRY] = "retry",   [SVC_EV_STOP] = "stop",
};

/* The enums have no negative values, so a cast to unsigned catches both ends of the range. */
static int state_ok(enum svc_state s)
{
    return (unsigned)s < SVC_STATE_COUNT;
}

static int event_ok(enum svc_event ev)
{
    return (unsigned)ev < SVC_EVENT_COUNT;
}

int svcfsm_next(enum svc_state s, enum svc_event ev)
{
    if (!state_ok(s) || !event_ok(ev)) return -1;
    return fsm_next[s][ev];
}

const char *svcfsm_state_name(enum svc_state s)
{
    return state_ok(s) ? state_names[s] : "unknown";
}

const char *svcfsm_event_name(enum svc_event ev)
{
    return event_ok(ev) ? event_names[ev] : "unknown";
}

bool svcfsm_has_process(enum svc_state s)
{
    return s == SVC_STARTING || s == SVC_RUNNING || s == SVC_STOPPING;
}
