/* SPDX-License-Identifier: MIT */
/*
 * A service's recent output: a ring of records, each one line (or a chunk of at most
 * LOGRING_MAX_LINE bytes when a line is longer, or what was pending when the stream ended), with
 * the stream it came from, the time it was written and a sequence number that counts every record
 * ever appended. The ring keeps at most `cap_bytes` of data (and at least the newest record);
 * older records are dropped. Readers keep a sequence cursor and can ask for the last N records
 * (tail) or everything after their cursor (follow), and learn how many they missed.
 *
 * Bytes come in as the pipe gives them (logring_feed): a partial line is held per stream until
 * its newline arrives, LOGRING_MAX_LINE is reached, or logring_flush() is called.
 */
#ifndef SP_LOGRING_H
#define SP_LOGRING_H

#include <stddef.h>
#include <stdint.h>

#define LOGRING_MAX_LINE 16384
/* What a record costs beyond its data (the record, the allocation): counted against cap_bytes,
 * so a flood of empty lines is bounded too. */
#define LOGRING_REC_OVERHEAD 64

enum logring_stream { LOGRING_STDOUT = 1, LOGRING_STDERR = 2 };

struct logring_rec {
    uint64_t seq;   /* 0 for the first record ever appended */
    uint64_t ts_ms; /* wall clock (CLOCK_REALTIME), ms since the epoch */
    int stream;     /* enum logring_stream */
    size_t len;
    char *data; /* len bytes (a complete line keeps its '\n'), plus a NUL after them */
};

struct logring {
    struct logring_rec *recs;  /* circular array */
    size_t nrecs, head, alloc; /* records held, index of the oldest, array capacity */
    size_t bytes;              /* data bytes held */
    size_t cap_bytes;          /* data bytes + rec_overhead per record held stay within it */
    size_t rec_overhead;       /* LOGRING_REC_OVERHEAD (tests may set 0 to count data alone) */
    uint64_t next_seq;
    char *partial[3]; /* per stream (index 1, 2): the pending line; NULL when none */
    size_t partial_len[3];
};

void logring_init(struct logring *r, size_t cap_bytes);
void logring_free(struct logring *r);

/* Appends one record made of data[0..n) as is (no line splitting). ts_ms 0 = now. 0 or
 * -ENOMEM. */
int logring_append(struct logring *r, int stream, const char *data, size_t n, uint64_t ts_ms);

/* Feeds bytes read from a stream: every complete line becomes a record; the rest waits. Returns
 * the number of records appended, or -ENOMEM. */
int logring_feed(struct logring *r, int stream, const char *data, size_t n);

/* Appends what is pending on the stream (a line without its newline) as a record. Returns 1
 * when one was appended, 0 when nothing was pending, or -ENOMEM. */
int logring_flush(struct logring *r, int stream);

/* The sequence number of the oldest record held, and of the next to be appended. */
uint64_t logring_first_seq(const struct logring *r);
static inline uint64_t logring_end_seq(const struct logring *r)
{
    return r->next_seq;
}

/* The record with sequence number seq, or NULL when it is not held (dropped, or not yet). The
 * pointer stays valid until the next append. */
const struct logring_rec *logring_get(const struct logring *r, uint64_t seq);

/* The cursor from which the last n records are read (the oldest held when fewer are held). */
uint64_t logring_tail_seq(const struct logring *r, size_t n);

#endif
