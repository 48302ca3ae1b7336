/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/base/sha256.c: the FIPS 180-2 / NIST example messages, messages whose
 * lengths sit on the padding boundaries (55, 56, 57, 63, 64, 65, 119, 120, 128 bytes), and
 * incremental updates split at every position and in uneven chunks across block boundaries.
 * Expected digests come from an independent implementation (Python's hashlib).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/base/compiler.h"
#include "../../src/base/sha256.h"

static void hex_of(const void *data, size_t n, char hex[SP_SHA256_HEX_LEN])
{
    unsigned char d[SP_SHA256_LEN];
    sp_sha256(data, n, d);
    sp_sha256_hex(d, hex);
}

static void test_nist_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *msg;
        const char *hex;
    } cases[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        /* 448 bits */
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        /* 896 bits */
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrl"
         "m"
         "nopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        char hex[SP_SHA256_HEX_LEN];
        hex_of(cases[i].msg, strlen(cases[i].msg), hex);
        if (strcmp(hex, cases[i].hex) != 0)
            fail_msg("\"%s\": got %s, want %s", cases[i].msg, hex, cases[i].hex);
    }
}

static void test_million_a(void **state)
{
    (void)state;
    const char *want = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    char *m = malloc(1000000);
    assert_non_null(m);
    memset(m, 'a', 1000000);
    char hex[SP_SHA256_HEX_LEN];
    hex_of(m, 1000000, hex);
    assert_string_equal(hex, want);

    /* The same message fed 1000 bytes at a time, then 1 byte at a time for the first 1000. */
    struct sp_sha256 c;
    unsigned char d[SP_SHA256_LEN];
    sp_sha256_init(&c);
    for (int i = 0; i < 1000; i++)
        sp_sha256_update(&c, m, 1000);
    sp_sha256_final(&c, d);
    sp_sha256_hex(d, hex);
    assert_string_equal(hex, want);

    sp_sha256_init(&c);
    for (int i = 0; i < 1000; i++)
        sp_sha256_update(&c, m, 1);
    sp_sha256_update(&c, m, 999000);
    sp_sha256_final(&c, d);
    sp_sha256_hex(d, hex);
    assert_string_equal(hex, want);
    free(m);
}

/* bytes (7i + 3) mod 256 */
static void pattern(unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)((i * 7 + 3) & 255);
}

static void test_padding_boundaries(void **state)
{
    (void)state;
    static const struct {
        size_t n;
        const char *hex;
    } cases[] = {
        {55, "e7313d333c272e639f790978283f9eb392e843d0f29b7016828bb1daa4aac70b"},
        {56, "4324d65f3c103567f5589c710bc08f8523f929a9272e3af36fc968e52abc6c27"},
        {57, "35df609437dcfea3279283ab79fd554e2bf78f8f7ae2de532d8ee300b09e8f73"},
        {63, "81c80242132f230c3bd41b3e63bbcff16107339549214a99614ff26664625055"},
        {64, "39e3d7b6b5d075d37d053ad89b24b41bef4f3c29760c84447cab3f3be1882241"},
        {65, "aacca6ff74fdbb296d165a45cecfa04e5127bc008770fbbdd48006f2d2fae95e"},
        {119, "9ce7368e4daf32341631b492e80359dc9f594b48453cd0dd5bf0b19279cc177e"},
        {120, "7836b787757e95e58b3ca5aec90b1b004e8deba1e50e9675af9cabf1a13a04b5"},
        {128, "d2742f1f4ac6bb7ca2b239ee18402ba8b3f9f8e652d2a72973c2b9ba11c08cf6"},
    };
    unsigned char buf[128];
    pattern(buf, sizeof(buf));
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        char hex[SP_SHA256_HEX_LEN];
        hex_of(buf, cases[i].n, hex);
        if (strcmp(hex, cases[i].hex) != 0)
            fail_msg("%zu bytes: got %s, want %s", cases[i].n, hex, cases[i].hex);
    }
}

/* 1000 pattern bytes split into two updates at every position, and in uneven chunk sizes. */
static void test_incremental_splits(void **state)
{
    (void)state;
    const char *want = "1e9bc38cbf860b9ec31918b065f9b52476c549a782e0e7990bed8ce3868d2371";
    unsigned char buf[1000];
    pattern(buf, sizeof(buf));
    char hex[SP_SHA256_HEX_LEN];
    hex_of(buf, sizeof(buf), hex);
    assert_string_equal(hex, want);

    for (size_t cut = 0; cut <= sizeof(buf); cut++) {
        struct sp_sha256 c;
        unsigned char d[SP_SHA256_LEN];
        sp_sha256_init(&c);
        sp_sha256_update(&c, buf, cut);
        sp_sha256_update(&c, NULL, 0);
        sp_sha256_update(&c, buf + cut, sizeof(buf) - cut);
        sp_sha256_final(&c, d);
        sp_sha256_hex(d, hex);
        if (strcmp(hex, want) != 0) fail_msg("split at %zu: got %s", cut, hex);
    }

    static const size_t chunks[] = {1, 3, 7, 13, 63, 64, 65, 127, 129, 200};
    for (size_t k = 0; k < SP_ARRAY_LEN(chunks); k++) {
        struct sp_sha256 c;
        unsigned char d[SP_SHA256_LEN];
        sp_sha256_init(&c);
        size_t off = 0, step = chunks[k];
        while (off < sizeof(buf)) {
            size_t n = sizeof(buf) - off < step ? sizeof(buf) - off : step;
            sp_sha256_update(&c, buf + off, n);
            off += n;
            step = step * 3 % 97 + 1; /* uneven sizes after the first */
        }
        sp_sha256_final(&c, d);
        sp_sha256_hex(d, hex);
        if (strcmp(hex, want) != 0) fail_msg("chunks starting at %zu: got %s", chunks[k], hex);
    }
}

/* A context can be used again after final (it is re-initialised by the caller). */
static void test_reuse_after_final(void **state)
{
    (void)state;
    struct sp_sha256 c;
    unsigned char d[SP_SHA256_LEN];
    char hex[SP_SHA256_HEX_LEN];
    for (int round = 0; round < 2; round++) {
        sp_sha256_init(&c);
        sp_sha256_update(&c, "ab", 2);
        sp_sha256_update(&c, "c", 1);
        sp_sha256_final(&c, d);
        sp_sha256_hex(d, hex);
        assert_string_equal(hex,
                            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nist_vectors),       cmocka_unit_test(test_million_a),
        cmocka_unit_test(test_padding_boundaries), cmocka_unit_test(test_incremental_splits),
        cmocka_unit_test(test_reuse_after_final),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
