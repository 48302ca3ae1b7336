/* SPDX-License-Identifier: MIT */
/* Clocks: see time.h. */
#include "time.h"

#include <stdio.h>
#include <time.h>

uint64_t sp_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t sp_now_ms(void)
{
    return sp_now_ns() / 1000000u;
}

uint64_t sp_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void sp_time_rfc3339_ms(uint64_t ms, char *buf, size_t len)
{
    struct tm tm;
    time_t sec = (time_t)(ms / 1000u);

    gmtime_r(&sec, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000u));
}

void sp_time_rfc3339(char *buf, size_t len)
{
    sp_time_rfc3339_ms(sp_wall_ms(), buf, len);
}
