/* SPDX-License-Identifier: MIT */
/*
 * A growable byte buffer with a read offset, used for socket input and output queues. The
 * buffer owns `data`; readers consume from the front with sp_buf_consume() and writers append
 * at the back. Growth reports -ENOMEM instead of aborting.
 */
#ifndef SP_BUF_H
#define SP_BUF_H

#include <stddef.h>

#include "compiler.h"

struct sp_buf {
    char *data;
    size_t off; /* first unread byte */
    size_t len; /* end of the data (data[off..len) is pending) */
    size_t cap;
};

#define SP_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0, 0                                                                              \
    }

static inline size_t sp_buf_pending(const struct sp_buf *b)
{
    return b->len - b->off;
}

static inline char *sp_buf_head(const struct sp_buf *b)
{
    return b->data + b->off;
}

/* Makes room for `extra` more bytes after len (compacting first). 0 or -ENOMEM. */
int sp_buf_reserve(struct sp_buf *b, size_t extra);
int sp_buf_append(struct sp_buf *b, const void *p, size_t n);
int sp_buf_append_str(struct sp_buf *b, const char *s);
int sp_buf_printf(struct sp_buf *b, const char *fmt, ...) SP_PRINTF(2, 3);
/* Drops n pending bytes from the front. */
void sp_buf_consume(struct sp_buf *b, size_t n);
/* Forgets the content, keeps the memory. */
void sp_buf_clear(struct sp_buf *b);
/* Releases memory when the buffer is empty and larger than `keep` bytes. */
void sp_buf_shrink(struct sp_buf *b, size_t keep);
void sp_buf_free(struct sp_buf *b);

#endif
