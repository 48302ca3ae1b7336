/* SPDX-License-Identifier: MIT */
/*
 * The event loop: one epoll set, a min-heap of timers on absolute CLOCK_MONOTONIC deadlines, and
 * a queue of deferred calls run after each batch of events.
 *
 * Ownership: the caller owns every `struct loop_io` and `struct loop_timer` (usually embedded
 * in a bigger object). An object holding a registered io must not be freed from inside an event
 * callback while other events of the same batch may still point at it: free it with
 * loop_defer(), which runs after the batch. Loop-thread only; nothing here is signal-safe.
 */
#ifndef SP_LOOP_H
#define SP_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

struct loop;
struct loop_io;
struct loop_timer;

typedef void (*loop_io_fn)(struct loop_io *io, uint32_t events);
typedef void (*loop_timer_fn)(struct loop_timer *t);
typedef void (*loop_defer_fn)(void *arg);

struct loop_io {
    int fd;
    uint32_t events; /* EPOLLIN / EPOLLOUT currently asked for */
    loop_io_fn cb;
    bool registered;
};

struct loop_timer {
    uint64_t deadline_ms; /* absolute, sp_now_ms() clock */
    size_t heap_index;    /* SIZE_MAX when not armed */
    loop_timer_fn cb;
};

int loop_new(struct loop **out);
/* Frees the loop; every io must have been removed. Pending deferred calls are run first. */
void loop_free(struct loop *loop);

/* Runs until loop_stop(); returns 0, or -errno if epoll_wait fails for good. */
int loop_run(struct loop *loop);
void loop_stop(struct loop *loop);
/* Cached monotonic time of the current iteration, in ms. */
uint64_t loop_now(struct loop *loop);

void loop_io_init(struct loop_io *io, int fd, loop_io_fn cb);
int loop_io_start(struct loop *loop, struct loop_io *io, uint32_t events);
/* Changes the interest set; a no-op when unchanged. */
int loop_io_set(struct loop *loop, struct loop_io *io, uint32_t events);
/* Removes the fd from epoll (does not close it). Safe to call when not registered. */
void loop_io_stop(struct loop *loop, struct loop_io *io);

void loop_timer_init(struct loop_timer *t, loop_timer_fn cb);
/* (Re)arms the timer to fire once after delay_ms. 0 or -ENOMEM. */
int loop_timer_start(struct loop *loop, struct loop_timer *t, uint64_t delay_ms);
void loop_timer_stop(struct loop *loop, struct loop_timer *t);
static inline bool loop_timer_armed(const struct loop_timer *t)
{
    return t->heap_index != SIZE_MAX;
}

/* Runs every queued deferred call now (for teardown, outside loop_run). */
void loop_run_deferred(struct loop *loop);

/* Queues fn(arg) to run after the current batch of events. 0 or -ENOMEM. */
int loop_defer(struct loop *loop, loop_defer_fn fn, void *arg);

#endif
