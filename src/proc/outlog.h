/* SPDX-License-Identifier: MIT */
/*
 * The output log of one stream of a process: a ring of the last `cap` bytes with absolute byte
 * offsets. Offsets count every byte ever written, so a reader keeps a cursor (an offset) and
 * can ask for what follows it; when the ring has dropped bytes the reader has not read yet, the
 * read says how many were missed and goes on from the oldest byte held. Memory grows with the
 * bytes held (doubling from 4 KiB) up to cap, so a quiet process costs almost nothing.
 */
#ifndef SP_OUTLOG_H
#define SP_OUTLOG_H

#include <stddef.h>
#include <stdint.h>

struct outlog {
    char *buf;
    size_t size;    /* allocated bytes (<= cap) */
    size_t cap;     /* most bytes held */
    uint64_t start; /* offset of the oldest byte held */
    uint64_t end;   /* offset after the newest byte = bytes ever written */
};

void outlog_init(struct outlog *l, size_t cap);
void outlog_free(struct outlog *l);

/* Appends; drops the oldest bytes beyond cap. 0, or -ENOMEM (then nothing was appended). */
int outlog_write(struct outlog *l, const void *data, size_t n);

/*
 * Reads up to max bytes from fd straight into the ring (no intermediate copy). Returns what
 * read(2) returned: the byte count, 0 at EOF, or -1 with errno set.
 */
long outlog_read_fd(struct outlog *l, int fd, size_t max);

/*
 * Copies up to n bytes following *cursor into dst and advances *cursor. When *cursor is older
 * than the oldest byte held, *missed (if not NULL) gets how many bytes were lost and the read
 * starts at the oldest byte; otherwise *missed is 0. A cursor beyond end is clamped to end.
 */
size_t outlog_read(const struct outlog *l, uint64_t *cursor, void *dst, size_t n, uint64_t *missed);

/*
 * Points at up to n bytes following *cursor without copying (one or two segments of the ring)
 * and advances *cursor past them; the pointers stay valid until the next write. Returns the
 * byte count; *missed as in outlog_read.
 */
size_t outlog_peek(const struct outlog *l, uint64_t *cursor, size_t n, const char **p1, size_t *n1,
                   const char **p2, size_t *n2, uint64_t *missed);

static inline uint64_t outlog_available(const struct outlog *l, uint64_t cursor)
{
    if (cursor < l->start) cursor = l->start;
    return cursor >= l->end ? 0 : l->end - cursor;
}

#endif
