/* SPDX-License-Identifier: MIT */
/* Output logs: offsets, growth, wrap-around, missed bytes, many readers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../src/proc/outlog.h"

/* byte i of the stream written by the tests */
static char pat(uint64_t i)
{
    return (char)('a' + (i * 7 + i / 251) % 26);
}

static void write_range(struct outlog *l, uint64_t from, size_t n)
{
    char *b = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++)
        b[i] = pat(from + i);
    assert_int_equal(outlog_write(l, b, n), 0);
    free(b);
}

static void check_read(const struct outlog *l, uint64_t cursor, size_t want, uint64_t exp_from,
                       uint64_t exp_missed)
{
    char *b = malloc(want ? want : 1);
    uint64_t missed = 99;
    uint64_t c = cursor;
    size_t n = outlog_read(l, &c, b, want, &missed);
    assert_int_equal(missed, exp_missed);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(b[i], pat(exp_from + i));
    assert_int_equal(c, exp_from + n);
    free(b);
}

static void test_empty(void **state)
{
    (void)state;
    struct outlog l;
    outlog_init(&l, 1024 * 1024);
    char b[4];
    uint64_t c = 0, missed = 7;
    assert_int_equal(outlog_read(&l, &c, b, sizeof(b), &missed), 0);
    assert_int_equal(missed, 0);
    assert_int_equal(outlog_available(&l, 0), 0);
    assert_null(l.buf); /* nothing allocated until something is written */
    outlog_free(&l);
}

static void test_small_writes_and_reads(void **state)
{
    (void)state;
    struct outlog l;
    outlog_init(&l, 1024 * 1024);
    uint64_t off = 0;
    for (int i = 0; i < 1000; i++) {
        write_range(&l, off, (size_t)(i % 97));
        off += (size_t)(i % 97);
    }
    assert_int_equal(l.end, off);
    assert_int_equal(l.start, 0);
    check_read(&l, 0, (size_t)off, 0, 0);
    check_read(&l, 12345, 100, 12345, 0);
    assert_true(l.size < 256 * 1024); /* grew only as needed */
    outlog_free(&l);
}

static void test_wraps_and_reports_missed(void **state)
{
    (void)state;
    struct outlog l;
    size_t cap = 10000; /* not a power of two on purpose */
    outlog_init(&l, cap);
    uint64_t off = 0;
    for (int i = 0; i < 50; i++) {
        write_range(&l, off, 1234);
        off += 1234;
    }
    assert_int_equal(l.end, off);
    assert_int_equal(l.end - l.start, cap);
    assert_int_equal(l.size, cap);
    /* a reader at 0 missed everything before start */
    check_read(&l, 0, cap, l.start, l.start);
    /* a reader inside the window reads exact bytes across the wrap point */
    check_read(&l, l.start + 17, 5000, l.start + 17, 0);
    /* a cursor beyond the end is clamped */
    uint64_t c = off + 100;
    char b[8];
    assert_int_equal(outlog_read(&l, &c, b, sizeof(b), NULL), 0);
    assert_int_equal(c, off);
    outlog_free(&l);
}

static void test_write_larger_than_cap_keeps_tail(void **state)
{
    (void)state;
    struct outlog l;
    outlog_init(&l, 4096);
    write_range(&l, 0, 100);
    write_range(&l, 100, 10000);
    assert_int_equal(l.end, 10100);
    assert_int_equal(l.start, 10100 - 4096);
    check_read(&l, l.start, 4096, l.start, 0);
    outlog_free(&l);
}

static void test_growth_preserves_content(void **state)
{
    (void)state;
    struct outlog l;
    outlog_init(&l, 1 << 20);
    uint64_t off = 0;
    /* many growth steps with data present each time */
    for (size_t n = 1; n < 300000; n = n * 3 + 1) {
        write_range(&l, off, n);
        off += n;
        check_read(&l, 0, (size_t)(off < (1u << 20) ? off : (1u << 20)), l.start, l.start);
    }
    outlog_free(&l);
}

static void test_zero_cap_counts_only(void **state)
{
    (void)state;
    struct outlog l;
    outlog_init(&l, 0);
    write_range(&l, 0, 100);
    assert_int_equal(l.end, 100);
    assert_int_equal(l.start, 100);
    check_read(&l, 0, 10, 100, 100);
    outlog_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_small_writes_and_reads),
        cmocka_unit_test(test_wraps_and_reports_missed),
        cmocka_unit_test(test_write_larger_than_cap_keeps_tail),
        cmocka_unit_test(test_growth_preserves_content),
        cmocka_unit_test(test_zero_cap_counts_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
