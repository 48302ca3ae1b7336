/* SPDX-License-Identifier: MIT */
/*
 * A ring of line records: see logring.h. Record seq s lives at recs[(head + s - first) % alloc],
 * where first = next_seq - nrecs. The array doubles when full (re-laid out from index 0) and
 * never shrinks. A pending partial line is never longer than LOGRING_MAX_LINE - 1 bytes between
 * calls; its buffer holds at least partial_size() of its length, so growing it one byte at a time
 * does not realloc every time. When it becomes a record its bytes are copied into a buffer of
 * exactly len + 1, so a failure there leaves the pending line untouched.
 */
#include "logring.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOGRING_MIN_RECS 16
#define PARTIAL_MIN      64

void logring_init(struct logring *r, size_t cap_bytes)
{
    memset(r, 0, sizeof(*r));
    r->cap_bytes = cap_bytes;
    r->rec_overhead = LOGRING_REC_OVERHEAD;
}

void logring_free(struct logring *r)
{
    for (size_t i = 0; i < r->nrecs; i++)
        free(r->recs[(r->head + i) % r->alloc].data);
    free(r->recs);
    for (int s = 0; s < 3; s++)
        free(r->partial[s]);
    size_t cap = r->cap_bytes;
    uint64_t next = r->next_seq;
    memset(r, 0, sizeof(*r));
    /* keep the ring usable and its sequence numbers monotonic */
    r->cap_bytes = cap;
    r->next_seq = next;
}

static uint64_t now_realtime_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) < 0) return 0;
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Makes room for one more record. 0 or -ENOMEM (then nothing changed). */
static int reserve_one(struct logring *r)
{
    if (r->nrecs < r->alloc) return 0;
    size_t alloc = r->alloc ? r->alloc * 2 : LOGRING_MIN_RECS;
    if (alloc < r->alloc || alloc > SIZE_MAX / sizeof(*r->recs)) return -ENOMEM;
    struct logring_rec *recs = malloc(alloc * sizeof(*recs));
    if (!recs) return -ENOMEM;
    for (size_t i = 0; i < r->nrecs; i++)
        recs[i] = r->recs[(r->head + i) % r->alloc];
    free(r->recs);
    r->recs = recs;
    r->alloc = alloc;
    r->head = 0;
    return 0;
}

static void drop_oldest(struct logring *r)
{
    struct logring_rec *rec = &r->recs[r->head];
    r->bytes -= rec->len;
    free(rec->data);
    rec->data = NULL;
    r->head = (r->head + 1) % r->alloc;
    r->nrecs--;
}

/*
 * Appends a record whose data (n bytes plus a NUL at data[n]) is taken over on success; on
 * failure the caller still owns it and the ring is unchanged.
 */
static int push_take(struct logring *r, int stream, char *data, size_t n, uint64_t ts_ms)
{
    int rc = reserve_one(r);
    if (rc < 0) return rc;
    struct logring_rec *rec = &r->recs[(r->head + r->nrecs) % r->alloc];
    rec->seq = r->next_seq++;
    rec->ts_ms = ts_ms ? ts_ms : now_realtime_ms();
    rec->stream = stream;
    rec->len = n;
    rec->data = data;
    r->nrecs++;
    r->bytes += n;
    while (r->bytes + r->nrecs * r->rec_overhead > r->cap_bytes && r->nrecs > 1)
        drop_oldest(r);
    return 0;
}

int logring_append(struct logring *r, int stream, const char *data, size_t n, uint64_t ts_ms)
{
    if (n == SIZE_MAX) return -ENOMEM;
    char *copy = malloc(n + 1);
    if (!copy) return -ENOMEM;
    if (n) memcpy(copy, data, n);
    copy[n] = '\0';
    int rc = push_take(r, stream, copy, n, ts_ms);
    if (rc < 0) free(copy);
    return rc;
}

static bool stream_ok(int stream)
{
    return stream == LOGRING_STDOUT || stream == LOGRING_STDERR;
}

/* The buffer size used for a pending line of len bytes (room for a NUL included). */
static size_t partial_size(size_t len)
{
    size_t size = PARTIAL_MIN;
    while (size < len + 1)
        size *= 2;
    return size;
}

/* Turns the pending line of the stream plus data[0..n) into a record. 0 or -ENOMEM (then the
 * pending line is as it was). */
static int push_partial(struct logring *r, int stream, const char *data, size_t n)
{
    size_t plen = r->partial_len[stream];
    size_t len = plen + n;
    char *buf = malloc(len + 1);
    if (!buf) return -ENOMEM;
    memcpy(buf, r->partial[stream], plen);
    if (n) memcpy(buf + plen, data, n);
    buf[len] = '\0';
    int rc = push_take(r, stream, buf, len, 0);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    free(r->partial[stream]);
    r->partial[stream] = NULL;
    r->partial_len[stream] = 0;
    return 0;
}

/* Adds data[0..n) to the pending line of the stream (which stays < LOGRING_MAX_LINE). */
static int hold_partial(struct logring *r, int stream, const char *data, size_t n)
{
    size_t plen = r->partial_len[stream];
    size_t len = plen + n;
    if (!r->partial[stream] || partial_size(len) > partial_size(plen)) {
        char *buf = realloc(r->partial[stream], partial_size(len));
        if (!buf) return -ENOMEM;
        r->partial[stream] = buf;
    }
    memcpy(r->partial[stream] + plen, data, n);
    r->partial_len[stream] = len;
    return 0;
}

int logring_feed(struct logring *r, int stream, const char *data, size_t n)
{
    if (!stream_ok(stream)) return -EINVAL;
    int count = 0;
    while (n > 0) {
        size_t plen = r->partial_len[stream];
        size_t take = LOGRING_MAX_LINE - plen; /* > 0: the pending line is always shorter */
        if (take > n) take = n;
        const char *nl = memchr(data, '\n', take);
        if (nl) take = (size_t)(nl - data) + 1;
        int rc;
        if (!nl && plen + take < LOGRING_MAX_LINE) {
            /* no end of line yet and still room: wait for more (this was the last of data) */
            rc = hold_partial(r, stream, data, take);
            if (rc < 0) return rc;
            break;
        }
        /* a complete line, or a chunk of exactly LOGRING_MAX_LINE bytes */
        if (plen == 0)
            rc = logring_append(r, stream, data, take, 0);
        else
            rc = push_partial(r, stream, data, take);
        if (rc < 0) return rc;
        if (count < INT_MAX) count++;
        data += take;
        n -= take;
    }
    return count;
}

int logring_flush(struct logring *r, int stream)
{
    if (!stream_ok(stream)) return -EINVAL;
    if (r->partial_len[stream] == 0) return 0;
    int rc = push_partial(r, stream, NULL, 0);
    return rc < 0 ? rc : 1;
}

uint64_t logring_first_seq(const struct logring *r)
{
    return r->next_seq - r->nrecs;
}

const struct logring_rec *logring_get(const struct logring *r, uint64_t seq)
{
    uint64_t first = logring_first_seq(r);
    if (seq < first || seq >= r->next_seq) return NULL;
    return &r->recs[(r->head + (size_t)(seq - first)) % r->alloc];
}

uint64_t logring_tail_seq(const struct logring *r, size_t n)
{
    if (n >= r->nrecs) return logring_first_seq(r);
    return r->next_seq - n;
}
