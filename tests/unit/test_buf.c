/* SPDX-License-Identifier: MIT */
/* Unit tests for src/base/buf.c: the growable byte buffer. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../src/base/buf.h"

static void test_init_empty(void **state)
{
    (void)state;
    struct sp_buf b = SP_BUF_INIT;
    assert_null(b.data);
    assert_int_equal(sp_buf_pending(&b), 0);
    /* Appending nothing to an empty buffer is fine. */
    assert_int_equal(sp_buf_append(&b, NULL, 0), 0);
    assert_int_equal(sp_buf_pending(&b), 0);
    sp_buf_free(&b);
    sp_buf_free(&b); /* twice is harmless */
    assert_null(b.data);
}

static void test_append_and_consume(void **state)
{
    (void)state;
    struct sp_buf b = SP_BUF_INIT;
    assert_int_equal(sp_buf_append(&b, "hello", 5), 0);
    assert_int_equal(sp_buf_append_str(&b, ", world"), 0);
    assert_int_equal(sp_buf_pending(&b), 12);
    assert_memory_equal(sp_buf_head(&b), "hello, world", 12);
    assert_true(b.cap >= 12);

    sp_buf_consume(&b, 7);
    assert_int_equal(sp_buf_pending(&b), 5);
    assert_memory_equal(sp_buf_head(&b), "world", 5);

    assert_int_equal(sp_buf_append_str(&b, "!"), 0);
    assert_int_equal(sp_buf_pending(&b), 6);
    assert_memory_equal(sp_buf_head(&b), "world!", 6);

    sp_buf_consume(&b, 0);
    assert_int_equal(sp_buf_pending(&b), 6);

    /* Consuming everything (or more) empties the buffer and rewinds it. */
    sp_buf_consume(&b, 100);
    assert_int_equal(sp_buf_pending(&b), 0);
    assert_int_equal(b.off, 0);
    assert_int_equal(b.len, 0);
    assert_non_null(b.data); /* memory kept */

    assert_int_equal(sp_buf_append_str(&b, "again"), 0);
    assert_memory_equal(sp_buf_head(&b), "again", 5);
    sp_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.cap, 0);
}

static void test_consume_exact(void **state)
{
    (void)state;
    struct sp_buf b = SP_BUF_INIT;
    assert_int_equal(sp_buf_append_str(&b, "abc"), 0);
    sp_buf_consume(&b, 3);
    assert_int_equal(sp_buf_pending(&b), 0);
    assert_int_equal(b.off, 0);
    sp_buf_free(&b);
}

static void test_binary_data(void **state)
{
    (void)state;
    struct sp_buf b = SP_BUF_INIT;
    static const char bin[] = {'a', '\0', 'b', '\0', '\xff'};
    assert_int_equal(sp_buf_append(&b, bin, sizeof(bin)), 0);
    assert_int_equal(sp_buf_pending(&b), sizeof(bin));
    assert_memory_equal(sp_buf_head(&b), bin, sizeof(bin));
    sp_buf_free(&b);
}

static void test_growth_large(void **state)
{
    (void)state;
    struct sp_buf b = SP_BUF_INIT;
    char chunk[1000];
    for (int i = 0; i < 200; i++) {
        memset(chunk, 'a' + i % 26, sizeof(chunk));
        assert_int_equal(sp_buf_append(&b, chunk, sizeof(chunk)), 0);
    }
    assert_int_equal(sp_buf_pending(&b), 200000);
    assert_true(b.cap >= 200000);
    for (int i = 0; i < 200; i++) {
        const char *p = sp_buf_head(&b) + (size_t)i * 1000;
        for (int j = 0; j < 1000; j++)
            if (p[j] != 'a' + i % 26) fail_msg("byte %d of chunk %d is %c", j, i, p[j]);
    }
    sp_buf_free(&b);
}

static void test_reserve(void **state)
{
    (void)state;
    struct sp_buf b = SP_BUF_INIT;
    assert_int_equal(sp_buf_reserve(&b, 0), 0);
    assert_int_equal(sp_buf_reserve(&b, 10), 0);
    assert_non_null(b.data);
    assert_true(b.cap >= 10);
    assert_int_equal(b.len, 0);

    assert_int_equal(sp_buf_append_str(&b, "xyz"), 0);
    assert_int_equal(sp_buf_reserve(&b, 5000), 0);
    assert_true(b.cap - b.len >= 5000);
    assert_memory_equal(sp_buf_head(&b), "xyz", 3); /* content kept across growth */

    /* Writing into reserved space then bumping len is how readers use it. */
    memcpy(b.data + b.len, "123", 3);
    b.len += 3;
    assert_memory_equal(sp_buf_head(&b), "xyz123", 6);

    /* An impossible size fails cleanly and leaves the buffer alone. */
    size_t cap = b.cap;
    assert_int_equal(sp_buf_reserve(&b, SIZE_MAX / 2), -ENOMEM);
    assert_int_equal(sp_buf_reserve(&b, SIZE_MAX / 2 + 1), -ENOMEM);
    assert_int_equal(b.cap, cap);
    assert_int_equal(sp_buf_pending(&b), 6);
    assert_memory_equal(sp_buf_head(&b), "xyz123", 6);
    assert_int_equal(sp_buf_append(&b, "x", SIZE_MAX / 2), -ENOMEM);
    assert_int_equal(sp_buf_pending(&b), 6);
    sp_buf_free(&b);

    /* On an empty buffer too. */
    struct sp_buf e = SP_BUF_INIT;
    assert_int_equal(sp_buf_reserve(&e, SIZE_MAX), -ENOMEM);
    assert_null(e.data);
}

/*
 * Regression (src/base/buf.c, sp_buf_reserve, fixed): `b->len + extra <= b->cap` is evaluated
 * before the overflow guard and wraps around: with 6 pending bytes, sp_buf_reserve(&b, SIZE_MAX)
 * computes 6 + SIZE_MAX = 5 <= cap and returns 0 (success) without reserving anything; an
 * sp_buf_append(&b, p, SIZE_MAX) would then memcpy SIZE_MAX bytes. (Not called here so the test
 * fails instead of crashing.)
 */
static void test_reserve_wraparound(void **state)
{
    (void)state;
    struct sp_buf b = SP_BUF_INIT;
    assert_int_equal(sp_buf_append_str(&b, "xyz123"), 0);
    size_t cap = b.cap;
    int r1 = sp_buf_reserve(&b, SIZE_MAX);
    int r2 = sp_buf_reserve(&b, SIZE_MAX - 2);
    sp_buf_free(&b);
    assert_int_equal(cap, 256);
    if (r1 != -ENOMEM || r2 != -ENOMEM)
        fail_msg("sp_buf_reserve(len=6, SIZE_MAX) = %d, (SIZE_MAX-2) = %d; want -ENOMEM (%d)", r1,
                 r2, -ENOMEM);
}

static void test_compaction_keeps_content(void **state)
{
    (void)state;
    struct sp_buf b = SP_BUF_INIT;
    char data[200];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (char)('A' + i % 50);
    assert_int_equal(sp_buf_append(&b, data, sizeof(data)), 0);
    size_t cap = b.cap;
    assert_int_equal(cap, 256);

    /* Leave 50 pending bytes at offset 150. */
    sp_buf_consume(&b, 150);
    assert_int_equal(b.off, 150);
    assert_int_equal(sp_buf_pending(&b), 50);

    /* 50 + 150 fits in 256 once the consumed front is dropped: no growth, content moves. */
    char more[150];
    memset(more, 'z', sizeof(more));
    assert_int_equal(sp_buf_append(&b, more, sizeof(more)), 0);
    assert_int_equal(b.cap, cap);
    assert_int_equal(b.off, 0);
    assert_int_equal(sp_buf_pending(&b), 200);
    assert_memory_equal(sp_buf_head(&b), data + 150, 50);
    assert_memory_equal(sp_buf_head(&b) + 50, more, 150);

    /* Now a growth with an offset: content is still intact. */
    sp_buf_consume(&b, 10);
    char big[1000];
    memset(big, 'q', sizeof(big));
    assert_int_equal(sp_buf_append(&b, big, sizeof(big)), 0);
    assert_int_equal(sp_buf_pending(&b), 1190);
    assert_memory_equal(sp_buf_head(&b), data + 160, 40);
    assert_memory_equal(sp_buf_head(&b) + 40, more, 150);
    assert_memory_equal(sp_buf_head(&b) + 190, big, 1000);
    sp_buf_free(&b);
}

static void test_many_small_cycles(void **state)
{
    (void)state;
    /* A queue that is appended to and drained repeatedly must not grow without bound. */
    struct sp_buf b = SP_BUF_INIT;
    for (int i = 0; i < 10000; i++) {
        char line[32];
        int n = snprintf(line, sizeof(line), "line %d\n", i);
        assert_int_equal(sp_buf_append(&b, line, (size_t)n), 0);
        if (i % 3 == 2) {
            /* drain all but the last line */
            size_t keep = (size_t)n;
            sp_buf_consume(&b, sp_buf_pending(&b) - keep);
            assert_memory_equal(sp_buf_head(&b), line, keep);
        }
    }
    assert_true(b.cap <= 256);
    sp_buf_free(&b);
}

static void test_printf_small(void **state)
{
    (void)state;
    struct sp_buf b = SP_BUF_INIT;
    assert_int_equal(sp_buf_printf(&b, "%d-%s-%c", 42, "abc", 'z'), 0);
    assert_int_equal(sp_buf_pending(&b), 8);
    assert_memory_equal(sp_buf_head(&b), "42-abc-z", 8);
    assert_int_equal(sp_buf_printf(&b, "%s", ""), 0);
    assert_int_equal(sp_buf_pending(&b), 8);
    assert_int_equal(sp_buf_printf(&b, "|%05u|", 7u), 0);
    assert_int_equal(sp_buf_pending(&b), 15);
    assert_memory_equal(sp_buf_head(&b), "42-abc-z|00007|", 15);
    sp_buf_free(&b);
}

static void test_printf_exact_boundaries(void **state)
{
    (void)state;
    /* 255 characters fit the stack buffer, 256 do not: both paths must give the same bytes. */
    for (size_t n = 250; n <= 260; n++) {
        struct sp_buf b = SP_BUF_INIT;
        char s[300];
        for (size_t i = 0; i < n; i++)
            s[i] = (char)('a' + i % 26);
        s[n] = '\0';
        assert_int_equal(sp_buf_append_str(&b, "<"), 0);
        assert_int_equal(sp_buf_printf(&b, "%s", s), 0);
        assert_int_equal(sp_buf_append_str(&b, ">"), 0);
        if (sp_buf_pending(&b) != n + 2) fail_msg("n=%zu: pending %zu", n, sp_buf_pending(&b));
        assert_int_equal(sp_buf_head(&b)[0], '<');
        assert_memory_equal(sp_buf_head(&b) + 1, s, n);
        assert_int_equal(sp_buf_head(&b)[n + 1], '>');
        sp_buf_free(&b);
    }
}

static void test_printf_long(void **state)
{
    (void)state;
    struct sp_buf b = SP_BUF_INIT;
    char expect[4096];
    size_t elen = 0;

    assert_int_equal(sp_buf_append_str(&b, "head:"), 0);
    memcpy(expect, "head:", 5);
    elen = 5;

    char word[1000];
    memset(word, 'w', sizeof(word) - 1);
    word[sizeof(word) - 1] = '\0';
    assert_int_equal(sp_buf_printf(&b, "[%s|%d|%s]", word, 12345, "tail"), 0);
    elen +=
        (size_t)snprintf(expect + elen, sizeof(expect) - elen, "[%s|%d|%s]", word, 12345, "tail");
    assert_int_equal(sp_buf_pending(&b), elen);
    assert_memory_equal(sp_buf_head(&b), expect, elen);

    /* Another long one after a partial consume (offset > 0 when the long path reserves). */
    sp_buf_consume(&b, 3);
    assert_int_equal(sp_buf_printf(&b, "%s%s", word, word), 0);
    assert_int_equal(sp_buf_pending(&b), elen - 3 + 2 * 999);
    assert_memory_equal(sp_buf_head(&b), expect + 3, elen - 3);
    assert_memory_equal(sp_buf_head(&b) + elen - 3, word, 999);
    assert_memory_equal(sp_buf_head(&b) + elen - 3 + 999, word, 999);
    /* The NUL written by vsnprintf is not counted. */
    assert_int_equal(b.len - b.off, elen - 3 + 2 * 999);
    sp_buf_free(&b);
}

static void test_clear(void **state)
{
    (void)state;
    struct sp_buf b = SP_BUF_INIT;
    assert_int_equal(sp_buf_append_str(&b, "something"), 0);
    sp_buf_consume(&b, 2);
    char *data = b.data;
    size_t cap = b.cap;
    sp_buf_clear(&b);
    assert_int_equal(sp_buf_pending(&b), 0);
    assert_int_equal(b.off, 0);
    assert_int_equal(b.len, 0);
    assert_ptr_equal(b.data, data); /* memory kept */
    assert_int_equal(b.cap, cap);
    assert_int_equal(sp_buf_append_str(&b, "new"), 0);
    assert_memory_equal(sp_buf_head(&b), "new", 3);
    sp_buf_free(&b);
}

static void test_shrink(void **state)
{
    (void)state;
    struct sp_buf b = SP_BUF_INIT;
    char big[5000];
    memset(big, 'b', sizeof(big));
    assert_int_equal(sp_buf_append(&b, big, sizeof(big)), 0);
    size_t cap = b.cap;
    assert_true(cap >= 5000);

    /* Not empty: nothing is released, whatever keep says. */
    sp_buf_shrink(&b, 0);
    assert_non_null(b.data);
    assert_int_equal(b.cap, cap);
    assert_int_equal(sp_buf_pending(&b), 5000);

    sp_buf_consume(&b, 4999);
    sp_buf_shrink(&b, 0);
    assert_non_null(b.data);
    assert_int_equal(sp_buf_pending(&b), 1);

    /* Empty but not larger than keep: kept. */
    sp_buf_consume(&b, 1);
    sp_buf_shrink(&b, cap);
    assert_non_null(b.data);
    assert_int_equal(b.cap, cap);

    /* Empty and larger than keep: released. */
    sp_buf_shrink(&b, cap - 1);
    assert_null(b.data);
    assert_int_equal(b.cap, 0);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.off, 0);

    /* Still usable afterwards. */
    assert_int_equal(sp_buf_append_str(&b, "ok"), 0);
    assert_memory_equal(sp_buf_head(&b), "ok", 2);
    sp_buf_clear(&b);
    sp_buf_shrink(&b, 4096); /* 256 <= 4096: kept */
    assert_non_null(b.data);
    sp_buf_free(&b);

    /* Shrinking a never-used buffer is a no-op. */
    struct sp_buf e = SP_BUF_INIT;
    sp_buf_shrink(&e, 0);
    assert_null(e.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_empty),
        cmocka_unit_test(test_append_and_consume),
        cmocka_unit_test(test_consume_exact),
        cmocka_unit_test(test_binary_data),
        cmocka_unit_test(test_growth_large),
        cmocka_unit_test(test_reserve),
        cmocka_unit_test(test_reserve_wraparound),
        cmocka_unit_test(test_compaction_keeps_content),
        cmocka_unit_test(test_many_small_cycles),
        cmocka_unit_test(test_printf_small),
        cmocka_unit_test(test_printf_exact_boundaries),
        cmocka_unit_test(test_printf_long),
        cmocka_unit_test(test_clear),
        cmocka_unit_test(test_shrink),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
