/* SPDX-License-Identifier: MIT */
/* Clocks: monotonic milliseconds for deadlines, wall-clock strings for logs and the API. */
#ifndef SP_TIME_H
#define SP_TIME_H

#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in milliseconds: immune to wall-clock jumps; use it for every deadline. */
uint64_t sp_now_ms(void);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t sp_now_ns(void);

/* Writes an RFC 3339 UTC timestamp with milliseconds ("2026-01-02T03:04:05.678Z") into buf. */
void sp_time_rfc3339(char *buf, size_t len);

/* CLOCK_REALTIME in ms since the epoch, and such a time as RFC 3339 UTC with milliseconds. */
uint64_t sp_wall_ms(void);
void sp_time_rfc3339_ms(uint64_t ms, char *buf, size_t len);

#endif
