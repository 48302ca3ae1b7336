/* SPDX-License-Identifier: MIT */
/* Event loop: see loop.h. */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "../base/fd.h"
#include "../base/log.h"
#include "../base/time.h"

#define LOOP_MAX_EVENTS 64

struct deferred {
    loop_defer_fn fn;
    void *arg;
};

struct loop {
    int epfd;
    bool stop;
    uint64_t now_ms;
    struct loop_timer **heap;
    size_t heap_len, heap_cap;
    struct deferred *defer;
    size_t defer_len, defer_cap;
};

int loop_new(struct loop **out)
{
    struct loop *l = calloc(1, sizeof(*l));
    if (!l) return -ENOMEM;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        int r = -errno;
        free(l);
        return r;
    }
    l->now_ms = sp_now_ms();
    *out = l;
    return 0;
}

static void run_deferred(struct loop *l)
{
    /* A deferred call may defer more work; run until the queue is empty. */
    for (size_t i = 0; i < l->defer_len; i++) {
        struct deferred d = l->defer[i];
        d.fn(d.arg);
    }
    l->defer_len = 0;
}

void loop_run_deferred(struct loop *l)
{
    run_deferred(l);
}

void loop_free(struct loop *l)
{
    if (!l) return;
    run_deferred(l);
    sp_close(l->epfd);
    free(l->heap);
    free(l->defer);
    free(l);
}

uint64_t loop_now(struct loop *l)
{
    return l->now_ms;
}

void loop_stop(struct loop *l)
{
    l->stop = true;
}

void loop_io_init(struct loop_io *io, int fd, loop_io_fn cb)
{
    io->fd = fd;
    io->events = 0;
    io->cb = cb;
    io->registered = false;
}

int loop_io_start(struct loop *l, struct loop_io *io, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = io};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, io->fd, &ev) < 0) return -errno;
    io->events = events;
    io->registered = true;
    return 0;
}

int loop_io_set(struct loop *l, struct loop_io *io, uint32_t events)
{
    if (!io->registered) return loop_io_start(l, io, events);
    if (io->events == events) return 0;
    struct epoll_event ev = {.events = events, .data.ptr = io};
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0) return -errno;
    io->events = events;
    return 0;
}

void loop_io_stop(struct loop *l, struct loop_io *io)
{
    if (!io->registered) return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
    io->registered = false;
    io->events = 0;
}

/* ---- timers: a binary min-heap keyed by deadline ---- */

static bool timer_less(const struct loop_timer *a, const struct loop_timer *b)
{
    return a->deadline_ms < b->deadline_ms;
}

static void heap_swap(struct loop *l, size_t i, size_t j)
{
    struct loop_timer *t = l->heap[i];
    l->heap[i] = l->heap[j];
    l->heap[j] = t;
    l->heap[i]->heap_index = i;
    l->heap[j]->heap_index = j;
}

static void heap_up(struct loop *l, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!timer_less(l->heap[i], l->heap[parent])) break;
        heap_swap(l, i, parent);
        i = parent;
    }
}

static void heap_down(struct loop *l, size_t i)
{
    for (;;) {
        size_t left = 2 * i + 1, right = left + 1, min = i;
        if (left < l->heap_len && timer_less(l->heap[left], l->heap[min])) min = left;
        if (right < l->heap_len && timer_less(l->heap[right], l->heap[min])) min = right;
        if (min == i) break;
        heap_swap(l, i, min);
        i = min;
    }
}

void loop_timer_init(struct loop_timer *t, loop_timer_fn cb)
{
    t->deadline_ms = 0;
    t->heap_index = SIZE_MAX;
    t->cb = cb;
}

void loop_timer_stop(struct loop *l, struct loop_timer *t)
{
    size_t i = t->heap_index;
    if (i == SIZE_MAX) return;
    l->heap_len--;
    if (i != l->heap_len) {
        l->heap[i] = l->heap[l->heap_len];
        l->heap[i]->heap_index = i;
        heap_down(l, i);
        heap_up(l, i);
    }
    t->heap_index = SIZE_MAX;
}

int loop_timer_start(struct loop *l, struct loop_timer *t, uint64_t delay_ms)
{
    loop_timer_stop(l, t);
    if (l->heap_len == l->heap_cap) {
        size_t cap = l->heap_cap ? l->heap_cap * 2 : 16;
        struct loop_timer **h = realloc(l->heap, cap * sizeof(*h));
        if (!h) return -ENOMEM;
        l->heap = h;
        l->heap_cap = cap;
    }
    t->deadline_ms = sp_now_ms() + delay_ms;
    t->heap_index = l->heap_len;
    l->heap[l->heap_len++] = t;
    heap_up(l, t->heap_index);
    return 0;
}

int loop_defer(struct loop *l, loop_defer_fn fn, void *arg)
{
    if (l->defer_len == l->defer_cap) {
        size_t cap = l->defer_cap ? l->defer_cap * 2 : 16;
        struct deferred *d = realloc(l->defer, cap * sizeof(*d));
        if (!d) return -ENOMEM;
        l->defer = d;
        l->defer_cap = cap;
    }
    l->defer[l->defer_len++] = (struct deferred){fn, arg};
    return 0;
}

static int next_timeout(struct loop *l)
{
    if (l->defer_len) return 0;
    if (l->heap_len == 0) return -1;
    uint64_t d = l->heap[0]->deadline_ms;
    if (d <= l->now_ms) return 0;
    uint64_t wait = d - l->now_ms;
    return wait > 60000 ? 60000 : (int)wait;
}

static void run_timers(struct loop *l)
{
    while (l->heap_len && l->heap[0]->deadline_ms <= l->now_ms) {
        struct loop_timer *t = l->heap[0];
        loop_timer_stop(l, t);
        t->cb(t);
        if (l->stop) return;
    }
}

int loop_run(struct loop *l)
{
    struct epoll_event evs[LOOP_MAX_EVENTS];

    l->stop = false;
    while (!l->stop) {
        run_deferred(l);
        if (l->stop) break;
        l->now_ms = sp_now_ms();
        int n = epoll_wait(l->epfd, evs, LOOP_MAX_EVENTS, next_timeout(l));
        if (n < 0) {
            if (errno == EINTR) continue;
            sp_error("epoll_wait: %m");
            return -errno;
        }
        l->now_ms = sp_now_ms();
        for (int i = 0; i < n && !l->stop; i++) {
            struct loop_io *io = evs[i].data.ptr;
            /* An earlier callback of this batch may have stopped this io (its memory stays
             * valid until the deferred queue runs). */
            if (!io->registered) continue;
            io->cb(io, evs[i].events);
        }
        if (!l->stop) run_timers(l);
    }
    run_deferred(l);
    return 0;
}
