/* SPDX-License-Identifier: MIT */
/* Byte buffers: see buf.h. */
#include "buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sp_buf_reserve(struct sp_buf *b, size_t extra)
{
    if (extra > SIZE_MAX / 2 - (b->len - b->off)) return -ENOMEM;
    if (b->off > 0 && (b->off == b->len || b->len + extra > b->cap)) {
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
    }
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) return -ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int sp_buf_append(struct sp_buf *b, const void *p, size_t n)
{
    int r = sp_buf_reserve(b, n);
    if (r < 0) return r;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int sp_buf_append_str(struct sp_buf *b, const char *s)
{
    return sp_buf_append(b, s, strlen(s));
}

int sp_buf_printf(struct sp_buf *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];

    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) return -EINVAL;
    if ((size_t)n < sizeof(small)) return sp_buf_append(b, small, (size_t)n);

    int r = sp_buf_reserve(b, (size_t)n + 1);
    if (r < 0) return r;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void sp_buf_consume(struct sp_buf *b, size_t n)
{
    if (n >= b->len - b->off) {
        b->off = b->len = 0;
    } else {
        b->off += n;
    }
}

void sp_buf_clear(struct sp_buf *b)
{
    b->off = b->len = 0;
}

void sp_buf_shrink(struct sp_buf *b, size_t keep)
{
    if (b->off == b->len && b->cap > keep) sp_buf_free(b);
}

void sp_buf_free(struct sp_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->off = b->len = b->cap = 0;
}
