/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/os/reap.c: the pid table, per-owner callbacks, orphans, status codes.
 * Children are real processes; the test polls reaper_collect() (1 ms apart, 5 s at most)
 * until what it waits for has happened, so it does not depend on scheduling speed.
 * reaper_new() makes this test process a child subreaper, which the orphan test relies on.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../src/base/compiler.h"
#include "../../src/base/time.h"
#include "../../src/os/reap.h"

#define POLL_LIMIT_MS 5000
#define FAKE_PID_BASE 5000000 /* above the kernel's pid_max (at most 2^22): never a real child */

static struct reaper *g_r;

static int setup(void **state)
{
    (void)state;
    struct sp_err err;
    sp_err_clear(&err);
    return reaper_new(&g_r, &err) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    /* Leave no zombie for the next test. */
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    reaper_free(g_r);
    g_r = NULL;
    return 0;
}

/* A child that exits with code. */
static pid_t fork_exit(int code)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) _exit(code);
    return pid;
}

/* A child that waits to be killed. */
static pid_t fork_sleeper(void)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        for (;;)
            pause();
    }
    return pid;
}

struct owner {
    pid_t expect_pid;
    pid_t got_pid;
    int status;
    int calls;
};

static int g_total_calls;

static void on_exit_cb(void *owner, pid_t pid, int status)
{
    struct owner *o = owner;
    o->got_pid = pid;
    o->status = status;
    o->calls++;
    g_total_calls++;
}

static void sleep_1ms(void)
{
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
}

/* Collects until *counter reaches want; fails after POLL_LIMIT_MS. */
static void collect_until(const int *counter, int want)
{
    uint64_t deadline = sp_now_ms() + POLL_LIMIT_MS;
    for (;;) {
        reaper_collect(g_r);
        if (*counter >= want) return;
        if (sp_now_ms() > deadline) fail_msg("timed out: %d of %d callbacks", *counter, want);
        sleep_1ms();
    }
}

static void collect_until_orphans(uint64_t want)
{
    uint64_t deadline = sp_now_ms() + POLL_LIMIT_MS;
    struct reaper_stats st;
    for (;;) {
        reaper_collect(g_r);
        reaper_get_stats(g_r, &st);
        if (st.orphans_reaped >= want) return;
        if (sp_now_ms() > deadline)
            fail_msg("timed out: %llu of %llu orphans", (unsigned long long)st.orphans_reaped,
                     (unsigned long long)want);
        sleep_1ms();
    }
}

static void test_stats_initial(void **state)
{
    (void)state;
    struct reaper_stats st;
    reaper_get_stats(g_r, &st);
    assert_false(st.pid1); /* the test runner is not PID 1 */
    assert_true(st.subreaper);
    assert_int_equal(st.reaped, 0);
    assert_int_equal(st.orphans_reaped, 0);
    /* Nothing to collect: returns at once. */
    reaper_collect(g_r);
    reaper_get_stats(g_r, &st);
    assert_int_equal(st.reaped, 0);
}

static void test_each_owner_gets_its_status(void **state)
{
    (void)state;
    enum { N = 8 };
    struct owner o[N + 2];
    memset(o, 0, sizeof(o));
    g_total_calls = 0;
    for (int i = 0; i < N; i++) {
        o[i].expect_pid = fork_exit(i * 3);
        assert_int_equal(reaper_watch(g_r, o[i].expect_pid, on_exit_cb, &o[i]), 0);
    }
    o[N].expect_pid = fork_sleeper();
    assert_int_equal(reaper_watch(g_r, o[N].expect_pid, on_exit_cb, &o[N]), 0);
    o[N + 1].expect_pid = fork_sleeper();
    assert_int_equal(reaper_watch(g_r, o[N + 1].expect_pid, on_exit_cb, &o[N + 1]), 0);
    assert_int_equal(kill(o[N].expect_pid, SIGKILL), 0);
    assert_int_equal(kill(o[N + 1].expect_pid, SIGTERM), 0);

    collect_until(&g_total_calls, N + 2);
    for (int i = 0; i < N + 2; i++) {
        if (o[i].calls != 1) fail_msg("owner %d called %d times", i, o[i].calls);
        assert_int_equal(o[i].got_pid, o[i].expect_pid);
    }
    for (int i = 0; i < N; i++) {
        assert_true(WIFEXITED(o[i].status));
        assert_int_equal(WEXITSTATUS(o[i].status), i * 3);
        assert_int_equal(reaper_status_code(o[i].status), i * 3);
    }
    assert_true(WIFSIGNALED(o[N].status));
    assert_int_equal(WTERMSIG(o[N].status), SIGKILL);
    assert_int_equal(reaper_status_code(o[N].status), 137);
    assert_true(WIFSIGNALED(o[N + 1].status));
    assert_int_equal(WTERMSIG(o[N + 1].status), SIGTERM);
    assert_int_equal(reaper_status_code(o[N + 1].status), 143);

    struct reaper_stats st;
    reaper_get_stats(g_r, &st);
    assert_int_equal(st.reaped, N + 2);
    assert_int_equal(st.orphans_reaped, 0);

    /* The watches are gone: the same pids can be registered again. */
    for (int i = 0; i < N + 2; i++)
        assert_int_equal(reaper_watch(g_r, o[i].expect_pid, on_exit_cb, &o[i]), 0);
    for (int i = 0; i < N + 2; i++)
        reaper_unwatch(g_r, o[i].expect_pid);
}

static void test_unwatched_child_is_orphan(void **state)
{
    (void)state;
    struct owner w;
    memset(&w, 0, sizeof(w));
    g_total_calls = 0;
    pid_t stranger = fork_exit(5);
    w.expect_pid = fork_exit(6);
    assert_int_equal(reaper_watch(g_r, w.expect_pid, on_exit_cb, &w), 0);
    collect_until(&g_total_calls, 1);
    collect_until_orphans(1);
    assert_int_equal(w.calls, 1);
    assert_int_equal(WEXITSTATUS(w.status), 6);
    struct reaper_stats st;
    reaper_get_stats(g_r, &st);
    assert_int_equal(st.reaped, 2);
    assert_int_equal(st.orphans_reaped, 1);
    assert_int_equal(g_total_calls, 1);
    /* It was reaped: nothing is left to wait for. */
    assert_int_equal(waitpid(stranger, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

static void test_unwatch_makes_orphan(void **state)
{
    (void)state;
    struct owner a, b;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    g_total_calls = 0;
    a.expect_pid = fork_exit(1);
    b.expect_pid = fork_exit(2);
    assert_int_equal(reaper_watch(g_r, a.expect_pid, on_exit_cb, &a), 0);
    assert_int_equal(reaper_watch(g_r, b.expect_pid, on_exit_cb, &b), 0);
    reaper_unwatch(g_r, a.expect_pid);
    reaper_unwatch(g_r, a.expect_pid);          /* twice: no-op */
    reaper_unwatch(g_r, FAKE_PID_BASE + 12345); /* never watched: no-op */
    collect_until(&g_total_calls, 1);
    collect_until_orphans(1);
    assert_int_equal(a.calls, 0);
    assert_int_equal(b.calls, 1);
    assert_int_equal(WEXITSTATUS(b.status), 2);
    struct reaper_stats st;
    reaper_get_stats(g_r, &st);
    assert_int_equal(st.reaped, 2);
    assert_int_equal(st.orphans_reaped, 1);
}

static void test_watch_duplicate_and_invalid(void **state)
{
    (void)state;
    struct owner a;
    memset(&a, 0, sizeof(a));
    pid_t p = FAKE_PID_BASE + 1;
    assert_int_equal(reaper_watch(g_r, p, on_exit_cb, &a), 0);
    assert_int_equal(reaper_watch(g_r, p, on_exit_cb, &a), -EEXIST);
    assert_int_equal(reaper_watch(g_r, p, on_exit_cb, NULL), -EEXIST);
    reaper_unwatch(g_r, p);
    assert_int_equal(reaper_watch(g_r, p, on_exit_cb, &a), 0);
    reaper_unwatch(g_r, p);
    assert_int_equal(reaper_watch(g_r, 0, on_exit_cb, &a), -EINVAL);
    assert_int_equal(reaper_watch(g_r, -1, on_exit_cb, &a), -EINVAL);
    assert_int_equal(reaper_watch(g_r, -42, on_exit_cb, &a), -EINVAL);
}

static void test_table_collisions_and_tombstones(void **state)
{
    (void)state;
    /* With the initial 64 slots, pids 64 apart hash to the same slot (multiplicative hash,
     * low bits): a probe chain of four. */
    pid_t base = FAKE_PID_BASE + 7;
    pid_t p[4] = {base, base + 64, base + 128, base + 192};
    for (int i = 0; i < 4; i++)
        assert_int_equal(reaper_watch(g_r, p[i], on_exit_cb, NULL), 0);
    /* Remove from the middle of the chain: later entries are still found. */
    reaper_unwatch(g_r, p[1]);
    assert_int_equal(reaper_watch(g_r, p[2], on_exit_cb, NULL), -EEXIST);
    assert_int_equal(reaper_watch(g_r, p[3], on_exit_cb, NULL), -EEXIST);
    assert_int_equal(reaper_watch(g_r, p[0], on_exit_cb, NULL), -EEXIST);
    /* The removed one can come back (reusing the tombstone) without duplicating anything. */
    assert_int_equal(reaper_watch(g_r, p[1], on_exit_cb, NULL), 0);
    assert_int_equal(reaper_watch(g_r, p[1], on_exit_cb, NULL), -EEXIST);
    reaper_unwatch(g_r, p[0]);
    reaper_unwatch(g_r, p[1]);
    assert_int_equal(reaper_watch(g_r, p[3], on_exit_cb, NULL), -EEXIST);
    for (int i = 0; i < 4; i++)
        reaper_unwatch(g_r, p[i]);
    for (int i = 0; i < 4; i++)
        assert_int_equal(reaper_watch(g_r, p[i], on_exit_cb, NULL), 0);
    for (int i = 0; i < 4; i++)
        reaper_unwatch(g_r, p[i]);
}

static void test_table_churn(void **state)
{
    (void)state;
    /* Many watch/unwatch rounds: tombstones must not fill the table or lose entries. */
    enum { N = 1000 };
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < N; i++)
            if (reaper_watch(g_r, FAKE_PID_BASE + round * N + i, on_exit_cb, NULL) != 0)
                fail_msg("round %d: watch %d failed", round, i);
        for (int i = 0; i < N; i++)
            if (reaper_watch(g_r, FAKE_PID_BASE + round * N + i, on_exit_cb, NULL) != -EEXIST)
                fail_msg("round %d: pid %d lost", round, i);
        for (int i = 0; i < N; i += 2)
            reaper_unwatch(g_r, FAKE_PID_BASE + round * N + i);
        for (int i = 0; i < N; i++) {
            int want = i % 2 ? -EEXIST : 0;
            if (reaper_watch(g_r, FAKE_PID_BASE + round * N + i, on_exit_cb, NULL) != want)
                fail_msg("round %d: re-watch %d", round, i);
        }
        for (int i = 0; i < N; i++)
            reaper_unwatch(g_r, FAKE_PID_BASE + round * N + i);
    }
    /* One live entry among thousands of tombstones. */
    for (int i = 0; i < 3000; i++) {
        assert_int_equal(reaper_watch(g_r, FAKE_PID_BASE + 100000 + i, on_exit_cb, NULL), 0);
        reaper_unwatch(g_r, FAKE_PID_BASE + 100000 + i);
    }
    assert_int_equal(reaper_watch(g_r, FAKE_PID_BASE + 9, on_exit_cb, NULL), 0);
    assert_int_equal(reaper_watch(g_r, FAKE_PID_BASE + 9, on_exit_cb, NULL), -EEXIST);
}

static void test_many_children(void **state)
{
    (void)state;
    /* More than 100 watched pids: the table grows past its initial 64 slots. */
    enum { N = 150 };
    static struct owner o[N];
    memset(o, 0, sizeof(o));
    g_total_calls = 0;
    for (int i = 0; i < N; i++) {
        o[i].expect_pid = fork_exit(i % 200);
        if (reaper_watch(g_r, o[i].expect_pid, on_exit_cb, &o[i]) != 0)
            fail_msg("watch %d (pid %d) failed", i, (int)o[i].expect_pid);
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(reaper_watch(g_r, o[i].expect_pid, on_exit_cb, &o[i]), -EEXIST);
    collect_until(&g_total_calls, N);
    for (int i = 0; i < N; i++) {
        if (o[i].calls != 1) fail_msg("owner %d called %d times", i, o[i].calls);
        assert_int_equal(o[i].got_pid, o[i].expect_pid);
        if (!WIFEXITED(o[i].status) || WEXITSTATUS(o[i].status) != i % 200)
            fail_msg("owner %d: status 0x%x, want exit %d", i, o[i].status, i % 200);
    }
    struct reaper_stats st;
    reaper_get_stats(g_r, &st);
    assert_int_equal(st.reaped, N);
    assert_int_equal(st.orphans_reaped, 0);
    assert_int_equal(g_total_calls, N);
}

struct rewatch {
    int calls;
    int rewatch_ret;
};

static void rewatch_cb(void *owner, pid_t pid, int status)
{
    struct rewatch *w = owner;
    (void)status;
    w->calls++;
    g_total_calls++;
    /* "The watch is gone by then": the pid can be registered again from the callback. */
    w->rewatch_ret = reaper_watch(g_r, pid, rewatch_cb, w);
    reaper_unwatch(g_r, pid);
}

static void test_callback_can_use_reaper(void **state)
{
    (void)state;
    struct rewatch w = {0, 1};
    g_total_calls = 0;
    pid_t pid = fork_exit(0);
    assert_int_equal(reaper_watch(g_r, pid, rewatch_cb, &w), 0);
    collect_until(&g_total_calls, 1);
    assert_int_equal(w.calls, 1);
    assert_int_equal(w.rewatch_ret, 0);
}

static void test_orphaned_grandchild(void **state)
{
    (void)state;
    /* A child forks a grandchild and exits; the grandchild is reparented to us (subreaper),
     * waits until we close a pipe, and exits: we reap it as an orphan. */
    int fds[2];
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    struct owner o;
    memset(&o, 0, sizeof(o));
    g_total_calls = 0;
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        pid_t g = fork();
        if (g == 0) {
            char c;
            close(fds[1]);
            while (read(fds[0], &c, 1) > 0) {
            }
            _exit(9);
        }
        _exit(g > 0 ? 0 : 1);
    }
    close(fds[0]);
    o.expect_pid = child;
    assert_int_equal(reaper_watch(g_r, child, on_exit_cb, &o), 0);
    collect_until(&g_total_calls, 1);
    assert_int_equal(WEXITSTATUS(o.status), 0);
    struct reaper_stats st;
    reaper_get_stats(g_r, &st);
    assert_int_equal(st.orphans_reaped, 0); /* the grandchild is still running */
    close(fds[1]);
    collect_until_orphans(1);
    reaper_get_stats(g_r, &st);
    assert_int_equal(st.reaped, 2);
    assert_int_equal(st.orphans_reaped, 1);
    assert_int_equal(g_total_calls, 1);
}

static void test_status_code(void **state)
{
    (void)state;
    /* Raw wait statuses as the kernel encodes them. */
    assert_int_equal(reaper_status_code(0), 0);
    assert_int_equal(reaper_status_code(3 << 8), 3);
    assert_int_equal(reaper_status_code(1 << 8), 1);
    assert_int_equal(reaper_status_code(255 << 8), 255);
    assert_int_equal(reaper_status_code(SIGKILL), 137);
    assert_int_equal(reaper_status_code(SIGTERM), 143);
    assert_int_equal(reaper_status_code(SIGINT), 130);
    assert_int_equal(reaper_status_code(SIGSEGV | 0x80), 139);        /* with a core dump */
    assert_int_equal(reaper_status_code(0x7f | (SIGSTOP << 8)), 255); /* stopped: neither */

    /* And from real processes. */
    int status;
    pid_t p = fork_exit(3);
    assert_int_equal(waitpid(p, &status, 0), p);
    assert_int_equal(reaper_status_code(status), 3);
    p = fork_sleeper();
    assert_int_equal(kill(p, SIGKILL), 0);
    assert_int_equal(waitpid(p, &status, 0), p);
    assert_int_equal(reaper_status_code(status), 137);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stats_initial, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_owner_gets_its_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unwatched_child_is_orphan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unwatch_makes_orphan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_duplicate_and_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_table_collisions_and_tombstones, setup, teardown),
        cmocka_unit_test_setup_teardown(test_table_churn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_children, setup, teardown),
        cmocka_unit_test_setup_teardown(test_callback_can_use_reaper, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orphaned_grandchild, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_code, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
