/* SPDX-License-Identifier: MIT */
/*
 * Leveled logging to stderr, one line per call, as text or JSON lines. Formatting happens in a
 * fixed stack buffer (no heap) and the line is written with one write(2), so logging is safe on
 * every path of PID 1. errno is preserved across calls.
 */
#ifndef SP_LOG_H
#define SP_LOG_H

#include "compiler.h"

enum sp_log_level {
    SP_LOG_ERROR = 0,
    SP_LOG_WARN = 1,
    SP_LOG_INFO = 2,
    SP_LOG_DEBUG = 3,
};

void sp_log_setup(enum sp_log_level level, int json);
enum sp_log_level sp_log_get_level(void);

/* Parses "debug", "info", "warn"/"warning", "error"; returns 0 or -EINVAL. */
int sp_log_level_parse(const char *s, enum sp_log_level *out);

void sp_log(enum sp_log_level level, const char *fmt, ...) SP_PRINTF(2, 3);

#define sp_error(...) sp_log(SP_LOG_ERROR, __VA_ARGS__)
#define sp_warn(...)  sp_log(SP_LOG_WARN, __VA_ARGS__)
#define sp_info(...)  sp_log(SP_LOG_INFO, __VA_ARGS__)
#define sp_debug(...) sp_log(SP_LOG_DEBUG, __VA_ARGS__)

#endif
