/* SPDX-License-Identifier: MIT */
/* Unit tests for src/base/str.c: durations, integers, base64, constant-time compare, hex,
 * string vectors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/base/compiler.h"
#include "../../src/base/str.h"

#define NS  1ull
#define US  1000ull
#define MS  1000000ull
#define SEC 1000000000ull
#define MIN (60ull * SEC)
#define HR  (3600ull * SEC)

/* ---- sp_duration_parse ---- */

static void test_duration_parse_ok(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        uint64_t ns;
    } cases[] = {
        {"0", 0},
        {"+0", 0},
        {"0s", 0},
        {"0ms", 0},
        {"0.0s", 0},
        {"300ms", 300 * MS},
        {"1.5h", 90 * MIN},
        {"1m30s", 90 * SEC},
        {"2h45m", 2 * HR + 45 * MIN},
        {"1h1m1s", HR + MIN + SEC},
        {"1us", 1 * US},
        {"1\xc2\xb5s", 1 * US}, /* U+00B5 micro sign */
        {"1\xce\xbcs", 1 * US}, /* U+03BC Greek small mu */
        {"100ns", 100 * NS},
        {"1ns", 1},
        {".5s", 500 * MS},
        {"1.s", 1 * SEC},
        {"+5s", 5 * SEC},
        {"5s", 5 * SEC},
        {"1.5s", 1500 * MS},
        {"0.1s", 100 * MS},
        {"1.001s", 1001 * MS},
        {"0.000000001s", 1},
        {"1.9ns", 1},                       /* fractions of a nanosecond are truncated */
        {"1.0000000000000000000001s", SEC}, /* more fraction digits than kept */
        {"2.5ms", 2500 * US},
        {"1s1ms1us1ns", SEC + MS + US + NS},
        {"1h1h", 2 * HR},  /* Go allows a unit to repeat */
        {"90m", 90 * MIN}, /* no carry requirement */
        {"24h", 24 * HR},
        {"0010s", 10 * SEC},
        {"1.5m", 90 * SEC},
        {"5124095h", 5124095ull * HR}, /* the largest whole hour count that fits */
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        uint64_t ns = 12345;
        int r = sp_duration_parse(cases[i].in, &ns);
        if (r != 0) fail_msg("sp_duration_parse(\"%s\") = %d, want 0", cases[i].in, r);
        if (ns != cases[i].ns)
            fail_msg("sp_duration_parse(\"%s\") = %llu ns, want %llu", cases[i].in,
                     (unsigned long long)ns, (unsigned long long)cases[i].ns);
    }
}

static void test_duration_parse_errors(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "",       /* empty */
        "5",      /* missing unit */
        "10",     /* missing unit */
        "00",     /* only a bare "0" may omit the unit */
        "-1s",    /* negative */
        "-0s",    /* negative sign */
        "1x",     /* unknown unit */
        "1S",     /* units are case-sensitive */
        "1H",     /* units are case-sensitive */
        "s",      /* unit without a number */
        "ms",     /* unit without a number */
        ".s",     /* a dot alone is not a number */
        ".",      /* nothing */
        "1m1",    /* the second number has no unit */
        "1s ",    /* trailing space */
        " 1s",    /* leading space */
        "1 s",    /* inner space */
        "++5s",   /* two signs */
        "+-5s",   /* two signs */
        "1.5.5s", /* two dots */
        "1d",     /* no day unit */
        "1sec",   /* "ec" is not a unit */
        "1\xc2s", /* truncated UTF-8 micro sign */
        "abc",
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        uint64_t ns = 777;
        int r = sp_duration_parse(cases[i], &ns);
        if (r >= 0)
            fail_msg("sp_duration_parse(\"%s\") = %d (ns=%llu), want an error", cases[i], r,
                     (unsigned long long)ns);
        if (r != -EINVAL && r != -ERANGE)
            fail_msg("sp_duration_parse(\"%s\") = %d, want -EINVAL or -ERANGE", cases[i], r);
        if (ns != 777) fail_msg("sp_duration_parse(\"%s\") wrote the output on failure", cases[i]);
    }
    uint64_t ns = 0;
    assert_int_equal(sp_duration_parse(NULL, &ns), -EINVAL);
    assert_int_equal(sp_duration_parse("", &ns), -EINVAL);
    assert_int_equal(sp_duration_parse("5", &ns), -EINVAL);
    assert_int_equal(sp_duration_parse("-1s", &ns), -EINVAL);
    assert_int_equal(sp_duration_parse("1x", &ns), -EINVAL);
}

static void test_duration_parse_overflow(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "99999999999999999999h",   /* the number alone overflows 64 bits */
        "99999999999999999999ns",  /* the number alone overflows 64 bits */
        "5124096h",                /* number * unit overflows */
        "5124095h35m",             /* the sum overflows */
        "307445734m34s",           /* the sum overflows (307445734m alone fits) */
        "18446744073709551616ns",  /* 2^64 */
        "184467440737095516150ns", /* 10 * (2^64 - 1) */
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        uint64_t ns = 777;
        int r = sp_duration_parse(cases[i], &ns);
        if (r >= 0)
            fail_msg("sp_duration_parse(\"%s\") = %d (ns=%llu), want < 0", cases[i], r,
                     (unsigned long long)ns);
    }
    uint64_t ns;
    assert_int_equal(sp_duration_parse("99999999999999999999h", &ns), -ERANGE);
    assert_int_equal(sp_duration_parse("5124096h", &ns), -ERANGE);
}

/*
 * Regression (src/base/str.c, sp_duration_parse, fixed): the fractional part is added to whole*unit
 * without an overflow check, so a value just above 2^64 ns wraps around and is accepted. 5124095h
 * fits (18446742000000000000 ns, 2073709551615 ns below UINT64_MAX), .9h adds 3240000000000 ns.
 */
static void test_duration_parse_overflow_in_fraction(void **state)
{
    (void)state;
    uint64_t ns = 777;
    int r = sp_duration_parse("5124095.9h", &ns);
    if (r >= 0)
        fail_msg("sp_duration_parse(\"5124095.9h\") = %d with ns=%llu: the sum wrapped past 2^64",
                 r, (unsigned long long)ns);
    assert_int_equal(r, -ERANGE);
}

/*
 * Regression (src/base/str.c, sp_duration_parse, fixed): a lone sign is accepted as a zero
 * duration. After the '+' is skipped the string is empty, the parse loop never runs and 0 is
 * returned. Go (time.ParseDuration("+")) reports an invalid duration, as does "" here.
 */
static void test_duration_parse_sign_only(void **state)
{
    (void)state;
    uint64_t ns = 777;
    int r = sp_duration_parse("+", &ns);
    if (r >= 0)
        fail_msg("sp_duration_parse(\"+\") = %d with ns=%llu, want -EINVAL", r,
                 (unsigned long long)ns);
    assert_int_equal(r, -EINVAL);
}

/* ---- sp_duration_format ---- */

static void test_duration_format_round(void **state)
{
    (void)state;
    static const struct {
        uint64_t ns;
        const char *out;
    } cases[] = {
        {0, "0s"},
        {1, "1ns"},
        {100, "100ns"},
        {999, "999ns"},
        {1 * US, "1\xc2\xb5s"},
        {1500, "1.5\xc2\xb5s"},
        {250 * US, "250\xc2\xb5s"},
        {1 * MS, "1ms"},
        {500 * MS, "500ms"},
        {1500 * US, "1.5ms"},
        {1 * SEC, "1s"},
        {1500 * MS, "1.5s"},
        {30 * SEC, "30s"},
        {59 * SEC, "59s"},
        {60 * SEC, "1m0s"},
        {90 * SEC, "1m30s"},
        {10 * MIN, "10m0s"},
        {1 * HR, "1h0m0s"},
        {90 * MIN, "1h30m0s"},
        {2 * HR + 45 * MIN, "2h45m0s"},
        {HR + MIN + SEC, "1h1m1s"},
        {24 * HR, "24h0m0s"},
        {100 * HR, "100h0m0s"},
        {MIN + 500 * MS, "1m0.5s"},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        char buf[64];
        memset(buf, 'x', sizeof(buf));
        sp_duration_format(cases[i].ns, buf, sizeof(buf));
        if (strcmp(buf, cases[i].out) != 0)
            fail_msg("sp_duration_format(%llu) = \"%s\", want \"%s\"",
                     (unsigned long long)cases[i].ns, buf, cases[i].out);
    }
}

static void test_duration_format_truncates_to_buffer(void **state)
{
    (void)state;
    char buf[4];
    sp_duration_format(90 * SEC, buf, sizeof(buf)); /* "1m30s" */
    assert_string_equal(buf, "1m3");
}

static void test_duration_roundtrip(void **state)
{
    (void)state;
    /* What format prints, parse reads back to the same value. */
    static const uint64_t values[] = {0,       1,        999,    1 * US,         500 * MS,
                                      1 * SEC, 90 * SEC, 1 * HR, HR + MIN + SEC, 2500 * MS,
                                      24 * HR, 45 * MIN, 7 * US};
    for (size_t i = 0; i < SP_ARRAY_LEN(values); i++) {
        char buf[64];
        uint64_t back = 0;
        sp_duration_format(values[i], buf, sizeof(buf));
        if (sp_duration_parse(buf, &back) != 0 || back != values[i])
            fail_msg("format(%llu) = \"%s\" parses back as %llu", (unsigned long long)values[i],
                     buf, (unsigned long long)back);
    }
}

/*
 * Regression (src/base/str.c, sp_duration_format, fixed): seconds are printed with "%g" (6
 * significant digits), so a value just below a whole minute rounds up to "60" within the minute:
 * 119999999999 ns prints "1m60s"; Go prints "1m59.999999999s".
 */
static void test_duration_format_no_60_seconds(void **state)
{
    (void)state;
    char buf[64];
    sp_duration_format(2 * MIN - 1, buf, sizeof(buf));
    assert_string_equal(buf, "1m59.999999999s");
}

/* ---- sp_parse_u64 ---- */

static void test_parse_u64(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        uint64_t max;
        int ret;
        uint64_t out;
    } cases[] = {
        {"0", UINT64_MAX, 0, 0},
        {"1", UINT64_MAX, 0, 1},
        {"42", UINT64_MAX, 0, 42},
        {"007", UINT64_MAX, 0, 7},
        {"18446744073709551615", UINT64_MAX, 0, UINT64_MAX},
        {"18446744073709551616", UINT64_MAX, -ERANGE, 0},
        {"18446744073709551620", UINT64_MAX, -ERANGE, 0},
        {"99999999999999999999", UINT64_MAX, -ERANGE, 0},
        {"100000000000000000000", UINT64_MAX, -ERANGE, 0},
        {"64", 64, 0, 64},
        {"65", 64, -ERANGE, 0},
        {"640", 64, -ERANGE, 0},
        {"4194304", 4194304, 0, 4194304},
        {"4194305", 4194304, -ERANGE, 0},
        {"100", 100, 0, 100},
        {"101", 100, -ERANGE, 0},
        {"10", 10, 0, 10},
        {"11", 10, -ERANGE, 0},
        {"0", 0, 0, 0},
        {"", UINT64_MAX, -EINVAL, 0},
        {"-1", UINT64_MAX, -EINVAL, 0},
        {"+1", UINT64_MAX, -EINVAL, 0},
        {" 1", UINT64_MAX, -EINVAL, 0},
        {"1 ", UINT64_MAX, -EINVAL, 0},
        {"12a", UINT64_MAX, -EINVAL, 0},
        {"a12", UINT64_MAX, -EINVAL, 0},
        {"0x10", UINT64_MAX, -EINVAL, 0},
        {"1.0", UINT64_MAX, -EINVAL, 0},
        {"1e3", UINT64_MAX, -EINVAL, 0},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        uint64_t out = 4242;
        int r = sp_parse_u64(cases[i].in, cases[i].max, &out);
        if (r != cases[i].ret)
            fail_msg("sp_parse_u64(\"%s\", max %llu) = %d, want %d", cases[i].in,
                     (unsigned long long)cases[i].max, r, cases[i].ret);
        uint64_t want = cases[i].ret == 0 ? cases[i].out : 4242;
        if (out != want)
            fail_msg("sp_parse_u64(\"%s\", max %llu) wrote %llu, want %llu", cases[i].in,
                     (unsigned long long)cases[i].max, (unsigned long long)out,
                     (unsigned long long)want);
    }
    uint64_t out;
    assert_int_equal(sp_parse_u64(NULL, UINT64_MAX, &out), -EINVAL);
}

/*
 * Regression (src/base/str.c, sp_parse_u64, fixed): the check `v > (max - d) / 10` underflows when
 * the digit d is larger than max, so a single digit above a max below 9 is accepted:
 * sp_parse_u64("7", 5, &out) returns 0 with out = 7.
 */
static void test_parse_u64_digit_above_small_max(void **state)
{
    (void)state;
    uint64_t out = 4242;
    int r = sp_parse_u64("7", 5, &out);
    if (r == 0)
        fail_msg("sp_parse_u64(\"7\", 5) = 0 with out=%llu, want -ERANGE", (unsigned long long)out);
    assert_int_equal(r, -ERANGE);
    assert_int_equal(sp_parse_u64("1", 0, &out), -ERANGE);
    assert_int_equal(sp_parse_u64("9", 8, &out), -ERANGE);
}

/* ---- base64 ---- */

static void test_base64_encoded_len(void **state)
{
    (void)state;
    assert_int_equal(sp_base64_encoded_len(0), 0);
    assert_int_equal(sp_base64_encoded_len(1), 4);
    assert_int_equal(sp_base64_encoded_len(2), 4);
    assert_int_equal(sp_base64_encoded_len(3), 4);
    assert_int_equal(sp_base64_encoded_len(4), 8);
    assert_int_equal(sp_base64_encoded_len(6), 8);
    assert_int_equal(sp_base64_encoded_len(7), 12);
}

/* RFC 4648 section 10 test vectors, plus a few binary ones. */
static const struct {
    const char *raw;
    size_t n;
    const char *enc;
} b64_vectors[] = {
    {"", 0, ""},
    {"f", 1, "Zg=="},
    {"fo", 2, "Zm8="},
    {"foo", 3, "Zm9v"},
    {"foob", 4, "Zm9vYg=="},
    {"fooba", 5, "Zm9vYmE="},
    {"foobar", 6, "Zm9vYmFy"},
    {"\x00", 1, "AA=="},
    {"\xff\xff\xff", 3, "////"},
    {"\xfb\xff", 2, "+/8="},
    {"bearer:tok", 10, "YmVhcmVyOnRvaw=="},
};

static void test_base64_encode_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < SP_ARRAY_LEN(b64_vectors); i++) {
        char dst[64];
        memset(dst, 'x', sizeof(dst));
        sp_base64_encode(b64_vectors[i].raw, b64_vectors[i].n, dst);
        if (strcmp(dst, b64_vectors[i].enc) != 0)
            fail_msg("encode(vector %zu) = \"%s\", want \"%s\"", i, dst, b64_vectors[i].enc);
        assert_int_equal(strlen(dst), sp_base64_encoded_len(b64_vectors[i].n));
    }
}

static void test_base64_decode_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < SP_ARRAY_LEN(b64_vectors); i++) {
        unsigned char out[64];
        const char *enc = b64_vectors[i].enc;
        long n = sp_base64_decode(enc, strlen(enc), out, sizeof(out));
        if (n != (long)b64_vectors[i].n)
            fail_msg("decode(\"%s\") = %ld, want %zu", enc, n, b64_vectors[i].n);
        assert_memory_equal(out, b64_vectors[i].raw, b64_vectors[i].n);

        /* The padding is optional. */
        size_t len = strlen(enc);
        while (len > 0 && enc[len - 1] == '=')
            len--;
        n = sp_base64_decode(enc, len, out, sizeof(out));
        if (n != (long)b64_vectors[i].n)
            fail_msg("decode(\"%.*s\") without padding = %ld, want %zu", (int)len, enc, n,
                     b64_vectors[i].n);
        assert_memory_equal(out, b64_vectors[i].raw, b64_vectors[i].n);
    }
}

static void test_base64_roundtrip_all_lengths(void **state)
{
    (void)state;
    unsigned char raw[300];
    for (size_t i = 0; i < sizeof(raw); i++)
        raw[i] = (unsigned char)(i * 7 + 3);
    for (size_t n = 0; n <= sizeof(raw); n++) {
        char enc[404];
        unsigned char dec[300];
        size_t elen = sp_base64_encoded_len(n);
        assert_true(elen + 1 <= sizeof(enc));
        enc[elen] = 'x';
        sp_base64_encode(raw, n, enc);
        assert_int_equal(enc[elen], '\0');
        assert_int_equal(strlen(enc), elen);
        long d = sp_base64_decode(enc, elen, dec, sizeof(dec));
        if (d != (long)n) fail_msg("round trip of %zu bytes decoded %ld bytes", n, d);
        assert_memory_equal(dec, raw, n);
        /* Exactly enough room works too. */
        d = sp_base64_decode(enc, elen, dec, n);
        assert_int_equal(d, (long)n);
    }
    /* Every byte value. */
    unsigned char all[256];
    for (size_t i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    char enc[400];
    unsigned char dec[256];
    sp_base64_encode(all, 256, enc);
    assert_int_equal(sp_base64_decode(enc, strlen(enc), dec, sizeof(dec)), 256);
    assert_memory_equal(dec, all, 256);
}

static void test_base64_decode_invalid(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "Z",        /* a single character carries fewer than 8 bits */
        "Zm9vY",    /* length 1 mod 4 */
        "Zm9vY===", /* length 1 mod 4 once the padding is dropped */
        "Zm9v!A==", /* not in the alphabet */
        "Zm 9v",    /* space */
        "Zm9v\n",   /* newline */
        "Zm=v",     /* padding in the middle */
        "=Zm9",     /* padding first */
        "Zm9-",     /* URL-safe alphabet is not accepted */
        "Zm9_",     /* URL-safe alphabet is not accepted */
        "Zm9v\x80", /* high byte */
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        unsigned char out[32];
        long n = sp_base64_decode(cases[i], strlen(cases[i]), out, sizeof(out));
        if (n != -EINVAL) fail_msg("decode(\"%s\") = %ld, want -EINVAL", cases[i], n);
    }
}

static void test_base64_decode_nospace(void **state)
{
    (void)state;
    unsigned char out[8];
    assert_int_equal(sp_base64_decode("Zm9v", 4, out, 2), -ENOSPC);
    assert_int_equal(sp_base64_decode("Zm9v", 4, out, 0), -ENOSPC);
    assert_int_equal(sp_base64_decode("Zm9vYmFy", 8, out, 5), -ENOSPC);
    assert_int_equal(sp_base64_decode("Zm9vYmFy", 8, out, 6), 6);
    assert_memory_equal(out, "foobar", 6);
    assert_int_equal(sp_base64_decode("Zg==", 4, out, 0), -ENOSPC);
    assert_int_equal(sp_base64_decode("Zg==", 4, out, 1), 1);
    assert_int_equal(out[0], 'f');
    /* Empty input needs no room. */
    assert_int_equal(sp_base64_decode("", 0, out, 0), 0);
    assert_int_equal(sp_base64_decode("==", 2, out, 0), 0);
}

static void test_base64_decode_respects_n(void **state)
{
    (void)state;
    unsigned char out[8];
    /* Only the first n characters are read: the rest may be garbage. */
    assert_int_equal(sp_base64_decode("Zm9v!!!!", 4, out, sizeof(out)), 3);
    assert_memory_equal(out, "foo", 3);
    assert_int_equal(sp_base64_decode("Zm8=junk", 4, out, sizeof(out)), 2);
    assert_memory_equal(out, "fo", 2);
}

/* ---- sp_ct_equal ---- */

static void test_ct_equal(void **state)
{
    (void)state;
    static const struct {
        const char *a;
        const char *b;
        bool eq;
    } cases[] = {
        {"secret", "secret", true},
        {"", "", true},
        {"a", "a", true},
        {"secret", "Secret", false},
        {"secret", "secreT", false},
        {"secret", "secrex", false},
        {"secre", "secret", false}, /* prefix */
        {"secret", "secre", false}, /* extension */
        {"secretX", "secret", false},
        {"", "secret", false},
        {"secret", "", false},
        {"abc", "xyz", false},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        bool r = sp_ct_equal(cases[i].a, strlen(cases[i].a), cases[i].b, strlen(cases[i].b));
        if (r != cases[i].eq)
            fail_msg("sp_ct_equal(\"%s\", \"%s\") = %d, want %d", cases[i].a, cases[i].b, r,
                     cases[i].eq);
    }
    /* Embedded NULs are compared as bytes. */
    assert_true(sp_ct_equal("a\0b", 3, "a\0b", 3));
    assert_false(sp_ct_equal("a\0b", 3, "a\0c", 3));
    assert_false(sp_ct_equal("a\0", 2, "a", 1));
    /* Same content, different declared lengths. */
    assert_false(sp_ct_equal("abcdef", 3, "abcdef", 6));
    assert_true(sp_ct_equal("abcdef", 3, "abcxyz", 3));
}

/* ---- sp_hex_encode ---- */

static void test_hex_encode(void **state)
{
    (void)state;
    char out[64];
    memset(out, 'x', sizeof(out));
    sp_hex_encode("", 0, out);
    assert_string_equal(out, "");

    static const unsigned char bytes[] = {0x00, 0x01, 0x0f, 0x10, 0x7f, 0x80, 0xab, 0xff};
    memset(out, 'x', sizeof(out));
    sp_hex_encode(bytes, sizeof(bytes), out);
    assert_string_equal(out, "00010f107f80abff");

    memset(out, 'x', sizeof(out));
    sp_hex_encode("AZ", 2, out);
    assert_string_equal(out, "415a");
    assert_int_equal(out[4], '\0');
    assert_int_equal(out[5], 'x'); /* writes exactly 2n+1 bytes */
}

/* ---- string vectors ---- */

static void test_strv_new_len(void **state)
{
    (void)state;
    assert_int_equal(sp_strv_len(NULL), 0);
    char **v = sp_strv_new(0);
    assert_non_null(v);
    assert_null(v[0]);
    assert_int_equal(sp_strv_len(v), 0);
    sp_strv_free(v);

    v = sp_strv_new(3);
    assert_non_null(v);
    for (size_t i = 0; i <= 3; i++)
        assert_null(v[i]);
    v[0] = strdup("a");
    v[1] = strdup("b");
    assert_int_equal(sp_strv_len(v), 2);
    sp_strv_free(v);
    sp_strv_free(NULL); /* no-op */
}

static void test_strv_push(void **state)
{
    (void)state;
    char **v = NULL;
    assert_int_equal(sp_strv_push(&v, "one"), 0);
    assert_non_null(v);
    assert_int_equal(sp_strv_len(v), 1);
    assert_string_equal(v[0], "one");
    assert_null(v[1]);

    char buf[8] = "two";
    assert_int_equal(sp_strv_push(&v, buf), 0);
    buf[0] = 'X'; /* a copy was pushed */
    assert_int_equal(sp_strv_push(&v, ""), 0);
    for (int i = 0; i < 100; i++) {
        char s[16];
        snprintf(s, sizeof(s), "n%d", i);
        assert_int_equal(sp_strv_push(&v, s), 0);
    }
    assert_int_equal(sp_strv_len(v), 103);
    assert_string_equal(v[0], "one");
    assert_string_equal(v[1], "two");
    assert_string_equal(v[2], "");
    assert_string_equal(v[3], "n0");
    assert_string_equal(v[102], "n99");
    assert_null(v[103]);
    sp_strv_free(v);

    /* Pushing onto a vector from sp_strv_new. */
    v = sp_strv_new(0);
    assert_int_equal(sp_strv_push(&v, "x"), 0);
    assert_int_equal(sp_strv_len(v), 1);
    assert_string_equal(v[0], "x");
    sp_strv_free(v);
}

static void test_strv_dup(void **state)
{
    (void)state;
    char a[] = "alpha", b[] = "beta", c[] = "";
    char *src[] = {a, b, c, NULL};
    char **d = sp_strv_dup(src);
    assert_non_null(d);
    assert_int_equal(sp_strv_len(d), 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(d[i], src[i]);
        assert_ptr_not_equal(d[i], src[i]); /* deep copy */
    }
    assert_null(d[3]);
    a[0] = 'X';
    assert_string_equal(d[0], "alpha");
    sp_strv_free(d);

    /* NULL and empty vectors both give an empty (non-NULL) vector. */
    d = sp_strv_dup(NULL);
    assert_non_null(d);
    assert_int_equal(sp_strv_len(d), 0);
    sp_strv_free(d);
    char *empty[] = {NULL};
    d = sp_strv_dup(empty);
    assert_non_null(d);
    assert_null(d[0]);
    sp_strv_free(d);
}

static void test_utf8_valid(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t n;
        bool ok;
    } cases[] = {
        {"", 0, true},
        {"plain ascii", 11, true},
        {"\xc3\xa9", 2, true},          /* é */
        {"\xe2\x82\xac", 3, true},      /* € */
        {"\xf0\x9f\x98\x80", 4, true},  /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", 4, true},  /* U+10FFFF */
        {"a\0b", 3, true},              /* NUL is UTF-8 */
        {"\xc3", 1, false},             /* cut */
        {"\xe2\x82", 2, false},         /* cut */
        {"\x80", 1, false},             /* lone continuation */
        {"\xc0\xaf", 2, false},         /* overlong '/' */
        {"\xe0\x80\xaf", 3, false},     /* overlong */
        {"\xed\xa0\x80", 3, false},     /* surrogate U+D800 */
        {"\xf4\x90\x80\x80", 4, false}, /* past U+10FFFF */
        {"\xff", 1, false},
        {"\xc3\x28", 2, false}, /* bad continuation */
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++)
        if (sp_utf8_valid(cases[i].s, cases[i].n) != cases[i].ok)
            fail_msg("case %zu: sp_utf8_valid should be %d", i, cases[i].ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_parse_ok),
        cmocka_unit_test(test_duration_parse_errors),
        cmocka_unit_test(test_duration_parse_overflow),
        cmocka_unit_test(test_duration_parse_overflow_in_fraction),
        cmocka_unit_test(test_duration_parse_sign_only),
        cmocka_unit_test(test_duration_format_round),
        cmocka_unit_test(test_duration_format_truncates_to_buffer),
        cmocka_unit_test(test_duration_roundtrip),
        cmocka_unit_test(test_duration_format_no_60_seconds),
        cmocka_unit_test(test_parse_u64),
        cmocka_unit_test(test_parse_u64_digit_above_small_max),
        cmocka_unit_test(test_base64_encoded_len),
        cmocka_unit_test(test_base64_encode_vectors),
        cmocka_unit_test(test_base64_decode_vectors),
        cmocka_unit_test(test_base64_roundtrip_all_lengths),
        cmocka_unit_test(test_base64_decode_invalid),
        cmocka_unit_test(test_base64_decode_nospace),
        cmocka_unit_test(test_base64_decode_respects_n),
        cmocka_unit_test(test_ct_equal),
        cmocka_unit_test(test_hex_encode),
        cmocka_unit_test(test_strv_new_len),
        cmocka_unit_test(test_strv_push),
        cmocka_unit_test(test_strv_dup),
        cmocka_unit_test(test_utf8_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
