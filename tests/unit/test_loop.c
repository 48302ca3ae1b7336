/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/os/loop.c: timers (order, stop, re-arm), deferred calls, fd events.
 * Nothing here depends on how fast the machine is: orders are checked against the deadlines the
 * loop itself computed, and every test has a watchdog timer so a bug fails instead of hanging.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "../../src/base/compiler.h"
#include "../../src/base/time.h"
#include "../../src/os/loop.h"

#define WATCHDOG_MS 5000

static struct loop *g_loop;
static bool g_watchdog_fired;

/* A log of what ran, in order. */
static int g_seq[256];
static size_t g_nseq;

static void seq_add(int v)
{
    assert_true(g_nseq < SP_ARRAY_LEN(g_seq));
    g_seq[g_nseq++] = v;
}

static void watchdog_cb(struct loop_timer *t)
{
    (void)t;
    g_watchdog_fired = true;
    loop_stop(g_loop);
}

static struct loop_timer g_watchdog;

static int setup(void **state)
{
    (void)state;
    g_nseq = 0;
    g_watchdog_fired = false;
    if (loop_new(&g_loop) != 0) return -1;
    loop_timer_init(&g_watchdog, watchdog_cb);
    if (loop_timer_start(g_loop, &g_watchdog, WATCHDOG_MS) != 0) return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    loop_timer_stop(g_loop, &g_watchdog);
    loop_free(g_loop);
    g_loop = NULL;
    return 0;
}

static void run_loop(void)
{
    assert_int_equal(loop_run(g_loop), 0);
    assert_false(g_watchdog_fired);
}

/* ---- timers ---- */

struct tmr {
    struct loop_timer t;
    int id;
    uint64_t fired_now; /* loop_now() when it fired */
    int fired;
};

static size_t g_expect_fires;
static size_t g_fires;

static void tmr_cb(struct loop_timer *t)
{
    struct tmr *m = SP_CONTAINER_OF(t, struct tmr, t);
    assert_false(loop_timer_armed(t)); /* disarmed before the callback */
    m->fired++;
    m->fired_now = loop_now(g_loop);
    seq_add(m->id);
    if (++g_fires == g_expect_fires) loop_stop(g_loop);
}

static void test_timers_deadline_order(void **state)
{
    (void)state;
    struct tmr tm[4];
    static const uint64_t delays[] = {30, 10, 20, 15};
    for (int i = 0; i < 4; i++) {
        loop_timer_init(&tm[i].t, tmr_cb);
        assert_false(loop_timer_armed(&tm[i].t));
        tm[i].id = i;
        tm[i].fired = 0;
    }
    uint64_t before = sp_now_ms();
    for (int i = 0; i < 4; i++)
        assert_int_equal(loop_timer_start(g_loop, &tm[i].t, delays[i]), 0);
    uint64_t after = sp_now_ms();
    for (int i = 0; i < 4; i++) {
        assert_true(loop_timer_armed(&tm[i].t));
        /* The deadline is now + delay on the monotonic ms clock. */
        assert_true(tm[i].t.deadline_ms >= before + delays[i]);
        assert_true(tm[i].t.deadline_ms <= after + delays[i]);
    }
    loop_timer_stop(g_loop, &tm[3].t); /* the 15 ms one never fires */
    assert_false(loop_timer_armed(&tm[3].t));
    loop_timer_stop(g_loop, &tm[3].t); /* twice is harmless */

    g_fires = 0;
    g_expect_fires = 3;
    run_loop();

    assert_int_equal(g_nseq, 3);
    assert_int_equal(tm[3].fired, 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tm[i].fired, 1);
        /* Never early. */
        assert_true(tm[i].fired_now >= tm[i].t.deadline_ms);
    }
    /* Fired in deadline order. */
    for (size_t k = 1; k < g_nseq; k++)
        if (tm[g_seq[k - 1]].t.deadline_ms > tm[g_seq[k]].t.deadline_ms)
            fail_msg("timer %d (deadline %llu) fired after timer %d (deadline %llu)", g_seq[k],
                     (unsigned long long)tm[g_seq[k]].t.deadline_ms, g_seq[k - 1],
                     (unsigned long long)tm[g_seq[k - 1]].t.deadline_ms);
    /* With the deadlines in their nominal order (always, unless arming took > 10 ms), that is
     * 10, 20, 30. */
    if (tm[1].t.deadline_ms < tm[2].t.deadline_ms && tm[2].t.deadline_ms < tm[0].t.deadline_ms) {
        assert_int_equal(g_seq[0], 1);
        assert_int_equal(g_seq[1], 2);
        assert_int_equal(g_seq[2], 0);
    }
}

static void test_timers_many(void **state)
{
    (void)state;
    /* Exercise the heap: 100 timers, repeated deadlines, some stopped from the middle. */
    enum { N = 100 };
    static struct tmr tm[N];
    size_t expect = 0;
    for (int i = 0; i < N; i++) {
        loop_timer_init(&tm[i].t, tmr_cb);
        tm[i].id = i;
        tm[i].fired = 0;
        assert_int_equal(loop_timer_start(g_loop, &tm[i].t, (uint64_t)((i * 37) % 41)), 0);
    }
    for (int i = 0; i < N; i++) {
        if (i % 3 == 1) {
            loop_timer_stop(g_loop, &tm[i].t);
        } else {
            expect++;
        }
    }
    g_fires = 0;
    g_expect_fires = expect;
    run_loop();
    assert_int_equal(g_nseq, expect);
    for (int i = 0; i < N; i++) {
        if (tm[i].fired != (i % 3 == 1 ? 0 : 1))
            fail_msg("timer %d fired %d times", i, tm[i].fired);
        if (tm[i].fired) assert_true(tm[i].fired_now >= tm[i].t.deadline_ms);
    }
    for (size_t k = 1; k < g_nseq; k++)
        if (tm[g_seq[k - 1]].t.deadline_ms > tm[g_seq[k]].t.deadline_ms)
            fail_msg("out of order at %zu: timer %d then %d", k, g_seq[k - 1], g_seq[k]);
}

static void test_timer_rearm_moves_it(void **state)
{
    (void)state;
    struct tmr x, y;
    loop_timer_init(&x.t, tmr_cb);
    loop_timer_init(&y.t, tmr_cb);
    x.id = 1;
    y.id = 2;
    x.fired = y.fired = 0;
    assert_int_equal(loop_timer_start(g_loop, &x.t, 5), 0);
    assert_int_equal(loop_timer_start(g_loop, &y.t, 20), 0);
    /* Re-arming an armed timer replaces its deadline (it does not fire twice). */
    assert_int_equal(loop_timer_start(g_loop, &x.t, 40), 0);
    assert_true(loop_timer_armed(&x.t));
    g_fires = 0;
    g_expect_fires = 2;
    run_loop();
    assert_int_equal(x.fired, 1);
    assert_int_equal(y.fired, 1);
    assert_int_equal(g_nseq, 2);
    if (y.t.deadline_ms < x.t.deadline_ms) {
        assert_int_equal(g_seq[0], 2);
        assert_int_equal(g_seq[1], 1);
    }
    assert_true(x.fired_now >= x.t.deadline_ms);
}

static struct tmr g_self;
static int g_self_count;

static void self_rearm_cb(struct loop_timer *t)
{
    uint64_t prev = t->deadline_ms;
    g_self_count++;
    assert_true(loop_now(g_loop) >= prev);
    if (g_self_count < 3) {
        assert_int_equal(loop_timer_start(g_loop, t, 2), 0);
        assert_true(loop_timer_armed(t));
        assert_true(t->deadline_ms >= prev + 2);
    } else {
        loop_stop(g_loop);
    }
}

static void test_timer_rearm_from_callback(void **state)
{
    (void)state;
    g_self_count = 0;
    loop_timer_init(&g_self.t, self_rearm_cb);
    assert_int_equal(loop_timer_start(g_loop, &g_self.t, 0), 0);
    run_loop();
    assert_int_equal(g_self_count, 3);
    assert_false(loop_timer_armed(&g_self.t));
}

static struct tmr g_victim;

static void stopper_cb(struct loop_timer *t)
{
    (void)t;
    seq_add(100);
    loop_timer_stop(g_loop, &g_victim.t); /* stop another due timer from a callback */
}

static struct loop_timer g_end;

static void end_cb(struct loop_timer *t)
{
    (void)t;
    seq_add(200);
    loop_stop(g_loop);
}

static void test_timer_stop_from_callback(void **state)
{
    (void)state;
    struct loop_timer stopper;
    loop_timer_init(&stopper, stopper_cb);
    loop_timer_init(&g_victim.t, tmr_cb);
    g_victim.id = 7;
    g_victim.fired = 0;
    loop_timer_init(&g_end, end_cb);
    assert_int_equal(loop_timer_start(g_loop, &stopper, 1), 0);
    assert_int_equal(loop_timer_start(g_loop, &g_victim.t, 15), 0);
    assert_int_equal(loop_timer_start(g_loop, &g_end, 30), 0);
    g_fires = 0;
    g_expect_fires = 1000;
    /* Only meaningful when the stopper is due first, which it is unless arming stalled. */
    if (stopper.deadline_ms >= g_victim.t.deadline_ms) skip();
    run_loop();
    assert_int_equal(g_victim.fired, 0);
    assert_int_equal(g_nseq, 2);
    assert_int_equal(g_seq[0], 100);
    assert_int_equal(g_seq[1], 200);
}

/* ---- deferred calls ---- */

struct pipe_io {
    struct loop_io io;
    int rfd, wfd;
    int id;
    int calls;
    uint32_t last_events;
};

static void open_pipe(struct pipe_io *p, int id)
{
    int fds[2];
    assert_int_equal(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    p->rfd = fds[0];
    p->wfd = fds[1];
    p->id = id;
    p->calls = 0;
    p->last_events = 0;
}

static void close_pipe(struct pipe_io *p)
{
    loop_io_stop(g_loop, &p->io);
    if (p->rfd >= 0) close(p->rfd);
    if (p->wfd >= 0) close(p->wfd);
    p->rfd = p->wfd = -1;
}

static bool g_deferred_once;

static void defer_stop_fn(void *arg)
{
    seq_add(*(int *)arg);
    loop_stop(g_loop);
}

static int g_defer_tag = 99;

/* Reads what is there, logs the io, and queues one deferred call on the first callback. */
static void read_and_defer_cb(struct loop_io *io, uint32_t events)
{
    struct pipe_io *p = SP_CONTAINER_OF(io, struct pipe_io, io);
    char buf[64];
    p->calls++;
    p->last_events = events;
    while (read(p->rfd, buf, sizeof(buf)) > 0) {
    }
    seq_add(p->id);
    if (!g_deferred_once) {
        g_deferred_once = true;
        assert_int_equal(loop_defer(g_loop, defer_stop_fn, &g_defer_tag), 0);
    }
}

static void test_defer_runs_after_batch(void **state)
{
    (void)state;
    struct pipe_io a, b;
    open_pipe(&a, 1);
    open_pipe(&b, 2);
    loop_io_init(&a.io, a.rfd, read_and_defer_cb);
    loop_io_init(&b.io, b.rfd, read_and_defer_cb);
    assert_int_equal(loop_io_start(g_loop, &a.io, EPOLLIN), 0);
    assert_int_equal(loop_io_start(g_loop, &b.io, EPOLLIN), 0);
    /* Both readable before the loop runs: one epoll batch holds both. */
    assert_int_equal(write(a.wfd, "x", 1), 1);
    assert_int_equal(write(b.wfd, "y", 1), 1);
    g_deferred_once = false;
    run_loop();
    /* Both io callbacks, then the deferred call, whichever io came first. */
    assert_int_equal(g_nseq, 3);
    assert_true((g_seq[0] == 1 && g_seq[1] == 2) || (g_seq[0] == 2 && g_seq[1] == 1));
    assert_int_equal(g_seq[2], 99);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    assert_true(a.last_events & EPOLLIN);
    close_pipe(&a);
    close_pipe(&b);
}

static int g_tags[4] = {11, 12, 13, 14};

static void defer_log_fn(void *arg)
{
    seq_add(*(int *)arg);
}

static void defer_chain_fn(void *arg)
{
    seq_add(*(int *)arg);
    /* Deferring from a deferred call runs in the same pass. */
    assert_int_equal(loop_defer(g_loop, defer_log_fn, &g_tags[2]), 0);
    assert_int_equal(loop_defer(g_loop, defer_stop_fn, &g_tags[3]), 0);
}

static void test_defer_order_and_chain(void **state)
{
    (void)state;
    assert_int_equal(loop_defer(g_loop, defer_log_fn, &g_tags[0]), 0);
    assert_int_equal(loop_defer(g_loop, defer_chain_fn, &g_tags[1]), 0);
    run_loop(); /* returns without blocking: the deferred queue runs first */
    assert_int_equal(g_nseq, 4);
    assert_int_equal(g_seq[0], 11);
    assert_int_equal(g_seq[1], 12);
    assert_int_equal(g_seq[2], 13);
    assert_int_equal(g_seq[3], 14);
}

static void test_defer_many(void **state)
{
    (void)state;
    /* More than the initial queue capacity. */
    static int vals[100];
    for (int i = 0; i < 100; i++) {
        vals[i] = i;
        assert_int_equal(loop_defer(g_loop, defer_log_fn, &vals[i]), 0);
    }
    assert_int_equal(loop_defer(g_loop, defer_stop_fn, &g_defer_tag), 0);
    run_loop();
    assert_int_equal(g_nseq, 101);
    for (int i = 0; i < 100; i++)
        assert_int_equal(g_seq[i], i);
    assert_int_equal(g_seq[100], 99);
}

static void test_defer_run_by_free(void **state)
{
    (void)state;
    struct loop *l;
    assert_int_equal(loop_new(&l), 0);
    assert_int_equal(loop_defer(l, defer_log_fn, &g_tags[0]), 0);
    assert_int_equal(loop_defer(l, defer_log_fn, &g_tags[1]), 0);
    assert_int_equal(g_nseq, 0);
    loop_free(l); /* pending deferred calls run first */
    assert_int_equal(g_nseq, 2);
    assert_int_equal(g_seq[0], 11);
    assert_int_equal(g_seq[1], 12);
    loop_free(NULL);
}

static void defer_from_timer_cb(struct loop_timer *t)
{
    (void)t;
    seq_add(1);
    assert_int_equal(loop_defer(g_loop, defer_stop_fn, &g_defer_tag), 0);
    seq_add(2); /* not run inline */
}

static void test_defer_from_timer(void **state)
{
    (void)state;
    struct loop_timer t;
    loop_timer_init(&t, defer_from_timer_cb);
    assert_int_equal(loop_timer_start(g_loop, &t, 1), 0);
    run_loop();
    assert_int_equal(g_nseq, 3);
    assert_int_equal(g_seq[0], 1);
    assert_int_equal(g_seq[1], 2);
    assert_int_equal(g_seq[2], 99);
}

/* ---- fd events ---- */

static void read_stop_cb(struct loop_io *io, uint32_t events)
{
    struct pipe_io *p = SP_CONTAINER_OF(io, struct pipe_io, io);
    char buf[16];
    p->calls++;
    p->last_events = events;
    ssize_t n = read(p->rfd, buf, sizeof(buf));
    assert_int_equal(n, 5);
    assert_memory_equal(buf, "hello", 5);
    loop_stop(g_loop);
}

static void test_io_pipe_readable(void **state)
{
    (void)state;
    struct pipe_io p;
    open_pipe(&p, 1);
    loop_io_init(&p.io, p.rfd, read_stop_cb);
    assert_false(p.io.registered);
    assert_int_equal(loop_io_start(g_loop, &p.io, EPOLLIN), 0);
    assert_true(p.io.registered);
    assert_int_equal(p.io.events, EPOLLIN);
    assert_int_equal(write(p.wfd, "hello", 5), 5);
    run_loop();
    assert_int_equal(p.calls, 1);
    assert_true(p.last_events & EPOLLIN);
    close_pipe(&p);
    assert_false(p.io.registered);
}

static void test_io_start_errors(void **state)
{
    (void)state;
    struct pipe_io p;
    open_pipe(&p, 1);
    loop_io_init(&p.io, p.rfd, read_stop_cb);
    assert_int_equal(loop_io_start(g_loop, &p.io, EPOLLIN), 0);
    /* Registering the same fd twice fails. */
    struct loop_io dup;
    loop_io_init(&dup, p.rfd, read_stop_cb);
    assert_int_equal(loop_io_start(g_loop, &dup, EPOLLIN), -EEXIST);
    assert_false(dup.registered);
    loop_io_stop(g_loop, &dup); /* not registered: no-op, must not remove p's fd */
    assert_true(p.io.registered);
    close_pipe(&p);

    struct loop_io bad;
    loop_io_init(&bad, -1, read_stop_cb);
    assert_int_equal(loop_io_start(g_loop, &bad, EPOLLIN), -EBADF);
    assert_false(bad.registered);
    loop_io_stop(g_loop, &bad);
}

static struct loop_timer g_stop_timer;

static void stop_timer_cb(struct loop_timer *t)
{
    (void)t;
    seq_add(500);
    loop_stop(g_loop);
}

static void count_and_stop_io_cb(struct loop_io *io, uint32_t events)
{
    struct pipe_io *p = SP_CONTAINER_OF(io, struct pipe_io, io);
    p->calls++;
    p->last_events = events;
    seq_add(p->id);
    /* The data is left unread: level-triggered epoll would report it again and again. */
    loop_io_stop(g_loop, io);
    assert_false(io->registered);
    assert_int_equal(io->events, 0);
    assert_int_equal(loop_timer_start(g_loop, &g_stop_timer, 20), 0);
}

static void test_io_stop_prevents_callbacks(void **state)
{
    (void)state;
    struct pipe_io p;
    open_pipe(&p, 1);
    loop_io_init(&p.io, p.rfd, count_and_stop_io_cb);
    loop_timer_init(&g_stop_timer, stop_timer_cb);
    assert_int_equal(loop_io_start(g_loop, &p.io, EPOLLIN), 0);
    assert_int_equal(write(p.wfd, "data", 4), 4);
    run_loop();
    assert_int_equal(p.calls, 1);
    assert_int_equal(g_nseq, 2);
    assert_int_equal(g_seq[0], 1);
    assert_int_equal(g_seq[1], 500);

    /* It can be started again and fires again (the data is still there). */
    g_nseq = 0;
    assert_int_equal(loop_io_start(g_loop, &p.io, EPOLLIN), 0);
    run_loop();
    assert_int_equal(p.calls, 2);
    assert_int_equal(g_nseq, 2);
    assert_int_equal(g_seq[0], 1);
    assert_int_equal(g_seq[1], 500);
    close_pipe(&p);
}

static struct pipe_io *g_pair[2];

static void stop_both_cb(struct loop_io *io, uint32_t events)
{
    struct pipe_io *p = SP_CONTAINER_OF(io, struct pipe_io, io);
    (void)events;
    p->calls++;
    seq_add(p->id);
    loop_io_stop(g_loop, &g_pair[0]->io);
    loop_io_stop(g_loop, &g_pair[1]->io);
    if (g_nseq == 1) assert_int_equal(loop_timer_start(g_loop, &g_stop_timer, 20), 0);
}

static void test_io_stop_within_batch(void **state)
{
    (void)state;
    struct pipe_io a, b;
    open_pipe(&a, 1);
    open_pipe(&b, 2);
    g_pair[0] = &a;
    g_pair[1] = &b;
    loop_io_init(&a.io, a.rfd, stop_both_cb);
    loop_io_init(&b.io, b.rfd, stop_both_cb);
    loop_timer_init(&g_stop_timer, stop_timer_cb);
    assert_int_equal(loop_io_start(g_loop, &a.io, EPOLLIN), 0);
    assert_int_equal(loop_io_start(g_loop, &b.io, EPOLLIN), 0);
    assert_int_equal(write(a.wfd, "x", 1), 1);
    assert_int_equal(write(b.wfd, "y", 1), 1);
    run_loop();
    /* Both were ready in the same batch; the first callback stopped the second io, whose event
     * from that batch must not be delivered. */
    assert_int_equal(a.calls + b.calls, 1);
    assert_int_equal(g_nseq, 2);
    assert_int_equal(g_seq[1], 500);
    close_pipe(&a);
    close_pipe(&b);
}

static void writable_cb(struct loop_io *io, uint32_t events)
{
    struct pipe_io *p = SP_CONTAINER_OF(io, struct pipe_io, io);
    p->calls++;
    p->last_events = events;
    /* Switch interest to EPOLLIN, which a pipe's write end never reports. */
    assert_int_equal(loop_io_set(g_loop, io, EPOLLIN), 0);
    assert_int_equal(io->events, EPOLLIN);
    if (p->calls == 1) assert_int_equal(loop_timer_start(g_loop, &g_stop_timer, 20), 0);
}

static void test_io_set(void **state)
{
    (void)state;
    struct pipe_io p;
    open_pipe(&p, 1);
    loop_io_init(&p.io, p.wfd, writable_cb);
    loop_timer_init(&g_stop_timer, stop_timer_cb);
    /* loop_io_set on an unregistered io starts it. */
    assert_int_equal(loop_io_set(g_loop, &p.io, EPOLLOUT), 0);
    assert_true(p.io.registered);
    assert_int_equal(p.io.events, EPOLLOUT);
    /* Unchanged: a no-op. */
    assert_int_equal(loop_io_set(g_loop, &p.io, EPOLLOUT), 0);
    run_loop();
    assert_int_equal(p.calls, 1);
    assert_true(p.last_events & EPOLLOUT);
    close_pipe(&p);
}

static void hup_cb(struct loop_io *io, uint32_t events)
{
    struct pipe_io *p = SP_CONTAINER_OF(io, struct pipe_io, io);
    p->calls++;
    p->last_events = events;
    loop_io_stop(g_loop, io);
    loop_stop(g_loop);
}

static void test_io_hangup(void **state)
{
    (void)state;
    struct pipe_io p;
    open_pipe(&p, 1);
    loop_io_init(&p.io, p.rfd, hup_cb);
    assert_int_equal(loop_io_start(g_loop, &p.io, EPOLLIN), 0);
    close(p.wfd);
    p.wfd = -1;
    run_loop();
    assert_int_equal(p.calls, 1);
    assert_true(p.last_events & EPOLLHUP);
    close_pipe(&p);
}

static void test_loop_now_advances(void **state)
{
    (void)state;
    uint64_t t0 = loop_now(g_loop);
    assert_true(t0 <= sp_now_ms());
    struct tmr t;
    loop_timer_init(&t.t, tmr_cb);
    t.id = 1;
    t.fired = 0;
    assert_int_equal(loop_timer_start(g_loop, &t.t, 3), 0);
    g_fires = 0;
    g_expect_fires = 1;
    run_loop();
    assert_int_equal(t.fired, 1);
    assert_true(t.fired_now >= t0 + 3);
    assert_true(loop_now(g_loop) >= t.t.deadline_ms);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_timers_deadline_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timers_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_rearm_moves_it, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_rearm_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_stop_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defer_runs_after_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defer_order_and_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defer_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defer_run_by_free, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defer_from_timer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_pipe_readable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_start_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_stop_prevents_callbacks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_stop_within_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_hangup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loop_now_advances, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
