/* SPDX-License-Identifier: MIT */
/* Output logs: see outlog.h. Byte at offset o lives at buf[o % size] once the ring is full;
 * until then the buffer is linear from offset start (= 0) and grows by doubling. */
#include "outlog.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OUTLOG_MIN 4096

void outlog_init(struct outlog *l, size_t cap)
{
    memset(l, 0, sizeof(*l));
    l->cap = cap;
}

void outlog_free(struct outlog *l)
{
    free(l->buf);
    l->buf = NULL;
    l->size = 0;
}

static size_t held(const struct outlog *l)
{
    return (size_t)(l->end - l->start);
}

/* Grows the buffer to hold `want` bytes (<= cap), keeping the ring layout by offset. */
static int grow(struct outlog *l, size_t want)
{
    size_t size = l->size ? l->size : OUTLOG_MIN;
    while (size < want)
        size *= 2;
    if (size > l->cap) size = l->cap;
    if (size <= l->size) return 0;
    char *nb = malloc(size);
    if (!nb) return -ENOMEM;
    /* copy the held bytes to their positions in the new ring */
    for (uint64_t o = l->start; o < l->end;) {
        size_t from = (size_t)(o % l->size);
        size_t run = l->size - from;
        if (run > l->end - o) run = (size_t)(l->end - o);
        size_t to = (size_t)(o % size);
        size_t run2 = size - to < run ? size - to : run;
        memcpy(nb + to, l->buf + from, run2);
        if (run2 < run) memcpy(nb, l->buf + from + run2, run - run2);
        o += run;
    }
    free(l->buf);
    l->buf = nb;
    l->size = size;
    return 0;
}

int outlog_write(struct outlog *l, const void *data, size_t n)
{
    const char *p = data;
    if (n == 0) return 0;
    if (l->cap == 0) { /* count only */
        l->end += n;
        l->start = l->end;
        return 0;
    }
    if (n > l->cap) { /* only the tail can be kept */
        p += n - l->cap;
        l->end += n - l->cap;
        l->start = l->end;
        n = l->cap;
    }
    if (held(l) + n > l->size && l->size < l->cap) {
        int r = grow(l, held(l) + n);
        if (r < 0) return r;
    }
    if (held(l) + n > l->size) l->start = l->end + n - l->size; /* drop the oldest */
    size_t at = (size_t)(l->end % l->size);
    size_t first = l->size - at < n ? l->size - at : n;
    memcpy(l->buf + at, p, first);
    memcpy(l->buf, p + first, n - first);
    l->end += n;
    return 0;
}

long outlog_read_fd(struct outlog *l, int fd, size_t max)
{
    if (l->cap == 0) { /* count only */
        char sink[4096];
        ssize_t r = read(fd, sink, sizeof(sink));
        if (r > 0) {
            l->end += (uint64_t)r;
            l->start = l->end;
        }
        return r;
    }
    if (max > l->cap) max = l->cap;
    /* room: grow toward cap while the held bytes plus this read would not fit */
    if (held(l) + max > l->size && l->size < l->cap && grow(l, held(l) + max) < 0) {
        errno = ENOMEM;
        return -1;
    }
    size_t at = (size_t)(l->end % l->size);
    size_t contig = l->size - at;
    if (max > contig) max = contig;
    ssize_t r = read(fd, l->buf + at, max);
    if (r > 0) {
        l->end += (uint64_t)r;
        if (held(l) > l->size) l->start = l->end - l->size; /* the oldest were overwritten */
    }
    return r;
}

size_t outlog_peek(const struct outlog *l, uint64_t *cursor, size_t n, const char **p1, size_t *n1,
                   const char **p2, size_t *n2, uint64_t *missed)
{
    uint64_t c = *cursor;
    if (missed) *missed = c < l->start ? l->start - c : 0;
    if (c < l->start) c = l->start;
    if (c > l->end) c = l->end;
    size_t avail = (size_t)(l->end - c);
    if (n > avail) n = avail;
    *n1 = *n2 = 0;
    *p1 = *p2 = NULL;
    if (n) {
        size_t at = (size_t)(c % l->size);
        *p1 = l->buf + at;
        *n1 = l->size - at < n ? l->size - at : n;
        if (*n1 < n) {
            *p2 = l->buf;
            *n2 = n - *n1;
        }
    }
    *cursor = c + n;
    return n;
}

size_t outlog_read(const struct outlog *l, uint64_t *cursor, void *dst, size_t n, uint64_t *missed)
{
    const char *p1, *p2;
    size_t n1, n2;
    size_t got = outlog_peek(l, cursor, n, &p1, &n1, &p2, &n2, missed);
    if (n1) memcpy(dst, p1, n1);
    if (n2) memcpy((char *)dst + n1, p2, n2);
    return got;
}
