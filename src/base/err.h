/* SPDX-License-Identifier: MIT */
/*
 * Caller-owned error records. Higher-level functions take a `struct sp_err *` and, on failure,
 * fill it and return the negative errno-style code; on success they leave it untouched. The
 * record lives on the caller's stack, so reporting an error never allocates (PID 1 must keep
 * working when memory is short).
 */
#ifndef SP_ERR_H
#define SP_ERR_H

#include "compiler.h"

#define SP_ERR_MSG_MAX 512

struct sp_err {
    int code;                 /* negative errno-style code, 0 when unset */
    char msg[SP_ERR_MSG_MAX]; /* one human line, no trailing newline */
};

/* Fills `e` (if not NULL) and returns `code` (which should be negative). */
int sp_err_set(struct sp_err *e, int code, const char *fmt, ...) SP_PRINTF(3, 4);

/* Prepends context ("loading x: ") to an already filled record; returns e->code. */
int sp_err_prefix(struct sp_err *e, const char *fmt, ...) SP_PRINTF(2, 3);

void sp_err_clear(struct sp_err *e);

#endif
