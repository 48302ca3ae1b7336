/* SPDX-License-Identifier: MIT */
/* Service state machine: every (state, event) pair, names, out-of-range input, reachability. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "../../src/supervisor/svcfsm.h"

/* The allowed transitions, written from svcfsm.h independently of the table in svcfsm.c. */
static const struct {
    enum svc_state from;
    enum svc_event ev;
    enum svc_state to;
} allowed[] = {
    {SVC_STOPPED, SVC_EV_START, SVC_STARTING},   {SVC_STOPPED, SVC_EV_FAILED, SVC_FAILED},

    {SVC_STARTING, SVC_EV_READY, SVC_RUNNING},   {SVC_STARTING, SVC_EV_NOT_READY, SVC_STOPPING},
    {SVC_STARTING, SVC_EV_EXITED, SVC_STOPPED},  {SVC_STARTING, SVC_EV_FAILED, SVC_FAILED},
    {SVC_STARTING, SVC_EV_RESTART, SVC_BACKOFF}, {SVC_STARTING, SVC_EV_STOP, SVC_STOPPING},

    {SVC_RUNNING, SVC_EV_EXITED, SVC_STOPPED},   {SVC_RUNNING, SVC_EV_FAILED, SVC_FAILED},
    {SVC_RUNNING, SVC_EV_RESTART, SVC_BACKOFF},  {SVC_RUNNING, SVC_EV_STOP, SVC_STOPPING},

    {SVC_STOPPING, SVC_EV_EXITED, SVC_STOPPED},  {SVC_STOPPING, SVC_EV_FAILED, SVC_FAILED},
    {SVC_STOPPING, SVC_EV_RESTART, SVC_BACKOFF}, {SVC_STOPPING, SVC_EV_STOP, SVC_STOPPING},

    {SVC_BACKOFF, SVC_EV_START, SVC_STARTING},   {SVC_BACKOFF, SVC_EV_RETRY, SVC_STARTING},
    {SVC_BACKOFF, SVC_EV_STOP, SVC_STOPPED},

    {SVC_FAILED, SVC_EV_START, SVC_STARTING},
};

#define N_ALLOWED (sizeof(allowed) / sizeof(allowed[0]))

static const char *const state_names[SVC_STATE_COUNT] = {
    "stopped", "starting", "running", "stopping", "backoff", "failed",
};

static const char *const event_names[SVC_EVENT_COUNT] = {
    "start", "ready", "not_ready", "exited", "failed", "restart", "retry", "stop",
};

static int expected_next(int s, int ev)
{
    for (size_t i = 0; i < N_ALLOWED; i++)
        if ((int)allowed[i].from == s && (int)allowed[i].ev == ev) return (int)allowed[i].to;
    return -1;
}

static void test_every_pair(void **state)
{
    (void)state;
    int n_allowed = 0;
    for (int s = 0; s < SVC_STATE_COUNT; s++) {
        for (int ev = 0; ev < SVC_EVENT_COUNT; ev++) {
            int want = expected_next(s, ev);
            int got = svcfsm_next((enum svc_state)s, (enum svc_event)ev);
            if (got != want)
                fail_msg("%s --%s--> got %d (%s), want %d (%s)", state_names[s], event_names[ev],
                         got, got < 0 ? "rejected" : state_names[got], want,
                         want < 0 ? "rejected" : state_names[want]);
            if (got >= 0) n_allowed++;
        }
    }
    assert_int_equal(n_allowed, N_ALLOWED);
}

static void test_expected_list_has_no_duplicates(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ALLOWED; i++)
        for (size_t j = i + 1; j < N_ALLOWED; j++)
            if (allowed[i].from == allowed[j].from && allowed[i].ev == allowed[j].ev)
                fail_msg("pair listed twice: %zu and %zu", i, j);
}

static void test_names(void **state)
{
    (void)state;
    for (int s = 0; s < SVC_STATE_COUNT; s++) {
        const char *n = svcfsm_state_name((enum svc_state)s);
        assert_non_null(n);
        assert_string_equal(n, state_names[s]);
        /* the name maps back to exactly this state */
        int found = -1;
        for (int t = 0; t < SVC_STATE_COUNT; t++)
            if (strcmp(svcfsm_state_name((enum svc_state)t), n) == 0) {
                assert_int_equal(found, -1);
                found = t;
            }
        assert_int_equal(found, s);
    }
    for (int ev = 0; ev < SVC_EVENT_COUNT; ev++) {
        const char *n = svcfsm_event_name((enum svc_event)ev);
        assert_non_null(n);
        assert_string_equal(n, event_names[ev]);
        int found = -1;
        for (int e = 0; e < SVC_EVENT_COUNT; e++)
            if (strcmp(svcfsm_event_name((enum svc_event)e), n) == 0) {
                assert_int_equal(found, -1);
                found = e;
            }
        assert_int_equal(found, ev);
    }
}

static void test_has_process(void **state)
{
    (void)state;
    static const bool want[SVC_STATE_COUNT] = {
        [SVC_STOPPED] = false, [SVC_STARTING] = true, [SVC_RUNNING] = true,
        [SVC_STOPPING] = true, [SVC_BACKOFF] = false, [SVC_FAILED] = false,
    };
    for (int s = 0; s < SVC_STATE_COUNT; s++)
        if (svcfsm_has_process((enum svc_state)s) != want[s])
            fail_msg("has_process(%s) != %d", state_names[s], want[s]);
}

static void test_out_of_range(void **state)
{
    (void)state;
    static const int bad[] = {-1, -1000, SVC_STATE_COUNT, SVC_EVENT_COUNT, 100, 1 << 30};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int b = bad[i];
        if (b < 0 || b >= SVC_STATE_COUNT) {
            assert_string_equal(svcfsm_state_name((enum svc_state)b), "unknown");
            assert_false(svcfsm_has_process((enum svc_state)b));
            for (int ev = 0; ev < SVC_EVENT_COUNT; ev++)
                assert_int_equal(svcfsm_next((enum svc_state)b, (enum svc_event)ev), -1);
        }
        if (b < 0 || b >= SVC_EVENT_COUNT) {
            assert_string_equal(svcfsm_event_name((enum svc_event)b), "unknown");
            for (int s = 0; s < SVC_STATE_COUNT; s++)
                assert_int_equal(svcfsm_next((enum svc_state)s, (enum svc_event)b), -1);
        }
        assert_int_equal(svcfsm_next((enum svc_state)b, (enum svc_event)b), -1);
    }
}

/* From every state some sequence of events leads to stopped (breadth-first over the table). */
static void test_stopped_reachable_from_every_state(void **state)
{
    (void)state;
    for (int start = 0; start < SVC_STATE_COUNT; start++) {
        bool seen[SVC_STATE_COUNT] = {false};
        int queue[SVC_STATE_COUNT];
        int qh = 0, qt = 0;
        queue[qt++] = start;
        seen[start] = true;
        while (qh < qt) {
            int s = queue[qh++];
            for (int ev = 0; ev < SVC_EVENT_COUNT; ev++) {
                int nx = svcfsm_next((enum svc_state)s, (enum svc_event)ev);
                if (nx < 0) continue;
                assert_true(nx < SVC_STATE_COUNT);
                if (!seen[nx]) {
                    seen[nx] = true;
                    queue[qt++] = nx;
                }
            }
        }
        if (!seen[SVC_STOPPED]) fail_msg("stopped is not reachable from %s", state_names[start]);
    }
}

/* A live process is never left behind: every transition out of a state with a process either
 * keeps one, or is caused by its end (exited/failed/restart). */
static void test_process_only_leaves_by_ending(void **state)
{
    (void)state;
    for (int s = 0; s < SVC_STATE_COUNT; s++) {
        if (!svcfsm_has_process((enum svc_state)s)) continue;
        for (int ev = 0; ev < SVC_EVENT_COUNT; ev++) {
            int nx = svcfsm_next((enum svc_state)s, (enum svc_event)ev);
            if (nx < 0 || svcfsm_has_process((enum svc_state)nx)) continue;
            if (ev != SVC_EV_EXITED && ev != SVC_EV_FAILED && ev != SVC_EV_RESTART)
                fail_msg("%s --%s--> %s drops a live process", state_names[s], event_names[ev],
                         state_names[nx]);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_pair),
        cmocka_unit_test(test_expected_list_has_no_duplicates),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_has_process),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_stopped_reachable_from_every_state),
        cmocka_unit_test(test_process_only_leaves_by_ending),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
