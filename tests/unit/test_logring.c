/* SPDX-License-Identifier: MIT */
/* Log ring: records and sequence numbers, eviction by bytes, tail, line splitting per stream. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../src/supervisor/logring.h"

static uint64_t realtime_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Checks record seq: its data, stream, and the NUL after the data. */
static void check_rec(const struct logring *r, uint64_t seq, int stream, const char *data,
                      size_t len)
{
    const struct logring_rec *rec = logring_get(r, seq);
    if (!rec) fail_msg("record %llu is not held", (unsigned long long)seq);
    assert_int_equal(rec->seq, seq);
    assert_int_equal(rec->stream, stream);
    assert_int_equal(rec->len, len);
    assert_memory_equal(rec->data, data, len);
    assert_int_equal(rec->data[len], '\0');
}

static void check_str(const struct logring *r, uint64_t seq, int stream, const char *s)
{
    check_rec(r, seq, stream, s, strlen(s));
}

/* Sums the lengths of the records held, reading them through logring_get. */
static size_t held_bytes(const struct logring *r)
{
    size_t sum = 0;
    for (uint64_t s = logring_first_seq(r); s < logring_end_seq(r); s++) {
        const struct logring_rec *rec = logring_get(r, s);
        assert_non_null(rec);
        sum += rec->len;
    }
    return sum;
}

static void test_empty(void **state)
{
    (void)state;
    struct logring r;
    logring_init(&r, 1000);
    r.rec_overhead = 0;
    assert_int_equal(logring_first_seq(&r), 0);
    assert_int_equal(logring_end_seq(&r), 0);
    assert_null(logring_get(&r, 0));
    assert_null(logring_get(&r, 1));
    assert_int_equal(logring_tail_seq(&r, 0), 0);
    assert_int_equal(logring_tail_seq(&r, 10), 0);
    assert_int_equal(logring_flush(&r, LOGRING_STDOUT), 0);
    assert_int_equal(logring_flush(&r, LOGRING_STDERR), 0);
    assert_int_equal(logring_feed(&r, LOGRING_STDOUT, NULL, 0), 0);
    assert_int_equal(logring_end_seq(&r), 0);
    logring_free(&r);
    logring_free(&r); /* twice is harmless */
}

static void test_append_get_seq(void **state)
{
    (void)state;
    struct logring r;
    logring_init(&r, 1000);
    r.rec_overhead = 0;
    assert_int_equal(logring_append(&r, LOGRING_STDOUT, "one\n", 4, 1234), 0);
    assert_int_equal(logring_append(&r, LOGRING_STDERR, "two", 3, 5678), 0);
    uint64_t before = realtime_ms();
    assert_int_equal(logring_append(&r, LOGRING_STDOUT, "a\0b", 3, 0), 0); /* as is */
    uint64_t after = realtime_ms();
    assert_int_equal(logring_append(&r, LOGRING_STDERR, NULL, 0, 1), 0); /* empty record */

    assert_int_equal(logring_first_seq(&r), 0);
    assert_int_equal(logring_end_seq(&r), 4);
    assert_int_equal(r.bytes, 10);
    check_str(&r, 0, LOGRING_STDOUT, "one\n");
    check_str(&r, 1, LOGRING_STDERR, "two");
    check_rec(&r, 2, LOGRING_STDOUT, "a\0b", 3);
    check_rec(&r, 3, LOGRING_STDERR, "", 0);
    assert_int_equal(logring_get(&r, 0)->ts_ms, 1234);
    assert_int_equal(logring_get(&r, 1)->ts_ms, 5678);
    uint64_t ts = logring_get(&r, 2)->ts_ms;
    assert_true(ts >= before && ts <= after);
    assert_null(logring_get(&r, 4));
    assert_null(logring_get(&r, UINT64_MAX));
    logring_free(&r);
}

static void test_eviction_by_bytes(void **state)
{
    (void)state;
    struct logring r;
    logring_init(&r, 10);
    r.rec_overhead = 0;
    assert_int_equal(logring_append(&r, LOGRING_STDOUT, "aaaa", 4, 1), 0);
    assert_int_equal(logring_append(&r, LOGRING_STDOUT, "bbbb", 4, 1), 0);
    assert_int_equal(logring_append(&r, LOGRING_STDOUT, "cc", 2, 1), 0); /* exactly cap */
    assert_int_equal(logring_first_seq(&r), 0);
    assert_int_equal(r.bytes, 10);

    assert_int_equal(logring_append(&r, LOGRING_STDOUT, "d", 1, 1), 0); /* 11 > 10 */
    assert_int_equal(logring_first_seq(&r), 1);
    assert_int_equal(r.bytes, 7);
    assert_null(logring_get(&r, 0));
    check_str(&r, 1, LOGRING_STDOUT, "bbbb");
    check_str(&r, 3, LOGRING_STDOUT, "d");

    /* one record larger than cap: everything else goes, it stays */
    char big[50];
    memset(big, 'Z', sizeof(big));
    assert_int_equal(logring_append(&r, LOGRING_STDERR, big, sizeof(big), 1), 0);
    assert_int_equal(logring_first_seq(&r), 4);
    assert_int_equal(logring_end_seq(&r), 5);
    assert_int_equal(r.nrecs, 1);
    assert_int_equal(r.bytes, 50);
    check_rec(&r, 4, LOGRING_STDERR, big, sizeof(big));

    /* the next one pushes the big one out */
    assert_int_equal(logring_append(&r, LOGRING_STDOUT, "e", 1, 1), 0);
    assert_int_equal(logring_first_seq(&r), 5);
    assert_int_equal(r.bytes, 1);
    check_str(&r, 5, LOGRING_STDOUT, "e");
    logring_free(&r);

    /* cap 0: only the newest record is ever held */
    logring_init(&r, 0);
    r.rec_overhead = 0;
    for (int i = 0; i < 5; i++) {
        char b[8];
        int n = snprintf(b, sizeof(b), "r%d", i);
        assert_int_equal(logring_append(&r, LOGRING_STDOUT, b, (size_t)n, 1), 0);
        assert_int_equal(r.nrecs, 1);
        assert_int_equal(logring_first_seq(&r), (uint64_t)i);
        check_str(&r, (uint64_t)i, LOGRING_STDOUT, b);
    }
    logring_free(&r);
}

static void test_tail_seq(void **state)
{
    (void)state;
    struct logring r;
    logring_init(&r, 5);
    r.rec_overhead = 0;
    for (int i = 0; i < 15; i++) /* one byte each: seq 10..14 are held */
        assert_int_equal(logring_append(&r, LOGRING_STDOUT, "x", 1, 1), 0);
    assert_int_equal(logring_first_seq(&r), 10);
    assert_int_equal(logring_end_seq(&r), 15);
    assert_int_equal(logring_tail_seq(&r, 0), 15);
    assert_int_equal(logring_tail_seq(&r, 1), 14);
    assert_int_equal(logring_tail_seq(&r, 2), 13);
    assert_int_equal(logring_tail_seq(&r, 4), 11);
    assert_int_equal(logring_tail_seq(&r, 5), 10);
    assert_int_equal(logring_tail_seq(&r, 6), 10);
    assert_int_equal(logring_tail_seq(&r, 1000), 10);
    assert_int_equal(logring_tail_seq(&r, SIZE_MAX), 10);
    logring_free(&r);
}

static void test_feed_split_across_calls(void **state)
{
    (void)state;
    struct logring r;
    logring_init(&r, 1 << 20);
    r.rec_overhead = 0;
    assert_int_equal(logring_feed(&r, LOGRING_STDOUT, "hel", 3), 0);
    assert_int_equal(logring_end_seq(&r), 0);
    assert_int_equal(logring_feed(&r, LOGRING_STDOUT, "lo\nwor", 6), 1);
    check_str(&r, 0, LOGRING_STDOUT, "hello\n");
    assert_int_equal(logring_feed(&r, LOGRING_STDOUT, "ld\n\nx", 5), 2);
    check_str(&r, 1, LOGRING_STDOUT, "world\n");
    check_str(&r, 2, LOGRING_STDOUT, "\n");
    assert_int_equal(logring_end_seq(&r), 3);
    assert_int_equal(logring_feed(&r, LOGRING_STDOUT, "a\nb\nc\n", 6), 3);
    check_str(&r, 3, LOGRING_STDOUT, "xa\n");
    check_str(&r, 4, LOGRING_STDOUT, "b\n");
    check_str(&r, 5, LOGRING_STDOUT, "c\n");
    assert_int_equal(logring_feed(&r, LOGRING_STDOUT, "\n", 1), 1);
    check_str(&r, 6, LOGRING_STDOUT, "\n");
    assert_int_equal(logring_feed(&r, LOGRING_STDOUT, "", 0), 0);
    assert_int_equal(logring_end_seq(&r), 7);
    assert_null(r.partial[LOGRING_STDOUT]);
    logring_free(&r);
}

static void test_two_streams_keep_separate_partials(void **state)
{
    (void)state;
    struct logring r;
    logring_init(&r, 1 << 20);
    r.rec_overhead = 0;
    assert_int_equal(logring_feed(&r, LOGRING_STDOUT, "a1", 2), 0);
    assert_int_equal(logring_feed(&r, LOGRING_STDERR, "b1", 2), 0);
    assert_int_equal(logring_feed(&r, LOGRING_STDOUT, "a2", 2), 0);
    assert_int_equal(logring_feed(&r, LOGRING_STDERR, "b2\nb3", 5), 1);
    check_str(&r, 0, LOGRING_STDERR, "b1b2\n");
    assert_int_equal(logring_feed(&r, LOGRING_STDOUT, "a3\n", 3), 1);
    check_str(&r, 1, LOGRING_STDOUT, "a1a2a3\n");
    assert_int_equal(logring_flush(&r, LOGRING_STDOUT), 0); /* nothing pending there */
    assert_int_equal(logring_flush(&r, LOGRING_STDERR), 1);
    check_str(&r, 2, LOGRING_STDERR, "b3");
    assert_int_equal(logring_end_seq(&r), 3);
    logring_free(&r);
}

static void test_bad_stream(void **state)
{
    (void)state;
    struct logring r;
    logring_init(&r, 1000);
    r.rec_overhead = 0;
    assert_int_equal(logring_feed(&r, LOGRING_STDOUT, "keep", 4), 0);
    static const int bad[] = {0, 3, -1, 100};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(logring_feed(&r, bad[i], "x\n", 2), -EINVAL);
        assert_int_equal(logring_flush(&r, bad[i]), -EINVAL);
    }
    assert_int_equal(logring_end_seq(&r), 0);
    assert_int_equal(logring_flush(&r, LOGRING_STDOUT), 1);
    check_str(&r, 0, LOGRING_STDOUT, "keep");
    logring_free(&r);
}

static void test_flush(void **state)
{
    (void)state;
    struct logring r;
    logring_init(&r, 1000);
    r.rec_overhead = 0;
    assert_int_equal(logring_feed(&r, LOGRING_STDOUT, "no newline", 10), 0);
    assert_int_equal(logring_flush(&r, LOGRING_STDOUT), 1);
    check_str(&r, 0, LOGRING_STDOUT, "no newline");
    assert_int_equal(logring_flush(&r, LOGRING_STDOUT), 0);
    assert_null(r.partial[LOGRING_STDOUT]);
    assert_int_equal(r.partial_len[LOGRING_STDOUT], 0);
    /* what follows a flush starts a new record */
    assert_int_equal(logring_feed(&r, LOGRING_STDOUT, "next\n", 5), 1);
    check_str(&r, 1, LOGRING_STDOUT, "next\n");
    assert_int_equal(logring_end_seq(&r), 2);
    logring_free(&r);
}

static void test_long_line_chopping(void **state)
{
    (void)state;
    const size_t M = LOGRING_MAX_LINE;
    char *x = malloc(3 * M);
    assert_non_null(x);
    memset(x, 'x', 3 * M);
    struct logring r;
    logring_init(&r, 1 << 20);
    r.rec_overhead = 0;

    /* exactly M bytes without a newline, in one call: one chunk, nothing pending */
    assert_int_equal(logring_feed(&r, LOGRING_STDOUT, x, M), 1);
    check_rec(&r, 0, LOGRING_STDOUT, x, M);
    assert_int_equal(r.partial_len[LOGRING_STDOUT], 0);

    /* M - 1 bytes wait; a newline makes a complete line of exactly M bytes */
    assert_int_equal(logring_feed(&r, LOGRING_STDOUT, x, M - 1), 0);
    assert_int_equal(r.partial_len[LOGRING_STDOUT], M - 1);
    assert_int_equal(logring_feed(&r, LOGRING_STDOUT, "\n", 1), 1);
    const struct logring_rec *rec = logring_get(&r, 1);
    assert_non_null(rec);
    assert_int_equal(rec->len, M);
    assert_int_equal(rec->data[M - 1], '\n');
    assert_int_equal(rec->data[M - 2], 'x');

    /* M bytes then a newline in one call: the chunk, then the newline on its own */
    char *line = malloc(M + 1);
    assert_non_null(line);
    memset(line, 'y', M);
    line[M] = '\n';
    assert_int_equal(logring_feed(&r, LOGRING_STDERR, line, M + 1), 2);
    check_rec(&r, 2, LOGRING_STDERR, line, M);
    check_str(&r, 3, LOGRING_STDERR, "\n");

    /* 2M + 5 bytes and a newline, fed 1000 bytes at a time: M, M, then 6 bytes */
    memset(line, 'z', M);
    size_t total = 2 * M + 6, fed = 0;
    int recs = 0;
    while (fed < total) {
        size_t n = total - fed < 1000 ? total - fed : 1000;
        /* byte i of this stream is 'z' except the last, which is '\n' */
        char chunk[1000];
        for (size_t i = 0; i < n; i++)
            chunk[i] = fed + i == total - 1 ? '\n' : 'z';
        int c = logring_feed(&r, LOGRING_STDOUT, chunk, n);
        assert_true(c >= 0);
        recs += c;
        assert_true(r.partial_len[LOGRING_STDOUT] < M);
        fed += n;
    }
    assert_int_equal(recs, 3);
    check_rec(&r, 4, LOGRING_STDOUT, line, M);
    check_rec(&r, 5, LOGRING_STDOUT, line, M);
    check_str(&r, 6, LOGRING_STDOUT, "zzzzz\n");
    assert_int_equal(logring_end_seq(&r), 7);

    /* 3M bytes in one call: three chunks */
    assert_int_equal(logring_feed(&r, LOGRING_STDERR, x, 3 * M), 3);
    for (uint64_t s = 7; s < 10; s++)
        check_rec(&r, s, LOGRING_STDERR, x, M);
    assert_int_equal(r.partial_len[LOGRING_STDERR], 0);
    free(line);
    free(x);
    logring_free(&r);
}

/* The records do not depend on how the bytes were split into calls. */
static void test_feed_independent_of_chunking(void **state)
{
    (void)state;
    size_t n = 3 * LOGRING_MAX_LINE + 777;
    char *in = malloc(n);
    assert_non_null(in);
    uint32_t seed = 12345;
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        /* mostly short lines, one stretch with no newline longer than LOGRING_MAX_LINE */
        bool long_run = i > 10000 && i < 10000 + 2 * LOGRING_MAX_LINE + 3;
        in[i] = !long_run && (seed >> 16) % 40 == 0 ? '\n' : (char)('a' + (seed >> 16) % 26);
    }
    struct logring ref;
    logring_init(&ref, SIZE_MAX);
    assert_true(logring_feed(&ref, LOGRING_STDOUT, in, n) > 0);
    assert_true(logring_flush(&ref, LOGRING_STDOUT) >= 0);
    assert_int_equal(held_bytes(&ref), n);

    static const size_t steps[] = {1, 2, 7, 100, 4095, 16383, 16384, 16385, 50000};
    for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
        struct logring r;
        logring_init(&r, SIZE_MAX);
        r.rec_overhead = 0;
        for (size_t off = 0; off < n; off += steps[k]) {
            size_t len = n - off < steps[k] ? n - off : steps[k];
            assert_true(logring_feed(&r, LOGRING_STDOUT, in + off, len) >= 0);
        }
        assert_true(logring_flush(&r, LOGRING_STDOUT) >= 0);
        assert_int_equal(logring_end_seq(&r), logring_end_seq(&ref));
        for (uint64_t s = 0; s < logring_end_seq(&ref); s++) {
            const struct logring_rec *a = logring_get(&ref, s);
            assert_true(a->len <= LOGRING_MAX_LINE);
            check_rec(&r, s, LOGRING_STDOUT, a->data, a->len);
        }
        logring_free(&r);
    }
    logring_free(&ref);
    free(in);
}

static void test_get_dropped_and_future(void **state)
{
    (void)state;
    struct logring r;
    logring_init(&r, 4);
    r.rec_overhead = 0;
    for (int i = 0; i < 10; i++) /* two bytes each: seq 8, 9 are held */
        assert_int_equal(logring_append(&r, LOGRING_STDOUT, "ab", 2, 1), 0);
    assert_int_equal(logring_first_seq(&r), 8);
    for (uint64_t s = 0; s < 8; s++)
        assert_null(logring_get(&r, s));
    assert_non_null(logring_get(&r, 8));
    assert_non_null(logring_get(&r, 9));
    assert_null(logring_get(&r, 10));
    assert_null(logring_get(&r, 11));
    assert_null(logring_get(&r, UINT64_MAX));
    logring_free(&r);
}

static int fmt_rec(char *b, size_t size, uint64_t i)
{
    /* lengths vary from 3 to 27 bytes */
    return snprintf(b, size, "%llu:%.*s\n", (unsigned long long)i, (int)(i * 7 % 23),
                    "abcdefghijklmnopqrstuvwxyz");
}

static void test_wrap_around(void **state)
{
    (void)state;
    const size_t cap = 100;
    struct logring r;
    logring_init(&r, cap);
    r.rec_overhead = 0;
    static size_t lens[10000];
    for (uint64_t i = 0; i < 10000; i++) {
        char b[64];
        int n = fmt_rec(b, sizeof(b), i);
        lens[i] = (size_t)n;
        int stream = i % 3 == 0 ? LOGRING_STDERR : LOGRING_STDOUT;
        assert_int_equal(logring_append(&r, stream, b, (size_t)n, i + 1), 0);
        assert_int_equal(logring_end_seq(&r), i + 1);

        /* as many records as fit are held, and no more */
        uint64_t first = logring_first_seq(&r);
        size_t sum = 0;
        for (uint64_t s = first; s <= i; s++)
            sum += lens[s];
        assert_true(sum <= cap);
        if (first > 0) assert_true(sum + lens[first - 1] > cap);
        assert_int_equal(r.bytes, sum);
        assert_int_equal(held_bytes(&r), sum);
        assert_true(r.alloc < 64); /* the array does not grow without bound */

        for (uint64_t s = first; s <= i; s++) {
            char e[64];
            int en = fmt_rec(e, sizeof(e), s);
            check_rec(&r, s, s % 3 == 0 ? LOGRING_STDERR : LOGRING_STDOUT, e, (size_t)en);
            assert_int_equal(logring_get(&r, s)->ts_ms, s + 1);
        }
    }
    logring_free(&r);
}

/* Each record also costs LOGRING_REC_OVERHEAD against the cap: a flood of empty lines is
 * bounded by count, not only by bytes. */
static void test_record_overhead_counts(void **state)
{
    (void)state;
    struct logring r;
    logring_init(&r, 10 * (LOGRING_REC_OVERHEAD + 1));
    for (int i = 0; i < 1000; i++)
        assert_int_equal(logring_append(&r, LOGRING_STDOUT, "\n", 1, 1), 0);
    assert_int_equal(r.nrecs, 10);
    assert_int_equal(logring_first_seq(&r), 990);
    logring_free(&r);
}

static void test_free_with_pending_partials(void **state)
{
    (void)state;
    struct logring r;
    logring_init(&r, 64);
    r.rec_overhead = 0;
    for (int i = 0; i < 100; i++)
        assert_true(logring_feed(&r, LOGRING_STDOUT, "line\npart", 9) >= 0);
    assert_int_equal(logring_feed(&r, LOGRING_STDOUT, "ial", 3), 0);
    assert_int_equal(logring_feed(&r, LOGRING_STDERR, "err without end", 15), 0);
    assert_non_null(r.partial[LOGRING_STDOUT]);
    assert_non_null(r.partial[LOGRING_STDERR]);
    logring_free(&r); /* the sanitizer build checks nothing leaks */
    assert_null(r.recs);
    assert_null(r.partial[LOGRING_STDOUT]);
    assert_null(r.partial[LOGRING_STDERR]);
    assert_int_equal(r.nrecs, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_append_get_seq),
        cmocka_unit_test(test_eviction_by_bytes),
        cmocka_unit_test(test_tail_seq),
        cmocka_unit_test(test_feed_split_across_calls),
        cmocka_unit_test(test_two_streams_keep_separate_partials),
        cmocka_unit_test(test_bad_stream),
        cmocka_unit_test(test_flush),
        cmocka_unit_test(test_long_line_chopping),
        cmocka_unit_test(test_feed_independent_of_chunking),
        cmocka_unit_test(test_get_dropped_and_future),
        cmocka_unit_test(test_wrap_around),
        cmocka_unit_test(test_record_overhead_counts),
        cmocka_unit_test(test_free_with_pending_partials),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
