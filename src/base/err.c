/* SPDX-License-Identifier: MIT */
/* Error records: see err.h. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int sp_err_set(struct sp_err *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
        va_end(ap);
        e->code = code;
    }
    return code;
}

int sp_err_prefix(struct sp_err *e, const char *fmt, ...)
{
    char prefix[SP_ERR_MSG_MAX];
    char joined[2 * SP_ERR_MSG_MAX];
    va_list ap;

    if (!e) return 0;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    snprintf(joined, sizeof(joined), "%s%s", prefix, e->msg);
    memcpy(e->msg, joined, sizeof(e->msg) - 1);
    e->msg[sizeof(e->msg) - 1] = '\0';
    return e->code;
}

void sp_err_clear(struct sp_err *e)
{
    if (e) {
        e->code = 0;
        e->msg[0] = '\0';
    }
}
